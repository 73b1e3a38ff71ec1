/* Loading a run config: schema defaults, then the JSON file, then --set overrides, each value
 * checked against its schema row (run_config_schema.c); then required keys, cross-key rules and
 * derived defaults. Every error names its source (file or --set) and the JSON path, says what was
 * expected, and for unknown keys suggests the nearest valid key. Writing the resolved config and
 * the markdown reference live in run_config_write.c. */
#include "weft/run_config.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "run_config_schema.h"
#include "weft/json.h"

#define PATH_CAP 256               /* longest JSON path we look up; longer ones are unknown */
#define MAX_EXACT_INT 9007199254740992.0 /* 2^53: JSON numbers are doubles */

static int64_t key_find(const char *path) {
    for (int64_t i = 0; i < wf_cfg_nkeys; i++)
        if (strcmp(wf_cfg_keys[i].path, path) == 0) return i;
    return -1;
}

static bool is_section(const char *path) {
    for (int64_t i = 0; i < wf_cfg_nsections; i++)
        if (strcmp(wf_cfg_sections[i].path, path) == 0) return true;
    return false;
}

static const char *last_part(const char *path) {
    const char *dot = strrchr(path, '.');
    return dot ? dot + 1 : path;
}

/* ---- suggestions for unknown keys ---- */

/* Levenshtein distance; strings past PATH_CAP are never close to a key. */
static size_t edit_distance(const char *a, const char *b) {
    size_t la = strlen(a), lb = strlen(b);
    if (la >= PATH_CAP || lb >= PATH_CAP) return SIZE_MAX;
    size_t row[PATH_CAP + 1];
    for (size_t j = 0; j <= lb; j++) row[j] = j;
    for (size_t i = 1; i <= la; i++) {
        size_t diag = row[0];
        row[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t up = row[j];
            size_t best = diag + (a[i - 1] != b[j - 1]);
            if (up + 1 < best) best = up + 1;
            if (row[j - 1] + 1 < best) best = row[j - 1] + 1;
            row[j] = best;
            diag = up;
        }
    }
    return row[lb];
}

/* Close enough to suggest: a typo or two in a short name, up to a third of a long one. */
static bool is_close(size_t d, const char *a, const char *b) {
    if (d == SIZE_MAX) return false;
    size_t la = strlen(a), lb = strlen(b);
    size_t lo = la < lb ? la : lb, hi = la < lb ? lb : la;
    return d == 0 || (d <= 2 && d < lo) || 3 * d <= hi;
}

static size_t top_len(const char *path) {
    const char *dot = strchr(path, '.');
    return dot ? (size_t)(dot - path) : strlen(path);
}

/* The least edit distance from `name` to one of the space-separated `aliases` that is close
 * enough to count; SIZE_MAX when none is. */
static size_t alias_distance(const char *aliases, const char *name) {
    size_t best = SIZE_MAX;
    for (const char *p = aliases; p && *p;) {
        char alias[64];
        size_t w = strcspn(p, " ");
        WF_ASSERT(w < sizeof alias);
        memcpy(alias, p, w);
        alias[w] = 0;
        size_t d = edit_distance(name, alias);
        if (d < best && is_close(d, name, alias)) best = d;
        p += w;
        p += strspn(p, " ");
    }
    return best;
}

/* Score of candidate `cand` for the unknown `path` (lower is better; SIZE_MAX: not close). */
static size_t suggest_score(const char *path, const char *cand, const char *aliases) {
    size_t best = SIZE_MAX;
    size_t d = alias_distance(aliases, last_part(path));
    if (d != SIZE_MAX) best = 2 * d;
    d = edit_distance(path, cand);
    if (is_close(d, path, cand) && 2 * d < best) best = 2 * d;
    /* a match of the last part alone ranks just below an equally close full-path match */
    d = edit_distance(last_part(path), last_part(cand));
    if (is_close(d, last_part(path), last_part(cand)) && 2 * d + 1 < best) best = 2 * d + 1;
    if (best == SIZE_MAX) return best;
    /* ties go to a candidate in the same top-level section */
    bool same = top_len(path) == top_len(cand) && strncmp(path, cand, top_len(path)) == 0;
    return 2 * best + !same;
}

