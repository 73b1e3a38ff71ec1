/* wf_slot_cache (host/core/slot_cache.c), the lookup behind the CUDA backend's cuBLASLt algorithm
 * cache: hits return the slot a key was stored in, keys differing in any byte miss, a full cache
 * reuses the slot filled longest ago (FIFO), counts the eviction and clears the slot's ready
 * flag, bad sizes are refused. */
#include <stdint.h>
#include <string.h>

#include "weft/slot_cache.h"
#include "expect.h"

typedef struct {
    int64_t n, m, k;
    int32_t dtype;
    uint32_t align;
} key_t_;

static key_t_ key(int64_t n, uint32_t align) {
    key_t_ k;
    memset(&k, 0, sizeof k);
    k.n = n, k.m = 2048, k.k = 8192, k.dtype = 1, k.align = align;
    return k;
}

int main(void) {
    wf_slot_cache c;
    EXPECT(wf_slot_cache_init(&c, 0, sizeof(key_t_)) == WF_ERR_INVALID);
    EXPECT(wf_slot_cache_init(&c, 4, 0) == WF_ERR_INVALID);
    EXPECT(wf_slot_cache_init(&c, 4, sizeof(key_t_)) == WF_OK);
    key_t_ a = key(1, 256), b = key(2, 256), a16 = key(1, 16);
    EXPECT(wf_slot_cache_find(&c, &a) == -1);
    int sa = wf_slot_cache_insert(&c, &a), sb = wf_slot_cache_insert(&c, &b);
    EXPECT(sa == 0 && sb == 1);
    EXPECT(!wf_slot_cache_ready(&c, sa) && !wf_slot_cache_ready(&c, sb)); /* not built yet */
    wf_slot_cache_set_ready(&c, sa);
    wf_slot_cache_set_ready(&c, sb);
    EXPECT(wf_slot_cache_ready(&c, sa) && wf_slot_cache_ready(&c, sb));
    EXPECT(wf_slot_cache_find(&c, &a) == sa);
    EXPECT(wf_slot_cache_find(&c, &b) == sb);
    EXPECT(wf_slot_cache_find(&c, &a16) == -1); /* one field differs: a miss */
    key_t_ a_again = key(1, 256);               /* an equal key built afresh hits */
    EXPECT(wf_slot_cache_find(&c, &a_again) == sa);
    /* fill, then overflow: the first-inserted key (a, slot 0) goes first, then b (slot 1) */
    key_t_ k3 = key(3, 256), k4 = key(4, 256), k5 = key(5, 256), k6 = key(6, 256);
    EXPECT(wf_slot_cache_insert(&c, &k3) == 2 && wf_slot_cache_insert(&c, &k4) == 3);
    EXPECT(c.evictions == 0);
    EXPECT(wf_slot_cache_insert(&c, &k5) == 0);
    EXPECT(c.evictions == 1);
    /* the reused slot held a's built payload: it must not pass for k5's */
    EXPECT(!wf_slot_cache_ready(&c, 0) && wf_slot_cache_ready(&c, 1));
    EXPECT(wf_slot_cache_find(&c, &a) == -1 && wf_slot_cache_find(&c, &k5) == 0);
    EXPECT(wf_slot_cache_find(&c, &b) == 1);
    EXPECT(wf_slot_cache_insert(&c, &k6) == 1);
    EXPECT(wf_slot_cache_find(&c, &b) == -1 && wf_slot_cache_find(&c, &k6) == 1);
    EXPECT(wf_slot_cache_find(&c, &k3) == 2 && wf_slot_cache_find(&c, &k4) == 3);
    EXPECT(c.evictions == 2 && c.used == 4);
    /* many inserts keep every slot in range and the newest four findable */
    for (int64_t i = 10; i < 1000; i++) {
        key_t_ ki = key(i, 64);
        int s = wf_slot_cache_insert(&c, &ki);
        CHECK(s >= 0 && s < 4, "insert %lld gave slot %d", (long long)i, s);
    }
    for (int64_t i = 996; i < 1000; i++) {
        key_t_ ki = key(i, 64);
        CHECK(wf_slot_cache_find(&c, &ki) >= 0, "key %lld (among the newest 4) missing", (long long)i);
    }
    key_t_ old = key(995, 64);
    EXPECT(wf_slot_cache_find(&c, &old) == -1);
    wf_slot_cache_free(&c);
    EXPECT(c.capacity == 0 && c.keys == NULL);
    return failures ? 1 : 0;
}
