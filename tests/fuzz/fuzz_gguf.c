/* libFuzzer target for the GGUF reader: arbitrary bytes through wf_gguf_parse; whatever parses is
 * then walked completely - every key through the typed getters (right and wrong types), every
 * tensor looked up by name and dequantized - so ASan/UBSan see every read the parser lets
 * through. Built and run by tests/fuzz/run.sh; seeds in tests/fuzz/corpus/gguf/. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "weft/gguf.h"

static volatile unsigned sink; /* keeps the value reads below from being optimized away */

static void walk_kv(const wf_gguf *g, const wf_gguf_kv *kv) {
    WF_ASSERT(wf_gguf_find_kv(g, kv->key) == kv);
    uint32_t u32;
    int64_t i64, n;
    double f64;
    bool b;
    const char *s;
    const char *const *strs;
    const float *f32s;
    (void)wf_gguf_get_u32(g, kv->key, &u32);
    (void)wf_gguf_get_bool(g, kv->key, &b);
    (void)wf_gguf_get_str(g, kv->key, &s);
    (void)wf_gguf_get_int(g, kv->key, &i64);
    (void)wf_gguf_get_float(g, kv->key, &f64);
    (void)wf_gguf_get_arr_f32(g, kv->key, &f32s, &n);
    /* touch every value so the sanitizers check the storage behind them */
    if (kv->elem == WF_GGUF_STRING) {
        WF_ASSERT(wf_gguf_get_arr_str(g, kv->key, &strs, &n) == WF_OK ||
                  kv->type != WF_GGUF_ARRAY);
        for (int64_t i = 0; i < kv->count; i++) {
            const char *v = ((const char *const *)kv->vals)[i];
            for (int64_t j = 0; j <= kv->lens[i]; j++) sink += (unsigned char)v[j];
        }
    } else {
        const unsigned char *p = kv->vals;
        size_t esz = kv->elem == WF_GGUF_BOOL ? sizeof(bool)
                     : kv->elem <= WF_GGUF_I8 ? 1
                     : kv->elem <= WF_GGUF_I16 ? 2
                     : kv->elem <= WF_GGUF_F32 ? 4 : 8;
        for (size_t i = 0; i < (size_t)kv->count * esz; i++) sink += p[i];
    }
}

static void walk_tensor(const wf_gguf *g, const wf_gguf_tensor *t) {
    WF_ASSERT(wf_gguf_find_tensor(g, t->name) == t);
    WF_ASSERT(t->n_dims >= 1 && t->n_dims <= 4 && t->numel > 0);
    if (!wf_ggml_type_can_dequant(t->type)) {
        float dummy[1];
        WF_ASSERT(wf_gguf_dequant_f32(t, dummy, t->numel) == WF_ERR_UNSUPPORTED);
        return;
    }
    float *dst = malloc((size_t)t->numel * sizeof(float));
    if (!dst) return;
    WF_ASSERT(wf_gguf_dequant_f32(t, dst, t->numel) == WF_OK);
    free(dst);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    wf_gguf *g = NULL;
    if (wf_gguf_parse(data, size, "fuzz.gguf", &g) != WF_OK) {
        WF_ASSERT(g == NULL && strstr(wf_last_error(), "fuzz.gguf") != NULL);
        return 0;
    }
    for (int64_t i = 0; i < wf_gguf_kv_count(g); i++) walk_kv(g, wf_gguf_kv_at(g, i));
    for (int64_t i = 0; i < wf_gguf_tensor_count(g); i++) walk_tensor(g, wf_gguf_tensor_at(g, i));
    wf_gguf_close(g);
    return 0;
}