static const char *suggest(const char *path) {
    const char *best = NULL;
    size_t best_score = SIZE_MAX;
    for (int64_t i = 0; i < wf_cfg_nkeys; i++) {
        size_t s = suggest_score(path, wf_cfg_keys[i].path, wf_cfg_keys[i].aliases);
        if (s < best_score) best_score = s, best = wf_cfg_keys[i].path;
    }
    for (int64_t i = 0; i < wf_cfg_nsections; i++) {
        size_t s = suggest_score(path, wf_cfg_sections[i].path, NULL);
        if (s < best_score) best_score = s, best = wf_cfg_sections[i].path;
    }
    return best;
}

/* An unknown key holding an object with no suggestion of its own ("optim": {"weight_decay": 0})
 * is reported by its first leaf, whose last part may well be known ('train.weight_decay'). */
static wf_status unknown_key(const char *src, const char *path, const cJSON *v) {
    const char *s = suggest(path);
    char leaf[PATH_CAP];
    if (!s && v && cJSON_IsObject(v) && v->child) {
        snprintf(leaf, sizeof leaf, "%s", path);
        for (; cJSON_IsObject(v) && v->child; v = v->child) {
            size_t n = strlen(leaf);
            snprintf(leaf + n, sizeof leaf - n, ".%s", v->child->string);
        }
        path = leaf;
        s = suggest(path);
    }
    if (s) return wf_error(WF_ERR_INVALID, "%s: unknown key '%s' (did you mean '%s'?)", src, path, s);
    return wf_error(WF_ERR_INVALID, "%s: unknown key '%s' (the keys are listed in configs/README.md)",
                    src, path);
}

/* ---- what a key expects ---- */

static bool two_sided(const wf_cfg_key *k) {
    return (k->flags & WF_CFG_HAS_LO) && (k->flags & WF_CFG_HAS_HI);
}

static void expect_text(const wf_cfg_key *k, char *buf, size_t cap) {
    char r[96];
    wf_cfg_range_text(k, r, sizeof r);
    const char *in = two_sided(k) ? " in " : " ";
    switch (k->type) {
    case WF_CFG_INT: snprintf(buf, cap, "an integer%s%s", *r ? in : "", r); return;
    case WF_CFG_FLOAT: snprintf(buf, cap, "a number%s%s", *r ? in : "", r); return;
    case WF_CFG_BOOL: snprintf(buf, cap, "true or false"); return;
    case WF_CFG_STRING: snprintf(buf, cap, "a string"); return;
    case WF_CFG_STRLIST: snprintf(buf, cap, "a list of strings"); return;
    case WF_CFG_FLOATPAIR: snprintf(buf, cap, "a list of two numbers, each%s%s", *r ? in : "", r); return;
    case WF_CFG_ENUM: {
        size_t n = (size_t)snprintf(buf, cap, "one of");
        for (int i = 0; k->values[i] && n < cap; i++)
            n += (size_t)snprintf(buf + n, cap - n, "%s %s", i ? "," : "", k->values[i]);
        return;
    }
    }
}

/* The offending value as JSON, shortened. */
static void got_text(const cJSON *v, char *buf, size_t cap) {
    char *s = cJSON_PrintUnformatted(v);
    if (!s) {
        snprintf(buf, cap, "(unprintable)");
        return;
    }
    if (strlen(s) > 60) memcpy(s + 57, "...", 4);
    snprintf(buf, cap, "%s", s);
    free(s);
}

static wf_status mistyped(const char *src, const char *path, const wf_cfg_key *k, const cJSON *v) {
    char want[256], got[80];
    expect_text(k, want, sizeof want);
    got_text(v, got, sizeof got);
    return wf_error(WF_ERR_INVALID, "%s: '%s': expected %s, got %s", src, path, want, got);
}

static bool in_range(const wf_cfg_key *k, double d) {
    unsigned f = k->flags;
    if (f & WF_CFG_HAS_LO && (d < k->lo || (d == k->lo && (f & WF_CFG_LO_OPEN)))) return false;
    if (f & WF_CFG_HAS_HI && (d > k->hi || (d == k->hi && (f & WF_CFG_HI_OPEN)))) return false;
    return true;
}

