/* Pre-tokenizers: ByteLevel, Split, Digits, Punctuation, Whitespace, WhitespaceSplit, Metaspace,
 * BertPreTokenizer, CharDelimiterSplit (Sequences are flattened when loaded). Each turns the
 * text pieces of a tk_pieces into smaller pieces, as the files of tokenizers/src/pre_tokenizers do;
 * added-token pieces pass through untouched. Empty pieces are dropped (PreTokenizedString::split).
 * Also the byte-level alphabet (tokenizers' bytes_char, from GPT-2's encoder.py). */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "tok_internal.h"

/* bytes 0x21-0x7E, 0xA1-0xAC, 0xAE-0xFF map to themselves; the other 68 bytes, ascending, to
 * U+0100 + n (FORMATS.md "Byte-level BPE"); generated from that rule */
const uint16_t tk_byte_to_cp[256] = {
    0x100, 0x101, 0x102, 0x103, 0x104, 0x105, 0x106, 0x107, 0x108, 0x109, 0x10A, 0x10B,
    0x10C, 0x10D, 0x10E, 0x10F, 0x110, 0x111, 0x112, 0x113, 0x114, 0x115, 0x116, 0x117,
    0x118, 0x119, 0x11A, 0x11B, 0x11C, 0x11D, 0x11E, 0x11F, 0x120, 0x021, 0x022, 0x023,
    0x024, 0x025, 0x026, 0x027, 0x028, 0x029, 0x02A, 0x02B, 0x02C, 0x02D, 0x02E, 0x02F,
    0x030, 0x031, 0x032, 0x033, 0x034, 0x035, 0x036, 0x037, 0x038, 0x039, 0x03A, 0x03B,
    0x03C, 0x03D, 0x03E, 0x03F, 0x040, 0x041, 0x042, 0x043, 0x044, 0x045, 0x046, 0x047,
    0x048, 0x049, 0x04A, 0x04B, 0x04C, 0x04D, 0x04E, 0x04F, 0x050, 0x051, 0x052, 0x053,
    0x054, 0x055, 0x056, 0x057, 0x058, 0x059, 0x05A, 0x05B, 0x05C, 0x05D, 0x05E, 0x05F,
    0x060, 0x061, 0x062, 0x063, 0x064, 0x065, 0x066, 0x067, 0x068, 0x069, 0x06A, 0x06B,
    0x06C, 0x06D, 0x06E, 0x06F, 0x070, 0x071, 0x072, 0x073, 0x074, 0x075, 0x076, 0x077,
    0x078, 0x079, 0x07A, 0x07B, 0x07C, 0x07D, 0x07E, 0x121, 0x122, 0x123, 0x124, 0x125,
    0x126, 0x127, 0x128, 0x129, 0x12A, 0x12B, 0x12C, 0x12D, 0x12E, 0x12F, 0x130, 0x131,
    0x132, 0x133, 0x134, 0x135, 0x136, 0x137, 0x138, 0x139, 0x13A, 0x13B, 0x13C, 0x13D,
    0x13E, 0x13F, 0x140, 0x141, 0x142, 0x0A1, 0x0A2, 0x0A3, 0x0A4, 0x0A5, 0x0A6, 0x0A7,
    0x0A8, 0x0A9, 0x0AA, 0x0AB, 0x0AC, 0x143, 0x0AE, 0x0AF, 0x0B0, 0x0B1, 0x0B2, 0x0B3,
    0x0B4, 0x0B5, 0x0B6, 0x0B7, 0x0B8, 0x0B9, 0x0BA, 0x0BB, 0x0BC, 0x0BD, 0x0BE, 0x0BF,
    0x0C0, 0x0C1, 0x0C2, 0x0C3, 0x0C4, 0x0C5, 0x0C6, 0x0C7, 0x0C8, 0x0C9, 0x0CA, 0x0CB,
    0x0CC, 0x0CD, 0x0CE, 0x0CF, 0x0D0, 0x0D1, 0x0D2, 0x0D3, 0x0D4, 0x0D5, 0x0D6, 0x0D7,
    0x0D8, 0x0D9, 0x0DA, 0x0DB, 0x0DC, 0x0DD, 0x0DE, 0x0DF, 0x0E0, 0x0E1, 0x0E2, 0x0E3,
    0x0E4, 0x0E5, 0x0E6, 0x0E7, 0x0E8, 0x0E9, 0x0EA, 0x0EB, 0x0EC, 0x0ED, 0x0EE, 0x0EF,
    0x0F0, 0x0F1, 0x0F2, 0x0F3, 0x0F4, 0x0F5, 0x0F6, 0x0F7, 0x0F8, 0x0F9, 0x0FA, 0x0FB,
    0x0FC, 0x0FD, 0x0FE, 0x0FF,
};

