/* config_doc: the run-config key reference (wf_run_config_doc) as markdown, and keeping the copy in
 * configs/README.md in step with the schema. The README is a hand-written intro, a marker line,
 * then the generated reference.
 * Usage: config_doc                  print the reference on stdout
 *        config_doc --check README   exit 1 (showing the first difference) unless README matches
 *        config_doc --update README  rewrite the part below the marker */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "weft/mapped_file.h"
#include "weft/run_config.h"

static const char k_marker[] =
    "<!-- Generated from host/train/run_config_schema.c by tests/tools/config_doc; do not edit "
    "below this line. -->\n";

static char *generated(void) {
    char *text = NULL;
    size_t n = 0;
    FILE *f = open_memstream(&text, &n);
    if (!f) return NULL;
    wf_run_config_doc(f);
    return fclose(f) == 0 ? text : NULL;
}

static char *read_all(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    char *buf = NULL;
    size_t n = 0, cap = 0, r;
    do {
        if (n + 4096 + 1 > cap) {
            char *b = realloc(buf, cap = 2 * cap + 8192);
            if (!b) break;
            buf = b;
        }
        r = fread(buf + n, 1, cap - n - 1, f);
        n += r;
    } while (r > 0);
    fclose(f);
    if (buf) buf[n] = 0;
    return buf;
}

/* Prints the first line where `have` and `want` differ. */
static void first_difference(const char *have, const char *want, int line0) {
    int line = line0;
    for (;;) {
        size_t lh = strcspn(have, "\n"), lw = strcspn(want, "\n");
        if (lh != lw || memcmp(have, want, lh) != 0 || !have[lh] != !want[lw]) {
            fprintf(stderr, "first difference at line %d:\n  README has: %.*s\n  schema says: %.*s\n",
                    line, (int)lh, have, (int)lw, want);
            return;
        }
        if (!have[lh]) return;
        have += lh + 1, want += lw + 1, line++;
    }
}

static int lines_before(const char *s, const char *end) {
    int n = 1;
    for (; s < end; s++) n += *s == '\n';
    return n;
}

int main(int argc, char **argv) {
    char *doc = generated();
    if (!doc) return fprintf(stderr, "config_doc: out of memory\n"), 1;
    if (argc == 1) return fputs(doc, stdout) < 0;
    if (argc != 3 || (strcmp(argv[1], "--check") != 0 && strcmp(argv[1], "--update") != 0)) {
        fprintf(stderr, "usage: %s [--check|--update configs/README.md]\n", argv[0]);
        return 2;
    }
    const char *path = argv[2];
    char *text = read_all(path);
    if (!text) return fprintf(stderr, "config_doc: cannot read %s\n", path), 1;
    char *mark = strstr(text, k_marker);
    if (!mark) {
        fprintf(stderr, "config_doc: %s has no marker line:\n%s", path, k_marker);
        return 1;
    }
    char *below = mark + strlen(k_marker);
    if (strcmp(argv[1], "--check") == 0) {
        if (strcmp(below, doc) == 0) return 0;
        fprintf(stderr, "%s is out of date with the config schema.\n", path);
        first_difference(below, doc, lines_before(text, below));
        fprintf(stderr, "fix: ninja -C <builddir> && <builddir>/tests/config_doc --update %s\n"
                "  (here: %s --update %s)\n", path, argv[0], path);
        return 1;
    }
    *below = 0;
    size_t nh = strlen(text), nd = strlen(doc);
    char *out = malloc(nh + nd + 1);
    if (!out) return fprintf(stderr, "config_doc: out of memory\n"), 1;
    memcpy(out, text, nh);
    memcpy(out + nh, doc, nd + 1);
    if (wf_file_write_atomic(path, out, nh + nd) != WF_OK)
        return fprintf(stderr, "config_doc: %s\n", wf_last_error()), 1;
    fprintf(stderr, "config_doc: updated %s\n", path);
    free(out);
    free(text);
    free(doc);
    return 0;
}
