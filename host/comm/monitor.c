/* The rank monitor (monitor.h). Wire format, little-endian int64 words: a heartbeat is
 * {entered, flags} (flags bit 0: this rank finished normally and closes); rank 0 answers a
 * heartbeat that is not a goodbye with a `summary`. One thread a rank: rank 0's serves the
 * connections (poll), the others' send a heartbeat every interval and keep the last answer. */
#include "weft/monitor.h"

#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sock.h"

#define LIST 8 /* ranks named per kind; the rest are counted */

typedef struct summary { /* what rank 0 knows of the other ranks, against a count `ref` */
    int64_t ref;
    int64_t n_behind, behind[LIST], behind_at[LIST]; /* entered fewer than ref (their counts) */
    int64_t n_gone, gone[LIST], gone_ms[LIST];       /* closed without finishing (how long ago) */
    int64_t n_silent, silent[LIST], silent_ms[LIST]; /* no heartbeat for that long */
} summary;
#define WORDS ((int)(sizeof(summary) / sizeof(int64_t)))

struct wf_monitor {
    int rank, world;
    double interval, silent_after, started;
    _Atomic int64_t entered;
    pthread_t th;
    bool have_th;
    int wake[2];          /* a pipe: stop writes a byte, the thread's poll returns */
    pthread_mutex_t io;   /* a non-zero rank's socket: one exchange at a time */
    pthread_mutex_t mu;   /* guards everything below */
    bool stop;
    /* rank 0 */
    int *fd;              /* (world) the peers' connections; -1 once closed */
    int64_t *seq;         /* (world) their last counts */
    double *heard, *gone_at; /* (world) last heartbeat; when the connection closed unfinished (0: no) */
    bool *finished;       /* (world) said goodbye */
    /* the other ranks */
    int up;               /* the connection to rank 0; -1 once lost */
    summary last;
    bool have_last;
    double lost_at;       /* when the connection to rank 0 failed (0: it has not) */
};

static void put_words(unsigned char *b, const int64_t *w, int n) {
    for (int i = 0; i < n; i++)
        for (int k = 0; k < 8; k++) b[8 * i + k] = (unsigned char)((uint64_t)w[i] >> (8 * k));
}

static void get_words(const unsigned char *b, int64_t *w, int n) {
    for (int i = 0; i < n; i++) {
        uint64_t v = 0;
        for (int k = 0; k < 8; k++) v |= (uint64_t)b[8 * i + k] << (8 * k);
        w[i] = (int64_t)v;
    }
}

/* Adds rank r (with its value v) to a summary list of LIST names, counting past the end. */
static void note(int64_t *n, int64_t *ranks, int64_t *vals, int r, int64_t v) {
    if (*n < LIST) ranks[*n] = r, vals[*n] = v;
    (*n)++;
}

/* Rank 0, under mu: the other ranks than `who` against count `ref`. */
static summary summarize(const wf_monitor *m, int who, int64_t ref, double now) {
    summary s = {.ref = ref};
    for (int r = 0; r < m->world; r++) {
        if (r == who || (r > 0 && m->finished[r])) continue;
        int64_t at = r == 0 ? atomic_load(&m->entered) : m->seq[r];
        if (r > 0 && m->gone_at[r] > 0)
            note(&s.n_gone, s.gone, s.gone_ms, r, (int64_t)(1e3 * (now - m->gone_at[r])));
        else if (r > 0 && now - m->heard[r] > m->silent_after)
            note(&s.n_silent, s.silent, s.silent_ms, r, (int64_t)(1e3 * (now - m->heard[r])));
        else if (at < ref)
            note(&s.n_behind, s.behind, s.behind_at, r, at);
    }
    return s;
}

static bool stopping(wf_monitor *m) {
    pthread_mutex_lock(&m->mu);
    bool s = m->stop;
    pthread_mutex_unlock(&m->mu);
    return s;
}

/* Rank 0, under mu: rank r's connection is closed (a goodbye, or it failed). */
static void drop(wf_monitor *m, int r, double now) {
    close(m->fd[r]);
    m->fd[r] = -1;
    if (!m->finished[r]) m->gone_at[r] = now;
}