/* the inverse for U+0100.. U+0143: the bytes that do not map to themselves, ascending */
static const uint8_t g_shifted[68] = {
    0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0A, 0x0B,
    0x0C, 0x0D, 0x0E, 0x0F, 0x10, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17,
    0x18, 0x19, 0x1A, 0x1B, 0x1C, 0x1D, 0x1E, 0x1F, 0x20, 0x7F, 0x80, 0x81,
    0x82, 0x83, 0x84, 0x85, 0x86, 0x87, 0x88, 0x89, 0x8A, 0x8B, 0x8C, 0x8D,
    0x8E, 0x8F, 0x90, 0x91, 0x92, 0x93, 0x94, 0x95, 0x96, 0x97, 0x98, 0x99,
    0x9A, 0x9B, 0x9C, 0x9D, 0x9E, 0x9F, 0xA0, 0xAD,
};

int tk_cp_to_byte(uint32_t cp) {
    if (cp < 0x100) return tk_byte_to_cp[cp] == cp ? (int)cp : -1;
    return cp < 0x144 ? g_shifted[cp - 0x100] : -1;
}

/* ---- the GPT-2 regex, compiled once ---- */

static tk_pattern g_gpt2;
static wf_status g_gpt2_status;
static pthread_once_t g_gpt2_once = PTHREAD_ONCE_INIT;
static const char GPT2_RE[] =
    "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";

static void gpt2_init(void) {
    g_gpt2_status = tk_pattern_regex(&g_gpt2, GPT2_RE, strlen(GPT2_RE), "tokenizer", "GPT-2 regex");
}

const tk_pattern *tk_gpt2_pattern(void) {
    pthread_once(&g_gpt2_once, gpt2_init);
    return g_gpt2_status == WF_OK ? &g_gpt2 : NULL;
}

/* ---- splitting by a character predicate (Pattern for Fn(char) -> bool) ---- */

typedef enum pred { P_NUMERIC, P_PUNCT, P_SPACE, P_CHAR } pred;

static bool pred_test(pred p, uint32_t c, uint32_t ch) {
    switch (p) {
    case P_NUMERIC: return tk_is_numeric(c);
    case P_PUNCT: return tk_is_punct(c);
    case P_SPACE: return tk_is_whitespace(c);
    case P_CHAR: return c == ch;
    }
    return false;
}

static wf_status ranges_add(tk_ranges *r, size_t a, size_t b, bool m) {
    if (r->n == r->cap) WF_TRY(tk_grow((void **)&r->v, &r->cap, r->n + 1, sizeof *r->v));
    r->v[r->n++] = (tk_range){a, b, m};
    return WF_OK;
}

/* Each matching character is a match of its own; the stretches between are non-matches. */
static wf_status find_pred(pred p, uint32_t ch, const char *s, size_t n, tk_ranges *r) {
    r->n = 0;
    if (n == 0) return ranges_add(r, 0, 0, false);
    size_t last = 0;
    for (size_t i = 0; i < n;) {
        size_t k;
        uint32_t c = tk_utf8_next(s + i, &k);
        if (pred_test(p, c, ch)) {
            if (last < i) WF_TRY(ranges_add(r, last, i, false));
            WF_TRY(ranges_add(r, i, i + k, true));
            last = i + k;
        }
        i += k;
    }
    if (last < n) WF_TRY(ranges_add(r, last, n, false));
    return WF_OK;
}

/* ---- emitting pieces ---- */

/* Pushes s[a..b) as a text piece, byte-level mapped when `bytes`; empty pieces are dropped.
 * zero / lead describe s (tk_piece): the piece is zero when it starts inside the lead. */
static wf_status emit(tk_pieces *out, const char *s, size_t a, size_t b, bool bytes, bool zero,
                      size_t lead) {
    if (a >= b) return WF_OK;
    bool z = zero && a < lead;
    size_t l = a < lead ? lead - a : 0;
    if (!bytes) return tk_pieces_push(out, s + a, b - a, -1, z, l);
    WF_TRY(tk_grow((void **)&out->v, &out->cap, out->n + 1, sizeof *out->v));
    WF_TRY(tk_buf_reserve(&out->buf, 2 * (b - a)));
    size_t off = out->buf.len, ml = 0;
    char *d = out->buf.p + off;
    size_t m = 0;
    for (size_t i = a; i < b; i++) {
        uint32_t c = tk_byte_to_cp[(unsigned char)s[i]];
        if (c < 0x80) d[m++] = (char)c;
        else d[m++] = (char)(0xC0 | (c >> 6)), d[m++] = (char)(0x80 | (c & 0x3F));
        if (i < lead) ml = m; /* the mapped bytes of a character share its alignment */
    }
    out->buf.len += m;
    out->buf.p[out->buf.len] = 0;
    out->v[out->n++] = (tk_piece){off, m, -1, z, ml};
    return WF_OK;
}

