/* Arenas, tensors, status messages and the backend registry's errors. */
#include <stdio.h>
#include <string.h>

#include "weft/backend.h"
#include "expect.h"


int main(void) {
    wf_backend *cpu = NULL;
    EXPECT(wf_backend_open("cpu", NULL, &cpu) == WF_OK);
    wf_arena a;
    EXPECT(wf_backend_arena_create(cpu, &a, "weights", 4096) == WF_OK);
    void *p1, *p2, *p3;
    EXPECT(wf_arena_alloc(&a, 1, &p1) == WF_OK);
    EXPECT(wf_arena_alloc(&a, 300, &p2) == WF_OK);
    EXPECT((char *)p2 - (char *)p1 == WF_ARENA_ALIGN);
    EXPECT(((uintptr_t)p2 % WF_ARENA_ALIGN) == 0);
    size_t mark = wf_arena_mark(&a);
    EXPECT(wf_arena_alloc(&a, 8192, &p3) == WF_ERR_OOM);
    EXPECT(strstr(wf_last_error(), "arena 'weights'") != NULL);
    EXPECT(wf_arena_mark(&a) == mark); /* a failed allocation takes nothing */
    wf_tensor t;
    EXPECT(wf_arena_tensor(&a, &t, WF_BF16, 2, (const int64_t[]){3, 5}) == WF_OK);
    EXPECT(wf_tensor_nbytes(&t) == 30 && wf_tensor_rows(&t) == 3 && wf_tensor_cols(&t) == 5);
    char buf[64];
    EXPECT(strcmp(wf_tensor_describe(&t, buf, sizeof buf), "(3, 5) bf16") == 0);
    wf_arena_reset(&a, mark);
    EXPECT(a.used == mark && a.peak > mark);
    wf_backend_arena_destroy(cpu, &a);

    wf_backend *none = NULL;
    EXPECT(wf_backend_open("tpu", NULL, &none) == WF_ERR_INVALID);
    EXPECT(strstr(wf_last_error(), "unknown backend 'tpu'") != NULL);
    EXPECT(none == NULL);
    wf_backend_close(cpu);
    printf("arena/tensor/status: %d failures\n", failures);
    return failures ? 1 : 0;
}
