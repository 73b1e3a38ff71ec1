/* The op profiler (profile.h) on a backend (argv[1]: cpu, or cuda under the CUDA emulator):
 * calls counted per op exactly, outermost only, through a pool overflow; paused ops and ops
 * refused by the argument checks not counted; a failing op still timed and its error kept;
 * time attributed to the op that spent it; the table's rows and totals; detach on close. */
#include <stdlib.h>
#include <string.h>

#include "expect.h"
#include "weft/ops.h"
#include "weft/profile.h"

static wf_backend *be;

static wf_tensor dev(int64_t rows, int64_t cols, float fill) {
    size_t n = (size_t)(rows * cols);
    float *h = malloc(n * sizeof *h);
    void *d = NULL;
    for (size_t i = 0; i < n; i++) h[i] = fill + (float)(i % 7) * 0.01f;
    if (be->alloc(be, n * sizeof *h, &d) != WF_OK) abort();
    if (be->copy(be, d, h, n * sizeof *h, WF_COPY_H2D) != WF_OK || be->sync(be) != WF_OK) abort();
    free(h);
    return wf_tensor_make(d, WF_F32, 2, rows, cols);
}

static const wf_profile_row *find(const wf_profile_row *r, int n, const char *op) {
    for (int i = 0; i < n; i++)
        if (!strcmp(r[i].op, op)) return &r[i];
    return NULL;
}

int main(int argc, char **argv) {
    const char *name = argc > 1 ? argv[1] : "cpu";
    if (!wf_backend_available(name)) {
        printf("backend %s not available: skipped\n", name);
        return 77;
    }
    if (wf_backend_open(name, NULL, &be) != WF_OK) return fprintf(stderr, "%s\n", wf_last_error()), 1;
    wf_tensor a = dev(4, 8, 1), b = dev(4, 8, 2), c = dev(4, 8, 0);
    wf_tensor big_a = dev(384, 384, 0.5f), big_b = dev(384, 384, 0.25f), big_c = dev(384, 384, 0);

    /* no profiler: nothing recorded, ops work */
    EXPECT(wf_op_add(be, &c, &a, &b) == WF_OK);
    EXPECT(wf_profile_rows(be, (wf_profile_row[1]){0}, 1) == 0);

    EXPECT(wf_profile_attach(be) == WF_OK);
    EXPECT(wf_profile_attach(be) != WF_OK); /* one per backend */
    for (int i = 0; i < 3; i++) EXPECT(wf_op_add(be, &c, &a, &b) == WF_OK);
    for (int i = 0; i < 2; i++) EXPECT(wf_op_gelu_fwd(be, &c, &a, false) == WF_OK);
    wf_matmul mm = {.c = &big_c, .a = &big_a, .b = &big_b, .alpha = 1, .beta = 0};
    for (int i = 0; i < 4; i++) EXPECT(wf_op_matmul(be, &mm) == WF_OK);
    /* refused by the checks before dispatch: not an op call */
    wf_tensor wrong = wf_tensor_make(c.data, WF_F32, 2, (int64_t)8, (int64_t)4);
    EXPECT(wf_op_add(be, &wrong, &a, &b) != WF_OK);
    /* paused: not counted */
    wf_profile_enable(be, false);
    EXPECT(wf_op_add(be, &c, &a, &b) == WF_OK);
    wf_profile_enable(be, true);
    EXPECT(wf_profile_collect(be) == WF_OK);

    wf_profile_row r[64];
    int n = wf_profile_rows(be, r, 64);
    EXPECT(n == 3);
    const wf_profile_row *add = find(r, n, "add"), *gelu = find(r, n, "gelu_fwd"), *mat = find(r, n, "matmul");
    CHECK(add && add->calls == 3, "add calls %lld, expected 3", add ? (long long)add->calls : -1LL);
    CHECK(gelu && gelu->calls == 2, "gelu_fwd calls %lld, expected 2", gelu ? (long long)gelu->calls : -1LL);
    CHECK(mat && mat->calls == 4, "matmul calls %lld, expected 4", mat ? (long long)mat->calls : -1LL);
    for (int i = 0; i < n; i++) CHECK(r[i].ms >= 0, "%s: %g ms", r[i].op, r[i].ms);
    for (int i = 1; i < n; i++) CHECK(r[i - 1].ms >= r[i].ms, "rows not sorted by time at %d", i);
    /* four 384^3 matmuls (~0.45 GFLOP) against three adds of 32 elements */
    if (add && mat) CHECK(mat->ms > add->ms, "matmul %g ms <= add %g ms", mat->ms, add->ms);

    /* a full pool is collected in the middle: 5000 calls > 4096 pairs, counted exactly */
    wf_profile_clear(be);
    EXPECT(wf_profile_rows(be, r, 64) == 0);
    for (int i = 0; i < 5000; i++)
        if (wf_op_add(be, &c, &a, &b) != WF_OK) { EXPECT(!"add failed"); break; }
    EXPECT(wf_profile_collect(be) == WF_OK);
    n = wf_profile_rows(be, r, 64);
    CHECK(n == 1 && r[0].calls == 5000, "after 5000 adds: %d rows, %lld calls", n,
          n ? (long long)r[0].calls : -1LL);

    /* a failing op (the CPU refuses an id out of range; CUDA writes a NaN row instead) */
    if (!strcmp(name, "cpu")) {
        wf_profile_clear(be);
        int32_t ids[4] = {0, 1, 99, 2};
        void *dids;
        EXPECT(be->alloc(be, sizeof ids, &dids) == WF_OK);
        EXPECT(be->copy(be, dids, ids, sizeof ids, WF_COPY_H2D) == WF_OK);
        wf_tensor tid = wf_tensor_make(dids, WF_I32, 1, (int64_t)4);
        wf_status s = wf_op_embedding_fwd(be, &c, &tid, &b, false);
        CHECK(s != WF_OK && strstr(wf_last_error(), "99"), "embedding of id 99: %s", wf_last_error());
        EXPECT(wf_op_add(be, &c, &a, &b) == WF_OK); /* the profiler's nesting is intact */
        EXPECT(wf_profile_collect(be) == WF_OK);
        n = wf_profile_rows(be, r, 64);
        const wf_profile_row *emb = find(r, n, "embedding_fwd");
        EXPECT(n == 2 && emb && emb->calls == 1 && find(r, n, "add")->calls == 1);
        be->free(be, dids);
    }

    /* the table */
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    EXPECT(wf_profile_write(be, f, 1000.0) == WF_OK);
    fclose(f);
    CHECK(text && strstr(text, "| op | calls | total ms |") && strstr(text, "| add | ") &&
          strstr(text, "| all ops | ") && strstr(text, "ms wall"), "table:\n%s", text ? text : "");
    free(text);

    wf_profile_detach(be);
    EXPECT(be->profile == NULL);
    EXPECT(wf_op_add(be, &c, &a, &b) == WF_OK);
    EXPECT(wf_profile_attach(be) == WF_OK); /* wf_backend_close detaches it */
    wf_tensor *all[] = {&a, &b, &c, &big_a, &big_b, &big_c};
    for (int i = 0; i < 6; i++) be->free(be, all[i]->data);
    wf_backend_close(be);
    if (failures) fprintf(stderr, "%d failure(s)\n", failures);
    else printf("profile on %s: ok\n", name);
    return failures != 0;
}
