/* Measures the device ceilings that benchmarks report fractions of: device-to-device copy
 * bandwidth (cudaMemcpyAsync of a 2 GiB buffer; bytes read + written per second) and the dense
 * GEMM rate of cuBLAS (8192^3, bf16 and fp16 inputs with fp32 accumulation, and fp32).
 * Prints one "peak <name> <value> <unit>" line each; exit 77 without a GPU. */
#include <cublas_v2.h>
#include <cuda_bf16.h>
#include <cuda_runtime.h>
#include <stdio.h>

#define CK(call)                                                                                   \
    do {                                                                                           \
        cudaError_t e_ = (call);                                                                   \
        if (e_ != cudaSuccess) {                                                                   \
            fprintf(stderr, "%s failed at %s:%d: %s\n", #call, __FILE__, __LINE__,                 \
                    cudaGetErrorString(e_));                                                       \
            return 1;                                                                              \
        }                                                                                          \
    } while (0)
#define CB(call)                                                                                   \
    do {                                                                                           \
        cublasStatus_t e_ = (call);                                                                \
        if (e_ != CUBLAS_STATUS_SUCCESS) {                                                         \
            fprintf(stderr, "%s failed at %s:%d: %s\n", #call, __FILE__, __LINE__,                 \
                    cublasGetStatusString(e_));                                                    \
            return 1;                                                                              \
        }                                                                                          \
    } while (0)

static int copy_bandwidth(cudaStream_t s) {
    const size_t bytes = (size_t)2 << 30;
    void *a, *b;
    CK(cudaMalloc(&a, bytes));
    CK(cudaMalloc(&b, bytes));
    CK(cudaMemsetAsync(a, 1, bytes, s));
    cudaEvent_t e0, e1;
    CK(cudaEventCreate(&e0));
    CK(cudaEventCreate(&e1));
    CK(cudaMemcpyAsync(b, a, bytes, cudaMemcpyDeviceToDevice, s)); /* warm-up */
    const int reps = 10;
    CK(cudaEventRecord(e0, s));
    for (int i = 0; i < reps; i++) CK(cudaMemcpyAsync(b, a, bytes, cudaMemcpyDeviceToDevice, s));
    CK(cudaEventRecord(e1, s));
    CK(cudaEventSynchronize(e1));
    float ms;
    CK(cudaEventElapsedTime(&ms, e0, e1));
    printf("peak copy_d2d %.1f GB/s\n", 2.0 * bytes * reps / (ms * 1e-3) * 1e-9);
    CK(cudaFree(a));
    CK(cudaFree(b));
    return 0;
}

static int gemm_rate(cublasHandle_t h, cudaStream_t s, cudaDataType_t dt, const char *name) {
    const int n = 8192;
    size_t el = dt == CUDA_R_32F ? 4 : 2;
    void *a, *b, *c;
    CK(cudaMalloc(&a, (size_t)n * n * el));
    CK(cudaMalloc(&b, (size_t)n * n * el));
    CK(cudaMalloc(&c, (size_t)n * n * el));
    CK(cudaMemsetAsync(a, 0x3c, (size_t)n * n * el, s)); /* small finite values in every dtype */
    CK(cudaMemsetAsync(b, 0x3c, (size_t)n * n * el, s));
    float alpha = 1, beta = 0;
    cudaEvent_t e0, e1;
    CK(cudaEventCreate(&e0));
    CK(cudaEventCreate(&e1));
    for (int i = 0; i < 2; i++) /* warm-up: heuristics, clocks */
        CB(cublasGemmEx(h, CUBLAS_OP_N, CUBLAS_OP_N, n, n, n, &alpha, a, dt, n, b, dt, n, &beta, c,
                        dt, n, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
    const int reps = 10;
    CK(cudaEventRecord(e0, s));
    for (int i = 0; i < reps; i++)
        CB(cublasGemmEx(h, CUBLAS_OP_N, CUBLAS_OP_N, n, n, n, &alpha, a, dt, n, b, dt, n, &beta, c,
                        dt, n, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
    CK(cudaEventRecord(e1, s));
    CK(cudaEventSynchronize(e1));
    float ms;
    CK(cudaEventElapsedTime(&ms, e0, e1));
    printf("peak gemm_%s %.1f TFLOP/s\n", name, 2.0 * n * n * (double)n * reps / (ms * 1e-3) * 1e-12);
    CK(cudaFree(a));
    CK(cudaFree(b));
    CK(cudaFree(c));
    return 0;
}

int main(void) {
    int ndev = 0;
    if (cudaGetDeviceCount(&ndev) != cudaSuccess || ndev == 0) {
        printf("device_peak: no GPU, skipped\n");
        return 77;
    }
    cudaDeviceProp p;
    CK(cudaGetDeviceProperties(&p, 0));
    printf("device %s sm_%d%d %d SMs %.1f GiB\n", p.name, p.major, p.minor, p.multiProcessorCount,
           (double)p.totalGlobalMem / (1 << 30));
    cudaStream_t s;
    CK(cudaStreamCreate(&s));
    cublasHandle_t h;
    CB(cublasCreate(&h));
    CB(cublasSetStream(h, s));
    int rc = copy_bandwidth(s);
    rc |= gemm_rate(h, s, CUDA_R_16BF, "bf16");
    rc |= gemm_rate(h, s, CUDA_R_16F, "fp16");
    rc |= gemm_rate(h, s, CUDA_R_32F, "fp32");
    cublasDestroy(h);
    cudaStreamDestroy(s);
    return rc;
}
