/* Private structures of the tokenizer module (host/tokenizer/tok_*.c); the public API is
 * include/weft/tokenizer.h. Each pipeline stage mirrors a huggingface/tokenizers component:
 * added tokens (tokenizer/added_vocabulary.rs), normalizers, pre-tokenizers, models (BPE,
 * WordPiece), post-processors and decoders. Only ids are produced: no offsets are tracked. */
#ifndef WEFT_TOK_INTERNAL_H
#define WEFT_TOK_INTERNAL_H

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "weft/status.h"
#include "weft/tokenizer.h"

/* Components nest (Sequence in Sequence); deeper is rejected as malformed. */
#define TK_MAX_DEPTH 16

/* ---- growable buffers (tok_util.c) ---- */

typedef struct tk_buf {
    char *p;
    size_t len, cap;
} tk_buf;

wf_status tk_buf_reserve(tk_buf *b, size_t extra);
wf_status tk_buf_put(tk_buf *b, const void *data, size_t n);
wf_status tk_buf_put_cp(tk_buf *b, uint32_t cp); /* UTF-8 encodes cp */
void tk_buf_free(tk_buf *b);

/* Grows a typed array *pp of *cap elements of `elem` bytes to hold `need` (overflow-checked). */
wf_status tk_grow(void **pp, size_t *cap, size_t need, size_t elem);
char *tk_strndup(const char *s, size_t n);

uint64_t tk_hash(const void *data, size_t n);

/* ---- UTF-8 and Unicode properties (tok_unicode.c) ---- */

/* Offset of the first invalid byte, or len when `s` is valid UTF-8 (no surrogates, <= U+10FFFF). */
size_t tk_utf8_check(const char *s, size_t len);
/* Decodes one code point of valid UTF-8 at s; *n receives its byte length. */
static inline uint32_t tk_utf8_next(const char *s, size_t *n) {
    const unsigned char *u = (const unsigned char *)s;
    if (u[0] < 0x80) return *n = 1, u[0];
    if (u[0] < 0xE0) return *n = 2, ((uint32_t)(u[0] & 0x1F) << 6) | (u[1] & 0x3F);
    if (u[0] < 0xF0)
        return *n = 3, ((uint32_t)(u[0] & 0x0F) << 12) | ((uint32_t)(u[1] & 0x3F) << 6) |
                           (u[2] & 0x3F);
    return *n = 4, ((uint32_t)(u[0] & 0x07) << 18) | ((uint32_t)(u[1] & 0x3F) << 12) |
                       ((uint32_t)(u[2] & 0x3F) << 6) | (u[3] & 0x3F);
}
static inline size_t tk_utf8_len(unsigned char lead) {
    return lead < 0x80 ? 1 : lead < 0xE0 ? 2 : lead < 0xF0 ? 3 : 4;
}
size_t tk_utf8_encode(uint32_t cp, char out[4]);
/* Start of the code point that ends just before `end` (s < end). */
size_t tk_utf8_prev(const char *s, size_t end);

bool tk_is_whitespace(uint32_t cp); /* Rust char::is_whitespace (White_Space) */
bool tk_is_numeric(uint32_t cp);    /* Rust char::is_numeric (Nd, Nl, No) */
bool tk_is_punct(uint32_t cp);      /* ASCII punctuation or P* (BertPreTokenizer, Punctuation) */
bool tk_is_control(uint32_t cp);    /* BertNormalizer: C* but not \t \n \r, not unassigned */
bool tk_is_mn(uint32_t cp);         /* Mn (BertNormalizer strip_accents) */
bool tk_is_mark(uint32_t cp);       /* Mn, Mc, Me (StripAccents) */
bool tk_is_word(uint32_t cp);       /* Rust regex \w (added tokens' single_word) */
bool tk_is_cjk(uint32_t cp);        /* BertNormalizer handle_chinese_chars blocks */
int tk_ccc(uint32_t cp);            /* canonical combining class (utf8proc) */
/* Rust char::to_lowercase: writes 1 to 3 code points, returns the count. */
int tk_lowercase(uint32_t cp, uint32_t out[3]);

typedef enum tk_nf { TK_NFC, TK_NFD, TK_NFKC, TK_NFKD } tk_nf;

/* Tables generated from tokenizers itself (tok_unicode_tables.c, scripts/gen_tokenizer_unicode.py):
 * sorted inclusive code point ranges, and the exceptions to utf8proc. */
typedef struct tk_lower_exc {
    uint32_t cp, n, out[3];
} tk_lower_exc;

typedef struct tk_cat_range {
    char cat[3]; /* general category, e.g. "Lo" */
    uint32_t lo, hi;
} tk_cat_range;

