/* The tokenizer of a model, wherever the model keeps it: a Hugging Face directory's
 * tokenizer.json (special ids refined from tokenizer_config.json and config.json), or a GGUF
 * file's tokenizer.ggml.* metadata (llama.cpp's key names, FORMATS.md "GGUF"). Also the model's
 * chat template text and a fingerprint of everything that defines its tokenizer (the data
 * cache's key). The tokenizer itself (encode/decode) is include/weft/tokenizer.h. */
#ifndef WEFT_TOKENIZER_MODEL_H
#define WEFT_TOKENIZER_MODEL_H

#include <stdint.h>

#include "weft/gguf.h"
#include "weft/tokenizer.h"

/* From tokenizer.ggml.{model, tokens, merges, scores, token_type, bos/eos/unknown/padding
 * token ids, add_bos_token, add_eos_token, add_space_prefix, pre}. model "gpt2" is byte-level BPE,
 * "llama" SentencePiece BPE; anything else is WF_ERR_UNSUPPORTED. add_bos_token defaults to true
 * for "llama" and false otherwise, as transformers' GGUF loader does. Errors name the file and
 * the key. */
wf_status wf_tokenizer_from_gguf(const wf_gguf *g, wf_tokenizer **out);

/* model_path is a directory (<dir>/tokenizer.json; bos/eos/pad/unk refined from
 * tokenizer_config.json's *_token entries, then config.json's *_token_id where the first is
 * silent), a *.json file (a tokenizer.json as it is), or a GGUF file (its metadata). */
wf_status wf_tokenizer_for_model(const char *model_path, wf_tokenizer **out);

/* The model's chat template (Jinja text): tokenizer_config.json "chat_template" (a string, or
 * the "default" entry of a list), else <dir>/chat_template.jinja, else the GGUF key
 * tokenizer.chat_template. *out is malloc'd, or NULL when the model has none. */
wf_status wf_model_chat_template(const char *model_path, char **out);

/* A 64-bit hash of what defines the model's tokenizer: the bytes of tokenizer.json,
 * tokenizer_config.json and config.json (those present), or every tokenizer.* GGUF key and
 * value. Equal hashes: the same tokenizer (the tokenized-data cache relies on this). */
wf_status wf_tokenizer_model_hash(const char *model_path, uint64_t *out);

#endif
