/* The CUDA emulator's memory guard (emu_guard.cpp): page-locked blocks and the H2D copies still
 * "in flight" from them, whose source pages stay read-only until an event or a sync retires them;
 * device blocks, inaccessible to the host except inside a device_scope. */
#ifndef WEFT_KERNELS_CUDA_EMU_EMU_GUARD_H
#define WEFT_KERNELS_CUDA_EMU_EMU_GUARD_H

#include <stddef.h>

namespace wf_emu {

void *guard_pinned_alloc(size_t bytes); /* whole pages, read-write; NULL when out of memory */
bool guard_pinned_free(void *p);        /* false: p is not a block guard_pinned_alloc returned */
bool guard_is_pinned(const void *p, size_t n);
/* An H2D copy from [src, src + n) was issued: when src is page-locked its pages turn read-only
 * and the copy gets the next sequence number. */
void guard_h2d_issued(const void *src, size_t n);
unsigned long long guard_seq(void);           /* the last copy's sequence number */
void guard_retire(unsigned long long upto);  /* copies numbered <= upto are complete */

void *guard_device_alloc(size_t bytes); /* whole pages filled with 0xFF; NULL when out of memory */
bool guard_device_free(void *p);        /* false: p is not a block guard_device_alloc returned */
void guard_device_open(void);           /* nests; device blocks readable and writable */
void guard_device_close(void);

/* Device memory is accessible for the lifetime of one of these: a kernel, a cuBLAS call, a
 * runtime copy or memset. */
struct device_scope {
    device_scope() { guard_device_open(); }
    ~device_scope() { guard_device_close(); }
    device_scope(const device_scope &) = delete;
    device_scope &operator=(const device_scope &) = delete;
};

} /* namespace wf_emu */

#endif
