/* Text <-> token ids, matching Hugging Face `tokenizers` (tokenizer.json) id for id.
 * Supports byte-level BPE (GPT-2, Llama-3, Qwen2, SmolLM2), SentencePiece-style BPE (Llama-2,
 * Mistral) and WordPiece (BERT, MiniLM), their normalizers, pre-tokenizers, added tokens,
 * post-processors and decoders; and construction from an in-memory vocabulary (GGUF metadata).
 * Not here: Unigram models, truncation and padding (the data pipeline decides lengths), offsets.
 * Reference: ../shared/reference/FORMATS.md "tokenizer.json" and huggingface/tokenizers. */
#ifndef WEFT_TOKENIZER_H
#define WEFT_TOKENIZER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "weft/status.h"

typedef struct wf_tokenizer wf_tokenizer;

/* A growable array of token ids. Zero-initialize it; wf_ids_free releases the memory. */
typedef struct wf_ids {
    int32_t *data; /* (len) */
    size_t len, cap;
} wf_ids;

wf_status wf_ids_push(wf_ids *ids, int32_t id);
wf_status wf_ids_reserve(wf_ids *ids, size_t cap);
void wf_ids_free(wf_ids *ids);

/* Loads tokenizer.json. Unknown component types and malformed fields give an error naming the
 * file and the JSON path ("tokenizer.json: model.merges[12]: expected \"a b\" or [\"a\",\"b\"]").
 * `truncation` and `padding` are read past and ignored. */
wf_status wf_tokenizer_load(const char *path, wf_tokenizer **out);
/* The same from memory; `name` is used in messages. */
wf_status wf_tokenizer_load_json(const char *json, size_t len, const char *name,
                                 wf_tokenizer **out);
void wf_tokenizer_free(wf_tokenizer *tok);

/* Appends the ids of `text` (UTF-8, `len` bytes) to `out`, as tokenizers' encode(text,
 * add_special_tokens) does. Invalid UTF-8 is an error naming the byte offset; `out` is then left
 * as it was. Thread-safe: concurrent calls on one tokenizer are fine (the word cache is per
 * thread). */
wf_status wf_tokenizer_encode(const wf_tokenizer *tok, const char *text, size_t len,
                              bool add_special, wf_ids *out);

/* ids -> text as tokenizers' decode(ids, skip_special_tokens): ids not in the vocabulary are
 * dropped, special added tokens are dropped when skip_special. *out is malloc'd and
 * NUL-terminated (the text itself may hold NUL characters; *out_len, if not NULL, is its length). */
wf_status wf_tokenizer_decode(const wf_tokenizer *tok, const int32_t *ids, size_t n,
                              bool skip_special, char **out, size_t *out_len);

/* -1 when the token is not in the vocabulary (added tokens included). */
int32_t wf_tokenizer_token_to_id(const wf_tokenizer *tok, const char *token, size_t len);
/* The token's text (not NUL-terminated; *len receives its length), or NULL for an unknown id. */
const char *wf_tokenizer_id_to_token(const wf_tokenizer *tok, int32_t id, size_t *len);
/* One more than the largest id of the model vocabulary and the added tokens: the number of
 * embedding rows the ids index. */
int32_t wf_tokenizer_vocab_size(const wf_tokenizer *tok);
/* True for added tokens marked "special" (what decode's skip_special drops). */
bool wf_tokenizer_is_special(const wf_tokenizer *tok, int32_t id);

/* Special ids, -1 when there is none. tokenizer.json does not name them, so they are inferred:
 * unk from the model, cls/sep from the post-processor, bos/eos from the post-processor's template
 * and from well-known special-token names (<s>, </s>, <|begin_of_text|>, <|endoftext|>, ...).
 * A caller that knows better (config.json, GGUF metadata) sets them with
 * wf_tokenizer_set_special before sharing the tokenizer between threads. */
typedef struct wf_special_ids {
    int32_t bos, eos, pad, unk, cls, sep, mask;
} wf_special_ids;

typedef enum wf_special_kind {
    WF_SPECIAL_BOS,
    WF_SPECIAL_EOS,
    WF_SPECIAL_PAD,
    WF_SPECIAL_UNK,
    WF_SPECIAL_CLS,
    WF_SPECIAL_SEP,
    WF_SPECIAL_MASK,
} wf_special_kind;

wf_special_ids wf_tokenizer_special_ids(const wf_tokenizer *tok);
wf_status wf_tokenizer_set_special(wf_tokenizer *tok, wf_special_kind kind, int32_t id);

/* ---- Construction from an in-memory vocabulary (GGUF tokenizer.ggml.* metadata) ---- */

typedef enum wf_tok_model_kind {
    WF_TOK_BYTE_LEVEL_BPE, /* tokenizer.ggml.model "gpt2": tokens + merges */
    WF_TOK_SPM_BPE,        /* tokenizer.ggml.model "llama": tokens + scores, <0xHH> byte tokens */
} wf_tok_model_kind;

/* GGUF token types (llama.cpp's llama_token_type). */
enum {
    WF_TOK_TYPE_UNDEFINED = 0,
    WF_TOK_TYPE_NORMAL = 1,
    WF_TOK_TYPE_UNKNOWN = 2,
    WF_TOK_TYPE_CONTROL = 3,      /* special added token */
    WF_TOK_TYPE_USER_DEFINED = 4, /* non-special added token */
    WF_TOK_TYPE_UNUSED = 5,
    WF_TOK_TYPE_BYTE = 6,
};

typedef struct wf_tokenizer_vocab {
    wf_tok_model_kind kind;
    size_t n_tokens;
    const char *const *tokens;  /* (n_tokens) UTF-8; id = index */
    const size_t *token_lens;   /* (n_tokens) or NULL: the tokens are NUL-terminated */
    const float *scores;        /* (n_tokens) SPM merge priorities (higher merges first) */
    const int32_t *token_types; /* (n_tokens) WF_TOK_TYPE_*, or NULL: all normal */
    size_t n_merges;
    const char *const *merges; /* (n_merges) "a b", byte-level BPE only; rank = index */
    /* Pre-tokenizer family (tokenizer.ggml.pre): "gpt2", "llama-bpe"/"llama3", "qwen2",
     * "smollm", "default"; NULL = "default" (GPT-2 regex). Ignored for SPM. */
    const char *pre;
    int32_t bos_id, eos_id, unk_id, pad_id, sep_id, cls_id, mask_id; /* -1 = none */
    bool add_bos, add_eos;  /* what encode(add_special = true) adds around the text */
    bool add_space_prefix;  /* SPM: prepend "▁" to the text (tokenizer.ggml.add_space_prefix) */
} wf_tokenizer_vocab;

/* Initializes *v with no tokens, every special id -1, pre NULL, add_space_prefix true. */
void wf_tokenizer_vocab_init(wf_tokenizer_vocab *v);
wf_status wf_tokenizer_from_vocab(const wf_tokenizer_vocab *v, wf_tokenizer **out);

/* ---- Diagnostics mirroring tokenizers' normalize_str / pre_tokenize_str ---- */

/* Runs only the normalizer (the text unchanged when there is none). *out is malloc'd. */
wf_status wf_tokenizer_normalize(const wf_tokenizer *tok, const char *text, size_t len,
                                 char **out, size_t *out_len);
/* Runs only the pre-tokenizer; the pieces are written to *out back to back, each preceded by
 * its byte length as a decimal number and a ':' ("3:abc1: "). *out is malloc'd. */
wf_status wf_tokenizer_pre_tokenize(const wf_tokenizer *tok, const char *text, size_t len,
                                    char **out, size_t *out_len);

#endif
