/* The op profiler (profile.h): a pool of timed event pairs, one pair per op call in flight,
 * read back into per-op rows when collected. */
#include "weft/profile.h"

#include <stdlib.h>
#include <string.h>

#define POOL_PAIRS 4096 /* a 1B-parameter model's step has ~1000 op calls a micro-batch */
#define MAX_ROWS 64     /* the op table has ~40 entries */

struct wf_profile {
    wf_event *ev[2 * POOL_PAIRS]; /* pair i: ev[2i] before the op, ev[2i + 1] after */
    const char *pending[POOL_PAIRS];
    int n_pending;
    int depth;       /* WF_DISPATCH nesting: only the outermost call is timed */
    bool open;       /* the outermost call's start was recorded */
    bool on;
    wf_status err;   /* a recording failure, returned by the next op_end */
    wf_profile_row rows[MAX_ROWS];
    int n_rows;
};

wf_status wf_profile_attach(wf_backend *be) {
    if (be->profile) return wf_error(WF_ERR_INVALID, "profile: backend '%s' already has a profiler", be->name);
    wf_profile *p = calloc(1, sizeof *p);
    if (!p) return wf_error(WF_ERR_OOM, "profile: out of host memory");
    for (int i = 0; i < 2 * POOL_PAIRS; i++) {
        wf_status s = be->event_create_timed(be, &p->ev[i]);
        if (s != WF_OK) {
            for (int k = 0; k < i; k++) be->event_destroy(be, p->ev[k]);
            free(p);
            return s;
        }
    }
    p->on = true;
    be->profile = p;
    return WF_OK;
}

void wf_profile_detach(wf_backend *be) {
    wf_profile *p = be->profile;
    if (!p) return;
    for (int i = 0; i < 2 * POOL_PAIRS; i++) be->event_destroy(be, p->ev[i]);
    free(p);
    be->profile = NULL;
}

void wf_profile_enable(wf_backend *be, bool on) {
    if (be->profile) be->profile->on = on;
}

static wf_profile_row *row_of(wf_profile *p, const char *op) {
    for (int i = 0; i < p->n_rows; i++)
        if (p->rows[i].op == op || strcmp(p->rows[i].op, op) == 0) return &p->rows[i];
    if (p->n_rows == MAX_ROWS) return NULL;
    p->rows[p->n_rows] = (wf_profile_row){.op = op};
    return &p->rows[p->n_rows++];
}

wf_status wf_profile_collect(wf_backend *be) {
    wf_profile *p = be->profile;
    if (!p) return WF_OK;
    int n = p->n_pending;
    p->n_pending = 0;
    for (int i = 0; i < n; i++) { /* the first elapsed waits; the later pairs are done by then */
        double ms;
        WF_TRY(be->event_elapsed(be, p->ev[2 * i], p->ev[2 * i + 1], &ms));
        wf_profile_row *r = row_of(p, p->pending[i]);
        if (!r) return wf_error(WF_ERR_INVALID, "profile: more than %d ops", MAX_ROWS);
        r->calls++, r->ms += ms;
    }
    return WF_OK;
}

void wf_profile_clear(wf_backend *be) {
    wf_profile *p = be->profile;
    if (p) p->n_pending = 0, p->n_rows = 0;
}

static int by_time(const void *x, const void *y) {
    const wf_profile_row *a = x, *b = y;
    if (a->ms != b->ms) return a->ms > b->ms ? -1 : 1;
    return strcmp(a->op, b->op);
}

int wf_profile_rows(const wf_backend *be, wf_profile_row *out, int cap) {
    const wf_profile *p = be->profile;
    if (!p || cap <= 0) return 0;
    wf_profile_row all[MAX_ROWS];
    memcpy(all, p->rows, (size_t)p->n_rows * sizeof all[0]);
    qsort(all, (size_t)p->n_rows, sizeof all[0], by_time);
    int n = p->n_rows < cap ? p->n_rows : cap;
    memcpy(out, all, (size_t)n * sizeof all[0]);
    return n;
}

wf_status wf_profile_write(wf_backend *be, FILE *f, double wall_ms) {
    if (!be->profile) return wf_error(WF_ERR_INVALID, "profile: backend '%s' has no profiler", be->name);
    WF_TRY(wf_profile_collect(be));
    wf_profile_row r[MAX_ROWS];
    int n = wf_profile_rows(be, r, MAX_ROWS);
    double total = 0;
    int64_t calls = 0;
    for (int i = 0; i < n; i++) total += r[i].ms, calls += r[i].calls;
    fprintf(f, "| op | calls | total ms | %% of op time | mean us |\n|---|---:|---:|---:|---:|\n");
    for (int i = 0; i < n; i++)
        fprintf(f, "| %s | %lld | %.3f | %.1f | %.1f |\n", r[i].op, (long long)r[i].calls, r[i].ms,
                total > 0 ? 100 * r[i].ms / total : 0, 1e3 * r[i].ms / (double)r[i].calls);
    fprintf(f, "| all ops | %lld | %.3f | 100.0 | |\n", (long long)calls, total);
    if (wall_ms > 0)
        fprintf(f, "\nops: %.3f ms of %.3f ms wall (%.1f%%); the rest is copies, communication, "
                "host work and an idle device\n", total, wall_ms, 100 * total / wall_ms);
    return WF_OK;
}

void wf_profile_op_begin(wf_backend *be) {
    wf_profile *p = be->profile;
    if (!p || p->depth++ > 0 || !p->on || p->err != WF_OK) return;
    if (p->n_pending == POOL_PAIRS) { /* a wait inside the profiled work: keep the pool big */
        wf_status s = wf_profile_collect(be);
        if (s != WF_OK) {
            p->err = s;
            return;
        }
    }
    wf_status s = be->event_record(be, p->ev[2 * p->n_pending]);
    if (s != WF_OK) p->err = s;
    else p->open = true;
}

wf_status wf_profile_op_end(wf_backend *be, const char *op, wf_status s) {
    wf_profile *p = be->profile;
    if (!p || --p->depth > 0) return s;
    if (p->open) {
        p->open = false;
        wf_status r = be->event_record(be, p->ev[2 * p->n_pending + 1]);
        if (r == WF_OK) p->pending[p->n_pending++] = op;
        else if (p->err == WF_OK) p->err = r;
    }
    if (s != WF_OK || p->err == WF_OK) return s;
    wf_status e = p->err;
    p->err = WF_OK;
    return wf_error(e, "profile: recording an event around op %s: %s", op, wf_last_error());
}
