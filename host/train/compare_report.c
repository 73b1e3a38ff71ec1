/* The reports of `weft compare` in its output folder: compare.json (every number, per variant),
 * compare.md (one table row per variant) and compare.svg (a hand-written SVG of the eval curves,
 * no dependencies). Trainable % is of the base model's parameters (adapters not counted in the
 * denominator). Memory: the planned arenas (what `weft train --dry-run` prints) and the peak
 * resident set of the variant's own process (wait4 ru_maxrss: weights, data, host buffers). */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "compare_internal.h"
#include "weft/mapped_file.h"

static bool is_cls(const wf_cmp_result *r) { return r->head == WF_HEAD_SEQ_CLS || r->head == WF_HEAD_IMAGE_CLS; }
static double pct(const wf_cmp_result *r) { return r->model_params ? 100.0 * (double)r->trainable / (double)r->model_params : 0; }
static double tps(const wf_cmp_result *r) { return r->train_secs > 0 ? (double)r->train_tokens / r->train_secs : 0; }

static void add_num(cJSON *o, const char *k, double v) {
    if (isfinite(v)) cJSON_AddNumberToObject(o, k, v);
}

static cJSON *eval_json(const wf_eval_result *e, bool cls, bool lm) {
    cJSON *o = cJSON_CreateObject();
    add_num(o, "loss", e->loss);
    if (lm) add_num(o, "perplexity", e->perplexity);
    if (cls) add_num(o, "accuracy", e->accuracy), add_num(o, "macro_f1", e->macro_f1);
    cJSON_AddNumberToObject(o, "count", (double)e->count);
    return o;
}

static cJSON *variant_json(const wf_cmp_variant *v) {
    const wf_cmp_result *r = &v->res;
    cJSON *o = cJSON_CreateObject(), *sets = cJSON_AddArrayToObject(o, "overrides");
    cJSON_AddStringToObject(o, "name", v->name);
    for (int k = 0; k < v->nsets; k++) cJSON_AddItemToArray(sets, cJSON_CreateString(v->sets[k]));
    cJSON_AddStringToObject(o, "run_dir", v->run_dir);
    cJSON_AddBoolToObject(o, "ok", r->ok);
    cJSON_AddNumberToObject(o, "wall_seconds", v->wall_secs);
    cJSON_AddNumberToObject(o, "peak_rss_mib", v->peak_rss_mib);
    if (!r->ok) {
        cJSON_AddStringToObject(o, "error", r->error);
        return o;
    }
    bool cls = is_cls(r), lm = r->head == WF_HEAD_LM;
    cJSON_AddNumberToObject(o, "trainable_params", (double)r->trainable);
    cJSON_AddNumberToObject(o, "model_params", (double)r->model_params);
    cJSON_AddNumberToObject(o, "trainable_percent", pct(r));
    cJSON_AddNumberToObject(o, "planned_mib", (double)r->planned_bytes / (1 << 20));
    cJSON_AddNumberToObject(o, "steps", (double)r->steps);
    cJSON_AddNumberToObject(o, "train_tokens", (double)r->train_tokens);
    cJSON_AddNumberToObject(o, "train_seconds", r->train_secs);
    cJSON_AddNumberToObject(o, "tokens_per_s", tps(r));
    cJSON_AddItemToObject(o, "eval_before", eval_json(&r->before, cls, lm));
    cJSON_AddItemToObject(o, "eval_after", eval_json(&r->after, cls, lm));
    if (r->has_general) {
        cJSON_AddItemToObject(o, "general_before", eval_json(&r->general_before, false, true));
        cJSON_AddItemToObject(o, "general_after", eval_json(&r->general_after, false, true));
        add_num(o, "general_loss_change", r->general_after.loss - r->general_before.loss);
    }
    cJSON_AddStringToObject(o, "curve_metric", cls ? "accuracy" : "loss");
    cJSON *curve = cJSON_AddArrayToObject(o, "curve");
    for (int k = 0; k < v->npoints; k++) {
        double pt[2] = {v->curve_step[k], v->curve_val[k]};
        cJSON_AddItemToArray(curve, cJSON_CreateDoubleArray(pt, 2));
    }
    return o;
}

static wf_status write_text(const char *dir, const char *name, const char *text) {
    char p[4200];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    return wf_file_write_atomic(p, text, strlen(text));
}

