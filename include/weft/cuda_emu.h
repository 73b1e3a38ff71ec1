/* The CUDA emulator's call counters (builds configured with -Dcuda-emu=true only: the "cuda"
 * backend there runs kernels/cuda/ on the CPU, kernels/cuda_emu/). Tests read them to check that
 * a training step allocates nothing and reads back only what the design promises. */
#ifndef WEFT_CUDA_EMU_H
#define WEFT_CUDA_EMU_H

#include <stddef.h>

typedef struct {
    long long launches;     /* kernel launches that ran */
    long long mallocs;      /* cudaMalloc calls that succeeded */
    long long frees;        /* cudaFree calls with a non-NULL pointer */
    long long d2h_copies;   /* cudaMemcpy(Async) device to host */
    long long h2d_copies;   /* cudaMemcpy(Async) host to device */
    long long stream_syncs; /* cudaStreamSynchronize and cudaDeviceSynchronize */
    long long event_syncs;  /* cudaEventSynchronize (the host waits for part of a stream) */
    long long h2d_pageable; /* cudaMemcpyAsync host to device from memory not cudaHostAlloc'd
                             * (on a GPU the driver stages it and the host may wait) */
    long long host_allocs;  /* cudaHostAlloc calls that succeeded */
    long long gemms;        /* cuBLAS and cuBLASLt matmul calls */
    size_t stack_peak;      /* deepest fiber stack use seen, bytes (see emu_sched.cpp) */
} wf_cuda_emu_counters;

/* A snapshot of the counters (since the process started). */
wf_cuda_emu_counters wf_cuda_emu_counters_get(void);

#endif
