/* Training checkpoints (checkpoint.h): save streams p/m/v from the backend into
 * trainable.safetensors, writes trainer_state.bin and state.json into step-N.tmp.<pid>/ and
 * renames it into place (outdir.h), then prunes old checkpoints; load validates everything
 * against the trainable set before it changes anything, then restores bit for bit.
 * Floats in state.json are written by cJSON, which prints a double with enough digits to read
 * back the same double, so a float survives exactly; non-finite ones are strings. */
#include "weft/checkpoint.h"

#include <cjson/cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "outdir.h"
#include "weft/json.h"
#include "weft/mapped_file.h"
#include "weft/safetensors.h"

#define TRAINABLE_FILE "trainable.safetensors"
#define STATE_FILE "state.json"
#define EXTRA_FILE "trainer_state.bin"

static wf_checkpoint_fault_fn fault_fn;
static void *fault_ctx;

void wf_checkpoint_set_fault(wf_checkpoint_fault_fn fn, void *ctx) { fault_fn = fn, fault_ctx = ctx; }

static wf_status stage(const char *name, const char *dir) {
    if (fault_fn && fault_fn(name, fault_ctx))
        return wf_error(WF_ERR_IO, "%s: checkpoint save failed at stage '%s' (injected fault)", dir, name);
    return WF_OK;
}

static uint64_t fnv1a(const void *data, size_t n) {
    const unsigned char *p = data;
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < n; i++) h = (h ^ p[i]) * 0x100000001b3ull;
    return h;
}

/* ---- save ---- */

/* The parameter table stored in trainable.safetensors' metadata. */
static char *param_table(const wf_trainable *t) {
    cJSON *arr = cJSON_CreateArray();
    for (int i = 0; arr && i < t->n_params; i++) {
        const wf_param *p = &t->params[i];
        cJSON *o = cJSON_CreateObject(), *shape = cJSON_CreateArray();
        cJSON_AddStringToObject(o, "name", p->name);
        cJSON_AddNumberToObject(o, "offset", (double)p->offset);
        for (int d = 0; d < p->weight->ndim; d++)
            cJSON_AddItemToArray(shape, cJSON_CreateNumber((double)p->weight->shape[d]));
        cJSON_AddItemToObject(o, "shape", shape);
        cJSON_AddItemToArray(arr, o);
    }
    char *text = arr ? cJSON_PrintUnformatted(arr) : NULL;
    cJSON_Delete(arr);
    return text;
}

typedef struct flat_src {
    wf_backend *be;
    const wf_tensor *bufs[3]; /* p, m, v */
    const float *host[3];     /* or these (total) host arrays, when given */
} flat_src;

/* Streams a slice of p, m or v from backend memory (or from a gathered host copy). */
static wf_status fill_flat(void *ctx, int64_t i, void *dst, uint64_t offset, size_t bytes) {
    const flat_src *f = ctx;
    if (f->host[i]) {
        memcpy(dst, (const char *)f->host[i] + offset, bytes);
        return WF_OK;
    }
    WF_TRY(f->be->copy(f->be, dst, (const char *)f->bufs[i]->data + offset, bytes, WF_COPY_D2H));
    return f->be->sync(f->be);
}

static wf_status write_trainable(const wf_model *m, const wf_trainable *t, const float *const mv[2],
                                 const char *path) {
    flat_src src = {m->be, {&t->p, &t->m, &t->v}, {NULL, mv[0], mv[1]}};
    int64_t shape[1] = {t->total};
    wf_st_entry e[3] = {{"p", WF_ST_F32, 1, shape, NULL}, {"m", WF_ST_F32, 1, shape, NULL},
                        {"v", WF_ST_F32, 1, shape, NULL}};
    char *table = param_table(t), version[16], total[32];
    if (!table) return wf_error(WF_ERR_OOM, "%s: out of memory", path);
    snprintf(version, sizeof version, "%d", WF_CHECKPOINT_VERSION);
    snprintf(total, sizeof total, "%" PRId64, t->total);
    wf_st_kv meta[] = {{"weft.checkpoint_version", version}, {"weft.total", total}, {"weft.params", table}};
    wf_status s = wf_st_write_stream(path, e, 3, meta, 3, fill_flat, &src);
    free(table);
    return s;
}

