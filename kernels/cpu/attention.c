/* Attention forward and backward on the CPU (ops.h wf_attention; MATH.md "Attention"):
 * causal or bidirectional, GQA, key padding mask, per-document mask for packed rows.
 * The numerical reference for the CUDA kernels, so it is plain fp32 loops, not tiled:
 * forward is two-pass per query row (scores into a scratch row, then softmax and P V);
 * backward recomputes P from the saved lse, in two passes with no shared writes: dq (and
 * D_i = dO_i . O_i) parallel over query rows, then dk/dv parallel over key rows, each key row
 * summing over the query heads of its GQA group and their queries in a fixed order. */
#include <math.h>
#include <omp.h>
#include <string.h>

#include "cpu_ops.h"

/* Below this many score-row FLOPs a parallel region costs more than it saves. */
#define PAR_MIN_WORK 32768

typedef struct att_view {
    int64_t B, T, S, H, Hk, D;
    int64_t group; /* query heads per kv head: H / Hk */
    int64_t shift; /* S - T: query i sits at key position i + shift (queries are the last T) */
    bool causal;
    float scale;
    const float *q;          /* (B, T, H, D) */
    const float *k, *v;      /* (B, S, Hk, D) */
    const int32_t *key_mask; /* (B, S), optional */
    const int32_t *doc_ids;  /* (B, T), optional; S == T */
} att_view;

static att_view view_of(const wf_attention *a) {
    att_view w = {
        .B = a->q->shape[0], .T = a->q->shape[1], .H = a->q->shape[2], .D = a->q->shape[3],
        .S = a->k->shape[1], .Hk = a->k->shape[2], .causal = a->causal, .scale = a->scale,
        .q = a->q->data, .k = a->k->data, .v = a->v->data,
        .key_mask = a->key_mask ? a->key_mask->data : NULL,
        .doc_ids = a->doc_ids ? a->doc_ids->data : NULL,
    };
    w.group = w.H / w.Hk;
    w.shift = w.S - w.T;
    return w;
}

static inline int64_t q_off(const att_view *w, int64_t b, int64_t i, int64_t h) {
    return ((b * w->T + i) * w->H + h) * w->D;
}
static inline int64_t kv_off(const att_view *w, int64_t b, int64_t j, int64_t g) {
    return ((b * w->S + j) * w->Hk + g) * w->D;
}

/* Keys [0, key_end) are not in query i's future; the masks then decide key by key. */
static inline int64_t key_end(const att_view *w, int64_t i) {
    if (!w->causal) return w->S;
    int64_t e = i + w->shift + 1;
    return e < 0 ? 0 : e < w->S ? e : w->S;
}

static inline bool visible(const att_view *w, int64_t b, int64_t i, int64_t j) {
    if (w->causal && j > i + w->shift) return false;
    if (w->key_mask && w->key_mask[b * w->S + j] == 0) return false;
    if (w->doc_ids && w->doc_ids[b * w->T + i] != w->doc_ids[b * w->T + j]) return false;
    return true;
}

/* fp32 in a fixed order (8 strided partial sums, then the tail, then the partials in order),
 * so the value is the same wherever it is recomputed and whatever the thread count; the 8
 * independent sums let the compiler vectorize without reassociating. */
static inline float dot(const float *x, const float *y, int64_t n) {
    float acc[8] = {0};
    int64_t d = 0;
    for (; d + 8 <= n; d += 8)
        for (int u = 0; u < 8; u++) acc[u] += x[d + u] * y[d + u];
    float s = 0.0f;
    for (; d < n; d++) s += x[d] * y[d];
    for (int u = 0; u < 8; u++) s += acc[u];
    return s;
}

/* One query row: o (D) "=" softmax(scale q K^T + mask) V; returns the row's lse (0 when no key
 * is visible, and then o = 0). s (S) is scratch for the scores. */
static float fwd_row(const att_view *w, int64_t b, int64_t h, int64_t i, float *o, float *s) {
    const float *qi = w->q + q_off(w, b, i, h);
    int64_t g = h / w->group, jend = key_end(w, i), D = w->D;
    float m = -INFINITY;
    for (int64_t j = 0; j < jend; j++) {
        s[j] = visible(w, b, i, j) ? w->scale * dot(qi, w->k + kv_off(w, b, j, g), D) : -INFINITY;
        if (s[j] > m) m = s[j];
    }
    memset(o, 0, (size_t)D * sizeof *o);
    if (m == -INFINITY) return 0.0f; /* fully masked row: out = 0, lse = 0 (ops.h) */
    float l = 0.0f;
    for (int64_t j = 0; j < jend; j++) {
        if (s[j] == -INFINITY) continue;
        float p = expf(s[j] - m);
        const float *vj = w->v + kv_off(w, b, j, g);
        l += p;
        for (int64_t d = 0; d < D; d++) o[d] += p * vj[d];
    }
    float inv = 1.0f / l;
    for (int64_t d = 0; d < D; d++) o[d] *= inv;
    return m + logf(l);
}

