/* Typed JSON reads with errors naming file and key path (include/weft/json.h). */
#include "weft/json.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_JSON_FILE ((long)64 << 20) /* configs are kilobytes; refuse anything absurd */

wf_status wf_json_parse(const char *text, const char *path, cJSON **out) {
    const char *end = NULL;
    cJSON *j = cJSON_ParseWithOpts(text, &end, true);
    if (!j) {
        size_t off = end ? (size_t)(end - text) : 0, line_start = 0;
        int line = 1;
        for (size_t i = 0; i < off && text[i]; i++)
            if (text[i] == '\n') line++, line_start = i + 1;
        return wf_error(WF_ERR_FORMAT, "%s: invalid JSON near line %d, column %zu (byte %zu)", path,
                        line, off - line_start + 1, off);
    }
    *out = j;
    return WF_OK;
}

wf_status wf_json_load(const char *path, cJSON **out) {
    FILE *f = fopen(path, "rb");
    if (!f) return wf_error(WF_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    char *buf = NULL;
    long n = -1;
    if (fseek(f, 0, SEEK_END) == 0) n = ftell(f);
    if (n < 0 || n > MAX_JSON_FILE || fseek(f, 0, SEEK_SET) != 0) {
        fclose(f);
        return wf_error(WF_ERR_IO, "%s: cannot read (size %ld)", path, n);
    }
    buf = malloc((size_t)n + 1);
    if (!buf || fread(buf, 1, (size_t)n, f) != (size_t)n) {
        free(buf);
        fclose(f);
        return wf_error(WF_ERR_IO, "%s: read failed", path);
    }
    fclose(f);
    buf[n] = 0;
    if (strlen(buf) != (size_t)n) {
        free(buf);
        return wf_error(WF_ERR_FORMAT, "%s: contains a NUL byte", path);
    }
    wf_status s = wf_json_parse(buf, path, out);
    free(buf);
    return s;
}

static const char *sep(wf_json_ctx c) { return c.prefix && *c.prefix ? "." : ""; }
static const char *pre(wf_json_ctx c) { return c.prefix ? c.prefix : ""; }

static wf_status missing(wf_json_ctx c, const char *key, const char *what) {
    return wf_error(WF_ERR_FORMAT, "%s: key '%s%s%s' is missing (expected %s)", c.where, pre(c),
                    sep(c), key, what);
}

static wf_status mistyped(wf_json_ctx c, const char *key, const char *what) {
    return wf_error(WF_ERR_FORMAT, "%s: key '%s%s%s': expected %s", c.where, pre(c), sep(c), key,
                    what);
}

static const cJSON *item(const cJSON *obj, const char *key) {
    const cJSON *v = obj ? cJSON_GetObjectItemCaseSensitive(obj, key) : NULL;
    return v && !cJSON_IsNull(v) ? v : NULL;
}

wf_status wf_json_int(wf_json_ctx c, const cJSON *obj, const char *key, bool required, int64_t def,
                      int64_t min, int64_t max, int64_t *out) {
    const cJSON *v = item(obj, key);
    if (!v) {
        if (required) return missing(c, key, "an integer");
        *out = def;
        return WF_OK;
    }
    double d = cJSON_IsNumber(v) ? v->valuedouble : NAN;
    if (!(d == floor(d)) || d < (double)min || d > (double)max) {
        char want[96];
        snprintf(want, sizeof want, "an integer in [%lld, %lld]", (long long)min, (long long)max);
        return mistyped(c, key, want);
    }
    *out = (int64_t)d;
    return WF_OK;
}

wf_status wf_json_num(wf_json_ctx c, const cJSON *obj, const char *key, bool required, double def,
                      double *out) {
    const cJSON *v = item(obj, key);
    if (!v) {
        if (required) return missing(c, key, "a number");
        *out = def;
        return WF_OK;
    }
    if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble)) return mistyped(c, key, "a finite number");
    *out = v->valuedouble;
    return WF_OK;
}

wf_status wf_json_bool(wf_json_ctx c, const cJSON *obj, const char *key, bool required, bool def,
                       bool *out) {
    const cJSON *v = item(obj, key);
    if (!v) {
        if (required) return missing(c, key, "true or false");
        *out = def;
        return WF_OK;
    }
    if (!cJSON_IsBool(v)) return mistyped(c, key, "true or false");
    *out = cJSON_IsTrue(v);
    return WF_OK;
}

wf_status wf_json_str(wf_json_ctx c, const cJSON *obj, const char *key, bool required,
                      const char *def, char *out, size_t cap) {
    const cJSON *v = item(obj, key);
    const char *s = def ? def : "";
    if (!v) {
        if (required) return missing(c, key, "a string");
    } else if (!cJSON_IsString(v)) {
        return mistyped(c, key, "a string");
    } else {
        s = v->valuestring;
    }
    if (strlen(s) >= cap) return mistyped(c, key, "a shorter string");
    memcpy(out, s, strlen(s) + 1);
    return WF_OK;
}

wf_status wf_json_obj(wf_json_ctx c, const cJSON *obj, const char *key, const cJSON **out) {
    const cJSON *v = item(obj, key);
    if (v && !cJSON_IsObject(v)) return mistyped(c, key, "an object");
    *out = v;
    return WF_OK;
}
