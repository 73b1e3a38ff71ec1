/* Text generation with a KV cache: the prompt is run once (prefill), then one token at a time
 * attending over the cached keys and values. Greedy, or sampling with temperature, top-k and
 * top-p from the counter-based generator (same seed, same text). */
#ifndef WEFT_GENERATE_H
#define WEFT_GENERATE_H

#include "weft/graph.h"
#include "weft/tokenizer.h"

typedef struct wf_gen_opts {
    int64_t max_new_tokens;
    float temperature;      /* 0: greedy */
    int top_k;              /* 0: off */
    float top_p;            /* 1: off */
    uint64_t seed;
    const int32_t *stop_ids; /* generation ends after producing one of these */
    int n_stop;
} wf_gen_opts;

/* Appends the generated ids (stop token included when one ends it) to *out. The model must have
 * an LM head. */
wf_status wf_generate(const wf_model *m, const int32_t *prompt, int64_t n_prompt,
                      const wf_gen_opts *o, wf_ids *out);

/* The next token from logits (V): argmax when temperature is 0 (the lowest id on ties), else a
 * draw from softmax(logits / temperature) restricted to the top_k / top_p set. `step` keys the
 * random draw. `scratch` holds V floats and V ints. */
int32_t wf_sample(const float *logits, int64_t V, const wf_gen_opts *o, uint32_t step, float *scratch,
                  int32_t *order);

#endif
