/* Training progress on stderr: on a terminal a single bar redrawn in place with \r, otherwise
 * plain lines every N steps (logs and CI keep every line whole). Shows step/total, loss, lr,
 * tokens/s and ETA. Rates are measured from the first reported step on, so start-up time (model
 * load, the first step's allocations) does not skew them. Never writes to stdout. */
#include <math.h>
#include <stdarg.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "weft/run_log.h"

#define BAR_WIDTH 24

void wf_progress_init(wf_progress *p, FILE *out, int64_t total_steps, int64_t every) {
    WF_ASSERT(out != stdout);
    *p = (wf_progress){0};
    p->out = out ? out : stderr;
    p->tty = isatty(fileno(p->out)) == 1;
    p->total = total_steps;
    p->every = every > 0 ? every : 1;
}

/* H:MM:SS */
static void put_duration(char *buf, size_t cap, double secs) {
    if (!isfinite(secs) || secs < 0) {
        snprintf(buf, cap, "?");
        return;
    }
    long s = (long)(secs + 0.5);
    snprintf(buf, cap, "%ld:%02ld:%02ld", s / 3600, s / 60 % 60, s % 60);
}

/* The fields both layouts share: "loss 2.3457 lr 2.00e-04 1234 tok/s" and the ETA. */
static void put_stats(const wf_progress *p, int64_t step, double loss, double lr, double now,
                      char *buf, size_t cap) {
    double dt = now - p->t0;
    char rate[32], eta[32];
    if (dt > 0) snprintf(rate, sizeof rate, "%.0f", (double)(p->tokens - p->tokens0) / dt);
    else snprintf(rate, sizeof rate, "-");
    if (p->total > 0 && step > p->step0)
        put_duration(eta, sizeof eta, dt / (double)(step - p->step0) * (double)(p->total - step));
    else snprintf(eta, sizeof eta, "?");
    snprintf(buf, cap, "loss %.4f | lr %.2e | %s tok/s | eta %s", loss, lr, rate, eta);
}

static void plain_line(wf_progress *p, int64_t step, double loss, double lr, double now) {
    char stats[160], elapsed[32];
    put_stats(p, step, loss, lr, now, stats, sizeof stats);
    put_duration(elapsed, sizeof elapsed, now - p->t0);
    if (p->total > 0)
        fprintf(p->out, "step %lld/%lld (%.0f%%) | %s | elapsed %s\n", (long long)step,
                (long long)p->total, 100.0 * (double)step / (double)p->total, stats, elapsed);
    else
        fprintf(p->out, "step %lld | %s | elapsed %s\n", (long long)step, stats, elapsed);
    fflush(p->out);
}

static void bar_line(wf_progress *p, int64_t step, double loss, double lr, double now) {
    char stats[160], bar[BAR_WIDTH + 1], line[320];
    put_stats(p, step, loss, lr, now, stats, sizeof stats);
    int fill = p->total > 0 ? (int)((double)BAR_WIDTH * (double)step / (double)p->total) : 0;
    if (fill > BAR_WIDTH) fill = BAR_WIDTH;
    memset(bar, '#', (size_t)fill);
    memset(bar + fill, '.', (size_t)(BAR_WIDTH - fill));
    bar[BAR_WIDTH] = 0;
    int n = p->total > 0 ? snprintf(line, sizeof line, "[%s] %lld/%lld %s", bar, (long long)step,
                                    (long long)p->total, stats)
                         : snprintf(line, sizeof line, "step %lld %s", (long long)step, stats);
    size_t len = n < 0 ? 0 : strlen(line);
    /* pad over what is left of a longer previous bar */
    fprintf(p->out, "\r%s%*s", line, len < p->bar_len ? (int)(p->bar_len - len) : 0, "");
    fflush(p->out);
    p->bar_len = len;
}

void wf_progress_step_at(wf_progress *p, int64_t step, double loss, double lr, int64_t tokens,
                         double now) {
    p->tokens += tokens;
    bool first = !p->started;
    if (first) {
        p->started = true;
        p->t0 = now, p->step0 = step, p->tokens0 = p->tokens;
    }
    if (p->tty) {
        bar_line(p, step, loss, lr, now);
        return;
    }
    if (first || step % p->every == 0 || step == p->total) plain_line(p, step, loss, lr, now);
}

void wf_progress_step(wf_progress *p, int64_t step, double loss, double lr, int64_t tokens) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    wf_progress_step_at(p, step, loss, lr, tokens, (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec);
}

/* Moves past the bar so the next output starts on a fresh line. */
static void end_bar(wf_progress *p) {
    if (p->tty && p->bar_len) {
        fputc('\n', p->out);
        p->bar_len = 0;
    }
}

void wf_progress_note(wf_progress *p, const char *fmt, ...) {
    end_bar(p);
    va_list ap;
    va_start(ap, fmt);
    vfprintf(p->out, fmt, ap);
    va_end(ap);
    fputc('\n', p->out);
    fflush(p->out);
}

void wf_progress_end(wf_progress *p) {
    end_bar(p);
    fflush(p->out);
}
