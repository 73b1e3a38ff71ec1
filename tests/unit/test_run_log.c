/* Run logging (include/weft/run_log.h): CRC-32C check values, protobuf varints and events against
 * bytes derived by hand from the .proto field numbers, TFRecord framing, an event file read back
 * record by record, metrics.jsonl lines parsed as JSON, and the plain (non-terminal) progress
 * lines. TensorBoard's own reader is run on our files by tests/interop/test_tensorboard.py. */
#include <cjson/cJSON.h>
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "weft/run_log.h"
#include "expect.h"


static char g_dir[64];

static void expect_bytes(const char *what, const uint8_t *have, size_t nh, const uint8_t *want,
                         size_t nw) {
    if (nh == nw && memcmp(have, want, nw) == 0) return;
    failures++;
    fprintf(stderr, "FAIL %s: %zu bytes, expected %zu\n", what, nh, nw);
    int shown = 0;
    for (size_t i = 0; i < (nh > nw ? nh : nw) && shown < 5; i++) {
        int h = i < nh ? have[i] : -1, w = i < nw ? want[i] : -1;
        if (h != w) fprintf(stderr, "  byte %zu: expected %02x, got %02x\n", i, w, h), shown++;
    }
}

static void crc(void) {
    EXPECT(wf_crc32c("123456789", 9) == 0xE3069283u); /* the CRC-32C check value */
    uint8_t zeros[32] = {0};
    EXPECT(wf_crc32c(zeros, 32) == 0x8A9136AAu); /* RFC 3720 B.4: 32 bytes of zeros */
    EXPECT(wf_crc32c("", 0) == 0);
    EXPECT(wf_crc32c_mask(0) == 0xA282EAD8u);
    EXPECT(wf_crc32c_mask(0xE3069283u) == 0xC78AB0E5u); /* rotr 15, + 0xA282EAD8 */
}

static void varints(void) {
    struct { uint64_t v; size_t n; uint8_t b[10]; } cases[] = {
        {0, 1, {0x00}}, {1, 1, {0x01}}, {127, 1, {0x7F}}, {128, 2, {0x80, 0x01}},
        {300, 2, {0xAC, 0x02}}, {16384, 3, {0x80, 0x80, 0x01}},
        {UINT64_MAX, 10, {0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01}},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        uint8_t out[10];
        size_t n = wf_pb_varint(out, cases[i].v);
        char what[64];
        snprintf(what, sizeof what, "varint %llu", (unsigned long long)cases[i].v);
        expect_bytes(what, out, n, cases[i].b, cases[i].n);
    }
}

/* 1.5 as a little-endian double: 0x3FF8000000000000 */
#define WALL_1_5 0x09, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xF8, 0x3F

