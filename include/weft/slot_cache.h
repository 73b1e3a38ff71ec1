/* A fixed-capacity cache of byte-string keys to slot numbers, for per-backend caches of host-side
 * decisions (the CUDA backend's cuBLASLt algorithm cache, kernels/cuda/linear.cu). The caller
 * keeps the payload of slot i in its own array of `capacity` entries; this only finds and assigns
 * slots, and a per-slot "ready" flag: cleared by every insert (a reused slot's old payload must
 * never pass for the new key's) and set by the caller once the payload is built, so a build that
 * failed is retried on the key's next use. All memory is taken at init, so find/insert never
 * allocate (STYLE rule 5). Eviction is
 * first-in first-out: when full, an insert reuses the slot filled longest ago, so which key is
 * dropped depends on the order of inserts only. Keys are compared byte for byte: a caller zeroes
 * its key struct (padding included) before filling it. Not thread-safe (one per backend). */
#ifndef WEFT_SLOT_CACHE_H
#define WEFT_SLOT_CACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "weft/status.h"

typedef struct wf_slot_cache {
    int capacity;
    size_t key_size;
    int used;          /* slots 0..used-1 hold keys */
    int next_victim;   /* once full: the slot the next insert reuses (FIFO) */
    int64_t evictions; /* inserts that dropped a key (a capacity too small shows here) */
    uint64_t *hashes;  /* (capacity): wf_hash64 of each slot's key, checked before the bytes */
    unsigned char *ready; /* (capacity): the slot's payload is built for its key */
    unsigned char *keys; /* (capacity, key_size) */
} wf_slot_cache;

/* capacity >= 1, key_size >= 1; on failure the cache is left empty (safe to free). */
wf_status wf_slot_cache_init(wf_slot_cache *c, int capacity, size_t key_size);
void wf_slot_cache_free(wf_slot_cache *c);

/* The slot holding key, or -1. */
int wf_slot_cache_find(const wf_slot_cache *c, const void *key);

/* Stores key (not present) and returns its slot, not ready; when full, the slot filled longest
 * ago is reused: its old payload is the caller's to overwrite. */
int wf_slot_cache_insert(wf_slot_cache *c, const void *key);

static inline bool wf_slot_cache_ready(const wf_slot_cache *c, int slot) {
    return c->ready[slot] != 0;
}
static inline void wf_slot_cache_set_ready(wf_slot_cache *c, int slot) { c->ready[slot] = 1; }

#endif
