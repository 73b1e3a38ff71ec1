/* Embedding lookup on the GPU: out (N, C) "=" (or "+=") table[ids]; backward dtable (V, C) "+="
 * with row ids[i] += dout[i] in a fixed order (ops.h: deterministic). The backward sorts the
 * token positions by id with CUB's stable radix sort, so each table row is summed by one block,
 * in increasing token order (the order of a sequential loop over tokens, as
 * kernels/cpu/embedding.c), in fp32, rounded once. An id outside [0, V) breaks the contract in a
 * way the host cannot see on device data: forward writes a NaN row for it (so the error shows)
 * and backward skips it. */
#if defined(WF_CUDA_EMU)
/* the CPU emulator's stand-in with CUB's contract: a stable sort of the pairs (emu.h) */
#define WF_SORT_PAIRS wf_emu_sort_pairs
#else
#include <cub/device/device_radix_sort.cuh>
#define WF_SORT_PAIRS cub::DeviceRadixSort::SortPairs
#endif

#include "common.cuh"

template <typename T>
__global__ void __launch_bounds__(WF_ROW_BLOCK)
    embedding_fwd_kernel(T *out, const int32_t *ids, const T *table, int64_t n, int64_t v,
                         int64_t c, bool accumulate) {
    for (int64_t r = blockIdx.x; r < n; r += gridDim.x) {
        int64_t id = ids[r];
        bool valid = id >= 0 && id < v;
        const T *src = table + (valid ? id : 0) * c;
        T *dst = out + r * c;
        for (int64_t j = threadIdx.x; j < c; j += blockDim.x) {
            float e = valid ? wf_to_f32(src[j]) : __int_as_float(0x7fc00000); /* NaN */
            dst[j] = wf_from_f32<T>(accumulate ? wf_to_f32(dst[j]) + e : e);
        }
    }
}

__global__ void __launch_bounds__(WF_EW_BLOCK) iota_kernel(int32_t *v, int64_t n) {
    for (int64_t i = wf_tid(); i < n; i += wf_nthreads()) v[i] = (int32_t)i;
}

/* keys (n): ids sorted ascending (as uint32, so negative ids sort last and fail id < v);
 * pos (n): their token positions, ascending within equal ids (the sort is stable). The block
 * at the first position of each run of one id sums that run into the table row. */
template <typename Tt, typename To>
__global__ void __launch_bounds__(WF_ROW_BLOCK)
    embedding_bwd_kernel(Tt *dtable, const uint32_t *keys, const int32_t *pos, const To *dout,
                         int64_t n, int64_t v, int64_t c) {
    for (int64_t s = blockIdx.x; s < n; s += gridDim.x) {
        uint32_t id = keys[s];
        if ((s > 0 && keys[s - 1] == id) || (int64_t)id >= v) continue; /* not a run start */
        Tt *row = dtable + (int64_t)id * c;
        for (int64_t j = threadIdx.x; j < c; j += blockDim.x) {
            float acc = wf_to_f32(row[j]);
            for (int64_t k = s; k < n && keys[k] == id; k++)
                acc += wf_to_f32(dout[(int64_t)pos[k] * c + j]);
            row[j] = wf_from_f32<Tt>(acc);
        }
    }
}

extern "C" wf_status wf_cuda_embedding_fwd(wf_backend *be, wf_tensor *out, const wf_tensor *ids,
                                           const wf_tensor *table, bool accumulate) {
    int64_t n = wf_tensor_numel(ids), v = table->shape[0], c = wf_tensor_cols(table);
    if (n <= 0 || c <= 0) return WF_OK;
    return wf_cuda_by_dtype("embedding_fwd", table->dtype, [&](auto tag) {
        using T = decltype(tag);
        WF_LAUNCH(wf_cuda_grid(be, n, 1), WF_ROW_BLOCK, 0, wf_cuda_stream(be),
                  embedding_fwd_kernel<T>)(
            (T *)out->data, (const int32_t *)ids->data, (const T *)table->data, n, v, c,
            accumulate);
        WF_CUDA_LAUNCHED("embedding_fwd");
        return WF_OK;
    });
}

