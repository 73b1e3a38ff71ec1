/* Post-processors on the ids of one sequence (the files of tokenizers/src/processors):
 * TemplateProcessing ("single" template: special-token groups around $A), BertProcessing
 * ([CLS] $A [SEP]), RobertaProcessing (<s> $A </s>), ByteLevel (offsets only: no-op for ids) and
 * Sequence. With add_special false they leave the ids as they are. Pairs are not encoded.
 * Also reading "post_processor" from tokenizer.json. */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tok_internal.h"

static wf_status post_one(const tk_post *pp, bool add_special, wf_ids *seq, wf_ids *tmp) {
    if (!add_special) return WF_OK;
    tmp->len = 0;
    switch (pp->type) {
    case TK_POST_BYTE_LEVEL: return WF_OK;
    case TK_POST_SEQUENCE:
        for (size_t i = 0; i < pp->n_items; i++)
            WF_TRY(post_one(pp->items[i], add_special, seq, tmp));
        return WF_OK;
    case TK_POST_BERT:
    case TK_POST_ROBERTA:
        WF_TRY(wf_ids_reserve(tmp, seq->len + 2));
        tmp->data[tmp->len++] = pp->cls;
        if (seq->len) memcpy(tmp->data + tmp->len, seq->data, seq->len * sizeof *seq->data);
        tmp->len += seq->len;
        tmp->data[tmp->len++] = pp->sep;
        break;
    case TK_POST_TEMPLATE:
        for (size_t i = 0; i < pp->n_single; i++) {
            int32_t g = pp->single[i];
            const int32_t *src = g < 0 ? seq->data : pp->groups[g];
            size_t n = g < 0 ? seq->len : pp->group_len[g];
            WF_TRY(wf_ids_reserve(tmp, tmp->len + n));
            if (n) memcpy(tmp->data + tmp->len, src, n * sizeof *src);
            tmp->len += n;
        }
        break;
    }
    /* swap the buffers: the result becomes seq */
    wf_ids t = *seq;
    *seq = *tmp;
    *tmp = t;
    return WF_OK;
}

wf_status tk_post_run(const tk_post *pp, bool add_special, wf_ids *seq, wf_ids *tmp) {
    return pp ? post_one(pp, add_special, seq, tmp) : WF_OK;
}

void tk_post_free(tk_post *pp) {
    if (!pp) return;
    for (size_t i = 0; i < pp->n_items; i++) tk_post_free(pp->items[i]);
    free(pp->items);
    free(pp->single);
    for (size_t i = 0; i < pp->n_groups; i++) free(pp->groups[i]);
    free(pp->groups);
    free(pp->group_len);
    free(pp);
}

/* ---- reading "post_processor" ---- */

/* ["[SEP]", 102] (BertProcessing / RobertaProcessing) */
static wf_status parse_pair(const char *where, const tk_path *p, const cJSON *obj, const char *key,
                            int32_t *id) {
    tk_path q = tk_path_key(p, key);
    const cJSON *j = tk_jget(obj, key);
    const cJSON *a = j && cJSON_IsArray(j) ? j->child : NULL, *b = a ? a->next : NULL;
    if (!a || !b || b->next || !cJSON_IsString(a) || !cJSON_IsNumber(b) || b->valuedouble < 0 ||
        b->valuedouble > INT32_MAX || b->valuedouble != (double)(int32_t)b->valuedouble)
        return tk_jerr(where, &q, "expected [\"token\", id]");
    *id = (int32_t)b->valuedouble;
    return WF_OK;
}

/* The group index of a special token named in a template. */
static wf_status template_piece(const char *where, const tk_path *p, const cJSON *specials,
                                const char *name, int32_t *out) {
    int32_t g = 0;
    for (const cJSON *c = specials ? specials->child : NULL; c; c = c->next, g++)
        if (c->string && strcmp(c->string, name) == 0) return *out = g, WF_OK;
    return tk_jerr(where, p, "special token \"%s\" is missing from special_tokens", name);
}

/* One template piece: {"SpecialToken": {"id": ...}}, {"Sequence": {"id": "A"}}, or a string
 * "$A" / "$B" / "$0" / "[CLS]" / "[CLS]:1" (the type id after ':' does not matter for ids). */
static wf_status parse_piece(const char *where, const tk_path *p, const cJSON *c,
                             const cJSON *specials, int32_t *out) {
    const cJSON *spec = cJSON_IsObject(c) ? tk_jget(c, "SpecialToken") : NULL;
    const cJSON *seq = cJSON_IsObject(c) ? tk_jget(c, "Sequence") : NULL;
    if (spec) {
        tk_path q = tk_path_key(p, "SpecialToken");
        const char *s;
        size_t n;
        WF_TRY(tk_jstr(where, &q, spec, "id", true, &s, &n));
        return template_piece(where, &q, specials, s, out);
    }
    if (seq) {
        tk_path q = tk_path_key(p, "Sequence");
        const char *s;
        size_t n;
        WF_TRY(tk_jstr(where, &q, seq, "id", true, &s, &n));
        if (strcmp(s, "A") != 0)
            return tk_jerr(where, &q, "the single template can only hold sequence A, not \"%s\"", s);
        return *out = -1, WF_OK;
    }
    if (cJSON_IsString(c)) {
        char name[256];
        snprintf(name, sizeof name, "%s", c->valuestring);
        if (name[0] == '$') {
            if (!strcmp(name, "$B") || !strcmp(name, "$b") || strchr(name, ':'))
                return tk_jerr(where, p, "the single template can only hold sequence A");
            return *out = -1, WF_OK;
        }
        char *colon = strrchr(name, ':');
        if (colon) *colon = 0;
        return template_piece(where, p, specials, name, out);
    }
    return tk_jerr(where, p, "expected {\"SpecialToken\": ...} or {\"Sequence\": ...}");
}

