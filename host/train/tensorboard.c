/* TensorBoard event-file writer: TFRecord framing with masked CRC-32C, and the few protobuf
 * messages TensorBoard reads (Event, Summary, Summary.Value, SummaryMetadata, TensorProto),
 * encoded by hand. Facts: ../shared/reference/FORMATS.md "TensorBoard event files"; field numbers
 * from tensorflow/core/util/event.proto, framework/summary.proto and framework/tensor.proto.
 * Not here: histograms, images, or reading event files back. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "weft/mapped_file.h"
#include "weft/run_log.h"

/* ---- CRC-32C: reflected polynomial 0x82F63B78, init and xorout 0xFFFFFFFF ---- */

static uint32_t crc_table[256];
static pthread_once_t crc_once = PTHREAD_ONCE_INIT;

static void crc_init(void) {
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++) c = (c & 1) ? (c >> 1) ^ 0x82F63B78u : c >> 1;
        crc_table[i] = c;
    }
}

uint32_t wf_crc32c(const void *data, size_t n) {
    pthread_once(&crc_once, crc_init);
    const uint8_t *p = data;
    uint32_t c = 0xFFFFFFFFu;
    for (size_t i = 0; i < n; i++) c = crc_table[(c ^ p[i]) & 0xFF] ^ (c >> 8);
    return c ^ 0xFFFFFFFFu;
}

/* TFRecord's mask: CRCs of data that holds CRCs are weak, so the stored value is rotated and
 * offset (tensorflow/core/lib/hash/crc32c.h). */
uint32_t wf_crc32c_mask(uint32_t crc) { return ((crc >> 15) | (crc << 17)) + 0xA282EAD8u; }

/* ---- protobuf writer: counts every byte, stores those that fit ---- */

typedef struct pbw {
    uint8_t *p;
    size_t n, cap;
} pbw;

enum { WIRE_VARINT = 0, WIRE_I64 = 1, WIRE_LEN = 2, WIRE_I32 = 5 };

