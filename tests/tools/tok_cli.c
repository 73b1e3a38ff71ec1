/* tok_cli: the tokenizer module from the command line, for the interop tests and the benchmark.
 *   tok_cli TOKENIZER.json encode [--hex] [--no-special] [--whole] FILE
 *       one line of ids per input line (or one for the whole file with --whole); with --hex each
 *       input line is the hex of the text, so texts may hold newlines
 *   tok_cli TOKENIZER.json decode [--skip-special] FILE   lines of ids -> hex of the text
 *   tok_cli TOKENIZER.json normalize|pretok FILE          lines of hex -> hex of the normalized
 *       text / pre-tokenizer pieces (hex, space separated)
 *   tok_cli TOKENIZER.json bench FILE [N] [--whole]       encodes FILE N times (per line, or as
 *       one text), prints MB/s
 *   tok_cli TOKENIZER.json info                           vocabulary size and special ids
 * TOKENIZER.json may instead be "vocab:FILE", FILE a JSON object holding what GGUF metadata
 * holds ({"model": "gpt2"|"llama", "tokens", "token_type", "scores", "merges", "pre", "bos",
 * "eos", "unk", "add_bos", "add_eos", "add_space_prefix"}): wf_tokenizer_from_vocab builds it.
 * An error (bad tokenizer.json, invalid UTF-8 in a line) prints the message and exits 1. */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "weft/mapped_file.h"
#include "weft/tokenizer.h"

static int fail(const char *what) {
    fprintf(stderr, "tok_cli: %s: %s\n", what, wf_last_error());
    return 1;
}