extern const uint32_t tk_tab_punct[][2], tk_tab_numeric[][2], tk_tab_word[][2],
    tk_tab_space[][2], tk_tab_control[][2], tk_tab_mn[][2], tk_tab_mark[][2], tk_tab_nf_keep[][2],
    tk_tab_onig_word[][2];
extern const size_t tk_tab_punct_n, tk_tab_numeric_n, tk_tab_word_n, tk_tab_space_n,
    tk_tab_control_n, tk_tab_mn_n, tk_tab_mark_n, tk_tab_nf_keep_n, tk_tab_onig_word_n;
extern const tk_lower_exc tk_tab_lower[];
extern const size_t tk_tab_lower_n;
extern const tk_cat_range tk_tab_onig_extra[];
extern const size_t tk_tab_onig_extra_n;
/* Appends the normal form of s to out. */
wf_status tk_normalize_form(tk_nf form, const char *s, size_t n, tk_buf *out);
/* How many bytes of the normal form of s come from its first `lead` bytes, as tokenizers'
 * alignments count them (tk_piece). */
size_t tk_nf_lead(tk_nf form, const char *s, size_t n, size_t lead);

/* ---- patterns: literal strings or regexes, as tokenizers' Pattern (tok_pattern.c) ---- */

typedef struct tk_pattern {
    char *lit; /* literal (String) pattern, or NULL */
    size_t lit_len;
    pcre2_code *re; /* Regex pattern (translated from Oniguruma syntax), or NULL */
} tk_pattern;

typedef struct tk_range {
    size_t start, end;
    bool match;
} tk_range;

typedef struct tk_ranges {
    tk_range *v;
    size_t n, cap;
} tk_ranges;

/* Per-thread regex scratch. */
typedef struct tk_rx {
    pcre2_match_data *md;
    pcre2_match_context *mctx;
    pcre2_jit_stack *jit;
} tk_rx;

/* `what` names the JSON path in messages. */
wf_status tk_pattern_regex(tk_pattern *p, const char *src, size_t len, const char *where,
                           const char *what);
wf_status tk_pattern_literal(tk_pattern *p, const char *s, size_t len);
void tk_pattern_free(tk_pattern *p);
/* Splits s into ranges covering it, flagged match / non-match (Pattern::find_matches); an
 * empty s gives one empty non-match range. */
wf_status tk_pattern_find(const tk_pattern *p, tk_rx *rx, const char *s, size_t n,
                          tk_ranges *out);
wf_status tk_rx_init(tk_rx *rx);
void tk_rx_free(tk_rx *rx);

/* ---- split behaviors (SplitDelimiterBehavior) ---- */

typedef enum tk_behavior {
    TK_REMOVED,
    TK_ISOLATED,
    TK_MERGED_PREV,
    TK_MERGED_NEXT,
    TK_CONTIGUOUS,
} tk_behavior;

/* Rewrites `r` in place into the pieces the behavior keeps (NormalizedString::split). */
void tk_apply_behavior(tk_ranges *r, tk_behavior b);

/* ---- vocabulary: string <-> id ---- */

typedef struct tk_vocab_entry {
    size_t off;   /* text in strs */
    uint32_t len; /* bytes */
    uint32_t id;
} tk_vocab_entry;

typedef struct tk_vocab {
    tk_buf strs;            /* all token texts back to back */
    tk_vocab_entry *e;      /* (n_entries) one per distinct string */
    size_t n_entries, e_cap; /* n_entries is tokenizers' get_vocab_size */
    int32_t *by_id;         /* (n_ids) entry of each id, -1 for a hole */
    size_t n_ids, ids_cap;  /* n_ids = 1 + largest id */
    uint32_t *slots;        /* open addressing: entry + 1, 0 = empty */
    size_t mask;
} tk_vocab;

/* Binds s -> id. As in tokenizers' hash maps a later binding of the same string wins: the string
 * is rebound and its earlier id loses its text (*dup, if not NULL, says this happened). */
wf_status tk_vocab_add(tk_vocab *v, const char *s, size_t n, uint32_t id, bool *dup);
int64_t tk_vocab_find(const tk_vocab *v, const char *s, size_t n); /* -1 if absent */
static inline const char *tk_vocab_str(const tk_vocab *v, uint32_t id, size_t *n) {
    if (id >= v->n_ids || v->by_id[id] < 0) return NULL;
    const tk_vocab_entry *e = &v->e[v->by_id[id]];
    *n = e->len;
    return v->strs.p + e->off;
}
void tk_vocab_free(tk_vocab *v);

/* ---- normalizers (tok_normalize.c) ---- */

