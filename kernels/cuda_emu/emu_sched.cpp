/* weft's CUDA emulator: runs the kernels of kernels/cuda/ on the CPU so that CI, which has no
 * GPU, can check them against the CPU backend (suite "emu"). This file is the thread model.
 * - Deterministic, one OS thread: a launch runs its blocks one after another (x fastest, then y,
 *   z); a block runs one fiber per CUDA thread, each until it finishes or blocks, in thread order
 *   (WF_EMU_ORDER=reverse: in reverse thread order).
 * - __syncthreads is a block rendezvous; warp collectives (shuffles, __syncwarp, ldmatrix, mma)
 *   a warp rendezvous where each lane posts its operands and the last to arrive computes what
 *   the hardware gives every lane (emu_warp.cpp). A barrier that some threads of the block (or
 *   lanes of the warp) can no longer reach (they exited, or wait elsewhere) aborts naming the
 *   kernel and the launch site instead of hanging.
 * - Dynamic shared memory is a per-launch buffer filled with 0xFF bytes (NaN in every float
 *   dtype) before each block, so a read of an unwritten element shows in the results.
 * - cp.async lands at the latest moment the PTX ISA allows (the issuing thread's wait_group
 *   retiring its group; WF_EMU_CP_ASYNC=wait, the default) or at once (=issue).
 * What it cannot check: speed; the real memory model (threads run one at a time in a fixed
 *   order, so a missing __syncthreads shows only when a thread reads shared memory a later
 *   thread has yet to write, or a tile before its cp.async landed: suite emu runs the kernels
 *   with shared memory in both orders to see both sides; blocks never overlap, so
 *   races between blocks go unseen); tensor-core rounding (emu_warp.cpp sums in fp32 in k
 *   order); __launch_bounds__ and register limits; __shared__ statics start as whatever the
 *   previous block left (only dynamic shared memory is refilled). One OS thread launches at a
 *   time (the counters and the attribute table are process-wide). A kernel that passes here has
 *   still never run on a GPU until it did.
 * Fiber switch: a hand-written x86-64 System V context switch (callee-saved registers and the
 * stack pointer); stacks of WF_EMU_STACK_KIB (default 64) KiB with a guard page, reused. */
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "emu_guard.h"
#include "emu_internal.h"

#if !defined(__x86_64__)
#error "the CUDA emulator's fiber switch is written for x86-64 (System V) only"
#endif

/* wf_emu_switch(save, to): saves callee-saved registers on the current stack, stores the stack
 * pointer in *save, loads `to` and restores that stack's registers. wf_emu_boot starts a fresh
 * fiber: r12 holds its fiber pointer, r13 the function to call with it (never returns). */
extern "C" void wf_emu_switch(void **save, void *to);
extern "C" void wf_emu_boot(void);
__asm__(".text\n"
        ".globl wf_emu_switch\n"
        ".type wf_emu_switch, @function\n"
        "wf_emu_switch:\n"
        "  pushq %rbp\n  pushq %rbx\n  pushq %r12\n  pushq %r13\n  pushq %r14\n  pushq %r15\n"
        "  movq %rsp, (%rdi)\n"
        "  movq %rsi, %rsp\n"
        "  popq %r15\n  popq %r14\n  popq %r13\n  popq %r12\n  popq %rbx\n  popq %rbp\n"
        "  ret\n"
        ".size wf_emu_switch, .-wf_emu_switch\n"
        ".globl wf_emu_boot\n"
        ".type wf_emu_boot, @function\n"
        "wf_emu_boot:\n"
        "  movq %r12, %rdi\n"
        "  callq *%r13\n"
        "  ud2\n"
        ".size wf_emu_boot, .-wf_emu_boot\n");

