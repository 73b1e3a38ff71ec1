/* GGUF (llama.cpp's model format, version 3; version 2 is accepted) read from memory or from an
 * mmapped file: typed metadata getters, tensor infos, and dequantization of ggml block formats
 * to fp32. Reading only; GGUF writing is not weft's business.
 * References: ggml/src/gguf.cpp (the parser's rules), ggml/src/ggml-common.h (block layouts),
 * ggml/src/ggml-quants.c dequantize_row_* (arithmetic), shared/reference/FORMATS.md "GGUF".
 * Every error names the file and the key / tensor / byte offset, and says what was expected. */
#ifndef WEFT_GGUF_H
#define WEFT_GGUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "weft/status.h"

/* Metadata value types, numbered as in the file (gguf.h enum gguf_type). */
typedef enum wf_gguf_vtype {
    WF_GGUF_U8 = 0,
    WF_GGUF_I8 = 1,
    WF_GGUF_U16 = 2,
    WF_GGUF_I16 = 3,
    WF_GGUF_U32 = 4,
    WF_GGUF_I32 = 5,
    WF_GGUF_F32 = 6,
    WF_GGUF_BOOL = 7,
    WF_GGUF_STRING = 8,
    WF_GGUF_ARRAY = 9,
    WF_GGUF_U64 = 10,
    WF_GGUF_I64 = 11,
    WF_GGUF_F64 = 12,
    WF_GGUF_VTYPE_COUNT
} wf_gguf_vtype;

/* Tensor element types, numbered as in ggml.h enum ggml_type. The parser accepts every type with
 * a known block size (so a file's layout can be checked); wf_gguf_dequant_f32 converts those for
 * which wf_ggml_type_can_dequant() is true. Gaps (4, 5, 31-33, 36-38) are retired numbers. */
typedef enum wf_ggml_type {
    WF_GGML_F32 = 0,
    WF_GGML_F16 = 1,
    WF_GGML_Q4_0 = 2,
    WF_GGML_Q4_1 = 3,
    WF_GGML_Q5_0 = 6,
    WF_GGML_Q5_1 = 7,
    WF_GGML_Q8_0 = 8,
    WF_GGML_Q8_1 = 9,
    WF_GGML_Q2_K = 10,
    WF_GGML_Q3_K = 11,
    WF_GGML_Q4_K = 12,
    WF_GGML_Q5_K = 13,
    WF_GGML_Q6_K = 14,
    WF_GGML_Q8_K = 15,
    WF_GGML_IQ2_XXS = 16,
    WF_GGML_IQ2_XS = 17,
    WF_GGML_IQ3_XXS = 18,
    WF_GGML_IQ1_S = 19,
    WF_GGML_IQ4_NL = 20,
    WF_GGML_IQ3_S = 21,
    WF_GGML_IQ2_S = 22,
    WF_GGML_IQ4_XS = 23,
    WF_GGML_I8 = 24,
    WF_GGML_I16 = 25,
    WF_GGML_I32 = 26,
    WF_GGML_I64 = 27,
    WF_GGML_F64 = 28,
    WF_GGML_IQ1_M = 29,
    WF_GGML_BF16 = 30,
    WF_GGML_TQ1_0 = 34,
    WF_GGML_TQ2_0 = 35,
    WF_GGML_MXFP4 = 39,
    WF_GGML_NVFP4 = 40,
    WF_GGML_Q1_0 = 41,
    WF_GGML_TYPE_LIMIT /* one past the largest number */
} wf_ggml_type;

/* One metadata entry. Values are copied out of the file into aligned, host-order storage owned by
 * the wf_gguf, so the pointers below stay valid until wf_gguf_close. A scalar is stored like an
 * array of one element. */
