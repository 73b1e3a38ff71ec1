/* `weft compare` (compare.h): the compare config, one child process per variant (fork; the
 * child trains and sends its measurements back through a pipe; the parent takes its wall time
 * and peak RSS from wait4), the eval curves from each variant's metrics.jsonl, and the reports.
 * Compare config keys: configs/README.md "weft compare". */
#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "compare_internal.h"
#include "weft/json.h"

/* A list of "a.b=v" strings at obj[key] appended to sets. */
static wf_status read_sets(const char *path, const cJSON *obj, const char *key, const char *where,
                           char (*sets)[WF_CMP_SET_LEN], int *n) {
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!a || cJSON_IsNull(a)) return WF_OK;
    if (!cJSON_IsArray(a))
        return wf_error(WF_ERR_INVALID, "%s: key '%s%s': expected a list of \"key=value\" strings",
                        path, where, key);
    const cJSON *e;
    int i = 0;
    cJSON_ArrayForEach(e, a) {
        const char *s = cJSON_GetStringValue(e);
        if (!s || !strchr(s, '=') || strlen(s) >= WF_CMP_SET_LEN)
            return wf_error(WF_ERR_INVALID, "%s: key '%s%s[%d]': expected a \"key=value\" string "
                            "(like --set)", path, where, key, i);
        if (*n >= WF_CMP_MAX_SETS)
            return wf_error(WF_ERR_INVALID, "%s: key '%s%s': more than %d overrides", path, where,
                            key, WF_CMP_MAX_SETS);
        snprintf(sets[(*n)++], WF_CMP_SET_LEN, "%s", s);
        i++;
    }
    return WF_OK;
}

static const char *const k_top[] = {"name", "base", "set", "variants", "general_text",
                                    "general_max_batches", "output_dir", NULL};

static wf_status check_keys(const char *path, const cJSON *obj, const char *where,
                            const char *const *known) {
    for (const cJSON *k = obj->child; k; k = k->next) {
        bool ok = false;
        for (int i = 0; known[i] && !ok; i++) ok = !strcmp(k->string, known[i]);
        if (!ok) {
            char list[256] = "";
            for (int i = 0; known[i]; i++)
                snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s", i ? ", " : "", known[i]);
            return wf_error(WF_ERR_INVALID, "%s: unknown key '%s%s' (expected one of: %s)", path,
                            where, k->string, list);
        }
    }
    return WF_OK;
}