static wf_status parse_template(const char *where, const tk_path *p, const cJSON *j,
                                tk_post *pp) {
    const cJSON *specials = tk_jget(j, "special_tokens");
    tk_path sp = tk_path_key(p, "special_tokens");
    if (specials && !cJSON_IsObject(specials)) return tk_jerr(where, &sp, "expected an object");
    size_t ng = specials ? (size_t)cJSON_GetArraySize(specials) : 0;
    pp->groups = calloc(ng ? ng : 1, sizeof *pp->groups);
    pp->group_len = calloc(ng ? ng : 1, sizeof *pp->group_len);
    if (!pp->groups || !pp->group_len) return wf_error(WF_ERR_OOM, "tokenizer: out of memory");
    size_t g = 0;
    for (const cJSON *c = specials ? specials->child : NULL; c && g < ng; c = c->next, g++) {
        tk_path gp = tk_path_key(&sp, c->string ? c->string : "");
        const cJSON *ids = cJSON_IsObject(c) ? tk_jget(c, "ids") : NULL;
        if (!ids || !cJSON_IsArray(ids)) return tk_jerr(where, &gp, "expected {\"ids\": [...]}");
        size_t n = (size_t)cJSON_GetArraySize(ids), k = 0;
        pp->groups[g] = calloc(n ? n : 1, sizeof **pp->groups);
        pp->n_groups = g + 1;
        if (!pp->groups[g]) return wf_error(WF_ERR_OOM, "tokenizer: out of memory");
        for (const cJSON *e = ids->child; e && k < n; e = e->next, k++) {
            if (!cJSON_IsNumber(e) || e->valuedouble < 0 || e->valuedouble > INT32_MAX ||
                e->valuedouble != (double)(int32_t)e->valuedouble) {
                tk_path ip = tk_path_index(&gp, k);
                return tk_jerr(where, &ip, "expected a token id");
            }
            pp->groups[g][k] = (int32_t)e->valuedouble;
        }
        pp->group_len[g] = k;
    }
    tk_path tp = tk_path_key(p, "single");
    const cJSON *single = tk_jget(j, "single");
    if (!single || !cJSON_IsArray(single)) return tk_jerr(where, &tp, "expected an array");
    size_t n = (size_t)cJSON_GetArraySize(single), i = 0;
    pp->single = calloc(n ? n : 1, sizeof *pp->single);
    if (!pp->single) return wf_error(WF_ERR_OOM, "tokenizer: out of memory");
    for (const cJSON *c = single->child; c && i < n; c = c->next, i++) {
        tk_path ip = tk_path_index(&tp, i);
        WF_TRY(parse_piece(where, &ip, c, specials, &pp->single[i]));
        pp->n_single = i + 1;
    }
    return WF_OK; /* "pair" is not used: only single sequences are encoded */
}

static wf_status post_fields(const char *where, const tk_path *p, const cJSON *j, const char *type,
                             int depth, tk_post *pp) {
    if (strcmp(type, "TemplateProcessing") == 0) {
        pp->type = TK_POST_TEMPLATE;
        return parse_template(where, p, j, pp);
    }
    if (strcmp(type, "BertProcessing") == 0 || strcmp(type, "RobertaProcessing") == 0) {
        pp->type = type[0] == 'B' ? TK_POST_BERT : TK_POST_ROBERTA;
        WF_TRY(parse_pair(where, p, j, "cls", &pp->cls));
        return parse_pair(where, p, j, "sep", &pp->sep);
    }
    if (strcmp(type, "ByteLevel") == 0) return pp->type = TK_POST_BYTE_LEVEL, WF_OK;
    if (strcmp(type, "Sequence") == 0) {
        pp->type = TK_POST_SEQUENCE;
        tk_path ap = tk_path_key(p, "processors");
        const cJSON *arr = tk_jget(j, "processors");
        if (!arr || !cJSON_IsArray(arr)) return tk_jerr(where, &ap, "expected an array");
        size_t n = (size_t)cJSON_GetArraySize(arr), i = 0;
        pp->items = calloc(n ? n : 1, sizeof *pp->items);
        if (!pp->items) return wf_error(WF_ERR_OOM, "tokenizer: out of memory");
        for (const cJSON *c = arr->child; c && i < n; c = c->next, i++) {
            tk_path ip = tk_path_index(&ap, i);
            WF_TRY(tk_parse_post(where, &ip, c, depth + 1, &pp->items[i]));
            if (!pp->items[i]) return tk_jerr(where, &ip, "expected a post-processor, not null");
            pp->n_items = i + 1;
        }
        return WF_OK;
    }
    return wf_error(WF_ERR_UNSUPPORTED, "%s: %s: post-processor type \"%s\" is not supported",
                    where, p->s, type);
}

wf_status tk_parse_post(const char *where, const tk_path *p, const cJSON *j, int depth,
                        tk_post **out) {
    *out = NULL;
    if (!j || cJSON_IsNull(j)) return WF_OK;
    if (depth > TK_MAX_DEPTH) return tk_jerr(where, p, "nested more than %d levels", TK_MAX_DEPTH);
    const char *type;
    WF_TRY(tk_jtype(where, p, j, &type));
    tk_post *pp = calloc(1, sizeof *pp);
    if (!pp) return wf_error(WF_ERR_OOM, "tokenizer: out of memory");
    wf_status st = post_fields(where, p, j, type, depth, pp);
    if (st != WF_OK) {
        tk_post_free(pp);
        return st;
    }
    *out = pp;
    return WF_OK;
}