static void add_state_float(cJSON *o, const char *key, float v) {
    if (isfinite(v)) cJSON_AddNumberToObject(o, key, (double)v);
    else wf_json_add_float(o, key, v); /* "NaN" / "Infinity" as strings */
}

static cJSON *state_json(int64_t step, const wf_trainable *t, const wf_step_state *st,
                         const void *extra, size_t extra_len) {
    cJSON *o = cJSON_CreateObject(), *ss = cJSON_CreateObject(), *names = cJSON_CreateArray();
    char hash[20];
    cJSON_AddStringToObject(o, "format", "weft checkpoint");
    cJSON_AddNumberToObject(o, "version", WF_CHECKPOINT_VERSION);
    cJSON_AddNumberToObject(o, "step", (double)step);
    add_state_float(ss, "loss_scale", st->loss_scale);
    add_state_float(ss, "grad_sumsq", st->grad_sumsq);
    cJSON_AddNumberToObject(ss, "found_inf", st->found_inf);
    cJSON_AddNumberToObject(ss, "growth_tracker", st->growth_tracker);
    cJSON_AddNumberToObject(ss, "opt_step", st->opt_step);
    cJSON_AddNumberToObject(ss, "skipped_steps", st->skipped_steps);
    add_state_float(ss, "last_grad_norm", st->last_grad_norm);
    cJSON_AddNumberToObject(ss, "last_skipped", st->last_skipped);
    cJSON_AddItemToObject(o, "step_state", ss);
    cJSON_AddStringToObject(o, "trainer_state_file", EXTRA_FILE);
    cJSON_AddNumberToObject(o, "trainer_state_bytes", (double)extra_len);
    snprintf(hash, sizeof hash, "%016" PRIx64, fnv1a(extra, extra_len));
    cJSON_AddStringToObject(o, "trainer_state_fnv1a64", hash);
    cJSON_AddNumberToObject(o, "total", (double)t->total);
    cJSON_AddNumberToObject(o, "n_decay", (double)t->n_decay);
    for (int i = 0; i < t->n_params; i++) cJSON_AddItemToArray(names, cJSON_CreateString(t->params[i].name));
    cJSON_AddItemToObject(o, "params", names);
    return o;
}

static wf_status write_step_dir(const char *tmp, int64_t step, const wf_model *m,
                                const wf_trainable *t, const float *const mv[2],
                                const wf_step_state *st, const void *extra, size_t extra_len) {
    char path[WF_PATH_MAX];
    WF_TRY(stage("trainable", tmp));
    WF_TRY(wf_path_join(path, tmp, TRAINABLE_FILE));
    WF_TRY(write_trainable(m, t, mv, path));
    WF_TRY(stage("extra", tmp));
    WF_TRY(wf_path_join(path, tmp, EXTRA_FILE));
    WF_TRY(wf_file_write_atomic(path, extra_len ? extra : "", extra_len));
    WF_TRY(stage("state", tmp));
    WF_TRY(wf_path_join(path, tmp, STATE_FILE));
    cJSON *o = state_json(step, t, st, extra, extra_len);
    if (!o) return wf_error(WF_ERR_OOM, "%s: out of memory", path);
    wf_status s = wf_json_write(path, o);
    cJSON_Delete(o);
    return s;
}

/* "step-N" exactly: N. "step-N.tmp.PID" / "step-N.old.PID": *pid = PID. Else -1. */
static int64_t parse_step_name(const char *name, long *pid) {
    long long n;
    int used = 0;
    *pid = 0;
    if (sscanf(name, "step-%lld%n", &n, &used) != 1 || n < 0 || name[5] < '0' || name[5] > '9') return -1;
    if (name[used] == 0) return n;
    if (sscanf(name + used, ".tmp.%ld", pid) == 1 || sscanf(name + used, ".old.%ld", pid) == 1) return n;
    *pid = 0;
    return -1;
}