typedef struct wf_gguf_kv {
    const char *key;     /* NUL-terminated (keys with NUL bytes are rejected) */
    wf_gguf_vtype type;  /* WF_GGUF_ARRAY for arrays */
    wf_gguf_vtype elem;  /* element type of an array; equal to `type` for a scalar */
    int64_t count;       /* number of elements (1 for a scalar; an array may be empty) */
    const void *vals;    /* (count): uint8_t .. double for numbers, bool for BOOL,
                            const char * (NUL-terminated copies) for STRING */
    const int64_t *lens; /* (count) byte lengths of STRING values (a value may hold NUL bytes) */
} wf_gguf_kv;

/* One tensor. `data` points into the parsed buffer (wf_gguf_parse) or the mapping (wf_gguf_open). */
typedef struct wf_gguf_tensor {
    const char *name;  /* NUL-terminated */
    wf_ggml_type type;
    int n_dims;        /* 1..4 */
    int64_t ne[4];     /* GGUF / ggml order, innermost (contiguous) first; 1 past n_dims */
    int64_t shape[4];  /* row-major order, outermost first: shape[i] = ne[n_dims-1-i]; 0 past n_dims */
    int64_t numel;
    uint64_t offset;   /* bytes from the start of the data section (a multiple of the alignment) */
    size_t nbytes;     /* numel / block size * block bytes */
    const void *data;  /* (nbytes) */
    const char *file;  /* the name errors use */
} wf_gguf_tensor;

typedef struct wf_gguf wf_gguf;

/* Parses `size` bytes at `buf`; `name` (copied) is used in error messages. The buffer must outlive
 * the result: tensor data pointers point into it. */
wf_status wf_gguf_parse(const void *buf, size_t size, const char *name, wf_gguf **out);
/* Maps `path` read-only and parses it; the mapping lives until wf_gguf_close. */
wf_status wf_gguf_open(const char *path, wf_gguf **out);
void wf_gguf_close(wf_gguf *g); /* NULL is fine */

const char *wf_gguf_name(const wf_gguf *g);
uint32_t wf_gguf_version(const wf_gguf *g);
size_t wf_gguf_alignment(const wf_gguf *g);   /* general.alignment, 32 when absent */
size_t wf_gguf_data_offset(const wf_gguf *g); /* file offset of the data section */

/* ---- metadata ---- */
int64_t wf_gguf_kv_count(const wf_gguf *g);
const wf_gguf_kv *wf_gguf_kv_at(const wf_gguf *g, int64_t i); /* file order; NULL if out of range */
const wf_gguf_kv *wf_gguf_find_kv(const wf_gguf *g, const char *key); /* NULL if absent */
const char *wf_gguf_vtype_name(wf_gguf_vtype t); /* "u32", "string", "array", ... */

/* Typed getters: a missing key, an array where a scalar is wanted (or the reverse), or another
 * type returns WF_ERR_FORMAT with "FILE: key 'K' ...: expected TYPE". Nothing is converted. */
wf_status wf_gguf_get_u8(const wf_gguf *g, const char *key, uint8_t *out);
wf_status wf_gguf_get_i8(const wf_gguf *g, const char *key, int8_t *out);
wf_status wf_gguf_get_u16(const wf_gguf *g, const char *key, uint16_t *out);
wf_status wf_gguf_get_i16(const wf_gguf *g, const char *key, int16_t *out);
wf_status wf_gguf_get_u32(const wf_gguf *g, const char *key, uint32_t *out);
wf_status wf_gguf_get_i32(const wf_gguf *g, const char *key, int32_t *out);
wf_status wf_gguf_get_u64(const wf_gguf *g, const char *key, uint64_t *out);
wf_status wf_gguf_get_i64(const wf_gguf *g, const char *key, int64_t *out);
wf_status wf_gguf_get_f32(const wf_gguf *g, const char *key, float *out);
wf_status wf_gguf_get_f64(const wf_gguf *g, const char *key, double *out);
wf_status wf_gguf_get_bool(const wf_gguf *g, const char *key, bool *out);
wf_status wf_gguf_get_str(const wf_gguf *g, const char *key, const char **out);

