/* The CUDA emulator's own guarantees (kernels/cuda_emu/), on tiny kernels launched the way
 * kernels/cuda/ launches them (WF_LAUNCH, WF_DYN_SHARED): warp shuffles and __syncthreads_or give
 * what the hardware gives; dynamic shared memory starts as NaN; cp.async lands at the wait in
 * mode "wait" and at once in mode "issue"; divergent barriers and collectives abort naming the
 * kernel (checked in a child process); launches over the shared-memory limits are refused and
 * counted as not run. Built only with -Dcuda-emu=true (suite emu). */
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../unit/expect.h"
#include "emu.h"

extern "C" {
#include "weft/cuda_emu.h"
}

__global__ void butterfly_kernel(float *out) {
    float v = (float)threadIdx.x;
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    out[threadIdx.x] = v + 1000.0f * __shfl_sync(0xffffffffu, (float)threadIdx.x, 7);
}

__global__ void block_or_kernel(int *out, int who) {
    out[threadIdx.x] = __syncthreads_or((int)threadIdx.x == who);
}

__global__ void smem_kernel(float *out) {
    WF_DYN_SHARED(float, sm);
    out[threadIdx.x] = sm[threadIdx.x];
}

__global__ void cp_async_kernel(float *out, const float *src) {
    WF_DYN_SHARED(float, sm);
    wf_emu_cp_async(sm + threadIdx.x, src + threadIdx.x, 4, true);
    wf_emu_cp_async_commit();
    out[threadIdx.x] = sm[threadIdx.x]; /* before the wait: only mode "issue" has landed it */
    wf_emu_cp_async_wait(0);
    out[blockDim.x + threadIdx.x] = sm[threadIdx.x];
}

__global__ void divergent_barrier_kernel(int *out) {
    if (threadIdx.x == 3) return;
    __syncthreads();
    out[threadIdx.x] = 1;
}

__global__ void divergent_shuffle_kernel(float *out) {
    if (threadIdx.x == 5) return;
    out[threadIdx.x] = __shfl_xor_sync(0xffffffffu, 1.0f, 1);
}

__global__ void mixed_collectives_kernel(float *out) {
    if (threadIdx.x < 16) out[threadIdx.x] = __shfl_xor_sync(0xffffffffu, 1.0f, 1);
    else __syncwarp();
}

static void check_warp_ops(void) {
    float out[64];
    WF_LAUNCH(1, 64, 0, 0, butterfly_kernel)(out);
    for (int i = 0; i < 64; i++) {
        const int w = i / 32;
        const float want = (float)(32 * 32 * w + 31 * 16) + 1000.0f * (float)(32 * w + 7);
        CHECK(out[i] == want, "butterfly lane %d: %g, want %g", i, (double)out[i], (double)want);
    }
    int flags[256];
    WF_LAUNCH(1, 256, 0, 0, block_or_kernel)(flags, 77);
    for (int i = 0; i < 256; i++) CHECK(flags[i] == 1, "__syncthreads_or thread %d: %d", i, flags[i]);
    WF_LAUNCH(1, 256, 0, 0, block_or_kernel)(flags, -1);
    for (int i = 0; i < 256; i++) CHECK(flags[i] == 0, "__syncthreads_or thread %d: %d", i, flags[i]);
}

static void check_launch_limits(void) {
    static float out[1024];
    out[0] = 0.0f;
    const long long l0 = wf_cuda_emu_counters_get().launches;
    WF_LAUNCH(1, 64, 64 << 10, 0, smem_kernel)(out); /* 64 KiB without the attribute */
    CHECK(cudaGetLastError() == cudaErrorInvalidValue, "64 KiB of shared memory was not refused");
    CHECK(out[0] == 0.0f && wf_cuda_emu_counters_get().launches == l0, "a refused launch ran");
    CHECK(cudaFuncSetAttribute(smem_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize,
                               64 << 10) == cudaSuccess, "attribute of 64 KiB refused");
    WF_LAUNCH(1, 64, 64 << 10, 0, smem_kernel)(out);
    CHECK(cudaGetLastError() == cudaSuccess, "64 KiB with the attribute refused");
    for (int i = 0; i < 64; i++) CHECK(isnan(out[i]), "unwritten shared memory %d: %g", i, (double)out[i]);
    CHECK(cudaFuncSetAttribute(smem_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize,
                               228 << 10) != cudaSuccess, "228 KiB allowed (Hopper: 227 KiB)");
    cudaGetLastError();
    WF_LAUNCH(1, 1025, 0, 0, smem_kernel)(out);
    CHECK(cudaGetLastError() == cudaErrorInvalidConfiguration, "1025 threads a block not refused");
}