static int cmp_i64(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* Collects the steps of complete step-N directories under root (sorted ascending), and removes
 * temporaries of processes that no longer exist when `clean` is set. */
static wf_status list_steps(const char *root, bool clean, int64_t **steps, int *n) {
    *steps = NULL, *n = 0;
    DIR *d = opendir(root);
    if (!d) return wf_error(WF_ERR_IO, "%s: cannot open the checkpoint directory: %s", root, strerror(errno));
    int cap = 0;
    wf_status s = WF_OK;
    for (struct dirent *e; s == WF_OK && (e = readdir(d));) {
        long pid;
        int64_t step = parse_step_name(e->d_name, &pid);
        char path[WF_PATH_MAX], state[WF_PATH_MAX];
        if (step < 0 || wf_path_join(path, root, e->d_name) != WF_OK) continue;
        if (pid) { /* a save that crashed: its process is gone (ESRCH), so nothing will finish it */
            if (clean && pid != (long)getpid() && kill((pid_t)pid, 0) != 0 && errno == ESRCH)
                s = wf_path_remove_tree(path);
            continue;
        }
        if (wf_path_join(state, path, STATE_FILE) != WF_OK || !wf_path_exists(state)) continue;
        if (*n == cap) {
            cap = cap ? 2 * cap : 16;
            int64_t *v = realloc(*steps, (size_t)cap * sizeof *v);
            if (!v) {
                s = wf_error(WF_ERR_OOM, "%s: out of memory", root);
                break;
            }
            *steps = v;
        }
        (*steps)[(*n)++] = step;
    }
    closedir(d);
    if (*n > 1) qsort(*steps, (size_t)*n, sizeof **steps, cmp_i64);
    return s;
}

/* Keeps the newest keep_last checkpoints, and always the one just saved (`saved`): a run
 * restarted in a directory that holds later steps must not delete its own checkpoint. */
static wf_status prune(const char *root, int keep_last, int64_t saved) {
    int64_t *steps;
    int n;
    WF_TRY(list_steps(root, true, &steps, &n));
    wf_status s = WF_OK;
    for (int i = 0; s == WF_OK && keep_last > 0 && i < n - keep_last; i++) {
        char name[64], path[WF_PATH_MAX];
        if (steps[i] == saved) continue;
        snprintf(name, sizeof name, "step-%" PRId64, steps[i]);
        s = wf_path_join(path, root, name);
        if (s == WF_OK) s = wf_path_remove_tree(path);
    }
    free(steps);
    return s;
}

wf_status wf_checkpoint_save(const char *root, int64_t step, const wf_model *m,
                             const wf_trainable *t, const wf_step_state *state_host,
                             const void *extra, size_t extra_len, int keep_last) {
    return wf_checkpoint_save_gathered(root, step, m, t, NULL, NULL, state_host, extra, extra_len,
                                       keep_last);
}

wf_status wf_checkpoint_save_gathered(const char *root, int64_t step, const wf_model *m,
                                      const wf_trainable *t, const float *host_m,
                                      const float *host_v, const wf_step_state *state_host,
                                      const void *extra, size_t extra_len, int keep_last) {
    char dir[WF_PATH_MAX], tmp[WF_PATH_MAX], name[64];
    const float *const mv[2] = {host_m, host_v};
    if (step < 0 || !state_host || (extra_len && !extra))
        return wf_error(WF_ERR_INVALID, "%s: checkpoint save needs step >= 0 (got %" PRId64 "), the "
                        "step state, and data for %zu trainer bytes", root, step, extra_len);
    if (t->opt_n != t->total && (!host_m || !host_v))
        return wf_error(WF_ERR_INVALID, "%s: the trainable set holds a shard of the AdamW moments: "
                        "saving needs them gathered (wf_checkpoint_save_gathered)", root);
    snprintf(name, sizeof name, "step-%" PRId64, step);
    WF_TRY(wf_path_join(dir, root, name));
    WF_TRY(wf_outdir_begin(dir, tmp));
    wf_status s = write_step_dir(tmp, step, m, t, mv, state_host, extra, extra_len);
    if (s == WF_OK) s = stage("commit", tmp);
    if (s != WF_OK) {
        wf_outdir_abort(tmp);
        return s;
    }
    WF_TRY(wf_outdir_commit(tmp, dir));
    s = stage("prune", root);
    if (s == WF_OK) s = prune(root, keep_last, step);
    if (s != WF_OK) {
        char why[1024];
        snprintf(why, sizeof why, "%s", wf_last_error()); /* wf_error overwrites it */
        return wf_error(s, "%s was saved, but removing older checkpoints failed: %s", dir, why);
    }
    return WF_OK;
}

/* ---- load ---- */

wf_status wf_checkpoint_latest(const char *root, char *dir, size_t cap, int64_t *step) {
    int64_t *steps;
    int n;
    WF_TRY(list_steps(root, false, &steps, &n));
    if (n == 0) {
        free(steps);
        return wf_error(WF_ERR_IO, "%s: no complete checkpoint here (looked for step-N/" STATE_FILE ")", root);
    }
    int64_t last = steps[n - 1];
    free(steps);
    if (snprintf(dir, cap, "%s/step-%" PRId64, root, last) >= (int)cap)
        return wf_error(WF_ERR_INVALID, "%s: path too long", root);
    if (step) *step = last;
    return WF_OK;
}

/* A checkpoint opened and checked against the trainable set, before anything in t changes. */
typedef struct ckpt {
    char dir[WF_PATH_MAX], state_path[WF_PATH_MAX], file[WF_PATH_MAX];
    cJSON *state;
    wf_st_file *st;
    const wf_st_tensor *flat[3]; /* p, m, v */
    wf_mapped_file extra;
    int64_t step, total; /* total: trainable elements, as state.json records it */
} ckpt;

/* The first difference between the checkpoint's parameter names and the trainable set's. */
static wf_status check_names(const ckpt *c, const cJSON *names, const wf_trainable *t) {
    const cJSON *e = names->child;
    for (int i = 0; e || i < t->n_params; i++, e = e ? e->next : NULL) {
        const char *theirs = e && cJSON_IsString(e) ? e->valuestring : NULL;
        if (e && !theirs) return wf_error(WF_ERR_FORMAT, "%s: 'params'[%d] is not a string", c->state_path, i);
        if (!e)
            return wf_error(WF_ERR_INVALID, "%s: this model trains '%s' (parameter %d), which the "
                            "checkpoint lacks (made for another model or fine-tuning method?)",
                            c->state_path, t->params[i].name, i);
        if (i >= t->n_params)
            return wf_error(WF_ERR_INVALID, "%s: the checkpoint holds '%s' (parameter %d), which this "
                            "model does not train (made for another model or fine-tuning method?)",
                            c->state_path, theirs, i);
        if (strcmp(theirs, t->params[i].name) != 0)
            return wf_error(WF_ERR_INVALID, "%s: parameter %d is '%s' in the checkpoint but '%s' in this "
                            "model (made for another model or fine-tuning method?)", c->state_path, i,
                            theirs, t->params[i].name);
    }
    return WF_OK;
}

static wf_status read_state(ckpt *c, const wf_trainable *t) {
    WF_TRY(wf_path_join(c->state_path, c->dir, STATE_FILE));
    WF_TRY(wf_json_load(c->state_path, &c->state));
    wf_json_ctx jc = {c->state_path, ""};
    char format[32];
    int64_t version;
    WF_TRY(wf_json_str(jc, c->state, "format", true, NULL, format, sizeof format));
    if (strcmp(format, "weft checkpoint") != 0)
        return wf_error(WF_ERR_FORMAT, "%s: 'format' is \"%s\", not \"weft checkpoint\"", c->state_path, format);
    WF_TRY(wf_json_int(jc, c->state, "version", true, 0, 1, INT32_MAX, &version));
    if (version > WF_CHECKPOINT_VERSION)
        return wf_error(WF_ERR_UNSUPPORTED, "%s: checkpoint format version %" PRId64 " is newer than "
                        "this weft reads (%d)", c->state_path, version, WF_CHECKPOINT_VERSION);
    WF_TRY(wf_json_int(jc, c->state, "step", true, 0, 0, INT64_MAX, &c->step));
    const cJSON *names = cJSON_GetObjectItemCaseSensitive(c->state, "params");
    if (!cJSON_IsArray(names)) return wf_error(WF_ERR_FORMAT, "%s: 'params' must be a list of names", c->state_path);
    WF_TRY(check_names(c, names, t));
    return wf_json_int(jc, c->state, "total", true, 0, 0, INT64_MAX, &c->total);
}

/* Offsets and shapes in trainable.safetensors' parameter table against the trainable set. */
static wf_status check_table(const ckpt *c, const wf_trainable *t) {
    const char *text = wf_st_metadata(c->st, "weft.params");
    cJSON *arr = NULL;
    if (!text) return wf_error(WF_ERR_FORMAT, "%s: metadata 'weft.params' is missing", c->file);
    WF_TRY(wf_json_parse(text, c->file, &arr));
    wf_status s = cJSON_GetArraySize(arr) == t->n_params ? WF_OK
                : wf_error(WF_ERR_FORMAT, "%s: the parameter table has %d entries, state.json names %d",
                           c->file, cJSON_GetArraySize(arr), t->n_params);
    const cJSON *e = arr ? arr->child : NULL;
    for (int i = 0; s == WF_OK && e; i++, e = e->next) {
        const wf_param *p = &t->params[i];
        const cJSON *off = cJSON_GetObjectItemCaseSensitive(e, "offset");
        const cJSON *shape = cJSON_GetObjectItemCaseSensitive(e, "shape");
        bool ok = cJSON_IsNumber(off) && (int64_t)off->valuedouble == p->offset && cJSON_IsArray(shape) &&
                  cJSON_GetArraySize(shape) == p->weight->ndim;
        const cJSON *d = ok ? shape->child : NULL;
        for (int k = 0; ok && k < p->weight->ndim; k++, d = d->next)
            ok = cJSON_IsNumber(d) && (int64_t)d->valuedouble == p->weight->shape[k];
        if (!ok) {
            char *got = cJSON_PrintUnformatted(e), want[96];
            wf_tensor_describe(p->weight, want, sizeof want);
            s = wf_error(WF_ERR_INVALID, "%s: parameter '%s' is %s in the checkpoint, but %s at offset "
                         "%" PRId64 " in this model", c->file, p->name, got ? got : "?", want, p->offset);
            free(got);
        }
    }
    cJSON_Delete(arr);
    return s;
}

static wf_status open_tensors(ckpt *c, const wf_trainable *t) {
    static const char *const names[3] = {"p", "m", "v"};
    WF_TRY(wf_path_join(c->file, c->dir, TRAINABLE_FILE));
    WF_TRY(wf_st_open(c->file, &c->st));
    WF_TRY(check_table(c, t)); /* first: a differing shape is the clearest message */
    if (c->total != t->total)
        return wf_error(WF_ERR_INVALID, "%s: the checkpoint holds %" PRId64 " trainable elements, this "
                        "model %" PRId64, c->state_path, c->total, t->total);
    for (int i = 0; i < 3; i++) {
        const wf_st_tensor *x = c->flat[i] = wf_st_find(c->st, names[i]);
        if (!x || x->dtype != WF_ST_F32 || x->ndim != 1 || x->shape[0] != t->total)
            return wf_error(WF_ERR_FORMAT, "%s: tensor '%s' must be F32 of shape [%" PRId64 "]", c->file,
                            names[i], t->total);
    }
    return WF_OK;
}

static wf_status open_extra(ckpt *c) {
    char path[WF_PATH_MAX], hash[20], want[20];
    wf_json_ctx jc = {c->state_path, ""};
    int64_t bytes;
    WF_TRY(wf_json_int(jc, c->state, "trainer_state_bytes", true, 0, 0, INT64_MAX, &bytes));
    WF_TRY(wf_json_str(jc, c->state, "trainer_state_fnv1a64", true, NULL, want, sizeof want));
    WF_TRY(wf_path_join(path, c->dir, EXTRA_FILE));
    WF_TRY(wf_file_map(path, &c->extra));
    snprintf(hash, sizeof hash, "%016" PRIx64, fnv1a(c->extra.data, c->extra.size));
    if ((int64_t)c->extra.size != bytes || strcmp(hash, want) != 0)
        return wf_error(WF_ERR_FORMAT, "%s: %zu bytes with checksum %s, but state.json records %" PRId64
                        " bytes with checksum %s (damaged?)", path, c->extra.size, hash, bytes, want);
    return WF_OK;
}

static wf_status state_float(const ckpt *c, const cJSON *ss, const char *key, float *out) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(ss, key);
    if (cJSON_IsNumber(v)) {
        *out = (float)v->valuedouble;
        return WF_OK;
    }
    const char *s = cJSON_IsString(v) ? v->valuestring : "";
    if (!strcmp(s, "NaN") || !strcmp(s, "Infinity") || !strcmp(s, "-Infinity")) {
        *out = s[0] == 'N' ? NAN : s[0] == '-' ? -INFINITY : INFINITY;
        return WF_OK;
    }
    return wf_error(WF_ERR_FORMAT, "%s: 'step_state.%s' must be a number", c->state_path, key);
}