/* Array getters: *vals points at *n elements owned by g. */
wf_status wf_gguf_get_arr_u8(const wf_gguf *g, const char *key, const uint8_t **vals, int64_t *n);
wf_status wf_gguf_get_arr_i8(const wf_gguf *g, const char *key, const int8_t **vals, int64_t *n);
wf_status wf_gguf_get_arr_u16(const wf_gguf *g, const char *key, const uint16_t **vals, int64_t *n);
wf_status wf_gguf_get_arr_i16(const wf_gguf *g, const char *key, const int16_t **vals, int64_t *n);
wf_status wf_gguf_get_arr_u32(const wf_gguf *g, const char *key, const uint32_t **vals, int64_t *n);
wf_status wf_gguf_get_arr_i32(const wf_gguf *g, const char *key, const int32_t **vals, int64_t *n);
wf_status wf_gguf_get_arr_u64(const wf_gguf *g, const char *key, const uint64_t **vals, int64_t *n);
wf_status wf_gguf_get_arr_i64(const wf_gguf *g, const char *key, const int64_t **vals, int64_t *n);
wf_status wf_gguf_get_arr_f32(const wf_gguf *g, const char *key, const float **vals, int64_t *n);
wf_status wf_gguf_get_arr_f64(const wf_gguf *g, const char *key, const double **vals, int64_t *n);
wf_status wf_gguf_get_arr_bool(const wf_gguf *g, const char *key, const bool **vals, int64_t *n);
wf_status wf_gguf_get_arr_str(const wf_gguf *g, const char *key, const char *const **vals,
                              int64_t *n);

/* Lenient getters for model hyperparameters, whose integer width varies between converters:
 * any scalar integer type whose value fits int64_t / any scalar f32 or f64. */
wf_status wf_gguf_get_int(const wf_gguf *g, const char *key, int64_t *out);
wf_status wf_gguf_get_float(const wf_gguf *g, const char *key, double *out);

/* ---- tensors ---- */
int64_t wf_gguf_tensor_count(const wf_gguf *g);
const wf_gguf_tensor *wf_gguf_tensor_at(const wf_gguf *g, int64_t i); /* NULL if out of range */
const wf_gguf_tensor *wf_gguf_find_tensor(const wf_gguf *g, const char *name); /* NULL if absent */
/* As find, but a missing tensor is WF_ERR_FORMAT naming the file and the tensor. */
wf_status wf_gguf_get_tensor(const wf_gguf *g, const char *name, const wf_gguf_tensor **out);

/* "Q4_K" etc.; NULL for a number that is no known type. */
const char *wf_ggml_type_name(int type);
/* Elements per block and bytes per block; false for an unknown type. */
bool wf_ggml_type_size(int type, int64_t *block, int64_t *block_bytes);
bool wf_ggml_type_can_dequant(int type);

/* ---- dequantization (gguf_dequant.c) ---- */
/* Writes the tensor's numel values as fp32 in storage order (ggml ne[0] fastest, i.e. row-major
 * `shape`). n must equal t->numel. The arithmetic follows ggml's dequantize_row_* operation by
 * operation in fp32, so results are bit-identical to ggml's and to the gguf package's numpy
 * dequantizers. An unsupported type is WF_ERR_UNSUPPORTED naming the tensor and the type. */
wf_status wf_gguf_dequant_f32(const wf_gguf_tensor *t, float *dst, int64_t n);
/* The same on raw blocks: n values (a multiple of the block size) from src_bytes bytes. */
wf_status wf_ggml_dequant_raw(int type, const void *src, size_t src_bytes, float *dst, int64_t n);

/* Undoes llama.cpp's interleaving of Llama q/k projection rows (convert_hf_to_gguf.py permute):
 * the converter wrote W' = W.reshape(n_head, 2, rows/n_head/2, cols).swapaxes(1, 2)
 * .reshape(rows, cols); this restores W in place. w: (rows, cols), row-major. For k pass the
 * number of kv heads. rows must be a multiple of 2*n_head. */
wf_status wf_gguf_unpermute_qk(float *w, int64_t rows, int64_t cols, int n_head);

#endif