typedef enum tk_norm_type {
    TK_NORM_SEQUENCE,
    TK_NORM_BERT,
    TK_NORM_STRIP,
    TK_NORM_STRIP_ACCENTS,
    TK_NORM_NFC,
    TK_NORM_NFD,
    TK_NORM_NFKC,
    TK_NORM_NFKD,
    TK_NORM_LOWERCASE,
    TK_NORM_NMT,
    TK_NORM_REPLACE,
    TK_NORM_PREPEND,
} tk_norm_type;

typedef struct tk_norm {
    tk_norm_type type;
    struct tk_norm **items; /* Sequence */
    size_t n_items;
    bool clean_text, handle_chinese, strip_accents, lowercase; /* Bert */
    bool left, right;                                          /* Strip */
    tk_pattern pat;                                            /* Replace */
    char *str; /* Replace content / Prepend text */
    size_t str_len;
} tk_norm;

/* Normalizes s into out (replacing its contents). *lead is the length of the leading bytes that
 * come from the first character of s (see tk_piece), updated for the result. */
wf_status tk_norm_run(const tk_norm *nm, tk_rx *rx, const char *s, size_t n, tk_buf *out,
                      tk_buf *tmp, tk_ranges *ranges, size_t *lead);
void tk_norm_free(tk_norm *nm);

/* ---- pieces flowing through the pipeline ---- */

/* Metaspace's prepend_scheme "first" asks whether a piece starts at offset 0 of the input, which
 * tokenizers answers from its alignments (every normalized byte maps to an input range). Only
 * that much of them is kept: `zero`, the piece starts at input offset 0, and `lead`, how many of
 * its leading bytes map to the same input position as its first byte (all the text a normalizer
 * made of the first input character, and what was inserted before it). A piece cut from a zero
 * piece at an offset below its lead is zero too. */
typedef struct tk_piece {
    size_t off, len; /* in the owning tk_pieces' buf */
    int32_t id;      /* an added token's id, or -1 for text still to tokenize */
    bool zero;
    size_t lead;
} tk_piece;

typedef struct tk_pieces {
    tk_piece *v;
    size_t n, cap;
    tk_buf buf;
} tk_pieces;

wf_status tk_pieces_push(tk_pieces *p, const char *s, size_t n, int32_t id, bool zero,
                         size_t lead);
void tk_pieces_clear(tk_pieces *p);
void tk_pieces_free(tk_pieces *p);

/* ---- pre-tokenizers (tok_pretok.c) ---- */

typedef enum tk_pretok_type {
    TK_PT_SEQUENCE,
    TK_PT_BYTE_LEVEL,
    TK_PT_SPLIT,
    TK_PT_DIGITS,
    TK_PT_PUNCTUATION,
    TK_PT_WHITESPACE,
    TK_PT_WHITESPACE_SPLIT,
    TK_PT_METASPACE,
    TK_PT_BERT,
    TK_PT_CHAR_DELIMITER,
} tk_pretok_type;

typedef enum tk_prepend { TK_PREPEND_ALWAYS, TK_PREPEND_FIRST, TK_PREPEND_NEVER } tk_prepend;

typedef struct tk_pretok {
    tk_pretok_type type;
    struct tk_pretok **items; /* Sequence */
    size_t n_items;
    bool add_prefix_space, use_regex; /* ByteLevel */
    tk_pattern pat;                   /* Split */
    tk_behavior behavior;             /* Split, Punctuation */
    bool invert;                      /* Split */
    bool individual_digits;           /* Digits */
    uint32_t replacement;             /* Metaspace, CharDelimiterSplit */
    tk_prepend prepend;               /* Metaspace */
    bool split;                       /* Metaspace */
} tk_pretok;

/* Pre-tokenizes the text pieces of `in` into `out` (added-token pieces pass through). */
wf_status tk_pretok_run(const tk_pretok *pt, tk_rx *rx, tk_ranges *ranges, tk_pieces *in,
                        tk_pieces *out, tk_pieces *tmp);
void tk_pretok_free(tk_pretok *pt);
/* The GPT-2 split regex that ByteLevel(use_regex) applies (compiled once per process). */
const tk_pattern *tk_gpt2_pattern(void);

/* Byte-level alphabet: byte -> its code point (FORMATS.md "Byte-level BPE"). */
extern const uint16_t tk_byte_to_cp[256];
/* code point -> byte, or -1 outside the alphabet */
int tk_cp_to_byte(uint32_t cp);

/* ---- models (tok_bpe.c, tok_wordpiece.c) ---- */

typedef enum tk_model_type { TK_MODEL_BPE, TK_MODEL_WORDPIECE, TK_MODEL_WORDLEVEL } tk_model_type;