/* Emits the ranges kept by a behavior (the match flag marks the removed ones). */
static wf_status emit_ranges(tk_pieces *out, const tk_ranges *r, const char *s, bool bytes,
                             bool zero, size_t lead) {
    for (size_t i = 0; i < r->n; i++)
        if (!r->v[i].match)
            WF_TRY(emit(out, s, r->v[i].start, r->v[i].end, bytes, zero, lead));
    return WF_OK;
}

/* ---- the leaves ---- */

static wf_status byte_level(const tk_pretok *pt, tk_rx *rx, tk_ranges *r, const char *s,
                            size_t n, bool zero, size_t lead, tk_buf *tmp, tk_pieces *out) {
    if (pt->add_prefix_space && n > 0 && s[0] != ' ') {
        tmp->len = 0; /* the space takes the first character's alignment */
        WF_TRY(tk_buf_put(tmp, " ", 1));
        WF_TRY(tk_buf_put(tmp, s, n));
        s = tmp->p, n = tmp->len;
        lead = lead ? lead + 1 : 0;
    }
    if (!pt->use_regex) return emit(out, s, 0, n, true, zero, lead);
    const tk_pattern *re = tk_gpt2_pattern();
    if (!re) return wf_error(WF_ERR_INVALID, "tokenizer: the GPT-2 regex does not compile");
    WF_TRY(tk_pattern_find(re, rx, s, n, r));
    tk_apply_behavior(r, TK_ISOLATED);
    return emit_ranges(out, r, s, true, zero, lead);
}

/* Whitespace: the matches of \w+|[^\w\s]+ (Rust regex classes), the rest removed. */
static wf_status whitespace(const char *s, size_t n, bool zero, size_t lead, tk_pieces *out) {
    size_t start = 0;
    int cls = 0; /* of the current run: 0 none, 1 word, 2 other */
    for (size_t i = 0; i <= n;) {
        size_t k = 0;
        int c = 0;
        if (i < n) {
            uint32_t cp = tk_utf8_next(s + i, &k);
            c = tk_is_word(cp) ? 1 : tk_is_whitespace(cp) ? 0 : 2;
        }
        if (c != cls) {
            if (cls) WF_TRY(emit(out, s, start, i, false, zero, lead));
            start = i, cls = c;
        }
        if (i == n) break;
        i += k;
    }
    return WF_OK;
}

/* BertPreTokenizer: split on whitespace (removed), then isolate each punctuation character. */
static wf_status bert(const char *s, size_t n, bool zero, size_t lead, tk_pieces *out) {
    size_t start = 0;
    for (size_t i = 0; i < n;) {
        size_t k;
        uint32_t c = tk_utf8_next(s + i, &k);
        if (tk_is_whitespace(c)) {
            WF_TRY(emit(out, s, start, i, false, zero, lead));
            start = i + k;
        } else if (tk_is_punct(c)) {
            WF_TRY(emit(out, s, start, i, false, zero, lead));
            WF_TRY(emit(out, s, i, i + k, false, zero, lead));
            start = i + k;
        }
        i += k;
    }
    return emit(out, s, start, n, false, zero, lead);
}

/* Metaspace: spaces become the replacement (which keeps the space's alignment), the replacement
 * is prepended (with the first character's alignment) as the scheme says - "first" only to the
 * piece that starts the input - and the text is split before each replacement. */
static wf_status metaspace(const tk_pretok *pt, tk_ranges *r, const char *s, size_t n, bool zero,
                           size_t lead, tk_buf *tmp, tk_pieces *out) {
    char rep[4];
    size_t rl = tk_utf8_encode(pt->replacement, rep);
    tmp->len = 0;
    bool starts = n >= rl && memcmp(s, rep, rl) == 0;
    if (n > 0 && s[0] == ' ') starts = true; /* the space becomes the replacement */
    bool pre = !starts && n > 0 &&
               (pt->prepend == TK_PREPEND_ALWAYS || (pt->prepend == TK_PREPEND_FIRST && zero));
    if (pre) WF_TRY(tk_buf_put(tmp, rep, rl));
    size_t new_lead = 0;
    for (size_t i = 0; i < n; i++) {
        WF_TRY(s[i] == ' ' ? tk_buf_put(tmp, rep, rl) : tk_buf_put(tmp, s + i, 1));
        if (i < lead) new_lead = tmp->len;
    }
    if (pre && lead == 0) new_lead = 0;
    if (!pt->split) return emit(out, tmp->p, 0, tmp->len, false, zero, new_lead);
    WF_TRY(find_pred(P_CHAR, pt->replacement, tmp->p, tmp->len, r));
    tk_apply_behavior(r, TK_MERGED_NEXT);
    return emit_ranges(out, r, tmp->p, false, zero, new_lead);
}

