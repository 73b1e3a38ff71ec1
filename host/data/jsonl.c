/* JSONL records -> dt_record (data_internal.h): one JSON object per line in one of the layouts
 * of data.h's wf_data_format, detected from the first good record when the format is auto.
 * Every bad line (broken JSON, invalid UTF-8, a missing or mistyped key, a label out of range)
 * is reported as "FILE:LINE: what" or, with the skip policy, counted. Tokenization is
 * dataset.c's. TRL's conventions: an eos is appended to text and completions unless already
 * there; loss on completions and assistant turns only. */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "data_internal.h"

static const char *type_name(const cJSON *v) {
    if (cJSON_IsString(v)) return "a string";
    if (cJSON_IsNumber(v)) return "a number";
    if (cJSON_IsBool(v)) return "a boolean";
    if (cJSON_IsNull(v)) return "null";
    if (cJSON_IsArray(v)) return "an array";
    return "an object";
}

/* A line's problem, as the message after "FILE:LINE: ". */
typedef struct line_err {
    char msg[256];
} line_err;

static bool err(line_err *e, const char *fmt, const char *a, const char *b) {
    snprintf(e->msg, sizeof e->msg, fmt, a, b);
    return false;
}

static bool get_str(const cJSON *o, const char *key, bool required, const char **out, line_err *e) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    *out = NULL;
    if (!v || (!required && cJSON_IsNull(v))) {
        if (!required) *out = "";
        return required ? err(e, "missing key \"%s\"%s", key, "") : true;
    }
    if (!cJSON_IsString(v))
        return err(e, "key \"%s\": expected a string, got %s", key, type_name(v));
    *out = v->valuestring;
    return true;
}

static bool ends_with(const char *s, size_t n, const char *suffix) {
    size_t k = strlen(suffix);
    return k <= n && memcmp(s + n - k, suffix, k) == 0;
}

/* prompt (no loss) + completion (+ eos) (loss). */
static bool prompt_completion(dt_parse *p, const char *prompt, const char *completion, dt_record *r,
                              line_err *e) {
    size_t np = strlen(prompt), nc = strlen(completion);
    bool add_eos = p->eos && !ends_with(completion, nc, p->eos);
    dt_buf b = {0};
    wf_status st = dt_buf_put(&b, prompt, np);
    if (st == WF_OK) st = dt_buf_put(&b, completion, nc);
    if (st == WF_OK && add_eos) st = dt_buf_puts(&b, p->eos);
    r->starts = malloc(2 * sizeof *r->starts);
    r->train = malloc(2 * sizeof *r->train);
    if (st != WF_OK || !r->starts || !r->train) {
        free(b.p);
        return err(e, "out of memory%s%s", "", "");
    }
    r->text = b.p, r->len = b.len, r->add_special = true;
    r->n_spans = 2;
    r->starts[0] = 0, r->train[0] = false;
    r->starts[1] = np, r->train[1] = true;
    return true;
}

/* A rendering becomes the record (ownership moves). */
static void take_rendering(wf_chat_text *t, dt_record *r, bool add_special) {
    r->text = t->text, r->len = t->len, r->add_special = add_special;
    r->n_spans = t->n_spans, r->starts = t->starts, r->train = t->train;
    *t = (wf_chat_text){0};
}

static bool render(const wf_chat_template *tpl, const wf_chat_msg *m, int64_t n, bool add_special,
                   dt_record *r, line_err *e) {
    wf_chat_text t;
    if (wf_chat_render(tpl, m, n, false, &t) != WF_OK) return err(e, "%s%s", wf_last_error(), "");
    take_rendering(&t, r, add_special);
    return true;
}

static bool messages(dt_parse *p, const cJSON *o, dt_record *r, line_err *e) {
    const cJSON *arr = cJSON_GetObjectItemCaseSensitive(o, "messages");
    if (!arr) return err(e, "missing key \"messages\"%s%s", "", "");
    if (!cJSON_IsArray(arr))
        return err(e, "key \"messages\": expected an array, got %s%s", type_name(arr), "");
    int64_t n = cJSON_GetArraySize(arr), i = 0;
    if (n == 0) return err(e, "key \"messages\": the conversation is empty%s%s", "", "");
    wf_chat_msg *m = calloc((size_t)n, sizeof *m);
    if (!m) return err(e, "out of memory%s%s", "", "");
    bool ok = true, assistant = false;
    char where[64];
    const cJSON *it;
    cJSON_ArrayForEach(it, arr) {
        snprintf(where, sizeof where, "messages[%lld]", (long long)i);
        const cJSON *role = cJSON_GetObjectItemCaseSensitive(it, "role");
        const cJSON *content = cJSON_GetObjectItemCaseSensitive(it, "content");
        if (!cJSON_IsObject(it))
            ok = err(e, "%s: expected an object, got %s", where, type_name(it));
        else if (!cJSON_IsString(role))
            ok = err(e, "%s: key \"role\": missing or not a string%s", where, "");
        else if (!cJSON_IsString(content))
            ok = err(e, "%s: key \"content\": missing or not a string%s", where, "");
        if (!ok) break;
        m[i++] =
            (wf_chat_msg){role->valuestring, content->valuestring, strlen(content->valuestring)};
        assistant |= !strcmp(role->valuestring, "assistant");
    }
    if (ok && !assistant)
        ok = err(e, "messages: no assistant turn (nothing to learn from)%s%s", "", "");
    if (ok) ok = render(p->chat, m, n, false, r, e);
    free(m);
    return ok;
}

