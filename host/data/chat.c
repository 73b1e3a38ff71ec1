/* Chat templates (data.h): ChatML, Llama-3 and Alpaca renderings of a conversation, with the
 * spans the loss sees (assistant content and its end token), and recognizing a model's own
 * Jinja template as one of them. Not a Jinja interpreter: the three layouts are written out.
 * References: ChatML as in SmolLM2 / Qwen2 tokenizer_config.json; Meta's Llama-3 template;
 * Stanford Alpaca's PROMPT_DICT (train.py). */
#include <stdlib.h>
#include <string.h>

#include "data_internal.h"
#include "weft/tokenizer_model.h"

const char *wf_data_format_name(wf_data_format f) {
    static const char *names[] = {"auto",   "text",           "prompt_completion", "messages",
                                  "alpaca", "classification", "regression",        "idx"};
    return (unsigned)f < sizeof names / sizeof *names ? names[f] : "?";
}

const char *wf_chat_kind_name(wf_chat_kind k) {
    static const char *names[] = {"auto", "chatml", "llama3", "alpaca"};
    return (unsigned)k < sizeof names / sizeof *names ? names[k] : "?";
}

void wf_chat_template_free(wf_chat_template *t) {
    if (!t) return;
    free(t->default_system);
    free(t->eos);
    *t = (wf_chat_template){0};
}

void wf_chat_text_free(wf_chat_text *t) {
    if (!t) return;
    free(t->text);
    free(t->starts);
    free(t->train);
    *t = (wf_chat_text){0};
}

/* The text of a Jinja string literal between p and e: \n, \t, \', \", \\ unescaped. */
static char *unescape(const char *p, const char *e) {
    char *s = malloc((size_t)(e - p) + 1), *o = s;
    if (!s) return NULL;
    for (; p < e; p++) {
        if (*p == '\\' && p + 1 < e) {
            p++;
            *o++ = *p == 'n' ? '\n' : *p == 't' ? '\t' : *p;
        } else {
            *o++ = *p;
        }
    }
    *o = 0;
    return s;
}

/* A default system prompt written as a literal '<|im_start|>system\n...<|im_end|>' (SmolLM2's
 * "You are a helpful AI assistant named SmolLM...", Qwen2.5's "You are Qwen..."). A match whose
 * text holds a quote or a brace is an expression (messages[0]['content']), not a default. */
static wf_status find_default_system(const char *jinja, char **out) {
    static const char head[] = "<|im_start|>system";
    *out = NULL;
    for (const char *p = strstr(jinja, head); p; p = strstr(p + 1, head)) {
        const char *q = p + sizeof head - 1;
        if (*q == '\n')
            q++;
        else if (q[0] == '\\' && q[1] == 'n')
            q += 2;
        else
            continue;
        const char *e = strstr(q, "<|im_end|>"), *c = q;
        for (; e && c < e && !strchr("'\"{}", *c); c++) c += *c == '\\' && c + 1 < e;
        if (!e || e == q || c < e) continue;
        *out = unescape(q, e);
        return *out ? WF_OK : wf_error(WF_ERR_OOM, "chat template: out of memory");
    }
    return WF_OK;
}

wf_status wf_chat_template_from_jinja(wf_chat_kind kind, const char *jinja, const wf_tokenizer *tok,
                                      wf_chat_template *out) {
    *out = (wf_chat_template){.kind = kind};
    if (kind == WF_CHAT_AUTO) {
        out->kind = WF_CHAT_CHATML;
        if (jinja && !strstr(jinja, "<|im_start|>") && strstr(jinja, "<|start_header_id|>"))
            out->kind = WF_CHAT_LLAMA3;
    }
    if (out->kind == WF_CHAT_CHATML && jinja && strstr(jinja, "<|im_start|>"))
        WF_TRY(find_default_system(jinja, &out->default_system));
    wf_special_ids sp = tok ? wf_tokenizer_special_ids(tok) : (wf_special_ids){.eos = -1};
    size_t n;
    const char *eos = sp.eos >= 0 ? wf_tokenizer_id_to_token(tok, sp.eos, &n) : NULL;
    if (eos && !(out->eos = strndup(eos, n))) {
        wf_chat_template_free(out);
        return wf_error(WF_ERR_OOM, "chat template: out of memory");
    }
    return WF_OK;
}

wf_status wf_chat_template_resolve(wf_chat_kind kind, const char *model_path,
                                   const wf_tokenizer *tok, wf_chat_template *out) {
    char *jinja = NULL;
    if (model_path && kind != WF_CHAT_ALPACA && kind != WF_CHAT_LLAMA3)
        WF_TRY(wf_model_chat_template(model_path, &jinja));
    wf_status st = wf_chat_template_from_jinja(kind, jinja, tok, out);
    free(jinja);
    return st;
}

/* ---- rendering ---- */

typedef struct render {
    dt_buf b;
    wf_chat_text *t;
    int64_t cap;
    wf_status st;
} render;