size_t wf_pb_varint(uint8_t out[10], uint64_t v) {
    size_t n = 0;
    while (v >= 0x80) {
        out[n++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    out[n++] = (uint8_t)v;
    return n;
}

static size_t varint_size(uint64_t v) {
    uint8_t tmp[10];
    return wf_pb_varint(tmp, v);
}

static void put(pbw *w, const void *data, size_t n) {
    if (w->n + n <= w->cap) memcpy(w->p + w->n, data, n);
    w->n += n;
}

static void put_varint(pbw *w, uint64_t v) {
    uint8_t tmp[10];
    put(w, tmp, wf_pb_varint(tmp, v));
}

static void put_key(pbw *w, unsigned field, unsigned wire) { put_varint(w, field << 3 | wire); }

static void put_le(pbw *w, uint64_t v, int bytes) {
    uint8_t b[8];
    for (int i = 0; i < bytes; i++) b[i] = (uint8_t)(v >> (8 * i));
    put(w, b, (size_t)bytes);
}

static void put_double(pbw *w, unsigned field, double d) {
    uint64_t u;
    memcpy(&u, &d, 8);
    put_key(w, field, WIRE_I64);
    put_le(w, u, 8);
}

static void put_float(pbw *w, unsigned field, float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    put_key(w, field, WIRE_I32);
    put_le(w, u, 4);
}

/* Header of a length-delimited field whose `len` bytes follow. */
static void put_len(pbw *w, unsigned field, size_t len) {
    put_key(w, field, WIRE_LEN);
    put_varint(w, len);
}

static void put_bytes(pbw *w, unsigned field, const void *data, size_t n) {
    put_len(w, field, n);
    put(w, data, n);
}

/* Size of a length-delimited field (field numbers here are < 16: a one-byte key). */
static size_t ld_size(size_t len) { return 1 + varint_size(len) + len; }

/* Event{wall_time #1, step #2, summary #5 {value #1 {<value_len bytes>}}}: the head up to the
 * Summary.Value's contents. int64 steps are varints of their two's complement. */
static void put_event_head(pbw *w, double wall_time, int64_t step, size_t value_len) {
    put_double(w, 1, wall_time);
    if (step != 0) {
        put_key(w, 2, WIRE_VARINT);
        put_varint(w, (uint64_t)step);
    }
    put_len(w, 5, ld_size(value_len));
    put_len(w, 1, value_len);
}

size_t wf_tb_encode_version(uint8_t *out, size_t cap, double wall_time) {
    pbw w = {out, 0, cap};
    put_double(&w, 1, wall_time);
    put_bytes(&w, 3, "brain.Event:2", 13);
    return w.n;
}

size_t wf_tb_encode_scalar(uint8_t *out, size_t cap, double wall_time, int64_t step,
                           const char *tag, float value) {
    pbw w = {out, 0, cap};
    size_t tl = strlen(tag);
    put_event_head(&w, wall_time, step, ld_size(tl) + 5);
    put_bytes(&w, 1, tag, tl); /* Value.tag */
    put_float(&w, 2, value);   /* Value.simple_value */
    return w.n;
}

/* Value{tag #1, tensor #8 TensorProto{dtype #1 = DT_STRING (7), tensor_shape #2 {} (rank 0),
 * string_val #8}, metadata #9 SummaryMetadata{plugin_data #1 PluginData{plugin_name #1 "text"}}}
 * as tf.summary.text writes it. */
size_t wf_tb_encode_text(uint8_t *out, size_t cap, double wall_time, int64_t step,
                         const char *tag, const char *text) {
    pbw w = {out, 0, cap};
    size_t tl = strlen(tag), xl = strlen(text);
    size_t tensor = 2 + ld_size(0) + ld_size(xl);
    size_t plugin = ld_size(4), metadata = ld_size(plugin);
    put_event_head(&w, wall_time, step, ld_size(tl) + ld_size(tensor) + ld_size(metadata));
    put_bytes(&w, 1, tag, tl);
    put_len(&w, 8, tensor);
    put_key(&w, 1, WIRE_VARINT);
    put_varint(&w, 7);
    put_len(&w, 2, 0);
    put_bytes(&w, 8, text, xl);
    put_len(&w, 9, metadata);
    put_len(&w, 1, plugin);
    put_bytes(&w, 1, "text", 4);
    return w.n;
}

void wf_tb_record(uint8_t *out, const uint8_t *data, size_t n) {
    for (int i = 0; i < 8; i++) out[i] = (uint8_t)((uint64_t)n >> (8 * i));
    uint32_t c = wf_crc32c_mask(wf_crc32c(out, 8));
    for (int i = 0; i < 4; i++) out[8 + i] = (uint8_t)(c >> (8 * i));
    memmove(out + 12, data, n);
    c = wf_crc32c_mask(wf_crc32c(out + 12, n));
    for (int i = 0; i < 4; i++) out[12 + n + i] = (uint8_t)(c >> (8 * i));
}

/* ---- the writer ---- */

struct wf_tb {
    FILE *f;
    char path[4096];
    uint8_t *buf; /* one record; grows for long texts, reused otherwise */
    size_t cap;
    wf_status failed; /* the first write error, reported again by every later call */
    char err[512];
};

static double wall_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Frames data[0..n) (already at tb->buf + 12) as a record and hands it to stdio. */
static wf_status fail(wf_tb *tb, const char *what) {
    tb->failed = wf_error(WF_ERR_IO, "%s: %s failed: %s", tb->path, what, strerror(errno));
    snprintf(tb->err, sizeof tb->err, "%s", wf_last_error());
    return tb->failed;
}

static wf_status emit(wf_tb *tb, size_t n) {
    if (tb->failed) return wf_error(tb->failed, "%s", tb->err);
    wf_tb_record(tb->buf, tb->buf + 12, n);
    size_t total = wf_tb_record_size(n);
    if (fwrite(tb->buf, 1, total, tb->f) != total) return fail(tb, "write");
    return WF_OK;
}

/* Room for a record of an n-byte event at tb->buf. */
static wf_status reserve(wf_tb *tb, size_t n) {
    size_t need = wf_tb_record_size(n);
    if (need <= tb->cap) return WF_OK;
    uint8_t *b = realloc(tb->buf, need);
    if (!b) return wf_error(WF_ERR_OOM, "%s: out of memory for a %zu-byte event", tb->path, n);
    tb->buf = b, tb->cap = need;
    return WF_OK;
}

static wf_status open_file(wf_tb *tb, const char *dir) {
    char host[256] = "localhost";
    if (gethostname(host, sizeof host - 1) != 0) snprintf(host, sizeof host, "localhost");
    for (char *h = host; *h; h++)
        if (*h == '/') *h = '_';
    long secs = (long)time(NULL);
    for (int n = 0; n < 1000; n++) {
        snprintf(tb->path, sizeof tb->path, "%s/events.out.tfevents.%010ld.%s.%ld.%d", dir, secs,
                 host, (long)getpid(), n);
        int fd = open(tb->path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
        if (fd < 0 && errno == EEXIST) continue;
        if (fd < 0) return wf_error(WF_ERR_IO, "%s: cannot create: %s", tb->path, strerror(errno));
        tb->f = fdopen(fd, "wb");
        if (!tb->f) {
            close(fd);
            return wf_error(WF_ERR_IO, "%s: cannot open: %s", tb->path, strerror(errno));
        }
        return WF_OK;
    }
    return wf_error(WF_ERR_IO, "%s: no free event file name", dir);
}

wf_status wf_tb_open(const char *dir, wf_tb **out) {
    *out = NULL;
    wf_tb *tb = calloc(1, sizeof *tb);
    if (!tb) return wf_error(WF_ERR_OOM, "%s: out of memory", dir);
    wf_status s = wf_mkdir_p(dir);
    if (s == WF_OK) s = open_file(tb, dir);
    if (s == WF_OK) s = reserve(tb, 256);
    if (s == WF_OK) {
        double t = wall_now();
        size_t n = wf_tb_encode_version(tb->buf + 12, tb->cap - 16, t);
        s = emit(tb, n);
    }
    if (s == WF_OK) s = wf_tb_flush(tb);
    if (s != WF_OK) {
        if (tb->f) fclose(tb->f), unlink(tb->path);
        free(tb->buf);
        free(tb);
        return s;
    }
    *out = tb;
    return WF_OK;
}

wf_status wf_tb_scalar(wf_tb *tb, const char *tag, int64_t step, double value) {
    double t = wall_now();
    size_t n = wf_tb_encode_scalar(NULL, 0, t, step, tag, (float)value);
    WF_TRY(reserve(tb, n));
    wf_tb_encode_scalar(tb->buf + 12, n, t, step, tag, (float)value);
    return emit(tb, n);
}

wf_status wf_tb_text(wf_tb *tb, const char *tag, int64_t step, const char *text) {
    double t = wall_now();
    size_t n = wf_tb_encode_text(NULL, 0, t, step, tag, text);
    WF_TRY(reserve(tb, n));
    wf_tb_encode_text(tb->buf + 12, n, t, step, tag, text);
    return emit(tb, n);
}

wf_status wf_tb_flush(wf_tb *tb) {
    if (tb->failed) return wf_error(tb->failed, "%s", tb->err);
    if (fflush(tb->f) != 0 || fsync(fileno(tb->f)) != 0) return fail(tb, "flush");
    return WF_OK;
}

wf_status wf_tb_close(wf_tb *tb) {
    if (!tb) return WF_OK;
    wf_status s = wf_tb_flush(tb);
    if (fclose(tb->f) != 0 && s == WF_OK)
        s = wf_error(WF_ERR_IO, "%s: close failed: %s", tb->path, strerror(errno));
    free(tb->buf);
    free(tb);
    return s;
}

const char *wf_tb_path(const wf_tb *tb) { return tb->path; }