/* Runs f in a child with WF_EMU_CP_ASYNC=mode (if given); returns its status, stderr in err. */
static int in_child(void (*f)(void), const char *mode, char *err, size_t cap) {
    int fd[2];
    if (pipe(fd) != 0) return -1;
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        dup2(fd[1], 2);
        close(fd[0]);
        if (mode) setenv("WF_EMU_CP_ASYNC", mode, 1);
        failures = 0; /* the child's own */
        f();
        fflush(stdout);
        _exit(failures ? 1 : 0);
    }
    close(fd[1]);
    size_t n = 0;
    ssize_t r;
    while (n + 1 < cap && (r = read(fd[0], err + n, cap - 1 - n)) > 0) n += (size_t)r;
    err[n] = 0;
    close(fd[0]);
    int st = 0;
    waitpid(pid, &st, 0);
    return st;
}

static void cp_wait_mode(void) {
    float src[32], out[64];
    for (int i = 0; i < 32; i++) src[i] = (float)i;
    WF_LAUNCH(1, 32, 128, 0, cp_async_kernel)(out, src);
    for (int i = 0; i < 32; i++)
        CHECK(isnan(out[i]) && out[32 + i] == (float)i, "mode wait lane %d: %g before, %g after",
              i, (double)out[i], (double)out[32 + i]);
}

static void cp_issue_mode(void) {
    float src[32], out[64];
    for (int i = 0; i < 32; i++) src[i] = (float)i;
    WF_LAUNCH(1, 32, 128, 0, cp_async_kernel)(out, src);
    for (int i = 0; i < 32; i++)
        CHECK(out[i] == (float)i && out[32 + i] == (float)i, "mode issue lane %d: %g, %g", i,
              (double)out[i], (double)out[32 + i]);
}

static void run_divergent_barrier(void) {
    int out[64];
    WF_LAUNCH(1, 64, 0, 0, divergent_barrier_kernel)(out);
}
static void run_divergent_shuffle(void) {
    float out[32];
    WF_LAUNCH(1, 32, 0, 0, divergent_shuffle_kernel)(out);
}
static void run_mixed_collectives(void) {
    float out[32];
    WF_LAUNCH(1, 32, 0, 0, mixed_collectives_kernel)(out);
}

static void check_aborts(void) {
    static char err[4096];
    struct {
        void (*f)(void);
        const char *kernel, *why;
    } cases[] = {
        {run_divergent_barrier, "divergent_barrier_kernel", "divergent barrier"},
        {run_divergent_shuffle, "divergent_shuffle_kernel", "divergent warp collective"},
        {run_mixed_collectives, "mixed_collectives_kernel", "different warp collectives"},
    };
    for (const auto &c : cases) {
        int st = in_child(c.f, NULL, err, sizeof err);
        CHECK(WIFSIGNALED(st) && WTERMSIG(st) == SIGABRT && strstr(err, c.kernel) &&
                  strstr(err, c.why),
              "%s: want an abort naming it and '%s'; status %d, stderr: %s", c.kernel, c.why, st,
              err);
    }
    int st = in_child(cp_wait_mode, "wait", err, sizeof err);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "cp.async mode wait: status %d %s", st, err);
    st = in_child(cp_issue_mode, "issue", err, sizeof err);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "cp.async mode issue: status %d %s", st, err);
}

int main(void) {
    check_warp_ops();
    check_launch_limits();
    check_aborts();
    printf("%s: CUDA emulator model checks, %d failed\n", failures ? "FAIL" : "ok", failures);
    return failures ? 1 : 0;
}
