/* Bounded socket I/O shared by the NCCL id hand-out (launch_env.c) and the rank monitor
 * (monitor.c): every wait is a poll with the time left before a deadline on the monotonic clock.
 * Internal to host/comm. */
#ifndef WEFT_HOST_COMM_SOCK_H
#define WEFT_HOST_COMM_SOCK_H

#include <stdbool.h>

/* Seconds on the monotonic clock. */
double wf_sock_now(void);
/* Waits for `events` (POLLIN / POLLOUT) on fd until the deadline; false on timeout or error. */
bool wf_sock_wait(int fd, short events, double deadline);
/* Sends (send_ true) or receives exactly `bytes`; false on timeout, error or a closed peer. */
bool wf_sock_io(int fd, unsigned char *buf, int bytes, bool send_, double deadline);

#endif