static wf_status read_step_state(const ckpt *c, wf_step_state *st) {
    const cJSON *ss = cJSON_GetObjectItemCaseSensitive(c->state, "step_state");
    wf_json_ctx jc = {c->state_path, "step_state"};
    int64_t v[5];
    const char *ints[5] = {"found_inf", "growth_tracker", "opt_step", "skipped_steps", "last_skipped"};
    if (!cJSON_IsObject(ss)) return wf_error(WF_ERR_FORMAT, "%s: 'step_state' is missing", c->state_path);
    for (int i = 0; i < 5; i++) WF_TRY(wf_json_int(jc, ss, ints[i], true, 0, INT32_MIN, INT32_MAX, &v[i]));
    memset(st, 0, sizeof *st);
    WF_TRY(state_float(c, ss, "loss_scale", &st->loss_scale));
    WF_TRY(state_float(c, ss, "grad_sumsq", &st->grad_sumsq));
    WF_TRY(state_float(c, ss, "last_grad_norm", &st->last_grad_norm));
    st->found_inf = (int32_t)v[0], st->growth_tracker = (int32_t)v[1], st->opt_step = (int32_t)v[2];
    st->skipped_steps = (int32_t)v[3], st->last_skipped = (int32_t)v[4];
    return WF_OK;
}