namespace wf_emu {

thread_local const coords *cur = nullptr;
thread_local fiber *cur_fiber = nullptr;
thread_local block_run *cur_block = nullptr;
wf_cuda_emu_counters counters;

static thread_local void *main_sp = nullptr;
static thread_local std::vector<fiber *> pool; /* fibers with stacks, reused across launches */
static const unsigned char STACK_FILL = 0xA5;    /* to measure the deepest use */

static size_t stack_bytes(void) {
    static size_t b = 0;
    if (!b) {
        const char *e = getenv("WF_EMU_STACK_KIB");
        long kib = e ? atol(e) : 64;
        b = (size_t)(kib >= 16 ? kib : 16) << 10;
    }
    return b;
}

/* Whether environment variable `name` is `alt` (unset or `def`: false); any other value aborts
 * with a message (these variables choose how the emulator runs, so a typo must not pass). */
static bool env_is(const char *name, const char *def, const char *alt) {
    const char *e = getenv(name);
    if (e && strcmp(e, def) && strcmp(e, alt)) {
        fprintf(stderr, "weft CUDA emulator: %s='%s' is not '%s' or '%s'\n", name, e, def, alt);
        abort();
    }
    return e && strcmp(e, alt) == 0;
}

static bool cp_async_issue_mode(void) {
    static int v = -1;
    if (v < 0) v = env_is("WF_EMU_CP_ASYNC", "wait", "issue");
    return v;
}

/* WF_EMU_ORDER=reverse runs a block's threads in reverse thread order (the highest first, at
 * every pass and yield); forward (the default) in thread order. A missing __syncthreads shows
 * when a thread reads shared memory that a thread run after it has yet to write: forward order
 * finds the readers below their writers, reverse order those above. */
static bool reverse_order(void) {
    static int v = -1;
    if (v < 0) v = env_is("WF_EMU_ORDER", "forward", "reverse");
    return v;
}

/* The fiber at run position p (0 runs first) of a block of n threads. */
static fiber *at(int n, int p) { return pool[reverse_order() ? n - 1 - p : p]; }
static int position(int n, const fiber *f) { return reverse_order() ? n - 1 - f->linear : f->linear; }

void kernel_fault(const char *fmt, ...) {
    const block_run *b = cur_block;
    fprintf(stderr, "weft CUDA emulator: ");
    if (b && cur_fiber) {
        const coords &c = cur_fiber->c;
        fprintf(stderr, "kernel %s (launched at %s:%d), block (%u,%u,%u), thread (%u,%u,%u): ",
                b->li->kernel, b->li->file, b->li->line, c.bid.x, c.bid.y, c.bid.z, c.tid.x,
                c.tid.y, c.tid.z);
    }
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\n");
    fflush(stderr);
    abort();
}

static fiber *new_fiber(void) {
    const size_t page = (size_t)sysconf(_SC_PAGESIZE), bytes = stack_bytes();
    char *m = (char *)mmap(NULL, bytes + page, PROT_READ | PROT_WRITE,
                           MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED) {
        fprintf(stderr, "weft CUDA emulator: cannot map a %zu-byte fiber stack\n", bytes);
        abort();
    }
    mprotect(m, page, PROT_NONE); /* overflow faults instead of corrupting a neighbour */
    fiber *f = new fiber;
    f->stack = m + page;
    memset(f->stack, STACK_FILL, bytes);
    return f;
}

static void switch_to(void **save, fiber *g) {
    cur_fiber = g;
    cur = &g->c;
    wf_emu_switch(save, g->sp);
}

/* Leaves the running fiber for the next runnable one after it in run order, straight (half
 * the switches of going through the scheduler), or for the scheduler at the end of the pass. */
static void yield(void) {
    fiber *f = cur_fiber;
    const block_run *b = cur_block;
    for (int p = position(b->n, f) + 1; p < b->n; p++)
        if (at(b->n, p)->state == F_RUN) return switch_to(&f->sp, at(b->n, p));
    wf_emu_switch(&f->sp, main_sp);
}

static void check_warp_exit(fiber *f) {
    warp_slot &w = cur_block->warps[f->linear / 32];
    w.done++;
    if (w.arrived > 0)
        kernel_fault("thread exited while %d lanes of its warp wait in %s (divergent warp "
                     "collective)", w.arrived, op_name(w.op));
}

/* A fiber's whole life: the kernel body, then the exit checks, then back for good. */
static void fiber_main(fiber *f) {
    block_run *b = cur_block;
    b->li->entry(b->li->ctx);
    if (!f->pending.empty()) {
        if (f->pending.back().group >= f->committed)
            kernel_fault("thread exited with %zu cp.async copies never committed",
                         f->pending.size());
        kernel_fault("thread exited with cp.async groups still in flight (no wait_group 0)");
    }
    b->done++;
    if (b->bar_arrived > 0)
        kernel_fault("thread exited while %d threads of its block wait at __syncthreads "
                     "(divergent barrier)", b->bar_arrived);
    check_warp_exit(f);
    f->state = F_DONE;
    yield();
    abort(); /* a finished fiber is never resumed */
}

static void start_fiber(fiber *f) {
    /* the stack wf_emu_switch pops: r15, r14, r13, r12, rbx, rbp, return address; the boot
     * code then calls with rsp 16-byte aligned, as the ABI wants */
    uintptr_t top = ((uintptr_t)(f->stack + stack_bytes())) & ~(uintptr_t)15;
    void **sp = (void **)(top - 72);
    sp[0] = sp[1] = nullptr;                   /* r15, r14 */
    sp[2] = (void *)&fiber_main;               /* r13 */
    sp[3] = (void *)f;                         /* r12 */
    sp[4] = sp[5] = nullptr;                   /* rbx, rbp */
    sp[6] = (void *)&wf_emu_boot;              /* return address */
    f->sp = sp;
    f->state = F_RUN;
    f->pending.clear();
    f->committed = 0;
}

int barrier(int pred, const char *what) {
    block_run *b = cur_block;
    if (b->done > 0)
        kernel_fault("%s reached after %d threads of the block exited (divergent barrier)", what,
                     b->done);
    b->bar_acc |= pred;
    if (++b->bar_arrived == b->n) {
        b->bar_result = b->bar_acc;
        b->bar_acc = 0, b->bar_arrived = 0;
        for (int i = 0; i < b->n; i++)
            if (pool[i]->state == F_BAR) pool[i]->state = F_RUN;
        return b->bar_result;
    }
    cur_fiber->state = F_BAR;
    yield();
    return b->bar_result;
}

void warp_collective(int op, void *args, unsigned mask, const char *what) {
    fiber *f = cur_fiber;
    block_run *b = cur_block;
    const int wi = f->linear / 32, lane = f->linear % 32;
    if (mask != 0xffffffffu)
        kernel_fault("%s with mask 0x%08x: only full-warp masks are emulated", what, mask);
    if (b->n - 32 * wi < 32)
        kernel_fault("%s with a full mask in a partial warp (%d threads in the block)", what,
                     b->n);
    warp_slot &w = b->warps[wi];
    if (w.done > 0)
        kernel_fault("%s reached after %d lanes of the warp exited (divergent warp collective)",
                     what, w.done);
    if (w.arrived == 0) w.op = op;
    else if (w.op != op)
        kernel_fault("lanes of one warp reached different warp collectives: %s and %s",
                     op_name(w.op), what);
    w.args[lane] = args;
    if (++w.arrived == 32) {
        warp_execute(op, w.args);
        w.arrived = 0;
        for (int l = 0; l < 32; l++)
            if (pool[32 * wi + l]->state == F_WARP) pool[32 * wi + l]->state = F_RUN;
        return;
    }
    f->state = F_WARP;
    yield();
}

void *dyn_smem(void) { return cur_block->smem; }

static void deadlock(block_run *b) {
    int bar = 0, warp = 0;
    for (int i = 0; i < b->n; i++) bar += pool[i]->state == F_BAR, warp += pool[i]->state == F_WARP;
    for (int i = 0; i < b->n; i++)
        if (pool[i]->state == F_WARP) {
            cur_fiber = pool[i];
            kernel_fault("deadlock: %d threads wait at __syncthreads while %d wait at warp "
                         "collectives (e.g. this one, in %s)", bar, warp,
                         op_name(b->warps[i / 32].op));
        }
    kernel_fault("deadlock: %d threads wait at a barrier none of the others can reach", bar);
}

static void run_block(block_run *b, const coords &proto, dim3 bid) {
    const dim3 bd = proto.bdim;
    for (int i = 0; i < b->n; i++) {
        fiber *f = pool[i];
        f->c = proto;
        f->c.bid = make_uint3(bid.x, bid.y, bid.z);
        f->c.tid = make_uint3(i % bd.x, i / bd.x % bd.y, i / (bd.x * bd.y));
        f->linear = i;
        start_fiber(f);
    }
    for (warp_slot &w : b->warps) w = warp_slot();
    b->done = b->bar_arrived = b->bar_acc = 0;
    if (b->li->smem) memset(b->smem, 0xFF, b->li->smem);
    while (b->done < b->n) { /* a pass: the runnable fibers in run order (yield chains) */
        int p = 0;
        while (p < b->n && at(b->n, p)->state != F_RUN) p++;
        if (p == b->n) deadlock(b);
        switch_to(&main_sp, at(b->n, p));
    }
    cur_fiber = nullptr;
}

/* Deepest use of any fiber stack so far (bytes below the top no longer holding the fill). */
static size_t stack_peak(void) {
    size_t peak = 0, bytes = stack_bytes();
    for (fiber *f : pool) {
        size_t i = 0;
        while (i < bytes && (unsigned char)f->stack[i] == STACK_FILL) i++;
        if (bytes - i > peak) peak = bytes - i;
    }
    return peak;
}

void run(const launch_info &li) {
    const char *why = nullptr;
    if (!launch_check(li, &why)) {
        fprintf(stderr, "weft CUDA emulator: launch of %s at %s:%d refused: %s\n", li.kernel,
                li.file, li.line, why);
        return;
    }
    if (cur_block)
        kernel_fault("kernel %s launched from inside a kernel (not emulated)", li.kernel);
    device_scope open; /* device memory is the kernel's for the launch */
    const int n = (int)(li.block.x * li.block.y * li.block.z);
    while ((int)pool.size() < n) pool.push_back(new_fiber());
    std::vector<char> smem(li.smem); /* host memory, not a cudaMalloc */
    block_run b;
    b.li = &li;
    b.n = n;
    b.warps.resize((size_t)(n + 31) / 32);
    b.smem = smem.data();
    coords proto;
    proto.bdim = li.block;
    proto.gdim = li.grid;
    cur_block = &b;
    for (unsigned z = 0; z < li.grid.z; z++)
        for (unsigned y = 0; y < li.grid.y; y++)
            for (unsigned x = 0; x < li.grid.x; x++) run_block(&b, proto, dim3(x, y, z));
    cur_block = nullptr;
    cur = nullptr;
    counters.launches++;
}

/* ---- cp.async ---- */

void cp_async_land(fiber *f, long below) {
    size_t keep = 0;
    for (size_t i = 0; i < f->pending.size(); i++) {
        const cp_copy &c = f->pending[i];
        if (c.group < below) {
            if (c.valid) memcpy(c.dst, c.src, (size_t)c.bytes);
            else memset(c.dst, 0, (size_t)c.bytes);
        } else {
            f->pending[keep++] = c;
        }
    }
    f->pending.resize(keep);
}

} /* namespace wf_emu */

