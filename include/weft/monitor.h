/* The rank monitor of a multi-process run (NCCL): which rank a hang or a failure is waiting on.
 *
 * NCCL cannot say which peer a stuck collective waits for, nor which peer's process died. The
 * monitor keeps the TCP connections of the NCCL id hand-out (launch.h) open: every rank counts
 * the collectives it enters, and a thread sends that count to rank 0 every 0.5 s; rank 0 keeps
 * the table (last count, last heard, left cleanly or not) and answers each heartbeat with what
 * it knows about the other ranks relative to the sender's count. When a collective fails or
 * times out (comm_nccl.c), the message says which ranks had not entered it, which left without
 * finishing (their connection closed: the process failed or was killed), and which went
 * silent (hung host or network). Costs one tiny message a rank every 0.5 s; nothing on the
 * training path but an atomic increment a collective. Rank 0 unreachable is said as such. */
#ifndef WEFT_MONITOR_H
#define WEFT_MONITOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "weft/status.h"

typedef struct wf_monitor wf_monitor;

/* Starts the monitor of `rank` of `world` over the hand-out's sockets, which it takes over (and
 * closes when stopped): rank 0 fds[r] for r in [1, world) (fds[0] unused), the others fds[0],
 * their connection to rank 0. interval_s: the heartbeat period (0: 0.5 s); a rank is silent
 * after 10 periods (at least 1 s) without a heartbeat. */
wf_status wf_monitor_start(int rank, int world, const int *fds, double interval_s, wf_monitor **out);
/* This rank enters its next collective (every rank enters the same ones in the same order, so
 * the counts compare across ranks). Thread-safe; NULL does nothing. */
void wf_monitor_enter(wf_monitor *m);
/* A sentence on the other ranks as last known, relative to this rank's count: the ranks that
 * had not entered its last collective, left without finishing, or went silent, else that all
 * of them had entered it. Empty for NULL. */
void wf_monitor_explain(wf_monitor *m, char *buf, size_t cap);
/* Stops the thread and closes the connections; `finished`: this rank ends normally (told to
 * rank 0, so that its closing connection is not reported as a failure). NULL does nothing. */
void wf_monitor_stop(wf_monitor *m, bool finished);

#endif
