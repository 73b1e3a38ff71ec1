/* IA3 scaling on the GPU (MATH.md "Linear and LoRA", PEFT's IA3): y = x * l with l (C)
 * broadcast over rows; backward dx = dy * l (optional) and dl += colsum(dy * x), the column sum
 * deterministic (colsum.cuh, no float atomics) and fused with dx so dy is read once.
 * Reference: kernels/cpu/ia3.c. */
#include "colsum.cuh"
#include "elementwise.cuh"

template <typename T> struct ia3_fwd_op {
    const T *l;
    int64_t cols;
    __device__ void operator()(int64_t i, const float *x, float *y) const {
        y[0] = x[0] * wf_to_f32(l[i % cols]);
    }
};

/* The summand dy * x at (r, c); writes dx = dy * l there when dx is wanted. */
template <typename T> struct ia3_bwd_term {
    const T *dy, *x, *l;
    T *dx; /* NULL: not wanted */
    int64_t cols;
    __device__ float operator()(int64_t r, int64_t c) const {
        int64_t i = r * cols + c;
        float g = wf_to_f32(dy[i]);
        if (dx) dx[i] = wf_from_f32<T>(g * wf_to_f32(l[c]));
        return g * wf_to_f32(x[i]);
    }
};

extern "C" wf_status wf_cuda_ia3_fwd(wf_backend *be, wf_tensor *y, const wf_tensor *x,
                                     const wf_tensor *l) {
    return wf_cuda_by_dtype("ia3_fwd", x->dtype, [&](auto tag) {
        using T = decltype(tag);
        int64_t cols = wf_tensor_cols(x);
        if (cols <= 0) return WF_OK;
        wf_ew_args<T, 1, 1> args = {{(const T *)x->data}, {(T *)y->data}, wf_tensor_numel(x)};
        return wf_ew_launch(be, "ia3_fwd", args, ia3_fwd_op<T>{(const T *)l->data, cols});
    });
}

extern "C" wf_status wf_cuda_ia3_bwd(wf_backend *be, wf_tensor *dx, wf_tensor *dl,
                                     const wf_tensor *dy, const wf_tensor *x, const wf_tensor *l) {
    return wf_cuda_by_dtype("ia3_bwd", x->dtype, [&](auto tag) {
        using T = decltype(tag);
        int64_t rows = wf_tensor_rows(x), cols = wf_tensor_cols(x);
        ia3_bwd_term<T> f = {(const T *)dy->data, (const T *)x->data, (const T *)l->data,
                             dx ? (T *)dx->data : (T *)NULL, cols};
        return wf_cuda_by_dtype("ia3_bwd", dl->dtype, [&](auto ltag) { /* x's dtype or fp32 */
            using Tl = decltype(ltag);
            return wf_colsum(be, "ia3_bwd", rows, cols, (Tl *)dl->data, true, f);
        });
    });
}