static wf_status read_variants(const char *path, const cJSON *root, wf_compare *c) {
    const cJSON *vs = cJSON_GetObjectItemCaseSensitive(root, "variants"), *v;
    int n = cJSON_IsArray(vs) ? cJSON_GetArraySize(vs) : -1;
    if (n < 1 || n > WF_CMP_MAX_VARIANTS)
        return wf_error(WF_ERR_INVALID, "%s: key 'variants': expected a list of 1 to %d objects "
                        "{\"name\": ..., \"set\": [\"key=value\", ...]}", path, WF_CMP_MAX_VARIANTS);
    static const char *const k_var[] = {"name", "set", NULL};
    cJSON_ArrayForEach(v, vs) {
        wf_cmp_variant *x = &c->v[c->nvariants];
        char where[48];
        snprintf(where, sizeof where, "variants[%d].", c->nvariants);
        if (!cJSON_IsObject(v))
            return wf_error(WF_ERR_INVALID, "%s: key 'variants[%d]': expected an object", path, c->nvariants);
        WF_TRY(check_keys(path, v, where, k_var));
        wf_json_ctx jc = {path, where};
        WF_TRY(wf_json_str(jc, v, "name", true, NULL, x->name, sizeof x->name));
        bool good = x->name[0] != 0;
        for (const char *p = x->name; *p; p++)
            good &= (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
                    *p == '-' || *p == '_' || *p == '.';
        for (int i = 0; i < c->nvariants; i++) good &= strcmp(c->v[i].name, x->name) != 0;
        if (!good)
            return wf_error(WF_ERR_INVALID, "%s: key '%sname': \"%s\" must be a unique, non-empty name "
                            "of letters, digits, '-', '_' or '.' (it names the run folder)", path,
                            where, x->name);
        WF_TRY(read_sets(path, v, "set", where, x->sets, &x->nsets));
        c->nvariants++;
    }
    return WF_OK;
}

/* Parses the compare config; `base` is resolved against the config's folder. */
static wf_status load_config(const char *path, wf_compare *c) {
    cJSON *root = NULL;
    WF_TRY(wf_json_load(path, &root));
    wf_json_ctx jc = {path, ""};
    char stem[128], base[4096], out[4096];
    const char *slash = strrchr(path, '/'), *file = slash ? slash + 1 : path;
    snprintf(stem, sizeof stem, "%.*s", (int)strcspn(file, "."), file);
    snprintf(c->path, sizeof c->path, "%s", path);
    wf_status s = cJSON_IsObject(root) ? check_keys(path, root, "", k_top)
                                       : wf_error(WF_ERR_INVALID, "%s: expected a JSON object", path);
    if (s == WF_OK) s = wf_json_str(jc, root, "name", false, stem, c->name, sizeof c->name);
    if (s == WF_OK) s = wf_json_str(jc, root, "base", true, NULL, base, sizeof base);
    if (s == WF_OK) s = wf_json_str(jc, root, "general_text", false, "", c->general_text, sizeof c->general_text);
    if (s == WF_OK)
        s = wf_json_int(jc, root, "general_max_batches", false, 0, 0, 1 << 30, &c->general_max_batches);
    if (s == WF_OK) s = wf_json_str(jc, root, "output_dir", false, "", out, sizeof out);
    if (s == WF_OK) s = read_sets(path, root, "set", "", c->sets, &c->nsets);
    if (s == WF_OK) s = read_variants(path, root, c);
    cJSON_Delete(root);
    WF_TRY(s);
    if (base[0] == '/' || !slash)
        snprintf(c->base, sizeof c->base, "%s", base);
    else
        snprintf(c->base, sizeof c->base, "%.*s/%s", (int)(slash - path), path, base);
    if (out[0])
        snprintf(c->out_dir, sizeof c->out_dir, "%s", out);
    else
        snprintf(c->out_dir, sizeof c->out_dir, "runs/%s", c->name);
    return WF_OK;
}

/* Variant i's resolved run config: base, the compare's overrides, the variant's, its folder. */
static wf_status variant_config(const wf_compare *c, int i, wf_run_config *cfg) {
    const wf_cmp_variant *v = &c->v[i];
    const char *sets[2 * WF_CMP_MAX_SETS + 2];
    char dir[4200 + 16];
    int n = 0;
    for (int k = 0; k < c->nsets; k++) sets[n++] = c->sets[k];
    for (int k = 0; k < v->nsets; k++) sets[n++] = v->sets[k];
    snprintf(dir, sizeof dir, "output.dir=%s/%s", c->out_dir, v->name);
    sets[n++] = dir;
    sets[n++] = "output.overwrite=true"; /* a compare run replaces its variants' earlier runs */
    if (wf_run_config_load(c->base, sets, n, cfg) != WF_OK) {
        char why[1024]; /* wf_error writes the buffer wf_last_error reads */
        snprintf(why, sizeof why, "%s", wf_last_error());
        return wf_error(WF_ERR_INVALID, "%s: variant '%s': %s", c->path, v->name, why);
    }
    return WF_OK;
}

/* The eval curve (the primary metric: accuracy for classification, else loss) from the
 * variant's metrics.jsonl. */
static void read_curve(wf_cmp_variant *v) {
    char p[4300];
    snprintf(p, sizeof p, "%s/metrics.jsonl", v->run_dir);
    FILE *f = fopen(p, "r");
    char line[4096];
    const char *key = v->res.head == WF_HEAD_SEQ_CLS || v->res.head == WF_HEAD_IMAGE_CLS ? "accuracy" : "loss";
    v->npoints = 0;
    while (f && fgets(line, sizeof line, f) && v->npoints < WF_CMP_MAX_POINTS) {
        cJSON *j = cJSON_Parse(line);
        const char *split = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(j, "split"));
        const cJSON *st = cJSON_GetObjectItemCaseSensitive(j, "step");
        const cJSON *val = cJSON_GetObjectItemCaseSensitive(j, key);
        if (split && !strcmp(split, "eval") && cJSON_IsNumber(st) && cJSON_IsNumber(val)) {
            v->curve_step[v->npoints] = st->valuedouble;
            v->curve_val[v->npoints++] = val->valuedouble;
        }
        cJSON_Delete(j);
    }
    if (f) fclose(f);
}