using namespace wf_emu;

void wf_emu_cp_async(void *dst, const void *src, int bytes, bool valid) {
    block_run *b = cur_block;
    if ((char *)dst < b->smem || (char *)dst + bytes > b->smem + b->li->smem)
        kernel_fault("cp.async to %p: not in the launch's %zu bytes of dynamic shared memory", dst,
                     b->li->smem);
    if ((uintptr_t)dst % (unsigned)bytes || (uintptr_t)src % (unsigned)bytes)
        kernel_fault("cp.async of %d bytes from %p to %p: misaligned", bytes, src, dst);
    if (cp_async_issue_mode()) {
        if (valid) memcpy(dst, src, (size_t)bytes);
        else memset(dst, 0, (size_t)bytes);
        return;
    }
    cur_fiber->pending.push_back(cp_copy{dst, src, bytes, valid, cur_fiber->committed});
}

void wf_emu_cp_async_commit(void) { cur_fiber->committed++; }

void wf_emu_cp_async_wait(int n) {
    /* wait_group n: all but the newest n committed groups are complete */
    fiber *f = cur_fiber;
    cp_async_land(f, f->committed - n);
}

extern "C" wf_cuda_emu_counters wf_cuda_emu_counters_get(void) {
    wf_cuda_emu_counters c = counters;
    c.stack_peak = stack_peak();
    return c;
}
