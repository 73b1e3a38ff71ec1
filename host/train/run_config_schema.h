/* The run-config schema table: one row per key (path, type, where it lives in wf_run_config,
 * default, range or enum values, unit, doc line). Private to host/train/run_config*.c; the
 * public view is include/weft/run_config.h. The rows are grouped by section, in the order the
 * resolved config.json and configs/README.md list them. */
#ifndef WEFT_RUN_CONFIG_SCHEMA_H
#define WEFT_RUN_CONFIG_SCHEMA_H

#include <stddef.h>
#include <stdint.h>

typedef enum wf_cfg_type {
    WF_CFG_INT,
    WF_CFG_FLOAT,
    WF_CFG_BOOL,
    WF_CFG_STRING,
    WF_CFG_ENUM,
    WF_CFG_STRLIST,   /* JSON list of strings; a bare string is a list of one */
    WF_CFG_FLOATPAIR, /* JSON list of exactly two numbers, each in the range */
} wf_cfg_type;

/* flags */
enum {
    WF_CFG_HAS_LO = 1u << 0,
    WF_CFG_HAS_HI = 1u << 1,
    WF_CFG_LO_OPEN = 1u << 2, /* lo itself excluded */
    WF_CFG_HI_OPEN = 1u << 3,
    WF_CFG_REQUIRED = 1u << 4, /* no default; must be given and non-empty */
};

typedef struct wf_cfg_key {
    const char *path;          /* "train.lr" */
    wf_cfg_type type;
    size_t offset, size;       /* the field in wf_run_config */
    const char *def;           /* the default as JSON text; NULL for required keys */
    unsigned flags;
    double lo, hi;             /* value range; for string lists the least number of items */
    const char *const *values; /* enum names (NULL-terminated) in the C enum's order */
    const char *solo;          /* string-list item allowed only as the list's single item */
    const char *unit;          /* "" when the value has none */
    const char *doc;           /* one line */
    const char *aliases;       /* space-separated names other tools use, for suggestions */
    const char *doc_default;   /* shown in the docs instead of `def` (derived defaults) */
} wf_cfg_key;

typedef struct wf_cfg_section {
    const char *path; /* "method.lora" */
    const char *doc;
} wf_cfg_section;

/* The key's range as text: "[0, 0.5]", "[0, 1)", ">= 1", "> 0"; "" when it has none. */
void wf_cfg_range_text(const wf_cfg_key *k, char *buf, size_t cap);

extern const wf_cfg_key wf_cfg_keys[];
extern const int64_t wf_cfg_nkeys;
extern const wf_cfg_section wf_cfg_sections[];
extern const int64_t wf_cfg_nsections;

#endif