/* Copies the validated checkpoint into t: p through wf_trainable_set (master and low-precision
 * copy), m and v whole (or the trainable set's shard of them). */
static wf_status restore(const ckpt *c, const wf_model *m, wf_trainable *t) {
    const float *p = c->flat[0]->data;
    for (int i = 0; i < t->n_params; i++) WF_TRY(wf_trainable_set(m, t, &t->params[i], p + t->params[i].offset));
    size_t bytes = (size_t)t->opt_n * sizeof(float);
    const float *ms = c->flat[1]->data, *vs = c->flat[2]->data;
    WF_TRY(m->be->copy(m->be, t->m.data, ms + t->opt_off, bytes, WF_COPY_H2D));
    WF_TRY(m->be->copy(m->be, t->v.data, vs + t->opt_off, bytes, WF_COPY_H2D));
    return m->be->sync(m->be);
}

static wf_status load_checked(ckpt *c, const wf_model *m, wf_trainable *t, wf_step_state *state,
                              void **extra, size_t *extra_len) {
    wf_step_state st;
    WF_TRY(read_state(c, t));
    WF_TRY(read_step_state(c, &st));
    WF_TRY(open_tensors(c, t));
    WF_TRY(open_extra(c));
    void *copy = NULL;
    if (extra && c->extra.size) {
        if (!(copy = malloc(c->extra.size))) return wf_error(WF_ERR_OOM, "%s: out of memory", c->dir);
        memcpy(copy, c->extra.data, c->extra.size);
    }
    wf_status s = restore(c, m, t);
    if (s != WF_OK) {
        free(copy);
        return s;
    }
    if (state) *state = st;
    if (extra) *extra = copy;
    if (extra_len) *extra_len = c->extra.size;
    return WF_OK;
}

wf_status wf_checkpoint_load(const char *path, const wf_model *m, wf_trainable *t,
                             wf_step_state *state_host, void **extra, size_t *extra_len,
                             int64_t *step) {
    ckpt c = {0};
    char probe[WF_PATH_MAX];
    WF_TRY(wf_path_join(probe, path, STATE_FILE));
    if (wf_path_exists(probe)) {
        if (snprintf(c.dir, sizeof c.dir, "%s", path) >= (int)sizeof c.dir)
            return wf_error(WF_ERR_INVALID, "%s: path too long", path);
    } else {
        WF_TRY(wf_checkpoint_latest(path, c.dir, sizeof c.dir, NULL));
    }
    wf_status s = load_checked(&c, m, t, state_host, extra, extra_len);
    if (s == WF_OK && step) *step = c.step;
    cJSON_Delete(c.state);
    wf_st_close(c.st);
    wf_file_unmap(&c.extra);
    return s;
}