static wf_status write_json(const wf_compare *c) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "name", c->name);
    cJSON_AddStringToObject(o, "config", c->path);
    cJSON_AddStringToObject(o, "base", c->base);
    cJSON_AddStringToObject(o, "general_text", c->general_text);
    cJSON_AddStringToObject(o, "memory", "planned_mib: the run's arenas as planned (weights, trainable "
                            "state, activations, batch, scratch); peak_rss_mib: the variant process's "
                            "peak resident set (getrusage ru_maxrss)");
    cJSON *arr = cJSON_AddArrayToObject(o, "variants");
    for (int i = 0; i < c->nvariants; i++) cJSON_AddItemToArray(arr, variant_json(&c->v[i]));
    char *text = cJSON_Print(o);
    cJSON_Delete(o);
    if (!text) return wf_error(WF_ERR_OOM, "compare: out of memory");
    wf_status s = write_text(c->out_dir, "compare.json", text);
    free(text);
    return s;
}

/* A growable string for the markdown and the SVG. */
typedef struct sbuf { char *p; size_t n, cap; bool oom; } sbuf;

#if defined(__GNUC__)
__attribute__((format(printf, 2, 3)))
#endif
static void put(sbuf *b, const char *fmt, ...);
static void put(sbuf *b, const char *fmt, ...) {
    va_list ap;
    for (int tries = 0; tries < 2 && !b->oom; tries++) {
        va_start(ap, fmt);
        int k = vsnprintf(b->p ? b->p + b->n : NULL, b->p ? b->cap - b->n : 0, fmt, ap);
        va_end(ap);
        if (k < 0) { b->oom = true; return; }
        if (b->p && b->n + (size_t)k < b->cap) { b->n += (size_t)k; return; }
        size_t cap = (b->cap + (size_t)k + 1) * 2;
        char *q = realloc(b->p, cap);
        if (!q) { b->oom = true; return; }
        b->p = q, b->cap = cap;
    }
}

static void md_quality(sbuf *b, const wf_cmp_result *r) {
    if (is_cls(r))
        put(b, " %.4f → %.4f | %.4f → %.4f |", r->before.accuracy, r->after.accuracy,
            r->before.macro_f1, r->after.macro_f1);
    else
        put(b, " %.4f → %.4f | %.2f → %.2f |", r->before.loss, r->after.loss, r->before.perplexity,
            r->after.perplexity);
}