typedef struct tk_merge_slot {
    uint64_t key; /* (a << 32) | b, UINT64_MAX = empty */
    uint32_t rank, new_id;
} tk_merge_slot;

typedef struct tk_model {
    tk_model_type type;
    tk_vocab vocab;
    /* BPE */
    tk_merge_slot *merges;
    size_t merges_mask, n_merges;
    char *unk; /* unk_token (BPE: optional; WordPiece/WordLevel: required at use) */
    size_t unk_len;
    char *prefix, *suffix; /* continuing_subword_prefix, end_of_word_suffix */
    size_t prefix_len, suffix_len;
    bool fuse_unk, byte_fallback, ignore_merges;
    int32_t byte_ids[256]; /* <0xHH> ids for byte_fallback, -1 if absent */
    int32_t ascii_ids[128]; /* single ASCII characters, for the initial symbols */
    /* WordPiece */
    size_t max_chars;
    size_t max_token_len; /* longest vocabulary entry in bytes */
} tk_model;

typedef struct tk_cache tk_cache;

/* Per-thread encode state: word cache and scratch. */
typedef struct tk_state {
    tk_cache *cache;
    tk_pieces pa, pb, pc;
    tk_ranges ranges;
    tk_rx rx;
    tk_buf tmp, tmp2;
    void *sym; /* BPE symbols */
    size_t sym_cap;
    void *heap; /* BPE merge queue */
    size_t heap_cap;
    wf_ids word, word2; /* ids of the sequence, post-processing scratch */
} tk_state;

wf_status tk_bpe_build_merges(tk_model *m, size_t n_merges);
wf_status tk_bpe_add_merge(tk_model *m, const char *where, size_t index, const char *a,
                           size_t alen, const char *b, size_t blen);
wf_status tk_model_finish(tk_model *m);
/* Appends the ids of one pre-token. */
wf_status tk_model_tokenize(const tk_model *m, tk_state *st, const char *s, size_t n,
                            wf_ids *out);
void tk_model_free(tk_model *m);

tk_cache *tk_cache_new(void);
void tk_cache_free(tk_cache *c);

/* ---- added tokens (tok_added.c) ---- */

typedef struct tk_added_token {
    char *content; /* as written */
    size_t len;
    char *norm; /* normalized content (normalized tokens with a normalizer), else NULL */
    size_t norm_len;
    int32_t id;
    bool single_word, lstrip, rstrip, normalized, special;
} tk_added_token;

typedef struct tk_trie_node {
    uint32_t first_child, next_sibling; /* 0 = none (node 0 is the root) */
    int32_t token;                      /* index into added tokens ending here, -1 = none */
    unsigned char byte;
} tk_trie_node;

typedef struct tk_trie {
    tk_trie_node *nodes;
    size_t n, cap;
    uint8_t first[32]; /* bitmap of first bytes */
} tk_trie;

typedef struct tk_added {
    tk_added_token *v;
    size_t n, cap;
    tk_vocab map;    /* content -> id (tokenizers' added_tokens_map) */
    int32_t *by_id;  /* (by_id_len) index into v of the token owning an id, -1 none */
    size_t by_id_len, by_id_cap;
    tk_trie raw;     /* normalized = false */
    tk_trie normed;  /* normalized = true (matched after normalization) */
    tk_vocab specials; /* contents of special tokens (decode's skip check) */
} tk_added;

/* Finds added tokens in s (leftmost-longest), appending text and token pieces to out; s is a
 * piece with the given zero / lead (tk_piece). */
wf_status tk_added_split(const tk_added *a, const tk_trie *t, const char *s, size_t n, bool zero,
                         size_t lead, tk_pieces *out);
void tk_added_free(tk_added *a);

/* ---- post-processors and decoders (tok_post.c, tok_decode.c) ---- */

typedef enum tk_post_type {
    TK_POST_TEMPLATE,
    TK_POST_BERT,
    TK_POST_ROBERTA,
    TK_POST_BYTE_LEVEL,
    TK_POST_SEQUENCE,
} tk_post_type;

typedef struct tk_post {
    tk_post_type type;
    struct tk_post **items; /* Sequence */
    size_t n_items;
    /* Template (single): pieces; an entry >= 0 indexes `groups`, -1 is $A */
    int32_t *single;
    size_t n_single;
    int32_t **groups; /* special token groups' ids */
    size_t *group_len, n_groups;
    int32_t cls, sep; /* Bert / Roberta */
} tk_post;