static wf_status out_of_range(const char *src, const char *path, const wf_cfg_key *k,
                              const cJSON *v) {
    char got[80], r[96];
    got_text(v, got, sizeof got);
    if (two_sided(k)) {
        wf_cfg_range_text(k, r, sizeof r);
        return wf_error(WF_ERR_INVALID, "%s: '%s': %s is out of range %s", src, path, got, r);
    }
    char want[256];
    expect_text(k, want, sizeof want);
    return wf_error(WF_ERR_INVALID, "%s: '%s': %s is out of range: expected %s", src, path, got,
                    want);
}

/* ---- storing one value ---- */

/* A finite number in the key's range (integral for ints) -> *out. */
static wf_status get_number(const char *src, const char *path, const wf_cfg_key *k,
                            const cJSON *v, double *out) {
    if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble)) return mistyped(src, path, k, v);
    double d = v->valuedouble + 0.0; /* -0 -> +0, so that the written config reads back the same */
    if (k->type == WF_CFG_INT && (d != floor(d) || fabs(d) > MAX_EXACT_INT))
        return mistyped(src, path, k, v);
    if (!in_range(k, d)) return out_of_range(src, path, k, v);
    *out = d;
    return WF_OK;
}

static wf_status set_list(const char *src, const char *path, const wf_cfg_key *k, const cJSON *v,
                          wf_cfg_list *out) {
    if (!cJSON_IsString(v) && !cJSON_IsArray(v)) return mistyped(src, path, k, v);
    memset(out, 0, sizeof *out);
    int64_t n = cJSON_IsString(v) ? 1 : cJSON_GetArraySize(v);
    if (n > WF_CFG_LIST_MAX)
        return wf_error(WF_ERR_INVALID, "%s: '%s': %lld items, at most %d are allowed", src, path,
                        (long long)n, WF_CFG_LIST_MAX);
    if ((k->flags & WF_CFG_HAS_LO) && (double)n < k->lo)
        return wf_error(WF_ERR_INVALID, "%s: '%s': expected at least %g item(s), got %lld", src,
                        path, k->lo, (long long)n);
    for (int64_t i = 0; i < n; i++) {
        const cJSON *e = cJSON_IsString(v) ? v : cJSON_GetArrayItem(v, (int)i);
        char got[80];
        got_text(e, got, sizeof got);
        if (!cJSON_IsString(e) || !e->valuestring[0] || strlen(e->valuestring) >= WF_CFG_NAME_MAX)
            return wf_error(WF_ERR_INVALID, "%s: '%s[%lld]': expected a non-empty string of at most "
                            "%d bytes, got %s", src, path, (long long)i, WF_CFG_NAME_MAX - 1, got);
        if (k->solo && n > 1 && strcmp(e->valuestring, k->solo) == 0)
            return wf_error(WF_ERR_INVALID, "%s: '%s': \"%s\" must be the only item", src, path,
                            k->solo);
        bool known = !k->values;
        for (int j = 0; !known && k->values[j]; j++) known = strcmp(e->valuestring, k->values[j]) == 0;
        if (!known)
            return wf_error(WF_ERR_INVALID, "%s: '%s[%lld]': unknown value \"%s\" (%s)", src, path,
                            (long long)i, e->valuestring, k->doc);
        memcpy(out->item[i], e->valuestring, strlen(e->valuestring) + 1);
    }
    out->n = n;
    return WF_OK;
}

static wf_status set_pair(const char *src, const char *path, const wf_cfg_key *k, const cJSON *v,
                          double *out) {
    if (!cJSON_IsArray(v) || cJSON_GetArraySize(v) != 2) return mistyped(src, path, k, v);
    for (int i = 0; i < 2; i++) {
        char sub[PATH_CAP + 8];
        snprintf(sub, sizeof sub, "%s[%d]", path, i);
        const cJSON *e = cJSON_GetArrayItem(v, i);
        if (!cJSON_IsNumber(e) || !isfinite(e->valuedouble)) return mistyped(src, path, k, v);
        if (!in_range(k, e->valuedouble)) return out_of_range(src, sub, k, e);
        out[i] = e->valuedouble + 0.0;
    }
    return WF_OK;
}