/* Rank 0's thread: answers each heartbeat as it comes. */
static void *serve(void *arg) {
    wf_monitor *m = arg;
    struct pollfd *p = calloc((size_t)m->world, sizeof *p);
    int *who = calloc((size_t)m->world, sizeof *who);
    while (p && who && !stopping(m)) {
        int n = 0;
        p[n++] = (struct pollfd){.fd = m->wake[0], .events = POLLIN};
        pthread_mutex_lock(&m->mu);
        for (int r = 1; r < m->world; r++)
            if (m->fd[r] >= 0) who[n] = r, p[n++] = (struct pollfd){.fd = m->fd[r], .events = POLLIN};
        pthread_mutex_unlock(&m->mu);
        if (poll(p, (nfds_t)n, 1000) <= 0) continue;
        for (int i = 1; i < n; i++) {
            if (!p[i].revents) continue;
            int r = who[i];
            unsigned char b[16 + 8 * WORDS];
            int64_t w[2];
            double now = wf_sock_now();
            bool ok = wf_sock_io(p[i].fd, b, 16, false, now + 1.0);
            pthread_mutex_lock(&m->mu);
            if (ok) {
                get_words(b, w, 2);
                m->seq[r] = w[0], m->heard[r] = now, m->finished[r] = (w[1] & 1) != 0;
                summary s = summarize(m, r, w[0], now);
                put_words(b, (const int64_t *)&s, WORDS);
            }
            if (!ok || m->finished[r]) drop(m, r, now);
            pthread_mutex_unlock(&m->mu);
            if (ok && !m->finished[r] && !wf_sock_io(p[i].fd, b, 8 * WORDS, true, now + 1.0)) {
                pthread_mutex_lock(&m->mu);
                drop(m, r, wf_sock_now());
                pthread_mutex_unlock(&m->mu);
            }
        }
    }
    free(p), free(who);
    return NULL;
}

/* A non-zero rank: one heartbeat and its answer, kept (under io: the thread's beats and
 * explain's fresh one never interleave on the socket). */
static void heartbeat(wf_monitor *m, double wait_s) {
    pthread_mutex_lock(&m->io);
    if (m->up >= 0) {
        unsigned char b[8 * WORDS];
        int64_t w[2] = {atomic_load(&m->entered), 0};
        double deadline = wf_sock_now() + wait_s;
        put_words(b, w, 2);
        summary s = {0};
        bool ok = wf_sock_io(m->up, b, 16, true, deadline) && wf_sock_io(m->up, b, 8 * WORDS, false, deadline);
        if (ok) get_words(b, (int64_t *)&s, WORDS);
        pthread_mutex_lock(&m->mu);
        if (ok) m->last = s, m->have_last = true;
        else close(m->up), m->up = -1, m->lost_at = wf_sock_now();
        pthread_mutex_unlock(&m->mu);
    }
    pthread_mutex_unlock(&m->io);
}

/* A non-zero rank's thread: a heartbeat every interval. */
static void *beat(void *arg) {
    wf_monitor *m = arg;
    while (!stopping(m)) {
        heartbeat(m, 2.0 + 4 * m->interval);
        struct pollfd p = {.fd = m->wake[0], .events = POLLIN};
        poll(&p, 1, (int)(1e3 * m->interval));
    }
    return NULL;
}

wf_status wf_monitor_start(int rank, int world, const int *fds, double interval_s, wf_monitor **out) {
    *out = NULL;
    wf_monitor *m = calloc(1, sizeof *m);
    if (!m) {
        for (int r = 0; r < world; r++)
            if ((rank == 0) == (r > 0) && fds[r] >= 0) close(fds[r]);
        return wf_error(WF_ERR_OOM, "rank monitor: out of memory");
    }
    m->rank = rank, m->world = world, m->up = -1;
    m->interval = interval_s > 0 ? interval_s : 0.5;
    m->silent_after = 10 * m->interval > 1.0 ? 10 * m->interval : 1.0;
    m->started = wf_sock_now();
    atomic_init(&m->entered, 0);
    pthread_mutex_init(&m->mu, NULL);
    pthread_mutex_init(&m->io, NULL);
    m->wake[0] = m->wake[1] = -1;
    bool ok = pipe(m->wake) == 0;
    if (rank == 0) {
        m->fd = malloc((size_t)world * sizeof *m->fd);
        m->seq = calloc((size_t)world, sizeof *m->seq);
        m->heard = calloc((size_t)world, sizeof *m->heard);
        m->gone_at = calloc((size_t)world, sizeof *m->gone_at);
        m->finished = calloc((size_t)world, sizeof *m->finished);
        ok = ok && m->fd && m->seq && m->heard && m->gone_at && m->finished;
        for (int r = 0; ok && r < world; r++) {
            m->fd[r] = r > 0 ? fds[r] : -1;
            m->heard[r] = m->started;
            if (r > 0 && fds[r] < 0) m->gone_at[r] = m->started; /* never connected */
        }
    } else {
        m->up = fds[0];
    }
    if (ok) { /* the thread blocks every signal: SIGINT/SIGTERM stay the training thread's */
        sigset_t all, old;
        sigfillset(&all);
        pthread_sigmask(SIG_BLOCK, &all, &old);
        ok = pthread_create(&m->th, NULL, rank == 0 ? serve : beat, m) == 0;
        pthread_sigmask(SIG_SETMASK, &old, NULL);
    }
    m->have_th = ok;
    if (!ok) {
        wf_monitor_stop(m, false);
        return wf_error(WF_ERR_OOM, "rank monitor: cannot start its thread");
    }
    *out = m;
    return WF_OK;
}