/* Rewrites the ids of one sequence in place (tmp is scratch). */
wf_status tk_post_run(const tk_post *pp, bool add_special, wf_ids *seq, wf_ids *tmp);
void tk_post_free(tk_post *pp);

typedef enum tk_dec_type {
    TK_DEC_SEQUENCE,
    TK_DEC_BYTE_LEVEL,
    TK_DEC_METASPACE,
    TK_DEC_WORDPIECE,
    TK_DEC_REPLACE,
    TK_DEC_BYTE_FALLBACK,
    TK_DEC_FUSE,
    TK_DEC_STRIP,
    TK_DEC_BPE,
} tk_dec_type;

typedef struct tk_dec {
    tk_dec_type type;
    struct tk_dec **items;
    size_t n_items;
    uint32_t replacement; /* Metaspace */
    tk_prepend prepend;   /* Metaspace */
    char *str;            /* WordPiece prefix, Replace content, BPEDecoder suffix */
    size_t str_len;
    bool cleanup; /* WordPiece */
    tk_pattern pat; /* Replace */
    uint32_t content; /* Strip */
    size_t start, stop;
} tk_dec;

/* A list of strings (decoder chain values). */
typedef struct tk_strs {
    tk_buf buf;
    size_t *off, *len;
    size_t n, cap;
} tk_strs;

wf_status tk_strs_push(tk_strs *s, const char *p, size_t n);
void tk_strs_clear(tk_strs *s);
void tk_strs_free(tk_strs *s);

/* Runs the decoder chain: `in` -> `out` (in is clobbered). */
wf_status tk_dec_run(const tk_dec *d, tk_rx *rx, tk_strs *in, tk_strs *out);
/* Rust's String::from_utf8_lossy: each maximal invalid subpart becomes U+FFFD. */
wf_status tk_utf8_lossy(const char *s, size_t n, tk_buf *out);
void tk_dec_free(tk_dec *d);

/* ---- the tokenizer ---- */

struct wf_tokenizer {
    char *name; /* file name for messages */
    uint64_t uid;
    tk_model model;
    tk_added added;
    tk_norm *normalizer;
    tk_pretok *pretok;
    tk_post *post;
    tk_dec *decoder;
    wf_special_ids special;
};

wf_tokenizer *tk_new(const char *name);
/* Adds added tokens in tokenizers' way (ids from the vocabulary or appended after it); the
 * normalizer must be set before. */
wf_status tk_add_tokens(wf_tokenizer *t, const tk_added_token *toks, size_t n);
/* Infers special ids after loading (wf_special_ids). */
void tk_infer_specials(wf_tokenizer *t);

/* Per-thread state for t (tok_encode.c). */
wf_status tk_state_get(const wf_tokenizer *t, tk_state **out);

/* ---- reading tokenizer.json (tok_load.c, tok_load_parts.c) ---- */

typedef struct cJSON cJSON;

/* JSON paths in messages ("model.merges[12]"), built level by level */
typedef struct tk_path {
    char s[192];
} tk_path;

tk_path tk_path_key(const tk_path *base, const char *key);
tk_path tk_path_index(const tk_path *base, size_t i);

wf_status tk_jerr(const char *where, const tk_path *p, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;
/* The value under key, or NULL when it is absent or null. */
const cJSON *tk_jget(const cJSON *obj, const char *key);
wf_status tk_jbool(const char *where, const tk_path *p, const cJSON *obj, const char *key,
                   bool def, bool *out);
/* *s is NULL when the key is absent or null and !required */
wf_status tk_jstr(const char *where, const tk_path *p, const cJSON *obj, const char *key,
                  bool required, const char **s, size_t *len);
wf_status tk_juint(const char *where, const tk_path *p, const cJSON *obj, const char *key,
                   uint64_t def, uint64_t max, uint64_t *out);
/* a string of exactly one character (Rust char) */
wf_status tk_jchar(const char *where, const tk_path *p, const cJSON *obj, const char *key,
                   uint32_t def, uint32_t *out);
/* the object's "type" (which must be present) */
wf_status tk_jtype(const char *where, const tk_path *p, const cJSON *obj, const char **type);
wf_status tk_jdup(const char *s, size_t n, char **out, size_t *out_len);

wf_status tk_parse_normalizer(const char *where, const tk_path *p, const cJSON *j, int depth,
                              tk_norm **out);
wf_status tk_parse_pretok(const char *where, const tk_path *p, const cJSON *j, int depth,
                          tk_pretok **out);
wf_status tk_parse_post(const char *where, const tk_path *p, const cJSON *j, int depth,
                        tk_post **out);
wf_status tk_parse_decoder(const char *where, const tk_path *p, const cJSON *j, int depth,
                           tk_dec **out);

#endif