static wf_status set_enum(const char *src, const char *path, const wf_cfg_key *k, const cJSON *v,
                          void *field) {
    WF_ASSERT(k->size == sizeof(int));
    for (int i = 0; cJSON_IsString(v) && k->values[i]; i++) {
        if (strcmp(v->valuestring, k->values[i]) == 0) {
            memcpy(field, &i, sizeof i);
            return WF_OK;
        }
    }
    return mistyped(src, path, k, v);
}

static wf_status set_default(const wf_cfg_key *k, wf_run_config *cfg);

/* Stores JSON value v into the field of key k; null restores the default. */
static wf_status set_value(const char *src, const char *path, const wf_cfg_key *k, const cJSON *v,
                           wf_run_config *cfg) {
    if (cJSON_IsNull(v)) return set_default(k, cfg);
    char *field = (char *)cfg + k->offset;
    double d;
    switch (k->type) {
    case WF_CFG_INT:
        WF_TRY(get_number(src, path, k, v, &d));
        *(int64_t *)(void *)field = (int64_t)d;
        return WF_OK;
    case WF_CFG_FLOAT:
        WF_TRY(get_number(src, path, k, v, &d));
        *(double *)(void *)field = d;
        return WF_OK;
    case WF_CFG_BOOL:
        if (!cJSON_IsBool(v)) return mistyped(src, path, k, v);
        *(bool *)(void *)field = cJSON_IsTrue(v);
        return WF_OK;
    case WF_CFG_STRING:
        if (!cJSON_IsString(v)) return mistyped(src, path, k, v);
        if (strlen(v->valuestring) >= k->size)
            return wf_error(WF_ERR_INVALID, "%s: '%s': expected a string of at most %zu bytes, got "
                            "%zu", src, path, k->size - 1, strlen(v->valuestring));
        memset(field, 0, k->size);
        memcpy(field, v->valuestring, strlen(v->valuestring));
        return WF_OK;
    case WF_CFG_ENUM: return set_enum(src, path, k, v, field);
    case WF_CFG_STRLIST: return set_list(src, path, k, v, (wf_cfg_list *)(void *)field);
    case WF_CFG_FLOATPAIR: return set_pair(src, path, k, v, (double *)(void *)field);
    }
    WF_ASSERT(!"unknown config key type");
    return WF_ERR_INVALID;
}

/* Defaults go through set_value like user values, so a bad default in the table aborts here. */
static wf_status set_default(const wf_cfg_key *k, wf_run_config *cfg) {
    char *field = (char *)cfg + k->offset;
    if (!k->def) {
        memset(field, 0, k->size);
        return WF_OK;
    }
    cJSON *v = cJSON_Parse(k->def);
    WF_ASSERT(v && !cJSON_IsNull(v));
    wf_status s = set_value("schema default", k->path, k, v, cfg);
    cJSON_Delete(v);
    if (s != WF_OK) {
        fprintf(stderr, "weft: %s\n", wf_last_error());
        WF_ASSERT(!"schema default fails its own check");
    }
    return WF_OK;
}

/* ---- sources: file and --set ---- */

static wf_status apply_object(const char *src, const cJSON *obj, const char *prefix,
                              wf_run_config *cfg, unsigned char *seen) {
    for (const cJSON *m = obj->child; m; m = m->next) {
        char path[PATH_CAP];
        int n = snprintf(path, sizeof path, "%s%s%s", prefix, *prefix ? "." : "", m->string);
        if (n < 0 || n >= (int)sizeof path) return unknown_key(src, path, NULL);
        int64_t i = key_find(path);
        if (i >= 0) {
            if (seen[i]) return wf_error(WF_ERR_INVALID, "%s: key '%s' is given twice", src, path);
            seen[i] = 1;
            WF_TRY(set_value(src, path, &wf_cfg_keys[i], m, cfg));
        } else if (is_section(path)) {
            if (!cJSON_IsObject(m)) {
                char got[80];
                got_text(m, got, sizeof got);
                return wf_error(WF_ERR_INVALID, "%s: '%s': expected an object (a section of keys), "
                                "got %s", src, path, got);
            }
            WF_TRY(apply_object(src, m, path, cfg, seen));
        } else {
            return unknown_key(src, path, m);
        }
    }
    return WF_OK;
}