static void events(void) {
    uint8_t out[128];
    /* Event{wall_time #1 fixed64, file_version #3 "brain.Event:2"} */
    const uint8_t version[] = {WALL_1_5, 0x1A, 0x0D, 'b', 'r', 'a', 'i', 'n', '.', 'E', 'v', 'e',
                               'n', 't', ':', '2'};
    size_t n = wf_tb_encode_version(out, sizeof out, 1.5);
    expect_bytes("version event", out, n, version, sizeof version);

    /* Event{wall_time, step #2 = 3, summary #5 {value #1 {tag #1 "loss", simple_value #2 0.25f}}}:
     * Value = 2+4 + 1+4 = 11 bytes, Summary = 2+11 = 13 */
    const uint8_t scalar[] = {WALL_1_5, 0x10, 0x03, 0x2A, 0x0D, 0x0A, 0x0B, 0x0A, 0x04, 'l', 'o',
                              's', 's', 0x15, 0x00, 0x00, 0x80, 0x3E};
    n = wf_tb_encode_scalar(out, sizeof out, 1.5, 3, "loss", 0.25f);
    expect_bytes("scalar event", out, n, scalar, sizeof scalar);
    EXPECT(wf_tb_encode_scalar(NULL, 0, 1.5, 3, "loss", 0.25f) == sizeof scalar);

    /* step -1: the two's complement as a 10-byte varint; step 0 is proto3's default, left out */
    n = wf_tb_encode_scalar(out, sizeof out, 1.5, -1, "loss", 0.25f);
    EXPECT(n == sizeof scalar + 9 && out[9] == 0x10 && out[10] == 0xFF && out[18] == 0xFF &&
           out[19] == 0x01);
    n = wf_tb_encode_scalar(out, sizeof out, 1.5, 0, "loss", 0.25f);
    EXPECT(n == sizeof scalar - 2 && out[9] == 0x2A);

    /* Value{tag "t", tensor #8 {dtype #1 = 7, tensor_shape #2 {}, string_val #8 "hi"},
     * metadata #9 {plugin_data #1 {plugin_name #1 "text"}}}: tensor 8, metadata 8, Value 23 */
    const uint8_t text[] = {WALL_1_5, 0x2A, 0x19, 0x0A, 0x17, 0x0A, 0x01, 't', 0x42, 0x08, 0x08,
                            0x07, 0x12, 0x00, 0x42, 0x02, 'h', 'i', 0x4A, 0x08, 0x0A, 0x06, 0x0A,
                            0x04, 't', 'e', 'x', 't'};
    n = wf_tb_encode_text(out, sizeof out, 1.5, 0, "t", "hi");
    expect_bytes("text event", out, n, text, sizeof text);

    /* record: u64 length 26, masked CRC of those 8 bytes, data, masked CRC of the data */
    uint8_t rec[64];
    wf_tb_record(rec, scalar, sizeof scalar);
    const uint8_t head[] = {26, 0, 0, 0, 0, 0, 0, 0, 0x12, 0x9B, 0xD8, 0x2D};
    const uint8_t tail[] = {0xD0, 0x54, 0xB2, 0x55};
    expect_bytes("record head", rec, 12, head, sizeof head);
    expect_bytes("record data", rec + 12, sizeof scalar, scalar, sizeof scalar);
    expect_bytes("record tail", rec + 12 + sizeof scalar, 4, tail, 4);
    EXPECT(wf_tb_record_size(sizeof scalar) == 12 + sizeof scalar + 4);
}

