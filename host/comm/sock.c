/* Bounded socket I/O (sock.h). */
#include "sock.h"

#include <errno.h>
#include <poll.h>
#include <sys/socket.h>
#include <time.h>

double wf_sock_now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

bool wf_sock_wait(int fd, short events, double deadline) {
    for (;;) {
        double left = deadline - wf_sock_now();
        if (left <= 0) return false;
        struct pollfd p = {.fd = fd, .events = events};
        int n = poll(&p, 1, (int)(left * 1000) + 1);
        if (n > 0) return true;
        if (n < 0 && errno != EINTR) return false;
    }
}

bool wf_sock_io(int fd, unsigned char *buf, int bytes, bool send_, double deadline) {
    int done = 0;
    while (done < bytes) {
        if (!wf_sock_wait(fd, send_ ? POLLOUT : POLLIN, deadline)) return false;
        ssize_t k = send_ ? send(fd, buf + done, (size_t)(bytes - done), MSG_NOSIGNAL)
                          : recv(fd, buf + done, (size_t)(bytes - done), 0);
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0) return false;
        done += (int)k;
    }
    return true;
}