static bool alpaca(dt_parse *p, const cJSON *o, dt_record *r, line_err *e) {
    const char *ins, *in, *out;
    if (!get_str(o, "instruction", true, &ins, e) || !get_str(o, "input", false, &in, e) ||
        !get_str(o, "output", true, &out, e))
        return false;
    wf_chat_msg m[3] = {
        {"user", ins, strlen(ins)}, {"user", in, strlen(in)}, {"assistant", out, strlen(out)}};
    if (!*in) m[1] = m[2];
    return render(p->alpaca, m, *in ? 3 : 2, true, r, e);
}

static bool label(dt_parse *p, const cJSON *o, dt_record *r, line_err *e) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, "label");
    char num[64];
    if (!v) return err(e, "missing key \"label\"%s%s", "", "");
    if (cJSON_IsString(v)) {
        if (!p->label2id)
            return err(e, "key \"label\": \"%.120s\" is a name, but the model has no label2id%s",
                       v->valuestring, "");
        const cJSON *id = cJSON_GetObjectItemCaseSensitive(p->label2id, v->valuestring);
        if (!cJSON_IsNumber(id))
            return err(e, "key \"label\": \"%.120s\" is not in the model's label2id%s",
                       v->valuestring, "");
        v = id;
    } else if (!cJSON_IsNumber(v)) {
        return err(e, "key \"label\": expected an integer or a label name, got %s%s", type_name(v),
                   "");
    }
    double x = v->valuedouble;
    snprintf(num, sizeof num, "%.17g", x);
    if (x != floor(x) || x < 0 || x > INT32_MAX)
        return err(e, "key \"label\": expected an integer >= 0, got %s%s", num, "");
    if (p->n_labels > 0 && x >= (double)p->n_labels) {
        char range[64];
        snprintf(range, sizeof range, "[0, %lld)", (long long)p->n_labels);
        return err(e, "key \"label\": %s is outside %s", num, range);
    }
    r->label = (int32_t)x;
    return true;
}

static bool sequence(dt_parse *p, const cJSON *o, dt_record *r, line_err *e) {
    const char *text;
    if (!get_str(o, "text", true, &text, e)) return false;
    if (p->format == WF_DATA_CLASSIFICATION) {
        if (!label(p, o, r, e)) return false;
    } else {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, "value");
        if (!v) return err(e, "missing key \"value\"%s%s", "", "");
        if (!cJSON_IsNumber(v))
            return err(e, "key \"value\": expected a number, got %s%s", type_name(v), "");
        r->value = (float)v->valuedouble;
        if (!isfinite(r->value))
            return err(e, "key \"value\": %s does not fit a float%s", "the number", "");
    }
    r->len = strlen(text);
    r->text = strdup(text);
    r->add_special = true;
    return r->text ? true : err(e, "out of memory%s%s", "", "");
}

/* The format for the task from the first good record's keys; AUTO when nothing fits. */
static wf_data_format detect(const cJSON *o, wf_head_kind task) {
#define HAS(k) (cJSON_GetObjectItemCaseSensitive(o, k) != NULL)
    if (task == WF_HEAD_SEQ_CLS) return WF_DATA_CLASSIFICATION;
    if (task == WF_HEAD_REGRESSION) return WF_DATA_REGRESSION;
    if (HAS("messages")) return WF_DATA_MESSAGES;
    if (HAS("prompt") && HAS("completion")) return WF_DATA_PROMPT_COMPLETION;
    if (HAS("instruction") && HAS("output")) return WF_DATA_ALPACA;
    if (HAS("text")) return WF_DATA_TEXT;
    return WF_DATA_AUTO;
#undef HAS
}