void wf_monitor_enter(wf_monitor *m) {
    if (m) atomic_fetch_add(&m->entered, 1);
}

/* Appends ", " then the formatted text to buf (cap), keeping it terminated. */
static void add(char *buf, size_t cap, bool *first, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static void add(char *buf, size_t cap, bool *first, const char *fmt, ...) {
    size_t len = strlen(buf);
    if (!*first && len + 2 < cap) strcpy(buf + len, "; "), len += 2;
    *first = false;
    va_list ap;
    va_start(ap, fmt);
    if (len < cap) vsnprintf(buf + len, cap - len, fmt, ap);
    va_end(ap);
}

static void describe(const summary *s, char *buf, size_t cap) {
    bool first = true;
    snprintf(buf, cap, "rank monitor, at this rank's collective #%lld: ", (long long)s->ref);
    for (int i = 0; i < s->n_behind && i < LIST; i++)
        add(buf, cap, &first, "rank %lld has not entered it (it has entered %lld)", (long long)s->behind[i],
            (long long)s->behind_at[i]);
    if (s->n_behind > LIST) add(buf, cap, &first, "%lld more ranks have not", (long long)(s->n_behind - LIST));
    for (int i = 0; i < s->n_gone && i < LIST; i++)
        add(buf, cap, &first, "rank %lld left without finishing %.1f s ago (its process failed, was killed, "
            "or never connected)", (long long)s->gone[i], 1e-3 * (double)s->gone_ms[i]);
    if (s->n_gone > LIST) add(buf, cap, &first, "%lld more ranks left", (long long)(s->n_gone - LIST));
    for (int i = 0; i < s->n_silent && i < LIST; i++)
        add(buf, cap, &first, "rank %lld silent for %.1f s (its host or the network hangs)",
            (long long)s->silent[i], 1e-3 * (double)s->silent_ms[i]);
    if (s->n_silent > LIST) add(buf, cap, &first, "%lld more ranks silent", (long long)(s->n_silent - LIST));
    if (first) add(buf, cap, &first, "every other rank had entered it (the fault is inside NCCL, a GPU or the "
                   "network)");
}

void wf_monitor_explain(wf_monitor *m, char *buf, size_t cap) {
    if (cap) buf[0] = 0;
    if (!m || !cap) return;
    if (m->rank != 0) heartbeat(m, 1.0); /* fresh news: the last answer may predate the failure */
    double now = wf_sock_now();
    pthread_mutex_lock(&m->mu);
    if (m->rank == 0) {
        summary s = summarize(m, 0, atomic_load(&m->entered), now);
        describe(&s, buf, cap);
    } else if (m->lost_at > 0) {
        snprintf(buf, cap, "rank monitor: rank 0 unreachable for %.1f s (its process is gone or its host is "
                 "down)", now - m->lost_at);
    } else if (m->have_last) {
        describe(&m->last, buf, cap);
    } else {
        snprintf(buf, cap, "rank monitor: no answer from rank 0 yet");
    }
    pthread_mutex_unlock(&m->mu);
}

void wf_monitor_stop(wf_monitor *m, bool finished) {
    if (!m) return;
    pthread_mutex_lock(&m->mu);
    m->stop = true;
    pthread_mutex_unlock(&m->mu);
    if (m->wake[1] >= 0 && write(m->wake[1], "x", 1) < 0) { /* the thread then wakes within 1 s */ }
    if (m->have_th) pthread_join(m->th, NULL);
    if (m->rank != 0 && m->up >= 0) {
        if (finished) {
            unsigned char b[16];
            int64_t w[2] = {atomic_load(&m->entered), 1};
            put_words(b, w, 2);
            wf_sock_io(m->up, b, 16, true, wf_sock_now() + 1.0);
        }
        close(m->up);
    }
    for (int r = 1; m->fd && r < m->world; r++)
        if (m->fd[r] >= 0) close(m->fd[r]);
    for (int k = 0; k < 2; k++)
        if (m->wake[k] >= 0) close(m->wake[k]);
    pthread_mutex_destroy(&m->mu);
    pthread_mutex_destroy(&m->io);
    free(m->fd), free(m->seq), free(m->heard), free(m->gone_at), free(m->finished);
    free(m);
}
