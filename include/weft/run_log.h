/* What a training run logs while it runs: TensorBoard event files and metrics.jsonl in the run
 * directory, and a progress line on stderr. Each writer reports I/O errors as statuses (naming the
 * file) and never aborts the run; none of them prints to stdout.
 * Event file facts: ../shared/reference/FORMATS.md "TensorBoard event files". */
#ifndef WEFT_RUN_LOG_H
#define WEFT_RUN_LOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "weft/status.h"

/* ---- TensorBoard event files ---- */

typedef struct wf_tb wf_tb;

/* Creates `dir` (and its parents) if needed and a new file
 * events.out.tfevents.<10-digit unix secs>.<hostname>.<pid>.<n> in it, starting with the
 * file_version event. */
wf_status wf_tb_open(const char *dir, wf_tb **out);
/* A scalar (stored as float32, TensorBoard's simple_value). */
wf_status wf_tb_scalar(wf_tb *tb, const char *tag, int64_t step, double value);
/* A text entry (TensorBoard's text plugin: a rank-0 DT_STRING tensor; markdown is rendered). */
wf_status wf_tb_text(wf_tb *tb, const char *tag, int64_t step, const char *text);
/* Writes buffered events out and fsyncs the file. */
wf_status wf_tb_flush(wf_tb *tb);
/* Flushes, closes and frees (tb may be NULL); reports a failed write seen earlier. */
wf_status wf_tb_close(wf_tb *tb);
const char *wf_tb_path(const wf_tb *tb);

/* The encoding underneath, exposed for tests. CRC-32C (Castagnoli), its TFRecord mask, protobuf
 * varints; each wf_tb_encode_* returns the event's size in bytes and writes it to out when it
 * fits in cap (cap 0 measures). A record is wf_tb_record_size(n) bytes: u64 length, masked CRC of
 * the length, data, masked CRC of the data. */
uint32_t wf_crc32c(const void *data, size_t n);
uint32_t wf_crc32c_mask(uint32_t crc);
size_t wf_pb_varint(uint8_t out[10], uint64_t v);
size_t wf_tb_encode_version(uint8_t *out, size_t cap, double wall_time);
size_t wf_tb_encode_scalar(uint8_t *out, size_t cap, double wall_time, int64_t step,
                           const char *tag, float value);
size_t wf_tb_encode_text(uint8_t *out, size_t cap, double wall_time, int64_t step,
                         const char *tag, const char *text);
static inline size_t wf_tb_record_size(size_t n) { return 8 + 4 + n + 4; }
void wf_tb_record(uint8_t *out, const uint8_t *data, size_t n);

/* ---- metrics.jsonl ---- */

typedef struct wf_metrics wf_metrics;

/* Opens `path` for appending (a resumed run continues its file), creating it if needed. */
wf_status wf_metrics_open(const char *path, wf_metrics **out);
/* Appends {"step":S,"split":"train"|"eval"|"general","<names[i]>":values[i],...} and a newline,
 * flushed ("general": weft compare's held-out general text).
 * Names are non-empty printable ASCII without quotes or backslashes, and not "step" or "split";
 * a non-finite value is written as null. */
wf_status wf_metrics_write(wf_metrics *m, int64_t step, const char *split,
                           const char *const *names, const double *values, int64_t n);
/* fsyncs, closes and frees (m may be NULL). */
wf_status wf_metrics_close(wf_metrics *m);

/* ---- progress on stderr ---- */

/* On a terminal: one bar redrawn in place with \r. Otherwise: a plain line every `every` steps
 * (and at the first and last step). Fields may be read; set them only through the functions
 * (tests may set `tty`). */
typedef struct wf_progress {
    FILE *out;
    bool tty;
    int64_t total;    /* steps in the run; <= 0: unknown (no percentage, no ETA) */
    int64_t every;    /* plain-line interval in steps */
    bool started;     /* a step was reported: t0, step0, tokens0 are set */
    double t0;        /* seconds (monotonic) at the first reported step */
    int64_t step0, tokens0;
    int64_t tokens;   /* processed so far */
    size_t bar_len;   /* characters of the bar on screen; 0: none */
} wf_progress;

/* out: NULL means stderr (stdout is refused: it carries data). */
void wf_progress_init(wf_progress *p, FILE *out, int64_t total_steps, int64_t every);
/* Step `step` done, having processed `tokens` tokens; uses the monotonic clock. */
void wf_progress_step(wf_progress *p, int64_t step, double loss, double lr, int64_t tokens);
/* The same at time `now` (seconds), for tests. */
void wf_progress_step_at(wf_progress *p, int64_t step, double loss, double lr, int64_t tokens,
                         double now);
/* A line of its own (eval results, warnings) that does not tear the bar. */
void wf_progress_note(wf_progress *p, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
/* Ends the bar's line on a terminal. */
void wf_progress_end(wf_progress *p);

#endif