static wf_status run_leaf(const tk_pretok *pt, tk_rx *rx, tk_ranges *r, const char *s, size_t n,
                          bool zero, size_t lead, tk_buf *tmp, tk_pieces *out) {
    switch (pt->type) {
    case TK_PT_BYTE_LEVEL: return byte_level(pt, rx, r, s, n, zero, lead, tmp, out);
    case TK_PT_SPLIT:
        WF_TRY(tk_pattern_find(&pt->pat, rx, s, n, r));
        if (pt->invert)
            for (size_t i = 0; i < r->n; i++) r->v[i].match = !r->v[i].match;
        tk_apply_behavior(r, pt->behavior);
        return emit_ranges(out, r, s, false, zero, lead);
    case TK_PT_DIGITS:
        WF_TRY(find_pred(P_NUMERIC, 0, s, n, r));
        tk_apply_behavior(r, pt->individual_digits ? TK_ISOLATED : TK_CONTIGUOUS);
        return emit_ranges(out, r, s, false, zero, lead);
    case TK_PT_PUNCTUATION:
        WF_TRY(find_pred(P_PUNCT, 0, s, n, r));
        tk_apply_behavior(r, pt->behavior);
        return emit_ranges(out, r, s, false, zero, lead);
    case TK_PT_WHITESPACE_SPLIT:
    case TK_PT_CHAR_DELIMITER:
        WF_TRY(find_pred(pt->type == TK_PT_CHAR_DELIMITER ? P_CHAR : P_SPACE, pt->replacement, s,
                         n, r));
        return emit_ranges(out, r, s, false, zero, lead); /* Removed */
    case TK_PT_WHITESPACE: return whitespace(s, n, zero, lead, out);
    case TK_PT_METASPACE: return metaspace(pt, r, s, n, zero, lead, tmp, out);
    case TK_PT_BERT: return bert(s, n, zero, lead, out);
    case TK_PT_SEQUENCE: break;
    }
    WF_ASSERT(!"nested sequence left after flattening");
    return WF_OK;
}

/* Applies one leaf to every text piece of `in`. */
static wf_status run_pieces(const tk_pretok *pt, tk_rx *rx, tk_ranges *r, const tk_pieces *in,
                            tk_pieces *out, tk_buf *tmp) {
    tk_pieces_clear(out);
    for (size_t i = 0; i < in->n; i++) {
        const tk_piece *p = &in->v[i];
        const char *s = in->buf.p + p->off;
        if (p->id >= 0) WF_TRY(tk_pieces_push(out, s, p->len, p->id, false, 0));
        else WF_TRY(run_leaf(pt, rx, r, s, p->len, p->zero, p->lead, tmp, out));
    }
    return WF_OK;
}

wf_status tk_pretok_run(const tk_pretok *pt, tk_rx *rx, tk_ranges *ranges, tk_pieces *in,
                        tk_pieces *out, tk_pieces *tmp) {
    tk_buf *scratch = &tmp->buf;
    if (pt->type != TK_PT_SEQUENCE) return run_pieces(pt, rx, ranges, in, out, scratch);
    /* ping-pong through in and out; the result must end in out */
    tk_pieces *src = in, *dst = out;
    if (pt->n_items == 0) {
        tk_pieces_clear(out);
        for (size_t i = 0; i < in->n; i++)
            WF_TRY(tk_pieces_push(out, in->buf.p + in->v[i].off, in->v[i].len, in->v[i].id,
                                  in->v[i].zero, in->v[i].lead));
        return WF_OK;
    }
    for (size_t i = 0; i < pt->n_items; i++) {
        WF_TRY(run_pieces(pt->items[i], rx, ranges, src, dst, scratch));
        tk_pieces *t = src;
        src = dst;
        dst = t;
    }
    if (src != out) { /* an even count ended in `in`: swap the contents */
        tk_pieces t = *in;
        *in = *out;
        *out = t;
    }
    return WF_OK;
}

void tk_pretok_free(tk_pretok *pt) {
    if (!pt) return;
    for (size_t i = 0; i < pt->n_items; i++) tk_pretok_free(pt->items[i]);
    free(pt->items);
    tk_pattern_free(&pt->pat);
    free(pt);
}
