/* libFuzzer target: arbitrary bytes into wf_st_parse (the safetensors file parser), then every
 * accessor on what it accepts, with the invariants a caller relies on checked by abort().
 * Build and run: tests/fuzz/run.sh SECONDS (ASan + UBSan catch out-of-bounds reads). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "weft/safetensors.h"

#define REQUIRE(c)                                                                                 \
    do {                                                                                           \
        if (!(c)) abort();                                                                         \
    } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    wf_st_file *f = NULL;
    if (wf_st_parse(data, size, "fuzz", &f) != WF_OK) {
        REQUIRE(f == NULL);
        return 0;
    }
    volatile unsigned sink = 0;
    size_t total = 0;
    for (int64_t i = 0; i < wf_st_count(f); i++) {
        const wf_st_tensor *t = wf_st_tensor_at(f, i);
        REQUIRE(wf_st_find(f, t->name) == t);
        const uint8_t *p = t->data;
        REQUIRE(p >= data && p <= data + size && t->nbytes <= (size_t)(data + size - p));
        int64_t numel = 1;
        for (int d = 0; d < t->ndim; d++) numel *= t->shape[d];
        REQUIRE(numel == t->numel &&
                (uint64_t)numel * (uint64_t)wf_st_dtype_bits(t->dtype) / 8 == t->nbytes);
        for (size_t k = 0; k < t->nbytes; k++) sink += p[k];
        total += t->nbytes;
        float *v = malloc((size_t)(numel ? numel : 1) * sizeof *v);
        if (v) {
            wf_status s = wf_st_read_f32(t, v, numel);
            REQUIRE(s == WF_OK || s == WF_ERR_UNSUPPORTED);
            free(v);
        }
    }
    REQUIRE(total <= size);
    for (int64_t i = 0; i < wf_st_metadata_count(f); i++) {
        const wf_st_kv *kv = wf_st_metadata_at(f, i);
        REQUIRE(wf_st_metadata(f, kv->key) == kv->value);
    }
    wf_st_close(f);
    return 0;
}
