/* State shared by the emulator's sources (not by kernels): the fibers of the running block, the
 * block's barrier and warp-collective bookkeeping, the call counters, and the landing mode of
 * cp.async. Single OS thread per launch; every field belongs to the thread that launched. */
#ifndef WEFT_KERNELS_CUDA_EMU_EMU_INTERNAL_H
#define WEFT_KERNELS_CUDA_EMU_EMU_INTERNAL_H

#include <vector>

#include "emu.h"

extern "C" {
#include "weft/cuda_emu.h"
}

namespace wf_emu {

enum fiber_state { F_RUN, F_BAR, F_WARP, F_DONE };

struct cp_copy {
    void *dst;
    const void *src;
    int bytes;
    bool valid;
    long group; /* the commit group it belongs to (the thread's commit count when issued) */
};

struct fiber {
    void *sp = nullptr;   /* saved stack pointer while switched out */
    char *stack = nullptr; /* lowest usable byte (a guard page lies below) */
    fiber_state state = F_DONE;
    coords c;
    int linear = 0; /* thread index within the block */
    std::vector<cp_copy> pending; /* cp.async copies not yet landed (mode "wait") */
    long committed = 0;           /* cp.async groups committed */
};

struct warp_slot {
    int arrived = 0, done = 0, op = 0;
    void *args[32];
};

struct block_run {
    const launch_info *li = nullptr;
    int n = 0, done = 0;
    int bar_arrived = 0, bar_acc = 0, bar_result = 0;
    std::vector<warp_slot> warps;
    char *smem = nullptr; /* dynamic shared memory of the launch, li->smem bytes */
};

extern thread_local fiber *cur_fiber;
extern thread_local block_run *cur_block;
extern wf_cuda_emu_counters counters;

/* Runs op for the 32 lanes whose arguments are args[lane] (emu_warp.cpp). */
void warp_execute(int op, void *const *args);
/* Lands the pending cp.async copies of f whose group is < below (all: LONG_MAX). */
void cp_async_land(fiber *f, long below);
const char *op_name(int op);
/* Whether [p, p + n) lies inside one live cudaMalloc block (emu_runtime.cpp). */
bool device_range_ok(const void *p, size_t n);
/* Whether li fits the device's and the kernel's limits (emu_runtime.cpp); else sets the last
 * error and *why. */
bool launch_check(const launch_info &li, const char **why);

} /* namespace wf_emu */

#endif