static wf_status apply_file(const char *path, wf_run_config *cfg) {
    cJSON *root = NULL;
    wf_status s = wf_json_load(path, &root);
    if (s == WF_ERR_FORMAT) { /* invalid JSON is bad user input like any other */
        char msg[1024];
        snprintf(msg, sizeof msg, "%s", wf_last_error());
        return wf_error(WF_ERR_INVALID, "%s", msg);
    }
    if (s != WF_OK) return s;
    unsigned char *seen = calloc((size_t)wf_cfg_nkeys, 1);
    if (!seen) {
        cJSON_Delete(root);
        return wf_error(WF_ERR_OOM, "%s: out of memory", path);
    }
    if (!cJSON_IsObject(root))
        s = wf_error(WF_ERR_INVALID, "%s: expected a JSON object at the top level", path);
    else
        s = apply_object(path, root, "", cfg, seen);
    free(seen);
    cJSON_Delete(root);
    return s;
}

/* String-valued keys keep the raw text when it parses as some other JSON value (output.dir=123,
 * data.eval=null): the user wrote a string. */
static bool wants_raw(const wf_cfg_key *k, const cJSON *v) {
    if (!v) return true;
    switch (k->type) {
    case WF_CFG_STRING:
    case WF_CFG_ENUM: return !cJSON_IsString(v);
    case WF_CFG_STRLIST: return !cJSON_IsString(v) && !cJSON_IsArray(v);
    default: return false;
    }
}

static wf_status apply_set(const char *set, wf_run_config *cfg) {
    char src[PATH_CAP + 64], key[PATH_CAP];
    snprintf(src, sizeof src, "--set %s", set);
    if (strlen(src) > PATH_CAP) memcpy(src + PATH_CAP - 3, "...", 4);
    const char *eq = strchr(set, '=');
    if (!eq || eq == set)
        return wf_error(WF_ERR_INVALID, "%s: expected KEY=VALUE, e.g. --set train.lr=1e-4", src);
    size_t kl = (size_t)(eq - set);
    if (kl >= sizeof key)
        return wf_error(WF_ERR_INVALID, "%s: unknown key (longer than %d bytes)", src, PATH_CAP - 1);
    memcpy(key, set, kl);
    key[kl] = 0;
    int64_t i = key_find(key);
    if (i < 0 && is_section(key))
        return wf_error(WF_ERR_INVALID, "%s: '%s' is a section; set its keys one by one "
                        "(--set %s.KEY=VALUE)", src, key, key);
    if (i < 0) return unknown_key(src, key, NULL);
    const wf_cfg_key *k = &wf_cfg_keys[i];
    cJSON *v = cJSON_ParseWithOpts(eq + 1, NULL, true);
    if (wants_raw(k, v)) {
        cJSON_Delete(v);
        v = cJSON_CreateString(eq + 1);
        if (!v) return wf_error(WF_ERR_OOM, "%s: out of memory", src);
    }
    wf_status s = set_value(src, key, k, v, cfg);
    cJSON_Delete(v);
    return s;
}

/* ---- after all sources ---- */

static wf_status derive_output_dir(const char *path, wf_run_config *cfg) {
    if (cfg->output.dir[0]) return WF_OK;
    const char *base = path ? strrchr(path, '/') : NULL;
    base = base ? base + 1 : (path ? path : "run");
    size_t n = strlen(base);
    const char *dot = strrchr(base, '.');
    if (dot && dot != base) n = (size_t)(dot - base);
    if (n == 0) base = "run", n = 3;
    int w = snprintf(cfg->output.dir, sizeof cfg->output.dir, "runs/%.*s", (int)n, base);
    if (w < 0 || w >= (int)sizeof cfg->output.dir)
        return wf_error(WF_ERR_INVALID, "%s: 'output.dir': the derived run directory is too long",
                        path);
    return WF_OK;
}