static int hexval(char c) {
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10
         : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

/* Decodes hex in place; returns the byte count or -1. */
static long unhex(char *s, size_t n) {
    if (n % 2) return -1;
    for (size_t i = 0; i < n; i += 2) {
        int a = hexval(s[i]), b = hexval(s[i + 1]);
        if (a < 0 || b < 0) return -1;
        s[i / 2] = (char)(a * 16 + b);
    }
    return (long)(n / 2);
}

static void put_hex(const char *s, size_t n) {
    for (size_t i = 0; i < n; i++) printf("%02x", (unsigned char)s[i]);
}

static void put_ids(const wf_ids *ids) {
    for (size_t i = 0; i < ids->len; i++) printf(i ? " %d" : "%d", ids->data[i]);
    putchar('\n');
}

typedef struct line_iter {
    char *p, *end;
} line_iter;

/* The next line without its '\n' (a final line without '\n' counts). */
static bool next_line(line_iter *it, char **s, size_t *n) {
    if (it->p >= it->end) return false;
    char *nl = memchr(it->p, '\n', (size_t)(it->end - it->p));
    *s = it->p;
    *n = (size_t)((nl ? nl : it->end) - it->p);
    it->p = nl ? nl + 1 : it->end;
    return true;
}

static char *read_file(const char *path, size_t *n) {
    wf_mapped_file f;
    if (wf_file_map(path, &f) != WF_OK) return NULL;
    char *buf = malloc(f.size + 1);
    if (buf) {
        if (f.size) memcpy(buf, f.data, f.size);
        buf[f.size] = 0;
        *n = f.size;
    }
    wf_file_unmap(&f);
    return buf;
}

static int encode(const wf_tokenizer *tok, char *buf, size_t n, bool hex, bool special, bool whole) {
    wf_ids ids = {0};
    line_iter it = {buf, buf + n};
    char *s;
    size_t len;
    int rc = 0;
    if (whole) {
        s = buf, len = n;
        if (hex) {
            long k = unhex(s, n && s[n - 1] == '\n' ? n - 1 : n);
            if (k < 0) return fprintf(stderr, "tok_cli: bad hex\n"), 1;
            len = (size_t)k;
        }
        if (wf_tokenizer_encode(tok, s, len, special, &ids) != WF_OK) return fail("encode");
        put_ids(&ids);
        wf_ids_free(&ids);
        return 0;
    }
    while (rc == 0 && next_line(&it, &s, &len)) {
        if (hex) {
            long k = unhex(s, len);
            if (k < 0) return fprintf(stderr, "tok_cli: bad hex line\n"), 1;
            len = (size_t)k;
        }
        ids.len = 0;
        if (wf_tokenizer_encode(tok, s, len, special, &ids) != WF_OK) rc = fail("encode");
        else put_ids(&ids);
    }
    wf_ids_free(&ids);
    return rc;
}

static int decode(const wf_tokenizer *tok, char *buf, size_t n, bool skip) {
    line_iter it = {buf, buf + n};
    char *s;
    size_t len;
    wf_ids ids = {0};
    while (next_line(&it, &s, &len)) {
        ids.len = 0;
        s[len] = 0; /* the '\n' (or the final NUL) */
        for (char *p = s, *e; *p; p = e) {
            long v = strtol(p, &e, 10);
            if (e == p) break;
            if (wf_ids_push(&ids, (int32_t)v) != WF_OK) return fail("decode");
        }
        char *text;
        size_t tl;
        if (wf_tokenizer_decode(tok, ids.data, ids.len, skip, &text, &tl) != WF_OK)
            return fail("decode");
        put_hex(text, tl);
        putchar('\n');
        free(text);
    }
    wf_ids_free(&ids);
    return 0;
}

static int diag(const wf_tokenizer *tok, char *buf, size_t n, bool pretok) {
    line_iter it = {buf, buf + n};
    char *s;
    size_t len;
    while (next_line(&it, &s, &len)) {
        long k = unhex(s, len);
        if (k < 0) return fprintf(stderr, "tok_cli: bad hex line\n"), 1;
        char *out;
        size_t ol;
        wf_status st = pretok ? wf_tokenizer_pre_tokenize(tok, s, (size_t)k, &out, &ol)
                              : wf_tokenizer_normalize(tok, s, (size_t)k, &out, &ol);
        if (st != WF_OK) return fail(pretok ? "pretok" : "normalize");
        if (!pretok) put_hex(out, ol);
        for (size_t i = 0; pretok && i < ol;) { /* "len:bytes" records -> hex pieces */
            const char *colon = memchr(out + i, ':', ol - i);
            size_t pl = strtoul(out + i, NULL, 10);
            i = (size_t)(colon - out) + 1;
            put_hex(out + i, pl);
            i += pl;
            if (i < ol) putchar(' ');
        }
        putchar('\n');
        free(out);
    }
    return 0;
}

static int json_int(const cJSON *o, const char *k, int def) {
    const cJSON *j = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsNumber(j) ? (int)j->valuedouble : cJSON_IsBool(j) ? cJSON_IsTrue(j) : def;
}

/* "vocab:FILE": a GGUF-like description handed to wf_tokenizer_from_vocab. */
static wf_status load_vocab(const char *path, wf_tokenizer **out) {
    size_t n;
    char *text = read_file(path, &n);
    cJSON *d = text ? cJSON_ParseWithLength(text, n) : NULL;
    free(text);
    if (!d) return wf_error(WF_ERR_FORMAT, "%s: not a JSON vocabulary description", path);
    const cJSON *tokens = cJSON_GetObjectItemCaseSensitive(d, "tokens");
    const cJSON *types = cJSON_GetObjectItemCaseSensitive(d, "token_type");
    const cJSON *scores = cJSON_GetObjectItemCaseSensitive(d, "scores");
    const cJSON *merges = cJSON_GetObjectItemCaseSensitive(d, "merges");
    const cJSON *model = cJSON_GetObjectItemCaseSensitive(d, "model");
    const cJSON *pre = cJSON_GetObjectItemCaseSensitive(d, "pre");
    size_t nt = (size_t)cJSON_GetArraySize(tokens), nm = (size_t)cJSON_GetArraySize(merges);
    const char **tok = calloc(nt + 1, sizeof *tok), **mer = calloc(nm + 1, sizeof *mer);
    int32_t *ty = calloc(nt + 1, sizeof *ty);
    float *sc = calloc(nt + 1, sizeof *sc);
    size_t i = 0;
    for (const cJSON *c = tokens ? tokens->child : NULL; c; c = c->next, i++)
        tok[i] = c->valuestring ? c->valuestring : "";
    i = 0;
    for (const cJSON *c = types ? types->child : NULL; c && i < nt; c = c->next, i++)
        ty[i] = (int32_t)c->valuedouble;
    i = 0;
    for (const cJSON *c = scores ? scores->child : NULL; c && i < nt; c = c->next, i++)
        sc[i] = (float)c->valuedouble;
    i = 0;
    for (const cJSON *c = merges ? merges->child : NULL; c; c = c->next, i++)
        mer[i] = c->valuestring ? c->valuestring : "";
    wf_tokenizer_vocab v;
    wf_tokenizer_vocab_init(&v);
    v.kind = cJSON_IsString(model) && !strcmp(model->valuestring, "llama") ? WF_TOK_SPM_BPE
                                                                           : WF_TOK_BYTE_LEVEL_BPE;
    v.tokens = tok, v.n_tokens = nt, v.token_types = types ? ty : NULL, v.scores = sc;
    v.merges = mer, v.n_merges = nm, v.pre = cJSON_IsString(pre) ? pre->valuestring : NULL;
    v.bos_id = json_int(d, "bos", -1), v.eos_id = json_int(d, "eos", -1);
    v.unk_id = json_int(d, "unk", -1);
    v.add_bos = json_int(d, "add_bos", 0), v.add_eos = json_int(d, "add_eos", 0);
    v.add_space_prefix = json_int(d, "add_space_prefix", 1);
    wf_status st = wf_tokenizer_from_vocab(&v, out);
    free(tok);
    free(mer);
    free(ty);
    free(sc);
    cJSON_Delete(d);
    return st;
}

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int bench(const wf_tokenizer *tok, char *buf, size_t n, int reps, bool whole) {
    wf_ids ids = {0};
    size_t tokens = 0;
    double t0 = now();
    for (int r = 0; r < reps; r++) {
        line_iter it = {buf, buf + n};
        char *s;
        size_t len;
        if (whole) {
            ids.len = 0;
            if (wf_tokenizer_encode(tok, buf, n, false, &ids) != WF_OK) return fail("bench");
            tokens += ids.len;
            continue;
        }
        while (next_line(&it, &s, &len)) {
            ids.len = 0;
            if (wf_tokenizer_encode(tok, s, len, false, &ids) != WF_OK) return fail("bench");
            tokens += ids.len;
        }
    }
    double dt = now() - t0;
    printf("%.3f MB/s (%zu bytes x %d in %.3f s, %zu tokens)\n", (double)n * reps / dt / 1e6, n,
           reps, dt, tokens);
    wf_ids_free(&ids);
    return 0;
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: tok_cli TOKENIZER.json encode|decode|normalize|pretok|bench|info "
                        "[options] [FILE]\n");
        return 2;
    }
    bool hex = false, special = true, whole = false, skip = false;
    const char *file = NULL;
    int reps = 1;
    for (int i = 3; i < argc; i++) {
        if (!strcmp(argv[i], "--hex")) hex = true;
        else if (!strcmp(argv[i], "--no-special")) special = false;
        else if (!strcmp(argv[i], "--whole")) whole = true;
        else if (!strcmp(argv[i], "--skip-special")) skip = true;
        else if (!file) file = argv[i];
        else reps = atoi(argv[i]);
    }
    wf_tokenizer *tok;
    wf_status ls = strncmp(argv[1], "vocab:", 6) == 0 ? load_vocab(argv[1] + 6, &tok)
                                                      : wf_tokenizer_load(argv[1], &tok);
    if (ls != WF_OK) return fail("load");
    const char *cmd = argv[2];
    int rc = 0;
    if (!strcmp(cmd, "info")) {
        wf_special_ids s = wf_tokenizer_special_ids(tok);
        printf("vocab_size %d bos %d eos %d pad %d unk %d cls %d sep %d mask %d\n",
               wf_tokenizer_vocab_size(tok), s.bos, s.eos, s.pad, s.unk, s.cls, s.sep, s.mask);
        wf_tokenizer_free(tok);
        return 0;
    }
    size_t n = 0;
    char *buf = file ? read_file(file, &n) : NULL;
    if (!buf) {
        wf_tokenizer_free(tok);
        return fail(file ? file : "no input file");
    }
    if (!strcmp(cmd, "encode")) rc = encode(tok, buf, n, hex, special, whole);
    else if (!strcmp(cmd, "decode")) rc = decode(tok, buf, n, skip);
    else if (!strcmp(cmd, "normalize")) rc = diag(tok, buf, n, false);
    else if (!strcmp(cmd, "pretok")) rc = diag(tok, buf, n, true);
    else if (!strcmp(cmd, "bench")) rc = bench(tok, buf, n, reps > 0 ? reps : 1, whole);
    else rc = (fprintf(stderr, "tok_cli: unknown command %s\n", cmd), 2);
    free(buf);
    wf_tokenizer_free(tok);
    return rc;
}