static void run_child(const wf_run_config *cfg, const wf_compare *c, int fd) {
    wf_cmp_result res;
    wf_compare_variant(cfg, c->general_text, c->general_max_batches, &res);
    const char *p = (const char *)&res;
    for (size_t left = sizeof res; left > 0;) {
        ssize_t w = write(fd, p, left);
        if (w <= 0 && errno != EINTR) break;
        if (w > 0) p += w, left -= (size_t)w;
    }
    close(fd);
    _exit(res.ok ? 0 : 1);
}

static wf_status run_variant(wf_compare *c, int i, const wf_run_config *cfg) {
    wf_cmp_variant *v = &c->v[i];
    snprintf(v->run_dir, sizeof v->run_dir, "%s", cfg->output.dir);
    fprintf(stderr, "compare: variant %d/%d '%s' -> %s\n", i + 1, c->nvariants, v->name, v->run_dir);
    fflush(stdout), fflush(stderr); /* the child must not repeat buffered output */
    int fd[2];
    if (pipe(fd) != 0) return wf_error(WF_ERR_IO, "compare: pipe: %s", strerror(errno));
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    pid_t pid = fork();
    if (pid < 0) return wf_error(WF_ERR_IO, "compare: fork: %s", strerror(errno));
    if (pid == 0) {
        close(fd[0]);
        run_child(cfg, c, fd[1]);
    }
    close(fd[1]);
    memset(&v->res, 0, sizeof v->res);
    size_t got = 0;
    for (char *p = (char *)&v->res; got < sizeof v->res;) {
        ssize_t r = read(fd[0], p + got, sizeof v->res - got);
        if (r <= 0 && errno != EINTR) break;
        if (r > 0) got += (size_t)r;
    }
    close(fd[0]);
    int status = 0;
    struct rusage ru;
    while (wait4(pid, &status, 0, &ru) < 0 && errno == EINTR) {}
    clock_gettime(CLOCK_MONOTONIC, &t1);
    v->wall_secs = (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec);
    v->peak_rss_mib = (double)ru.ru_maxrss / 1024.0; /* Linux: KiB */
    if (got != sizeof v->res) {
        v->res.ok = false;
        snprintf(v->res.error, sizeof v->res.error, "the variant's process ended without a result "
                 "(exit status %d, signal %d)", WIFEXITED(status) ? WEXITSTATUS(status) : -1,
                 WIFSIGNALED(status) ? WTERMSIG(status) : 0);
    }
    if (v->res.ok) read_curve(v);
    else fprintf(stderr, "compare: variant '%s' failed: %s\n", v->name, v->res.error);
    return WF_OK;
}

wf_status wf_compare_run(const char *path, const char *const *sets, int nsets) {
    wf_compare *c = calloc(1, sizeof *c);
    wf_run_config *cfgs = calloc(WF_CMP_MAX_VARIANTS, sizeof *cfgs);
    wf_status s = c && cfgs ? load_config(path, c) : wf_error(WF_ERR_OOM, "compare: out of memory");
    for (int k = 0; s == WF_OK && k < nsets; k++) {
        if (c->nsets >= WF_CMP_MAX_SETS || strlen(sets[k]) >= WF_CMP_SET_LEN)
            s = wf_error(WF_ERR_INVALID, "compare: --set '%.60s': more than %d overrides, or longer "
                         "than %d characters", sets[k], WF_CMP_MAX_SETS, WF_CMP_SET_LEN - 1);
        else
            snprintf(c->sets[c->nsets++], WF_CMP_SET_LEN, "%s", sets[k]);
    }
    /* every variant's config is checked before the first one trains */
    for (int i = 0; s == WF_OK && i < c->nvariants; i++) s = variant_config(c, i, &cfgs[i]);
    for (int i = 0; s == WF_OK && i < c->nvariants; i++) s = run_variant(c, i, &cfgs[i]);
    if (s == WF_OK) s = wf_compare_write_reports(c);
    int failed = 0;
    for (int i = 0; s == WF_OK && i < c->nvariants; i++) failed += !c->v[i].res.ok;
    if (s == WF_OK && failed)
        s = wf_error(WF_ERR_INVALID, "compare: %d of %d variants failed (see %s/compare.md)", failed,
                     c->nvariants, c->out_dir);
    free(c), free(cfgs);
    return s;
}
