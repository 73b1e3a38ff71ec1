/* The run config going out: the resolved config.json a run writes (every key, schema order,
 * two-space indented, written atomically) and the markdown key reference that configs/README.md
 * carries below its marker line. Both walk the schema table in run_config_schema.c. */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "run_config_schema.h"
#include "weft/mapped_file.h"
#include "weft/run_config.h"

/* The object that holds key `path` under root, created along the way ("train.lr" -> root.train). */
static cJSON *parent_of(cJSON *root, const char *path) {
    cJSON *obj = root;
    char part[128];
    for (const char *p = path, *dot; (dot = strchr(p, '.')); p = dot + 1) {
        size_t n = (size_t)(dot - p);
        WF_ASSERT(n < sizeof part);
        memcpy(part, p, n);
        part[n] = 0;
        cJSON *next = cJSON_GetObjectItemCaseSensitive(obj, part);
        if (!next) {
            next = cJSON_AddObjectToObject(obj, part);
            if (!next) return NULL;
        }
        obj = next;
    }
    return obj;
}

static cJSON *value_of(const wf_cfg_key *k, const wf_run_config *cfg) {
    const char *field = (const char *)cfg + k->offset;
    switch (k->type) {
    case WF_CFG_INT: return cJSON_CreateNumber((double)*(const int64_t *)(const void *)field);
    case WF_CFG_FLOAT: return cJSON_CreateNumber(*(const double *)(const void *)field);
    case WF_CFG_BOOL: return cJSON_CreateBool(*(const bool *)(const void *)field);
    case WF_CFG_STRING: return cJSON_CreateString(field);
    case WF_CFG_ENUM: {
        int v;
        memcpy(&v, field, sizeof v);
        const char *name = wf_run_config_enum_name(k->path, v);
        WF_ASSERT(name);
        return cJSON_CreateString(name);
    }
    case WF_CFG_STRLIST: {
        const wf_cfg_list *l = (const wf_cfg_list *)(const void *)field;
        cJSON *a = cJSON_CreateArray();
        for (int64_t i = 0; a && i < l->n; i++) {
            cJSON *s = cJSON_CreateString(l->item[i]);
            if (!s || !cJSON_AddItemToArray(a, s)) {
                cJSON_Delete(s);
                cJSON_Delete(a);
                return NULL;
            }
        }
        return a;
    }
    case WF_CFG_FLOATPAIR: return cJSON_CreateDoubleArray((const double *)(const void *)field, 2);
    }
    return NULL;
}

/* cJSON indents with tabs and puts a tab after each colon; literal tabs never occur inside its
 * strings (they are escaped as \t), so each one can be rewritten: two spaces, one after ':'. */
static char *retab(const char *s) {
    size_t n = 0;
    for (const char *p = s; *p; p++) n += *p == '\t' ? 2 : 1;
    char *out = malloc(n + 2), *o = out;
    if (!out) return NULL;
    for (const char *p = s; *p; p++) {
        if (*p != '\t') *o++ = *p;
        else if (p > s && p[-1] == ':') *o++ = ' ';
        else *o++ = ' ', *o++ = ' ';
    }
    *o++ = '\n';
    *o = 0;
    return out;
}

char *wf_run_config_to_json(const wf_run_config *cfg) {
    cJSON *root = cJSON_CreateObject();
    for (int64_t i = 0; root && i < wf_cfg_nkeys; i++) {
        const wf_cfg_key *k = &wf_cfg_keys[i];
        cJSON *parent = parent_of(root, k->path);
        cJSON *v = parent ? value_of(k, cfg) : NULL;
        const char *dot = strrchr(k->path, '.');
        if (!v || !cJSON_AddItemToObject(parent, dot ? dot + 1 : k->path, v)) {
            cJSON_Delete(v);
            cJSON_Delete(root);
            return NULL;
        }
    }
    char *text = root ? cJSON_Print(root) : NULL;
    cJSON_Delete(root);
    char *out = text ? retab(text) : NULL;
    free(text);
    return out;
}

wf_status wf_run_config_write(const wf_run_config *cfg, const char *path) {
    char *text = wf_run_config_to_json(cfg);
    if (!text) return wf_error(WF_ERR_OOM, "%s: out of memory rendering the config", path);
    wf_status s = wf_file_write_atomic(path, text, strlen(text));
    free(text);
    return s;
}

/* ---- markdown reference ---- */

static const char *type_name(wf_cfg_type t) {
    switch (t) {
    case WF_CFG_INT: return "int";
    case WF_CFG_FLOAT: return "float";
    case WF_CFG_BOOL: return "bool";
    case WF_CFG_STRING: return "string";
    case WF_CFG_ENUM: return "enum";
    case WF_CFG_STRLIST: return "string list";
    case WF_CFG_FLOATPAIR: return "float pair";
    }
    return "?";
}

/* Markdown table cells: a '|' would end the cell. */
static void put_cell(FILE *out, const char *s) {
    for (; *s; s++) {
        if (*s == '|') fputc('\\', out);
        fputc(*s, out);
    }
}

static void put_values(FILE *out, const wf_cfg_key *k) {
    char r[96];
    wf_cfg_range_text(k, r, sizeof r);
    switch (k->type) {
    case WF_CFG_ENUM:
        for (int i = 0; k->values[i]; i++) fprintf(out, "%s`%s`", i ? ", " : "", k->values[i]);
        return;
    case WF_CFG_FLOATPAIR: fprintf(out, "each %s", r); return;
    case WF_CFG_STRLIST:
        if (k->flags & WF_CFG_HAS_LO) fprintf(out, "at least %g item(s)", k->lo);
        if (k->solo) fprintf(out, "; `\"%s\"` only alone", k->solo);
        return;
    default: fputs(r, out); return;
    }
}

static void put_key_row(FILE *out, const wf_cfg_key *k) {
    fprintf(out, "| `%s` | %s | ", k->path, type_name(k->type));
    if (k->flags & WF_CFG_REQUIRED) fputs("**required**", out);
    else fprintf(out, "`%s`", k->doc_default ? k->doc_default : k->def);
    fputs(" | ", out);
    put_values(out, k);
    fputs(" | ", out);
    put_cell(out, k->unit ? k->unit : "");
    fputs(" | ", out);
    put_cell(out, k->doc);
    fputs(" |\n", out);
}

void wf_run_config_doc(FILE *out) {
    fputs("## Key reference\n\n"
          "Every key with its type, default, allowed range or values, unit and meaning. A config "
          "file holds only\nthe keys it changes, nested by section (`{\"train\": {\"lr\": 1e-4}}`); "
          "`--set train.lr=1e-4` overrides\none key on the command line (the value is read as "
          "JSON when it parses as JSON, else as a string).\nThe run directory gets the resolved "
          "config, every key included, as `config.json`.\n",
          out);
    for (int64_t s = 0; s < wf_cfg_nsections; s++) {
        const char *sec = wf_cfg_sections[s].path;
        size_t sl = strlen(sec);
        fprintf(out, "\n### `%s`\n\n%s\n\n", sec, wf_cfg_sections[s].doc);
        fputs("| key | type | default | range / values | unit | meaning |\n", out);
        fputs("|---|---|---|---|---|---|\n", out);
        for (int64_t i = 0; i < wf_cfg_nkeys; i++) {
            const char *p = wf_cfg_keys[i].path;
            /* keys directly in this section: "sec.name" with no further dot */
            if (strncmp(p, sec, sl) == 0 && p[sl] == '.' && !strchr(p + sl + 1, '.'))
                put_key_row(out, &wf_cfg_keys[i]);
        }
    }
}
