/* The WordPiece model (tokenizers/src/models/wordpiece/mod.rs): greedy longest-match-first from
 * the left, pieces after the first carrying continuing_subword_prefix ("##"); a word longer than
 * max_input_chars_per_word characters, or with a part no vocabulary entry matches, becomes the
 * single unk token. Candidates longer than the longest vocabulary entry are skipped unprobed. */
#include <string.h>

#include "tok_internal.h"

static wf_status wp_unk(const tk_model *m, wf_ids *out) {
    int64_t u = m->unk ? tk_vocab_find(&m->vocab, m->unk, m->unk_len) : -1;
    if (u < 0)
        return wf_error(WF_ERR_INVALID, "tokenizer: WordPiece unk_token \"%s\" is not in the "
                        "vocabulary", m->unk ? m->unk : "");
    return wf_ids_push(out, (int32_t)u);
}

wf_status tk_wordpiece_tokenize(const tk_model *m, tk_state *st, const char *w, size_t n,
                                wf_ids *out) {
    size_t chars = 0;
    for (size_t i = 0; i < n; i += tk_utf8_len((unsigned char)w[i])) chars++;
    if (chars > m->max_chars) return wp_unk(m, out);
    size_t mark = out->len;
    tk_buf *key = &st->tmp2;
    for (size_t start = 0; start < n;) {
        size_t end = n;
        int64_t found = -1;
        while (start < end) {
            size_t sub = end - start + (start > 0 ? m->prefix_len : 0);
            if (sub <= m->max_token_len) {
                const char *k = w + start;
                if (start > 0) {
                    key->len = 0;
                    WF_TRY(tk_buf_put(key, m->prefix, m->prefix_len));
                    WF_TRY(tk_buf_put(key, w + start, end - start));
                    k = key->p;
                }
                found = tk_vocab_find(&m->vocab, k, sub);
                if (found >= 0) break;
            }
            end = tk_utf8_prev(w, end); /* drop the last character */
        }
        if (found < 0) {
            out->len = mark;
            return wp_unk(m, out);
        }
        WF_TRY(wf_ids_push(out, (int32_t)found));
        start = end;
    }
    return WF_OK;
}
