/* The CUDA emulator's memory guard: page protections that turn two host-side mistakes, which
 * the emulator would otherwise let pass (its copies finish at once, its device memory is host
 * memory), into a fault that names them.
 * - A host write to page-locked memory that an H2D copy may still be reading: after
 *   cudaMemcpyAsync from a cudaHostAlloc block the source pages are read-only until an event
 *   recorded after the copy is waited on (cudaEventSynchronize) or the stream is synchronized.
 *   On a GPU that write races with the DMA and corrupts the batch in flight.
 * - A host dereference of device memory (a crash on a GPU): cudaMalloc blocks are PROT_NONE
 *   except while a kernel, a cuBLAS(Lt) call or a runtime copy/memset/sort runs (open/close
 *   around each). WF_EMU_GUARD=0 leaves them open (to compare timings), =1 guards them even
 *   without transparent huge pages (the default then is off: see device_guarded).
 * Both kinds of block are mmap'd whole pages, so a protection never covers anything else.
 * A fault outside the guarded ranges falls through to the default action (a plain crash). */
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <map>
#include <vector>

#include "emu_guard.h"

namespace {

struct range {
    char *p;
    size_t n;
    unsigned long long seq; /* in flight: the copy's sequence number */
};

std::map<char *, size_t> pinned;    /* cudaHostAlloc blocks, whole pages: start -> bytes */
std::map<char *, size_t> device;    /* cudaMalloc blocks, whole pages: start -> bytes */
int open_depth = 0;                 /* device blocks are accessible while > 0 */
int guard_on = -1;                  /* device_guarded(); -1: not decided yet */
std::vector<range> in_flight;       /* page ranges of copies not yet known complete */
unsigned long long seq_now = 0;
bool handler_set = false;
size_t page = 4096;

char *page_down(const void *p) { return (char *)((uintptr_t)p / page * page); }
char *page_up(const void *p) { return (char *)(((uintptr_t)p + page - 1) / page * page); }

const range *find_block(const std::map<char *, size_t> &m, const void *a, range *out) {
    auto it = m.upper_bound((char *)a);
    if (it == m.begin()) return nullptr;
    --it;
    if ((const char *)a >= it->first + it->second) return nullptr;
    *out = range{it->first, it->second, 0};
    return out;
}

void on_segv(int sig, siginfo_t *si, void *) {
    char msg[400];
    const void *a = si->si_addr;
    range blk;
    bool flying = false;
    for (const range &r : in_flight)
        if ((const char *)a >= r.p && (const char *)a < r.p + r.n) flying = true;
    if (flying && find_block(pinned, a, &blk)) {
        int len = snprintf(msg, sizeof msg,
                           "weft CUDA emulator: the host wrote %p, in the page-locked block [%p, "
                           "+%zu bytes), while an H2D copy from it may still be in flight: wait on "
                           "an event recorded after that copy (or sync the stream) first\n",
                           a, (void *)blk.p, blk.n);
        if (len > 0) (void)!write(2, msg, (size_t)len);
        abort();
    }
    if (open_depth == 0 && find_block(device, a, &blk)) {
        int len = snprintf(msg, sizeof msg,
                           "weft CUDA emulator: host code touched device memory at %p, in the "
                           "cudaMalloc block [%p, +%zu bytes) (on a GPU: a crash); copy it to "
                           "the host with the backend's copy first\n",
                           a, (void *)blk.p, blk.n);
        if (len > 0) (void)!write(2, msg, (size_t)len);
        abort();
    }
    signal(sig, SIG_DFL); /* not ours: let the fault happen again, unhandled */
}

void set_handler() {
    if (handler_set) return;
    page = (size_t)sysconf(_SC_PAGESIZE);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_segv;
    sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGSEGV, &sa, nullptr);
    handler_set = true;
}

void protect(const range &r, int prot) {
    if (mprotect(r.p, r.n, prot) != 0) {
        perror("weft CUDA emulator: mprotect");
        abort();
    }
}

/* Whether transparent huge pages can back the device blocks (see guard_device_alloc): without
 * them every launch's mprotects walk one entry per 4 KiB and train_parity took ~10x longer. */
bool huge_pages_usable() {
    FILE *f = fopen("/sys/kernel/mm/transparent_hugepage/enabled", "r");
    if (!f) return false;
    char buf[128] = {0};
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    return strstr(buf, "[never]") == nullptr;
}

