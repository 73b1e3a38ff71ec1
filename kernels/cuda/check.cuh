/* Checked CUDA / cuBLAS calls for the CUDA backend. Every call goes through WF_CUDA_CHECK or
 * WF_CUBLAS_CHECK, which turn a failure into a wf_status whose message names the call,
 * file:line and device; WF_CUDA_LAUNCHED(op) checks the last launch and names the op. */
#ifndef WEFT_KERNELS_CUDA_CHECK_CUH
#define WEFT_KERNELS_CUDA_CHECK_CUH

#include <cublas_v2.h>
#include <cuda_runtime.h>

extern "C" {
#include "weft/status.h"
}

static inline int wf_cuda_current_device(void) {
    int d = -1;
    cudaGetDevice(&d);
    return d;
}

#define WF_CUDA_CHECK(call)                                                                        \
    do {                                                                                           \
        cudaError_t wf_e_ = (call);                                                                \
        if (wf_e_ != cudaSuccess)                                                                  \
            return wf_error(WF_ERR_BACKEND, "%s failed at %s:%d on cuda device %d: %s", #call,     \
                            __FILE__, __LINE__, wf_cuda_current_device(),                          \
                            cudaGetErrorString(wf_e_));                                            \
    } while (0)

#define WF_CUBLAS_CHECK(call)                                                                      \
    do {                                                                                           \
        cublasStatus_t wf_e_ = (call);                                                             \
        if (wf_e_ != CUBLAS_STATUS_SUCCESS)                                                        \
            return wf_error(WF_ERR_BACKEND, "%s failed at %s:%d on cuda device %d: %s", #call,     \
                            __FILE__, __LINE__, wf_cuda_current_device(),                          \
                            cublasGetStatusString(wf_e_));                                         \
    } while (0)

#define WF_CUDA_LAUNCHED(op)                                                                       \
    do {                                                                                           \
        cudaError_t wf_e_ = cudaGetLastError();                                                    \
        if (wf_e_ != cudaSuccess)                                                                  \
            return wf_error(WF_ERR_BACKEND, "op %s: kernel launch failed at %s:%d on cuda "        \
                            "device %d: %s", op, __FILE__, __LINE__, wf_cuda_current_device(),     \
                            cudaGetErrorString(wf_e_));                                            \
    } while (0)

/* The same check as an expression giving the status, for code that must release scratch before
 * returning:  s = WF_CUDA_LAUNCH_STATUS("op");  */
static inline wf_status wf_cuda_launch_status(const char *op, const char *file, int line) {
    cudaError_t e = cudaGetLastError();
    if (e == cudaSuccess) return WF_OK;
    return wf_error(WF_ERR_BACKEND, "op %s: kernel launch failed at %s:%d on cuda device %d: %s",
                    op, file, line, wf_cuda_current_device(), cudaGetErrorString(e));
}
#define WF_CUDA_LAUNCH_STATUS(op) wf_cuda_launch_status(op, __FILE__, __LINE__)

#endif