static bool unknown_layout(const cJSON *o, line_err *e) {
    char keys[160] = "";
    const cJSON *k;
    int n = 0;
    cJSON_ArrayForEach(k, o) {
        size_t used = strlen(keys);
        if (n++ == 4) {
            snprintf(keys + used, sizeof keys - used, ", ...");
            break;
        }
        snprintf(keys + used, sizeof keys - used, "%s\"%.24s\"", n > 1 ? ", " : "", k->string);
    }
    return err(e,
               "cannot tell the record layout from its keys {%s}: expected text, "
               "prompt+completion, messages, or instruction+output%s",
               keys, "");
}

static bool record(dt_parse *p, const cJSON *o, dt_record *r, line_err *e) {
    const char *a, *b;
    if (p->format == WF_DATA_AUTO) {
        p->format = detect(o, p->task);
        if (p->format == WF_DATA_AUTO) return unknown_layout(o, e);
    }
    switch (p->format) {
    case WF_DATA_TEXT:
        if (!get_str(o, "text", true, &a, e)) return false;
        if (!prompt_completion(p, "", a, r, e)) return false;
        r->n_spans = 1, r->starts[0] = 0, r->train[0] = true;
        return true;
    case WF_DATA_PROMPT_COMPLETION:
        if (!get_str(o, "prompt", true, &a, e) || !get_str(o, "completion", true, &b, e))
            return false;
        return prompt_completion(p, a, b, r, e);
    case WF_DATA_MESSAGES: return messages(p, o, r, e);
    case WF_DATA_ALPACA: return alpaca(p, o, r, e);
    default: return sequence(p, o, r, e);
    }
}

/* One non-blank line: OK with a record appended, OK skipped, or the error. */
static wf_status line(dt_parse *p, dt_buf *scratch, const char *s, size_t len, int64_t ln) {
    size_t bad = dt_utf8_check(s, len);
    if (bad < len)
        return dt_bad_line(&p->stats, p->skip, p->path, ln, "invalid UTF-8 at column %zu", bad + 1);
    scratch->len = 0;
    WF_TRY(dt_buf_put(scratch, s, len));
    const char *end = NULL;
    cJSON *o = cJSON_ParseWithOpts(scratch->p, &end, true);
    if (!o) {
        size_t col = end ? (size_t)(end - scratch->p) + 1 : 1;
        return dt_bad_line(&p->stats, p->skip, p->path, ln, "invalid JSON at column %zu", col);
    }
    line_err e = {{0}};
    dt_record r = {.line = ln};
    bool ok = cJSON_IsObject(o) ? record(p, o, &r, &e)
                                : err(&e, "expected a JSON object, got %s%s", type_name(o), "");
    cJSON_Delete(o);
    if (!ok) {
        dt_records_free(&r, 1);
        return dt_bad_line(&p->stats, p->skip, p->path, ln, "%s", e.msg);
    }
    wf_status st = dt_grow((void **)&p->recs, &p->cap, p->n + 1, sizeof *p->recs);
    if (st != WF_OK) {
        dt_records_free(&r, 1);
        return st;
    }
    p->recs[p->n++] = r;
    p->stats.records++;
    return WF_OK;
}

wf_status dt_jsonl_parse(dt_parse *p, const char *data, size_t size) {
    size_t i = size >= 3 && !memcmp(data, "\xEF\xBB\xBF", 3) ? 3 : 0;
    dt_buf scratch = {0};
    wf_status st = WF_OK;
    for (int64_t ln = 1; st == WF_OK && i < size; ln++) {
        const char *s = data + i, *nl = memchr(s, '\n', size - i);
        size_t len = nl ? (size_t)(nl - s) : size - i;
        i += len + (nl != NULL);
        if (len && s[len - 1] == '\r') len--;
        size_t k = 0;
        while (k < len && (s[k] == ' ' || s[k] == '\t' || s[k] == '\r')) k++;
        if (k == len) continue; /* blank line */
        st = line(p, &scratch, s, len, ln);
    }
    free(scratch.p);
    if (st == WF_OK && p->n == 0) {
        if (p->stats.skipped)
            return wf_error(WF_ERR_FORMAT,
                            "%s: no usable records (%lld bad lines skipped; first: %s)", p->path,
                            (long long)p->stats.skipped, p->stats.reasons[0]);
        return wf_error(WF_ERR_FORMAT, "%s: no records (the file is empty)", p->path);
    }
    return st;
}

void dt_records_free(dt_record *r, int64_t n) {
    for (int64_t i = 0; r && i < n; i++) {
        free(r[i].text);
        free(r[i].starts);
        free(r[i].train);
    }
}
