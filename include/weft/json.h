/* Typed reads of JSON values (cJSON underneath) whose errors name the file and the key path
 * and say what was expected: "config.json: key 'rope_scaling.factor': expected a number". */
#ifndef WEFT_JSON_H
#define WEFT_JSON_H

#include <stdbool.h>
#include <stdint.h>

#include "weft/status.h"

typedef struct cJSON cJSON;

/* Reads and parses a whole JSON file; *out must be freed with cJSON_Delete. */
wf_status wf_json_load(const char *path, cJSON **out);
wf_status wf_json_parse(const char *text, const char *path, cJSON **out);

/* Each getter: when the key is absent or null, stores `def` and returns OK if !required, or an
 * error if required; a present key of the wrong type (or out of range) is always an error.
 * `where` is the file name, `prefix` the path of obj ("" at top level). */
typedef struct wf_json_ctx {
    const char *where;
    const char *prefix;
} wf_json_ctx;

wf_status wf_json_int(wf_json_ctx c, const cJSON *obj, const char *key, bool required, int64_t def,
                      int64_t min, int64_t max, int64_t *out);
wf_status wf_json_num(wf_json_ctx c, const cJSON *obj, const char *key, bool required, double def,
                      double *out);
wf_status wf_json_bool(wf_json_ctx c, const cJSON *obj, const char *key, bool required, bool def,
                       bool *out);
/* Copies a string (truncation is an error); def may be NULL for "" */
wf_status wf_json_str(wf_json_ctx c, const cJSON *obj, const char *key, bool required,
                      const char *def, char *out, size_t cap);
/* The object under key, or NULL (absent/null); a non-object value is an error. */
wf_status wf_json_obj(wf_json_ctx c, const cJSON *obj, const char *key, const cJSON **out);

#endif
