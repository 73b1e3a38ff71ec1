/* metrics.jsonl: one JSON object per line, {"step":S,"split":"train"|"eval"|"general",<name>:<number>...},
 * appended and flushed line by line so that `tail -f` and a crash both see whole lines. A line is
 * built in a reused buffer and handed over in one write. Not here: reading it back, or TensorBoard
 * (tensorboard.c). */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "weft/run_log.h"

struct wf_metrics {
    FILE *f;
    char path[4096];
    char *line; /* grows to the longest line, reused */
    size_t cap;
};

wf_status wf_metrics_open(const char *path, wf_metrics **out) {
    *out = NULL;
    wf_metrics *m = calloc(1, sizeof *m);
    if (!m) return wf_error(WF_ERR_OOM, "%s: out of memory", path);
    if (snprintf(m->path, sizeof m->path, "%s", path) >= (int)sizeof m->path) {
        free(m);
        return wf_error(WF_ERR_INVALID, "%s: path too long", path);
    }
    m->f = fopen(path, "ab");
    if (!m->f) {
        int e = errno;
        free(m);
        return wf_error(WF_ERR_IO, "%s: cannot open for appending: %s", path, strerror(e));
    }
    *out = m;
    return WF_OK;
}

/* Names go into the JSON unescaped, so only plain ones are accepted. */
static bool plain_name(const char *s) {
    if (!s || !*s) return false;
    for (; *s; s++)
        if (*s < 0x20 || *s > 0x7e || *s == '"' || *s == '\\') return false;
    return true;
}

/* Appends printf output to m->line at *n, growing it. */
static wf_status add(wf_metrics *m, size_t *n, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

static wf_status add(wf_metrics *m, size_t *n, const char *fmt, ...) {
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int w = vsnprintf(m->line ? m->line + *n : NULL, m->line ? m->cap - *n : 0, fmt, ap);
        va_end(ap);
        if (w < 0) return wf_error(WF_ERR_INVALID, "%s: cannot format a metric", m->path);
        if (m->line && *n + (size_t)w < m->cap) {
            *n += (size_t)w;
            return WF_OK;
        }
        size_t cap = 2 * (m->cap + (size_t)w) + 256;
        char *p = realloc(m->line, cap);
        if (!p) return wf_error(WF_ERR_OOM, "%s: out of memory", m->path);
        m->line = p, m->cap = cap;
    }
}

/* The shortest of %.15g / %.17g that reads back as the same double (as cJSON prints numbers). */
static wf_status add_number(wf_metrics *m, size_t *n, double v) {
    if (!isfinite(v)) return add(m, n, "null");
    char buf[32];
    snprintf(buf, sizeof buf, "%.15g", v);
    if (strtod(buf, NULL) != v) snprintf(buf, sizeof buf, "%.17g", v);
    return add(m, n, "%s", buf);
}

wf_status wf_metrics_write(wf_metrics *m, int64_t step, const char *split,
                           const char *const *names, const double *values, int64_t n) {
    if (!split || (strcmp(split, "train") != 0 && strcmp(split, "eval") != 0 &&
                   strcmp(split, "general") != 0))
        return wf_error(WF_ERR_INVALID, "%s: split must be \"train\", \"eval\" or \"general\", "
                        "got \"%s\"",
                        m->path, split ? split : "(null)");
    for (int64_t i = 0; i < n; i++)
        if (!plain_name(names[i]) || !strcmp(names[i], "step") || !strcmp(names[i], "split"))
            return wf_error(WF_ERR_INVALID, "%s: bad metric name \"%s\" (printable ASCII without "
                            "quotes or backslashes; not step or split)", m->path,
                            names[i] ? names[i] : "(null)");
    size_t len = 0;
    WF_TRY(add(m, &len, "{\"step\":%" PRId64 ",\"split\":\"%s\"", step, split));
    for (int64_t i = 0; i < n; i++) {
        WF_TRY(add(m, &len, ",\"%s\":", names[i]));
        WF_TRY(add_number(m, &len, values[i]));
    }
    WF_TRY(add(m, &len, "}\n"));
    if (fwrite(m->line, 1, len, m->f) != len || fflush(m->f) != 0)
        return wf_error(WF_ERR_IO, "%s: write failed: %s", m->path, strerror(errno));
    return WF_OK;
}

wf_status wf_metrics_close(wf_metrics *m) {
    if (!m) return WF_OK;
    wf_status s = WF_OK;
    if (fflush(m->f) != 0 || fsync(fileno(m->f)) != 0)
        s = wf_error(WF_ERR_IO, "%s: flush failed: %s", m->path, strerror(errno));
    if (fclose(m->f) != 0 && s == WF_OK)
        s = wf_error(WF_ERR_IO, "%s: close failed: %s", m->path, strerror(errno));
    free(m->line);
    free(m);
    return s;
}
