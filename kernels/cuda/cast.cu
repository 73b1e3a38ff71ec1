/* Casts between fp32, bf16 and fp16 on the GPU: out = in converted, same element count; widening
 * is exact, narrowing rounds to nearest even (cvt.rn: NaN stays NaN, fp16 overflow gives inf), as
 * dtype.h does on the host. Same dtype is a device copy. Reference: kernels/cpu/cast.c. */
#include "common.cuh"

/* Elements a packed thread converts: 16 bytes of the narrower side. */
template <typename Ti, typename To> __host__ __device__ constexpr int cast_pack() {
    return 16 / (int)(sizeof(Ti) < sizeof(To) ? sizeof(Ti) : sizeof(To));
}

/* E elements of T, 16-byte aligned: one (2-byte T, E = 8) or two (fp32, E = 8) 16-byte accesses. */
template <typename T, int E> struct alignas(16) cast_vec {
    T v[E];
};

/* A thread converts 8 elements at a time when both pointers are 16-byte aligned (packed): 16
 * bytes of the 2-byte side and 16 or 32 of the other, instead of 2- and 4-byte accesses; the
 * n % 8 tail, or everything when not packed, goes element by element. Each element is converted
 * exactly as the scalar loop would (the same two conversions), so results are bit for bit
 * those of the scalar kernel. */
template <typename Ti, typename To>
__global__ void __launch_bounds__(WF_EW_BLOCK)
    cast_kernel(To *out, const Ti *in, int64_t n, bool packed) {
    constexpr int E = cast_pack<Ti, To>();
    const int64_t tid = wf_tid(), stride = wf_nthreads();
    const int64_t npack = packed ? n / E : 0;
    for (int64_t p = tid; p < npack; p += stride) {
        const cast_vec<Ti, E> a = reinterpret_cast<const cast_vec<Ti, E> *>(in)[p];
        cast_vec<To, E> b;
#pragma unroll
        for (int e = 0; e < E; e++) b.v[e] = wf_from_f32<To>(wf_to_f32(a.v[e]));
        reinterpret_cast<cast_vec<To, E> *>(out)[p] = b;
    }
    for (int64_t i = npack * E + tid; i < n; i += stride) out[i] = wf_from_f32<To>(wf_to_f32(in[i]));
}

extern "C" wf_status wf_cuda_cast(wf_backend *be, wf_tensor *out, const wf_tensor *in) {
    int64_t n = wf_tensor_numel(in);
    if (n <= 0) return WF_OK;
    if (in->dtype == out->dtype) {
        if (in->data != out->data)
            WF_CUDA_CHECK(cudaMemcpyAsync(out->data, in->data, wf_tensor_nbytes(in),
                                          cudaMemcpyDeviceToDevice, wf_cuda_stream(be)));
        return WF_OK;
    }
    return wf_cuda_by_dtype("cast", in->dtype, [&](auto in_tag) {
        using Ti = decltype(in_tag);
        return wf_cuda_by_dtype("cast", out->dtype, [&](auto out_tag) {
            using To = decltype(out_tag);
            const bool packed = wf_cuda_aligned(in->data, 16) && wf_cuda_aligned(out->data, 16);
            const int64_t E = cast_pack<Ti, To>(), items = packed ? n / E + n % E : n;
            WF_LAUNCH(wf_cuda_grid(be, items, WF_EW_BLOCK), WF_EW_BLOCK, 0, wf_cuda_stream(be),
                      cast_kernel<Ti, To>)((To *)out->data, (const Ti *)in->data, n, packed);
            WF_CUDA_LAUNCHED("cast");
            return WF_OK;
        });
    });
}