wf_status wf_cpu_attention_fwd(wf_backend *be, const wf_attention *a) {
    WF_TRY(wf_cpu_need_f32("attention_fwd", 5, a->q, a->k, a->v, a->out, a->lse));
    att_view w = view_of(a);
    float *out = a->out->data; /* (B, T, H, D) */
    float *lse = a->lse->data; /* (B, H, T) */
    size_t mark = wf_arena_mark(&be->scratch);
    void *buf = NULL;
    int nthreads = omp_get_max_threads();
    WF_TRY(wf_arena_alloc(&be->scratch, (size_t)nthreads * (size_t)w.S * sizeof(float),
                          &buf));
    float *scores = buf; /* (nthreads, S): one score row per thread */
    int64_t B = w.B, H = w.H, T = w.T;
    /* Dynamic chunks: causal rows grow in cost with i. Each row is one thread's, so the result
     * does not depend on the schedule. */
#pragma omp parallel for collapse(3) schedule(dynamic, 4) if (B * H * T * w.S * w.D > PAR_MIN_WORK)
    for (int64_t b = 0; b < B; b++)
        for (int64_t h = 0; h < H; h++)
            for (int64_t i = 0; i < T; i++) {
                float *s = scores + (int64_t)omp_get_thread_num() * w.S;
                lse[(b * H + h) * T + i] = fwd_row(&w, b, h, i, out + q_off(&w, b, i, h), s);
            }
    wf_arena_reset(&be->scratch, mark);
    return WF_OK;
}

/* Pass 1 for one query row: Di = dO_i . O_i (returned) and dq_i (D) "=" scale sum_j dS_ij k_j,
 * dS_ij = P_ij (dO_i . v_j - Di), P_ij = exp(s_ij - lse_i). */
static float bwd_dq_row(const att_view *w, const wf_attention *a, int64_t b, int64_t h, int64_t i) {
    int64_t off = q_off(w, b, i, h), g = h / w->group, jend = key_end(w, i), D = w->D;
    const float *qi = w->q + off, *oi = (const float *)a->out->data + off;
    const float *doi = (const float *)a->dout->data + off;
    float *dqi = (float *)a->dq->data + off;
    float L = ((const float *)a->lse->data)[(b * w->H + h) * w->T + i];
    float Di = dot(doi, oi, D);
    memset(dqi, 0, (size_t)D * sizeof *dqi);
    for (int64_t j = 0; j < jend; j++) {
        if (!visible(w, b, i, j)) continue;
        const float *kj = w->k + kv_off(w, b, j, g), *vj = w->v + kv_off(w, b, j, g);
        float p = expf(w->scale * dot(qi, kj, D) - L);
        float ds = p * (dot(doi, vj, D) - Di);
        for (int64_t d = 0; d < D; d++) dqi[d] += ds * kj[d];
    }
    for (int64_t d = 0; d < D; d++) dqi[d] *= w->scale;
    return Di;
}

/* Pass 2 for one key row j of kv head g: dk_j, dv_j (D) "=" sums over the group's query heads
 * h and the queries i that see j: dv_j += P_ij dO_i; dk_j += scale dS_ij q_i. */
static void bwd_dkv_row(const att_view *w, const wf_attention *a, const float *Dvec, int64_t b,
                        int64_t g, int64_t j) {
    int64_t off = kv_off(w, b, j, g), D = w->D;
    const float *kj = w->k + off, *vj = w->v + off;
    const float *lse = a->lse->data, *dout = a->dout->data;
    float *dkj = (float *)a->dk->data + off, *dvj = (float *)a->dv->data + off;
    memset(dkj, 0, (size_t)D * sizeof *dkj);
    memset(dvj, 0, (size_t)D * sizeof *dvj);
    if (w->key_mask && w->key_mask[b * w->S + j] == 0) return; /* no query sees a padded key */
    /* Causal: query i sees j only from i = j - shift on. */
    int64_t i0 = w->causal && j - w->shift > 0 ? j - w->shift : 0;
    for (int64_t h = g * w->group; h < (g + 1) * w->group; h++)
        for (int64_t i = i0; i < w->T; i++) {
            if (!visible(w, b, i, j)) continue;
            int64_t qo = q_off(w, b, i, h), row = (b * w->H + h) * w->T + i;
            const float *qi = w->q + qo, *doi = dout + qo;
            float p = expf(w->scale * dot(qi, kj, D) - lse[row]);
            float ds = p * (dot(doi, vj, D) - Dvec[row]);
            for (int64_t d = 0; d < D; d++) {
                dvj[d] += p * doi[d];
                dkj[d] += ds * qi[d];
            }
        }
    for (int64_t d = 0; d < D; d++) dkj[d] *= w->scale;
}

wf_status wf_cpu_attention_bwd(wf_backend *be, const wf_attention *a) {
    WF_TRY(wf_cpu_need_f32("attention_bwd", 9, a->q, a->k, a->v, a->out, a->lse, a->dout, a->dq,
                           a->dk, a->dv));
    att_view w = view_of(a);
    int64_t B = w.B, H = w.H, Hk = w.Hk, T = w.T, S = w.S;
    bool par = B * H * T * S * w.D > PAR_MIN_WORK;
    size_t mark = wf_arena_mark(&be->scratch);
    void *buf = NULL;
    WF_TRY(wf_arena_alloc(&be->scratch, (size_t)(B * H * T) * sizeof(float), &buf));
    float *Dvec = buf; /* (B, H, T): D_i = dO_i . O_i, read by pass 2 */
#pragma omp parallel for collapse(3) schedule(dynamic, 4) if (par)
    for (int64_t b = 0; b < B; b++)
        for (int64_t h = 0; h < H; h++)
            for (int64_t i = 0; i < T; i++) Dvec[(b * H + h) * T + i] = bwd_dq_row(&w, a, b, h, i);
#pragma omp parallel for collapse(3) schedule(dynamic, 4) if (par)
    for (int64_t b = 0; b < B; b++)
        for (int64_t g = 0; g < Hk; g++)
            for (int64_t j = 0; j < S; j++) bwd_dkv_row(&w, a, Dvec, b, g, j);
    wf_arena_reset(&be->scratch, mark);
    return WF_OK;
}