static uint32_t le32(const uint8_t *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* Reads every record of the file back, checking both CRCs; returns the record count. */
static int read_records(const char *path, uint8_t *first, size_t cap, size_t *first_len) {
    FILE *f = fopen(path, "rb");
    if (!f) return -1;
    int count = 0;
    uint8_t head[12], data[4096], crc[4];
    while (fread(head, 1, 12, f) == 12) {
        uint64_t n = 0;
        for (int i = 0; i < 8; i++) n |= (uint64_t)head[i] << (8 * i);
        if (n > sizeof data || fread(data, 1, n, f) != n || fread(crc, 1, 4, f) != 4 ||
            le32(head + 8) != wf_crc32c_mask(wf_crc32c(head, 8)) ||
            le32(crc) != wf_crc32c_mask(wf_crc32c(data, n))) {
            fprintf(stderr, "FAIL record %d of %s is damaged\n", count, path);
            failures++;
            break;
        }
        if (count == 0 && n <= cap) memcpy(first, data, n), *first_len = n;
        count++;
    }
    fclose(f);
    return count;
}

static void event_file(void) {
    char dir[128];
    snprintf(dir, sizeof dir, "%s/run/tb", g_dir); /* parents are created */
    wf_tb *tb = NULL;
    EXPECT(wf_tb_open(dir, &tb) == WF_OK && tb);
    if (!tb) return;
    /* events.out.tfevents.<10-digit secs>.<hostname>.<pid>.0 */
    const char *name = strrchr(wf_tb_path(tb), '/') + 1;
    char host[256] = "", tail[320];
    gethostname(host, sizeof host - 1);
    snprintf(tail, sizeof tail, ".%s.%ld.0", host, (long)getpid());
    size_t nl = strlen(name), tl = strlen(tail);
    EXPECT(strncmp(name, "events.out.tfevents.", 20) == 0 && nl == 30 + tl);
    EXPECT(nl == 30 + tl && strspn(name + 20, "0123456789") == 10 && !strcmp(name + 30, tail));
    for (int s = 1; s <= 5; s++) EXPECT(wf_tb_scalar(tb, "train/loss", s, 1.0 / s) == WF_OK);
    EXPECT(wf_tb_flush(tb) == WF_OK);
    EXPECT(wf_tb_text(tb, "config", 0, "lr = 2e-4") == WF_OK);
    char path[512];
    snprintf(path, sizeof path, "%s", wf_tb_path(tb));
    EXPECT(wf_tb_close(tb) == WF_OK);

    uint8_t first[256];
    size_t first_len = 0;
    EXPECT(read_records(path, first, sizeof first, &first_len) == 7);
    EXPECT(first_len == 24 && first[0] == 0x09 && first[9] == 0x1A &&
           memcmp(first + 11, "brain.Event:2", 13) == 0);

    /* a second writer in the same directory gets its own file */
    wf_tb *tb2 = NULL;
    EXPECT(wf_tb_open(dir, &tb2) == WF_OK && strcmp(wf_tb_path(tb2), path) != 0);
    EXPECT(wf_tb_close(tb2) == WF_OK);

    /* a directory that cannot be made is an error naming it, not a crash */
    char bad[600];
    snprintf(bad, sizeof bad, "%s/tb", path);
    wf_tb *tb3 = NULL;
    EXPECT(wf_tb_open(bad, &tb3) == WF_ERR_IO && !tb3 && strstr(wf_last_error(), path));
}

static void metrics(void) {
    char path[128];
    snprintf(path, sizeof path, "%s/metrics.jsonl", g_dir);
    wf_metrics *m = NULL;
    EXPECT(wf_metrics_open(path, &m) == WF_OK);
    const char *names[] = {"loss", "lr", "tokens/s", "grad_norm"};
    const double v1[] = {2.345678901234, 2e-4, 12345, 0.1};
    const double v2[] = {NAN, 1e-300, -INFINITY, 1.0 / 3};
    EXPECT(wf_metrics_write(m, 1, "train", names, v1, 4) == WF_OK);
    EXPECT(wf_metrics_write(m, 2, "eval", names, v2, 4) == WF_OK);
    EXPECT(wf_metrics_write(m, 3, "train", names, v1, 0) == WF_OK);
    EXPECT(wf_metrics_write(m, 4, "test", names, v1, 1) == WF_ERR_INVALID);
    const char *bad[] = {"a\"b"}, *step[] = {"step"};
    EXPECT(wf_metrics_write(m, 4, "train", bad, v1, 1) == WF_ERR_INVALID);
    EXPECT(wf_metrics_write(m, 4, "train", step, v1, 1) == WF_ERR_INVALID);
    EXPECT(wf_metrics_close(m) == WF_OK);
    /* appending: a resumed run continues the file */
    EXPECT(wf_metrics_open(path, &m) == WF_OK);
    EXPECT(wf_metrics_write(m, 5, "train", names, v1, 1) == WF_OK);
    EXPECT(wf_metrics_close(m) == WF_OK);

    FILE *f = fopen(path, "r");
    char line[1024];
    int n = 0;
    while (f && fgets(line, sizeof line, f)) {
        cJSON *j = cJSON_Parse(line);
        const int64_t steps[] = {1, 2, 3, 5};
        EXPECT(j && n < 4 && cJSON_GetObjectItem(j, "step")->valuedouble == (double)steps[n]);
        if (!j || n >= 4) {
            fprintf(stderr, "  line %d: %s", n + 1, line);
            n++;
            continue;
        }
        const char *split = cJSON_GetStringValue(cJSON_GetObjectItem(j, "split"));
        EXPECT(split && !strcmp(split, n == 1 ? "eval" : "train"));
        EXPECT(cJSON_GetArraySize(j) == (n == 0 || n == 1 ? 6 : n == 2 ? 2 : 3));
        if (n == 0)
            for (int i = 0; i < 4; i++)
                EXPECT(cJSON_GetObjectItem(j, names[i])->valuedouble == v1[i]); /* exact: %.17g */
        if (n == 1) {
            EXPECT(cJSON_IsNull(cJSON_GetObjectItem(j, "loss")));
            EXPECT(cJSON_IsNull(cJSON_GetObjectItem(j, "tokens/s")));
            EXPECT(cJSON_GetObjectItem(j, "lr")->valuedouble == 1e-300);
            EXPECT(cJSON_GetObjectItem(j, "grad_norm")->valuedouble == 1.0 / 3);
        }
        cJSON_Delete(j);
        n++;
    }
    EXPECT(n == 4);
    if (f) fclose(f);

    /* a full disk is reported, not a crash */
    if (wf_metrics_open("/dev/full", &m) == WF_OK) {
        EXPECT(wf_metrics_write(m, 1, "train", names, v1, 4) == WF_ERR_IO);
        EXPECT(strstr(wf_last_error(), "/dev/full") != NULL);
        wf_metrics_close(m);
    }
}

static char *read_back(FILE *f) {
    static char buf[8192];
    fflush(f);
    rewind(f);
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = 0;
    return buf;
}

static void progress(void) {
    FILE *f = tmpfile();
    if (!f) return;
    wf_progress p;
    wf_progress_init(&p, f, 100, 10);
    EXPECT(!p.tty);
    /* one step every 0.5 s, 1000 tokens each */
    for (int s = 1; s <= 100; s++) wf_progress_step_at(&p, s, 2.5, 1e-4, 1000, 10 + 0.5 * s);
    wf_progress_end(&p);
    const char *want =
        "step 1/100 (1%) | loss 2.5000 | lr 1.00e-04 | - tok/s | eta ? | elapsed 0:00:00\n"
        "step 10/100 (10%) | loss 2.5000 | lr 1.00e-04 | 2000 tok/s | eta 0:00:45 | elapsed 0:00:05\n"
        "step 20/100 (20%) | loss 2.5000 | lr 1.00e-04 | 2000 tok/s | eta 0:00:40 | elapsed 0:00:10\n";
    char *out = read_back(f);
    if (strncmp(out, want, strlen(want)) != 0) {
        failures++;
        fprintf(stderr, "FAIL progress lines:\n%.*s\nexpected:\n%s", (int)strlen(want), out, want);
    }
    int lines = 0;
    for (char *c = out; *c; c++) lines += *c == '\n';
    EXPECT(lines == 11); /* the first step, then every 10th */
    EXPECT(strstr(out, "step 100/100 (100%) | loss 2.5000 | lr 1.00e-04 | 2000 tok/s | eta 0:00:00 "
                       "| elapsed 0:00:50\n"));
    fclose(f);

    /* unknown total: no percentage, no ETA; a note is a line of its own */
    f = tmpfile();
    wf_progress_init(&p, f, 0, 2);
    wf_progress_step_at(&p, 1, 1.25, 3e-5, 10, 0);
    wf_progress_note(&p, "eval loss %.2f", 1.5);
    wf_progress_step_at(&p, 2, 1.0, 3e-5, 10, 1);
    EXPECT(!strcmp(read_back(f), "step 1 | loss 1.2500 | lr 3.00e-05 | - tok/s | eta ? | elapsed "
                                 "0:00:00\neval loss 1.50\nstep 2 | loss 1.0000 | lr 3.00e-05 | "
                                 "10 tok/s | eta ? | elapsed 0:00:01\n"));
    fclose(f);

    /* terminal: one line redrawn with \r, padded over a longer previous one, ended by _end */
    f = tmpfile();
    wf_progress_init(&p, f, 100, 10);
    p.tty = true;
    wf_progress_step_at(&p, 1, 10.0, 1e-4, 1000, 0);
    wf_progress_step_at(&p, 25, 1.0, 1e-4, 1000, 24);
    wf_progress_end(&p);
    out = read_back(f);
    EXPECT(out[0] == '\r' && strstr(out, "\r[######..................] 25/100 loss 1.0000"));
    EXPECT(strchr(out, '\n') == out + strlen(out) - 1);
    fclose(f);
}

int main(void) {
    snprintf(g_dir, sizeof g_dir, "/tmp/weft_test_run_log_XXXXXX");
    if (!mkdtemp(g_dir)) {
        perror("mkdtemp");
        return 1;
    }
    crc();
    varints();
    events();
    event_file();
    metrics();
    progress();
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_dir);
    if (system(cmd) != 0) fprintf(stderr, "warning: could not remove %s\n", g_dir);
    if (failures) {
        fprintf(stderr, "%d failure(s)\n", failures);
        return 1;
    }
    printf("run_log: all checks passed\n");
    return 0;
}