/* WF_EMU_GUARD=1 / 0 forces the device guard on / off; by default it is on where huge pages are. */
bool device_guarded() {
    if (guard_on < 0) {
        const char *e = getenv("WF_EMU_GUARD");
        if (e) guard_on = strcmp(e, "0") != 0;
        else if (!(guard_on = huge_pages_usable()))
            fprintf(stderr, "weft CUDA emulator: transparent huge pages are off, so the device "
                    "memory guard is too (WF_EMU_GUARD=1 forces it, at several times the time)\n");
    }
    return guard_on != 0;
}

} /* namespace */

namespace wf_emu {

/* Blocks of 2 MiB and more are 2 MiB-aligned whole huge pages (MADV_HUGEPAGE): an mprotect of
 * one then changes a few page-directory entries instead of one entry per 4 KiB, which is what
 * keeps opening and closing every block around every launch cheap (the scratch arena alone is
 * 256 MiB). Where transparent huge pages are off it still works, at 4 KiB-page cost. */
void *guard_device_alloc(size_t bytes) {
    set_handler();
    const size_t huge = (size_t)2 << 20;
    size_t unit = bytes >= huge ? huge : page;
    size_t n = bytes ? (bytes + unit - 1) / unit * unit : page;
    size_t span = unit == huge ? n + huge : n;
    char *raw = (char *)mmap(nullptr, span, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (raw == MAP_FAILED) return nullptr;
    char *p = raw;
    if (unit == huge) { /* trim to a 2 MiB-aligned n bytes */
        p = (char *)(((uintptr_t)raw + huge - 1) / huge * huge);
        if (p > raw) munmap(raw, (size_t)(p - raw));
        if (p + n < raw + span) munmap(p + n, (size_t)(raw + span - (p + n)));
        madvise(p, n, MADV_HUGEPAGE);
    }
    memset(p, 0xFF, bytes); /* NaN in every float dtype: a read of what was never written shows */
    device[p] = n;
    if (open_depth == 0 && device_guarded()) protect(range{p, n, 0}, PROT_NONE);
    return p;
}

bool guard_device_free(void *p) {
    auto it = device.find((char *)p);
    if (it == device.end()) return false;
    munmap(it->first, it->second);
    device.erase(it);
    return true;
}

void guard_device_open() {
    if (open_depth++ == 0 && device_guarded())
        for (const auto &b : device) protect(range{b.first, b.second, 0}, PROT_READ | PROT_WRITE);
}

void guard_device_close() {
    if (--open_depth == 0 && device_guarded())
        for (const auto &b : device) protect(range{b.first, b.second, 0}, PROT_NONE);
}

void *guard_pinned_alloc(size_t bytes) {
    set_handler();
    size_t n = (bytes + page - 1) / page * page;
    void *p = mmap(nullptr, n ? n : page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) return nullptr;
    pinned[(char *)p] = n ? n : page;
    return p;
}

bool guard_pinned_free(void *p) {
    auto it = pinned.find((char *)p);
    if (it == pinned.end()) return false;
    char *lo = it->first, *hi = lo + it->second;
    std::vector<range> keep;
    for (const range &r : in_flight)
        if (r.p + r.n <= lo || r.p >= hi) keep.push_back(r);
    in_flight.swap(keep);
    munmap(it->first, it->second);
    pinned.erase(it);
    return true;
}

bool guard_is_pinned(const void *p, size_t n) {
    range blk;
    return find_block(pinned, p, &blk) && (const char *)p + n <= blk.p + blk.n;
}

void guard_h2d_issued(const void *src, size_t n) {
    if (!n || !guard_is_pinned(src, n)) return;
    range r{page_down(src), (size_t)(page_up((const char *)src + n) - page_down(src)), ++seq_now};
    protect(r, PROT_READ);
    in_flight.push_back(r);
}

unsigned long long guard_seq() { return seq_now; }

void guard_retire(unsigned long long upto) {
    std::vector<range> keep, done;
    for (const range &r : in_flight) (r.seq <= upto ? done : keep).push_back(r);
    in_flight.swap(keep);
    for (const range &r : done) protect(r, PROT_READ | PROT_WRITE);
    for (const range &r : in_flight) protect(r, PROT_READ); /* pages shared with later copies */
}

} /* namespace wf_emu */