/* Sorts (id, position) pairs into keys/pos; temporaries from scratch (the caller resets it). */
static wf_status sort_ids(wf_backend *be, const wf_tensor *ids, int n, uint32_t **keys,
                          int32_t **pos) {
    cudaStream_t st = wf_cuda_stream(be);
    void *k = NULL, *p_in = NULL, *p = NULL, *tmp = NULL;
    size_t tmp_bytes = 0;
    const uint32_t *keys_in = (const uint32_t *)ids->data;
    WF_CUDA_CHECK(WF_SORT_PAIRS(NULL, tmp_bytes, keys_in, (uint32_t *)NULL,
                                                  (const int32_t *)NULL, (int32_t *)NULL, n, 0,
                                                  32, st));
    WF_TRY(wf_arena_alloc(&be->scratch, (size_t)n * sizeof(uint32_t), &k));
    WF_TRY(wf_arena_alloc(&be->scratch, (size_t)n * sizeof(int32_t), &p_in));
    WF_TRY(wf_arena_alloc(&be->scratch, (size_t)n * sizeof(int32_t), &p));
    WF_TRY(wf_arena_alloc(&be->scratch, tmp_bytes, &tmp));
    WF_LAUNCH(wf_cuda_grid(be, n, WF_EW_BLOCK), WF_EW_BLOCK, 0, st,
              iota_kernel)((int32_t *)p_in, n);
    WF_CUDA_LAUNCHED("embedding_bwd");
    WF_CUDA_CHECK(WF_SORT_PAIRS(tmp, tmp_bytes, keys_in, (uint32_t *)k,
                                                  (const int32_t *)p_in, (int32_t *)p, n, 0, 32,
                                                  st));
    *keys = (uint32_t *)k;
    *pos = (int32_t *)p;
    return WF_OK;
}

static wf_status embedding_bwd_run(wf_backend *be, wf_tensor *dtable, const wf_tensor *ids,
                                   const wf_tensor *dout) {
    int64_t n = wf_tensor_numel(ids), v = dtable->shape[0], c = wf_tensor_cols(dtable);
    if (n > INT32_MAX)
        return wf_error(WF_ERR_UNSUPPORTED, "op embedding_bwd on backend 'cuda': %lld ids exceed "
                                            "the sort's int32 count", (long long)n);
    uint32_t *keys = NULL;
    int32_t *pos = NULL;
    WF_TRY(sort_ids(be, ids, (int)n, &keys, &pos));
    return wf_cuda_by_dtype("embedding_bwd", dtable->dtype, [&](auto ttag) {
        using Tt = decltype(ttag);
        return wf_cuda_by_dtype("embedding_bwd", dout->dtype, [&](auto otag) {
            using To = decltype(otag);
            WF_LAUNCH(wf_cuda_grid(be, n, 1), WF_ROW_BLOCK, 0, wf_cuda_stream(be),
                      embedding_bwd_kernel<Tt, To>)(
                    (Tt *)dtable->data, keys, pos, (const To *)dout->data, n, v, c);
            WF_CUDA_LAUNCHED("embedding_bwd");
            return WF_OK;
        });
    });
}

extern "C" wf_status wf_cuda_embedding_bwd(wf_backend *be, wf_tensor *dtable, const wf_tensor *ids,
                                           const wf_tensor *dout) {
    if (wf_tensor_numel(ids) <= 0 || wf_tensor_cols(dtable) <= 0) return WF_OK;
    size_t mark = wf_arena_mark(&be->scratch);
    wf_status s = embedding_bwd_run(be, dtable, ids, dout);
    wf_arena_reset(&be->scratch, mark);
    return s;
}