/* Appends s (n bytes) with the loss flag `train`; a new span starts when the flag changes. */
static void put(render *r, const char *s, size_t n, bool train) {
    if (r->st != WF_OK) return;
    wf_chat_text *t = r->t;
    if (t->n_spans == 0 || t->train[t->n_spans - 1] != train) {
        int64_t c = r->cap;
        r->st = dt_grow((void **)&t->starts, &c, t->n_spans + 1, sizeof *t->starts);
        if (r->st == WF_OK) r->st = dt_grow((void **)&t->train, &r->cap, t->n_spans + 1, 1);
        if (r->st != WF_OK) return;
        t->starts[t->n_spans] = r->b.len;
        t->train[t->n_spans++] = train;
    }
    r->st = dt_buf_put(&r->b, s, n);
}

static void puts_(render *r, const char *s, bool train) { put(r, s, strlen(s), train); }

static bool is_ws(char c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

static void render_chatml(render *r, const wf_chat_template *t, const wf_chat_msg *m, int64_t n) {
    if (t->default_system && (n == 0 || strcmp(m[0].role, "system") != 0)) {
        puts_(r, "<|im_start|>system\n", false);
        puts_(r, t->default_system, false);
        puts_(r, "<|im_end|>\n", false);
    }
    for (int64_t i = 0; i < n; i++) {
        bool a = !strcmp(m[i].role, "assistant");
        puts_(r, "<|im_start|>", false);
        puts_(r, m[i].role, false);
        puts_(r, "\n", false);
        put(r, m[i].content, m[i].content_len, a);
        puts_(r, "<|im_end|>", a);
        puts_(r, "\n", false);
    }
}

/* Meta's template: bos, then per message the header, content | trim, <|eot_id|>. */
static void render_llama3(render *r, const wf_chat_msg *m, int64_t n) {
    puts_(r, "<|begin_of_text|>", false);
    for (int64_t i = 0; i < n; i++) {
        bool a = !strcmp(m[i].role, "assistant");
        const char *c = m[i].content, *e = c + m[i].content_len;
        while (c < e && is_ws(*c)) c++;
        while (e > c && is_ws(e[-1])) e--;
        puts_(r, "<|start_header_id|>", false);
        puts_(r, m[i].role, false);
        puts_(r, "<|end_header_id|>\n\n", false);
        put(r, c, (size_t)(e - c), a);
        puts_(r, "<|eot_id|>", a);
    }
}

static const char ALPACA_PRE[] = "Below is an instruction that describes a task. Write a response "
                                 "that appropriately completes the request.\n\n";
static const char ALPACA_PRE_INPUT[] =
    "Below is an instruction that describes a task, paired with an input that provides further "
    "context. Write a response that appropriately completes the request.\n\n";

static wf_status render_alpaca(render *r, const wf_chat_template *t, const wf_chat_msg *m,
                               int64_t n) {
    bool input = false;
    for (int64_t i = 1; i < n; i++)
        input |= !strcmp(m[i].role, "user") && !strcmp(m[i - 1].role, "user");
    int64_t i = 0;
    if (n > 0 && !strcmp(m[0].role, "system")) {
        put(r, m[0].content, m[0].content_len, false);
        puts_(r, "\n\n", false);
        i = 1;
    } else {
        puts_(r, input ? ALPACA_PRE_INPUT : ALPACA_PRE, false);
    }
    for (; i < n; i++) {
        const char *role = m[i].role;
        if (!strcmp(role, "user")) {
            bool after_user = i > 0 && !strcmp(m[i - 1].role, "user");
            puts_(r, after_user ? "### Input:\n" : "### Instruction:\n", false);
            put(r, m[i].content, m[i].content_len, false);
            puts_(r, "\n\n", false);
        } else if (!strcmp(role, "assistant")) {
            puts_(r, "### Response:\n", false);
            put(r, m[i].content, m[i].content_len, true);
            if (t->eos) puts_(r, t->eos, true);
            if (i + 1 < n) puts_(r, "\n\n", false);
        } else {
            return wf_error(WF_ERR_INVALID,
                            "messages[%lld]: role \"%s\" has no place in the "
                            "Alpaca template (system first, then user / assistant)",
                            (long long)i, role);
        }
    }
    return WF_OK;
}

wf_status wf_chat_render(const wf_chat_template *t, const wf_chat_msg *msgs, int64_t n,
                         bool add_generation_prompt, wf_chat_text *out) {
    *out = (wf_chat_text){0};
    if (n < 1) return wf_error(WF_ERR_INVALID, "messages: the conversation is empty");
    render r = {.t = out};
    wf_status st = WF_OK;
    switch (t->kind) {
    case WF_CHAT_LLAMA3: render_llama3(&r, msgs, n); break;
    case WF_CHAT_ALPACA: st = render_alpaca(&r, t, msgs, n); break;
    default: render_chatml(&r, t, msgs, n); break;
    }
    if (add_generation_prompt)
        puts_(&r,
              t->kind == WF_CHAT_LLAMA3   ? "<|start_header_id|>assistant<|end_header_id|>\n\n"
              : t->kind == WF_CHAT_ALPACA ? "### Response:\n"
                                          : "<|im_start|>assistant\n",
              false);
    if (st == WF_OK) st = r.st;
    out->text = r.b.p;
    out->len = r.b.len;
    if (st == WF_OK && !out->text) st = dt_buf_put(&r.b, "", 0), out->text = r.b.p;
    if (st != WF_OK) wf_chat_text_free(out);
    return st;
}