/* method.extras against method.type: no repeats, nothing with full, not lora with ia3. */
static wf_status check_extras(const char *src, const wf_run_config *c) {
    const wf_cfg_list *x = &c->method.extras;
    const char *type = wf_run_config_enum_name("method.type", (int)c->method.type);
    bool lora = c->method.type == WF_CFG_METHOD_LORA, ia3 = c->method.type == WF_CFG_METHOD_IA3;
    for (int64_t i = 0; i < x->n; i++) {
        if (!strcmp(x->item[i], type))
            return wf_error(WF_ERR_INVALID, "%s: 'method.extras' repeats 'method.type' (%s)", src, type);
        for (int64_t j = 0; j < i; j++)
            if (!strcmp(x->item[i], x->item[j]))
                return wf_error(WF_ERR_INVALID, "%s: 'method.extras' lists \"%s\" twice", src, x->item[i]);
        if (!strcmp(x->item[i], "full") || c->method.type == WF_CFG_METHOD_FULL)
            return wf_error(WF_ERR_INVALID, "%s: 'method.extras': full fine-tuning trains every weight "
                            "and combines with nothing (use method.type full alone)", src);
        lora = lora || !strcmp(x->item[i], "lora"), ia3 = ia3 || !strcmp(x->item[i], "ia3");
    }
    if (lora && ia3)
        return wf_error(WF_ERR_INVALID, "%s: 'method.type' / 'method.extras': lora and ia3 do not "
                        "combine (peft does not put both on one module)", src);
    return WF_OK;
}

static wf_status check_all(const char *src, const wf_run_config *c) {
    WF_TRY(check_extras(src, c));
    for (int64_t i = 0; i < wf_cfg_nkeys; i++) {
        const wf_cfg_key *k = &wf_cfg_keys[i];
        if ((k->flags & WF_CFG_REQUIRED) && !((const char *)c + k->offset)[0])
            return wf_error(WF_ERR_INVALID, "%s: required key '%s' is missing (%s)", src, k->path,
                            k->doc);
    }
    if (c->train.min_lr > c->train.lr)
        return wf_error(WF_ERR_INVALID, "%s: 'train.min_lr' (%g) must not exceed 'train.lr' (%g)",
                        src, c->train.min_lr, c->train.lr);
    if (c->train.max_steps > 0 && c->train.warmup_steps > c->train.max_steps)
        return wf_error(WF_ERR_INVALID, "%s: 'train.warmup_steps' (%lld) exceeds "
                        "'train.max_steps' (%lld)", src, (long long)c->train.warmup_steps,
                        (long long)c->train.max_steps);
    if (c->eval.early_stopping.metric[0] && !c->data.eval[0] && c->data.eval_split == 0)
        return wf_error(WF_ERR_INVALID, "%s: 'eval.early_stopping.metric' needs eval data: set "
                        "'data.eval' or a 'data.eval_split' above 0", src);
    return WF_OK;
}

wf_status wf_run_config_load(const char *path, const char *const *sets, int nsets,
                             wf_run_config *out) {
    memset(out, 0, sizeof *out); /* padding too: two loads of the same input compare equal */
    for (int64_t i = 0; i < wf_cfg_nkeys; i++) WF_TRY(set_default(&wf_cfg_keys[i], out));
    if (path) WF_TRY(apply_file(path, out));
    for (int i = 0; i < nsets; i++) WF_TRY(apply_set(sets[i], out));
    WF_TRY(check_all(path ? path : "--set", out));
    return derive_output_dir(path, out);
}

const char *wf_run_config_enum_name(const char *key, int value) {
    int64_t i = key_find(key);
    if (i < 0 || wf_cfg_keys[i].type != WF_CFG_ENUM || value < 0) return NULL;
    for (int j = 0; wf_cfg_keys[i].values[j]; j++)
        if (j == value) return wf_cfg_keys[i].values[j];
    return NULL;
}