static wf_status write_md(const wf_compare *c) {
    sbuf b = {0};
    bool cls = false;
    for (int i = 0; i < c->nvariants; i++) cls |= c->v[i].res.ok && is_cls(&c->v[i].res);
    put(&b, "# weft compare: %s\n\nBase config `%s`, compare config `%s`; every variant trains on "
        "the same data with the same steps and seed.\n\n", c->name, c->base, c->path);
    put(&b, "| method | trainable params | %% of model | planned MiB | peak RSS MiB | tokens/s | "
        "wall s | %s | %s | general-text loss before → after (Δ) |\n", cls ? "eval accuracy before → after" :
        "eval loss before → after", cls ? "eval macro-F1 before → after" : "eval perplexity before → after");
    put(&b, "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
    for (int i = 0; i < c->nvariants; i++) {
        const wf_cmp_variant *v = &c->v[i];
        const wf_cmp_result *r = &v->res;
        if (!r->ok) {
            put(&b, "| %s | failed: %s | | | %.1f | | %.1f | | | |\n", v->name, r->error, v->peak_rss_mib,
                v->wall_secs);
            continue;
        }
        put(&b, "| %s | %lld | %.3f | %.1f | %.1f | %.1f | %.1f |", v->name, (long long)r->trainable,
            pct(r), (double)r->planned_bytes / (1 << 20), v->peak_rss_mib, tps(r), v->wall_secs);
        md_quality(&b, r);
        if (r->has_general)
            put(&b, " %.4f → %.4f (%+.4f) |\n", r->general_before.loss, r->general_after.loss,
                r->general_after.loss - r->general_before.loss);
        else
            put(&b, " n/a |\n");
    }
    put(&b, "\n%% of model: trainable parameters / the base model's parameters. Planned MiB: the run's "
        "arenas as planned (weights, trainable state with gradients and AdamW moments, activations, "
        "batch, scratch), as `weft train --dry-run` prints. Peak RSS: the variant process's peak "
        "resident set (getrusage ru_maxrss). tokens/s: input tokens of the optimizer steps over "
        "their time (no eval, no loading); wall s: the whole variant process.%s%s%s Eval curves: "
        "compare.svg; every number: compare.json.\n", c->general_text[0] ? " General text: `" : "",
        c->general_text[0] ? c->general_text : "", c->general_text[0] ? "` (catastrophic forgetting: "
        "the loss change after fine-tuning; causal LMs only)." : "");
    if (b.oom) { free(b.p); return wf_error(WF_ERR_OOM, "compare: out of memory"); }
    wf_status s = write_text(c->out_dir, "compare.md", b.p);
    free(b.p);
    return s;
}

static wf_status write_svg(const wf_compare *c) {
    static const char *colors[] = {"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b",
                                   "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"};
    double x0 = 1e300, x1 = -1e300, y0 = 1e300, y1 = -1e300;
    const char *metric = "loss";
    for (int i = 0; i < c->nvariants; i++)
        for (int k = 0; k < c->v[i].npoints; k++) {
            double x = c->v[i].curve_step[k], y = c->v[i].curve_val[k];
            x0 = x < x0 ? x : x0, x1 = x > x1 ? x : x1, y0 = y < y0 ? y : y0, y1 = y > y1 ? y : y1;
            if (is_cls(&c->v[i].res)) metric = "accuracy";
        }
    if (x0 > x1) x0 = 0, x1 = 1, y0 = 0, y1 = 1;
    if (x1 == x0) x1 = x0 + 1;
    if (y1 - y0 < 1e-9) y0 -= 0.5, y1 += 0.5;
    double pad = 0.05 * (y1 - y0);
    y0 -= pad, y1 += pad;
    const double W = 720, H = 420, L = 70, R = 190, T = 40, B = 50, pw = W - L - R, ph = H - T - B;
    sbuf b = {0};
    put(&b, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<svg xmlns=\"http://www.w3.org/2000/svg\" "
        "width=\"%.0f\" height=\"%.0f\" viewBox=\"0 0 %.0f %.0f\" font-family=\"sans-serif\" "
        "font-size=\"12\">\n<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n", W, H, W, H);
    put(&b, "<text x=\"%.0f\" y=\"24\" font-size=\"15\">weft compare %s: eval %s by step</text>\n", L,
        c->name, metric);
    put(&b, "<rect x=\"%.0f\" y=\"%.0f\" width=\"%.0f\" height=\"%.0f\" fill=\"none\" stroke=\"#444\"/>\n",
        L, T, pw, ph);
    for (int t = 0; t <= 4; t++) {
        double fy = T + ph - ph * t / 4.0, fx = L + pw * t / 4.0;
        put(&b, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#ddd\"/>\n", L, fy, L + pw, fy);
        put(&b, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">%.4g</text>\n", L - 6, fy + 4,
            y0 + (y1 - y0) * t / 4.0);
        put(&b, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%.0f</text>\n", fx, T + ph + 18,
            x0 + (x1 - x0) * t / 4.0);
    }
    put(&b, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">optimizer step</text>\n", L + pw / 2, H - 10);
    for (int i = 0; i < c->nvariants; i++) {
        const wf_cmp_variant *v = &c->v[i];
        const char *col = colors[i % 10];
        put(&b, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"2\" points=\"", col);
        for (int k = 0; k < v->npoints; k++)
            put(&b, "%s%.1f,%.1f", k ? " " : "", L + pw * (v->curve_step[k] - x0) / (x1 - x0),
                T + ph - ph * (v->curve_val[k] - y0) / (y1 - y0));
        put(&b, "\"/>\n");
        for (int k = 0; k < v->npoints; k++)
            put(&b, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3\" fill=\"%s\"/>\n",
                L + pw * (v->curve_step[k] - x0) / (x1 - x0), T + ph - ph * (v->curve_val[k] - y0) / (y1 - y0), col);
        double ly = T + 16 + 18 * i;
        put(&b, "<line x1=\"%.0f\" y1=\"%.1f\" x2=\"%.0f\" y2=\"%.1f\" stroke=\"%s\" stroke-width=\"3\"/>\n",
            L + pw + 14, ly - 4, L + pw + 34, ly - 4, col);
        put(&b, "<text x=\"%.0f\" y=\"%.1f\">%s%s</text>\n", L + pw + 40, ly, v->name,
            v->res.ok ? "" : " (failed)");
    }
    put(&b, "</svg>\n");
    if (b.oom) { free(b.p); return wf_error(WF_ERR_OOM, "compare: out of memory"); }
    wf_status s = write_text(c->out_dir, "compare.svg", b.p);
    free(b.p);
    return s;
}

wf_status wf_compare_write_reports(const wf_compare *c) {
    WF_TRY(wf_mkdir_p(c->out_dir));
    WF_TRY(write_json(c));
    WF_TRY(write_md(c));
    WF_TRY(write_svg(c));
    fprintf(stderr, "compare: wrote %s/compare.md, compare.json, compare.svg\n", c->out_dir);
    return WF_OK;
}
