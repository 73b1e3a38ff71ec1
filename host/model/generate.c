/* Generation (generate.h): prefill, then decode steps over the KV cache; sampling on the host. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "weft/generate.h"
#include "weft/rng.h"

static const float *g_sort_keys; /* qsort has no context argument */
static int by_prob_desc(const void *a, const void *b) {
    float x = g_sort_keys[*(const int32_t *)a], y = g_sort_keys[*(const int32_t *)b];
    if (x != y) return x < y ? 1 : -1;
    return *(const int32_t *)a - *(const int32_t *)b;
}

int32_t wf_sample(const float *logits, int64_t V, const wf_gen_opts *o, uint32_t step, float *p,
                  int32_t *order) {
    int64_t best = 0;
    for (int64_t i = 1; i < V; i++)
        if (logits[i] > logits[best]) best = i;
    if (!(o->temperature > 0)) return (int32_t)best;
    double sum = 0;
    for (int64_t i = 0; i < V; i++) sum += p[i] = expf((logits[i] - logits[best]) / o->temperature);
    for (int64_t i = 0; i < V; i++) p[i] = (float)(p[i] / sum), order[i] = (int32_t)i;
    g_sort_keys = p;
    qsort(order, (size_t)V, sizeof *order, by_prob_desc);
    int64_t keep = o->top_k > 0 && o->top_k < V ? o->top_k : V;
    double cum = 0, kept = 0;
    for (int64_t i = 0; i < keep; i++) { /* top-p: the smallest prefix whose mass reaches p */
        cum += p[order[i]];
        if (o->top_p < 1 && cum >= o->top_p) keep = i + 1;
    }
    for (int64_t i = 0; i < keep; i++) kept += p[order[i]];
    double u = wf_rng_uniform(o->seed, step, 0, 0) * kept, acc = 0;
    for (int64_t i = 0; i < keep; i++)
        if ((acc += p[order[i]]) > u) return order[i];
    return order[keep - 1];
}

typedef struct gen {
    const wf_model *m;
    wf_acts acts;
    wf_kv_cache kv;
    wf_arena batch;
    float *logits, *p;
    int32_t *order;
} gen;

/* Runs T tokens through the model at the cache's position; logits of the last one. */
static wf_status run(gen *g, const int32_t *ids, int64_t T) {
    const wf_model *m = g->m;
    wf_arena_reset(&g->batch, 0);
    wf_batch_host h = {.B = 1, .T = T, .ids = ids, .pos_offset = g->kv.len};
    wf_batch b;
    WF_TRY(wf_batch_upload(m, &h, &g->batch, &b));
    WF_TRY(wf_graph_forward(m, &b, &g->acts));
    int64_t V = m->arch.vocab;
    size_t esz = wf_dtype_size(m->dtype);
    WF_TRY(m->be->copy(m->be, g->logits, (char *)g->acts.head_out.data + (size_t)((T - 1) * V) * esz,
                       (size_t)V * esz, WF_COPY_D2H));
    if (m->dtype != WF_F32)
        for (int64_t i = V - 1; i >= 0; i--) g->logits[i] = wf_load_f32(g->logits, m->dtype, (size_t)i);
    g->kv.len += T;
    return WF_OK;
}

static wf_status decode(gen *g, const int32_t *prompt, int64_t n, const wf_gen_opts *o, wf_ids *out) {
    WF_TRY(run(g, prompt, n));
    for (int64_t s = 0; s < o->max_new_tokens; s++) {
        int32_t tok = wf_sample(g->logits, g->m->arch.vocab, o, (uint32_t)s, g->p, g->order);
        WF_TRY(wf_ids_push(out, tok));
        for (int i = 0; i < o->n_stop; i++)
            if (tok == o->stop_ids[i]) return WF_OK;
        if (s + 1 < o->max_new_tokens) WF_TRY(run(g, &tok, 1));
    }
    return WF_OK;
}

wf_status wf_generate(const wf_model *m, const int32_t *prompt, int64_t n_prompt,
                      const wf_gen_opts *o, wf_ids *out) {
    if (m->arch.head != WF_HEAD_LM) return wf_error(WF_ERR_INVALID, "generate: the model has no LM head");
    if (n_prompt < 1) return wf_error(WF_ERR_INVALID, "generate: empty prompt");
    int64_t cap = n_prompt + o->max_new_tokens;
    if (m->arch.pos == WF_POS_LEARNED && cap > m->arch.max_positions)
        return wf_error(WF_ERR_INVALID, "generate: %lld tokens exceed the model's %lld positions",
                        (long long)cap, (long long)m->arch.max_positions);
    gen g = {.m = m};
    int64_t V = m->arch.vocab;
    g.logits = malloc((size_t)V * sizeof(float)), g.p = malloc((size_t)V * sizeof(float));
    g.order = malloc((size_t)V * sizeof(int32_t));
    wf_status s = g.logits && g.p && g.order ? WF_OK : wf_error(WF_ERR_OOM, "generate: out of memory");
    if (s == WF_OK) s = wf_acts_create(m, 1, n_prompt, WF_ACTS_LOGITS, &g.acts);
    if (s == WF_OK) s = wf_kv_cache_create(m, cap, &g.kv);
    if (s == WF_OK) s = wf_backend_arena_create(m->be, &g.batch, "batch", wf_batch_bytes(m, 1, n_prompt));
    if (s == WF_OK) {
        g.acts.kv = &g.kv;
        s = decode(&g, prompt, n_prompt, o, out);
    }
    wf_backend_arena_destroy(m->be, &g.batch);
    wf_kv_cache_destroy(m, &g.kv);
    if (g.acts.layers) wf_acts_destroy(m, &g.acts);
    free(g.logits), free(g.p), free(g.order);
    return s;
}
