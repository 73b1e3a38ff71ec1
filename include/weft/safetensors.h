/* safetensors: reading (mmap, validated, zero-copy views), writing (atomic), sharded model dirs.
 * Format and the reference reader's rejection rules: shared/reference/FORMATS.md "safetensors",
 * after huggingface/safetensors safetensors/src/tensor.rs (read_metadata, Metadata::validate).
 * Every rejection is WF_ERR_FORMAT with a message naming the file and the tensor, key or byte.
 * Not here: copying weights into backend memory or renaming them (the model loaders do that). */
#ifndef WEFT_SAFETENSORS_H
#define WEFT_SAFETENSORS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "weft/status.h"

/* Every dtype safetensors 0.8 knows, in the reference's order. F4 and F6_* pack elements below
 * a byte; all others are whole bytes. Only F64/F32/F16/BF16 convert to fp32 here. */
typedef enum wf_st_dtype {
    WF_ST_BOOL,
    WF_ST_F4,
    WF_ST_F6_E2M3,
    WF_ST_F6_E3M2,
    WF_ST_U8,
    WF_ST_I8,
    WF_ST_F8_E5M2,
    WF_ST_F8_E4M3,
    WF_ST_F8_E8M0,
    WF_ST_F8_E4M3FNUZ,
    WF_ST_F8_E5M2FNUZ,
    WF_ST_I16,
    WF_ST_U16,
    WF_ST_F16,
    WF_ST_BF16,
    WF_ST_I32,
    WF_ST_U32,
    WF_ST_F32,
    WF_ST_C64,
    WF_ST_F64,
    WF_ST_I64,
    WF_ST_U64,
    WF_ST_DTYPE_COUNT
} wf_st_dtype;

const char *wf_st_dtype_name(wf_st_dtype t); /* "BF16"; "?" out of range */
int wf_st_dtype_bits(wf_st_dtype t);         /* bits per element; 0 out of range */
/* The dtype spelled by the `len` bytes at s ("F32"); false if none. */
bool wf_st_dtype_parse(const char *s, size_t len, wf_st_dtype *out);

/* One tensor of an open file: a view into its mapping, valid until the file is closed. */
typedef struct wf_st_tensor {
    const char *name; /* UTF-8, NUL-terminated */
    wf_st_dtype dtype;
    int ndim;             /* 0 for a scalar */
    const int64_t *shape; /* (ndim) */
    int64_t numel;        /* product of shape; 1 for a scalar */
    size_t nbytes;
    const void *data; /* (nbytes) little-endian, row-major; maybe not aligned in foreign files */
    const char *file; /* the file it lives in, for messages */
} wf_st_tensor;

/* A `__metadata__` entry (also what wf_st_write takes). */
typedef struct wf_st_kv {
    const char *key, *value;
} wf_st_kv;

typedef struct wf_st_file wf_st_file;

/* Validates a whole file image `buf` (size bytes; it must outlive the result) and indexes it.
 * `name` (copied) is what messages call the file. */
wf_status wf_st_parse(const void *buf, size_t size, const char *name, wf_st_file **out);
/* Maps `path` and parses it; the file owns the mapping. */
wf_status wf_st_open(const char *path, wf_st_file **out);
void wf_st_close(wf_st_file *f); /* NULL is fine */

const char *wf_st_name(const wf_st_file *f);
int64_t wf_st_count(const wf_st_file *f);
/* Tensors in file order (by data offset), i in [0, count). */
const wf_st_tensor *wf_st_tensor_at(const wf_st_file *f, int64_t i);
/* The tensor called `name`, or NULL. O(log count). */
const wf_st_tensor *wf_st_find(const wf_st_file *f, const char *name);

/* `__metadata__`: the value of `key`, or NULL; entries in header order. */
const char *wf_st_metadata(const wf_st_file *f, const char *key);
int64_t wf_st_metadata_count(const wf_st_file *f);
const wf_st_kv *wf_st_metadata_at(const wf_st_file *f, int64_t i);

/* Converts all n (== numel) elements of an F32/F16/BF16/F64 tensor to fp32 (F64 rounds to
 * nearest). Other dtypes, or n != numel: WF_ERR_INVALID / WF_ERR_UNSUPPORTED naming the tensor. */
wf_status wf_st_read_f32(const wf_st_tensor *t, float *dst /* (n) */, int64_t n);

/* What wf_st_write stores: data holds numel * bits / 8 bytes, little-endian, row-major. */
typedef struct wf_st_entry {
    const char *name; /* UTF-8, unique, not "__metadata__" */
    wf_st_dtype dtype;
    int ndim;
    const int64_t *shape; /* (ndim) */
    const void *data;     /* may be NULL when the tensor has no bytes */
} wf_st_entry;

/* Writes `n` tensors, data back to back in the given order, with `__metadata__` =
 * {"format": "pt"} followed by the caller's n_meta entries (a caller "format" must say "pt").
 * The header is padded with spaces so the data starts 8-aligned. Goes through wf_atomic_*:
 * on any failure an existing file at `path` is left untouched. Bad entries: WF_ERR_INVALID. */
wf_status wf_st_write(const char *path, const wf_st_entry *entries, int64_t n, const wf_st_kv *meta,
                      int64_t n_meta);

/* Produces `bytes` bytes of tensor i starting `offset` bytes into it (offsets ascend from 0). */
typedef wf_status (*wf_st_fill_fn)(void *ctx, int64_t i, void *dst, uint64_t offset, size_t bytes);
#define WF_ST_FILL_CHUNK ((size_t)64 << 20)
/* wf_st_write for files larger than host memory should hold (merged models, checkpoints): the
 * data of entries whose `data` is NULL comes from `fill`, in pieces of at most WF_ST_FILL_CHUNK
 * bytes, in file order. A fill error aborts the write (the old file stays) and is returned. */
wf_status wf_st_write_stream(const char *path, const wf_st_entry *entries, int64_t n,
                             const wf_st_kv *meta, int64_t n_meta, wf_st_fill_fn fill, void *ctx);

/* A Hugging Face model's weights: `dir/model.safetensors`, or `dir/model.safetensors.index.json`
 * and the shards its "weight_map" names (nothing else in the index is read). `dir` may also be a
 * single .safetensors file. A missing shard, or a tensor mapped to a shard that lacks it, is an
 * error naming both. Tensors a shard holds but the weight_map does not list are not visible. */
typedef struct wf_st_model wf_st_model;

wf_status wf_st_model_open(const char *dir, wf_st_model **out);
void wf_st_model_close(wf_st_model *m); /* NULL is fine */
int64_t wf_st_model_count(const wf_st_model *m);
/* Tensors sorted by name, i in [0, count). */
const wf_st_tensor *wf_st_model_tensor_at(const wf_st_model *m, int64_t i);
const wf_st_tensor *wf_st_model_find(const wf_st_model *m, const char *name);
int wf_st_model_file_count(const wf_st_model *m);
const wf_st_file *wf_st_model_file(const wf_st_model *m, int i);

#endif
