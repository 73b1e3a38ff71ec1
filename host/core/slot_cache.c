/* wf_slot_cache (include/weft/slot_cache.h): a linear scan over at most `capacity` stored hashes
 * (tens of slots in use: a scan is cheaper than any probing scheme would make worth its code),
 * the key bytes compared only where the hash matches. */
#include "weft/slot_cache.h"

#include <stdlib.h>
#include <string.h>

#include "weft/hash.h"

#define SLOT_CACHE_SEED 0x736c6f74ULL /* any fixed value: hashes never leave the process */

wf_status wf_slot_cache_init(wf_slot_cache *c, int capacity, size_t key_size) {
    memset(c, 0, sizeof *c);
    if (capacity < 1 || key_size < 1)
        return wf_error(WF_ERR_INVALID, "slot cache: capacity %d and key size %zu must be >= 1",
                        capacity, key_size);
    c->hashes = calloc((size_t)capacity, sizeof *c->hashes);
    c->keys = calloc((size_t)capacity, key_size);
    c->ready = calloc((size_t)capacity, 1);
    if (!c->hashes || !c->keys || !c->ready) {
        wf_slot_cache_free(c);
        return wf_error(WF_ERR_OOM, "slot cache: cannot allocate %d keys of %zu bytes", capacity,
                        key_size);
    }
    c->capacity = capacity;
    c->key_size = key_size;
    return WF_OK;
}

void wf_slot_cache_free(wf_slot_cache *c) {
    free(c->hashes);
    free(c->keys);
    free(c->ready);
    memset(c, 0, sizeof *c);
}

int wf_slot_cache_find(const wf_slot_cache *c, const void *key) {
    uint64_t h = wf_hash64(key, c->key_size, SLOT_CACHE_SEED);
    for (int i = 0; i < c->used; i++)
        if (c->hashes[i] == h && memcmp(c->keys + (size_t)i * c->key_size, key, c->key_size) == 0)
            return i;
    return -1;
}

int wf_slot_cache_insert(wf_slot_cache *c, const void *key) {
    int slot;
    if (c->used < c->capacity) {
        slot = c->used++;
    } else {
        slot = c->next_victim;
        c->next_victim = (c->next_victim + 1) % c->capacity;
        c->evictions++;
    }
    c->ready[slot] = 0;
    c->hashes[slot] = wf_hash64(key, c->key_size, SLOT_CACHE_SEED);
    memcpy(c->keys + (size_t)slot * c->key_size, key, c->key_size);
    return slot;
}
