/* A rank's place from the launcher's environment, and the TCP hand-out of rank 0's NCCL unique
 * id (launch.h). Every socket wait is bounded (poll with the remaining time); a peer that never
 * comes is named. Not here: starting processes (host/cli/cmd_launch.c). */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "sock.h"
#include "weft/launch.h"

static wf_status env_int(const char *name, int lo, int *out, bool *found) {
    const char *v = getenv(name);
    *found = v && *v;
    if (!*found) return WF_OK;
    char *end;
    long x = strtol(v, &end, 10);
    if (*end || x < lo || x > 1 << 20)
        return wf_error(WF_ERR_INVALID, "environment: %s=\"%s\" is not a number >= %d", name, v, lo);
    *out = (int)x;
    return WF_OK;
}

/* Reads rank, world and local rank from one family of variables; *hit when its rank is set. */
static wf_status read_family(wf_launch_env *e, const char *const names[3], const char *source, bool *hit) {
    bool fr, fw, fl;
    int rank = 0, world = 1, local = 0;
    WF_TRY(env_int(names[0], 0, &rank, &fr));
    WF_TRY(env_int(names[1], 1, &world, &fw));
    WF_TRY(env_int(names[2], 0, &local, &fl));
    *hit = fr || fw;
    if (!*hit) return WF_OK;
    if (fr != fw)
        return wf_error(WF_ERR_INVALID, "environment: %s is set but %s is not", fr ? names[0] : names[1],
                        fr ? names[1] : names[0]);
    if (rank >= world)
        return wf_error(WF_ERR_INVALID, "environment: %s=%d is not below %s=%d", names[0], rank, names[1], world);
    e->rank = rank, e->world = world, e->local_rank = fl ? local : rank;
    snprintf(e->source, sizeof e->source, "%s", source);
    return WF_OK;
}

/* Whether the launcher says the ranks are on more than one node (then 127.0.0.1 cannot be rank
 * 0's address). */
static bool spans_nodes(const wf_launch_env *e) {
    const char *nodes = getenv("SLURM_NNODES"), *local = getenv("OMPI_COMM_WORLD_LOCAL_SIZE");
    if (!strcmp(e->source, "SLURM_*") && nodes && atoi(nodes) > 1) return true;
    return !strcmp(e->source, "OMPI_COMM_WORLD_*") && local && atoi(local) > 0 && atoi(local) < e->world;
}

wf_status wf_launch_env_read(wf_launch_env *e) {
    memset(e, 0, sizeof *e);
    e->world = 1, e->port = 29500;
    snprintf(e->addr, sizeof e->addr, "127.0.0.1");
    snprintf(e->source, sizeof e->source, "none");
    static const char *const fam[3][3] = {{"RANK", "WORLD_SIZE", "LOCAL_RANK"},
                                          {"OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_SIZE", "OMPI_COMM_WORLD_LOCAL_RANK"},
                                          {"SLURM_PROCID", "SLURM_NTASKS", "SLURM_LOCALID"}};
    static const char *const src[3] = {"RANK/WORLD_SIZE", "OMPI_COMM_WORLD_*", "SLURM_*"};
    bool hit = false;
    for (int i = 0; i < 3 && !hit; i++) WF_TRY(read_family(e, fam[i], src[i], &hit));
    const char *a = getenv("MASTER_ADDR");
    if (a && *a) snprintf(e->addr, sizeof e->addr, "%s", a);
    else if (e->world > 1 && spans_nodes(e))
        return wf_error(WF_ERR_INVALID, "environment: %s says %d ranks on several nodes, but MASTER_ADDR "
                        "is not set (the host of rank 0, where the NCCL id is handed out)", e->source, e->world);
    bool found;
    WF_TRY(env_int("MASTER_PORT", 1, &e->port, &found));
    if (e->port > 65535) return wf_error(WF_ERR_INVALID, "environment: MASTER_PORT=%d is not a port", e->port);
    e->device = e->local_rank;
    WF_TRY(env_int("WEFT_DEVICE", 0, &e->device, &found));
    return WF_OK;
}

/* Rank 0: accept world-1 peers; each sends its rank (4 bytes) and gets the id. keep (world):
 * keep[r] = the connection of rank r instead of closing it. */
static wf_status serve_id(const wf_launch_env *e, const unsigned char *id, int bytes, double deadline,
                          double timeout_s, int *keep) {
    int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1;
    if (fd < 0) return wf_error(WF_ERR_IO, "launch: socket: %s", strerror(errno));
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)e->port),
                             .sin_addr.s_addr = htonl(INADDR_ANY)};
    if (bind(fd, (struct sockaddr *)&sa, sizeof sa) != 0 || listen(fd, e->world) != 0) {
        close(fd);
        return wf_error(WF_ERR_IO, "launch: rank 0 cannot listen on port %d (MASTER_PORT): %s", e->port,
                        strerror(errno));
    }
    char *seen = calloc((size_t)e->world, 1);
    int got = 0;
    wf_status s = seen ? WF_OK : wf_error(WF_ERR_OOM, "launch: out of memory");
    while (s == WF_OK && got < e->world - 1) {
        if (!wf_sock_wait(fd, POLLIN, deadline)) {
            int miss = 1;
            while (miss < e->world && seen[miss]) miss++;
            s = wf_error(WF_ERR_IO, "launch: rank %d (and %d more) did not connect to %s:%d within %g s",
                         miss, e->world - 2 - got, e->addr, e->port, timeout_s);
            break;
        }
        int c = accept(fd, NULL, NULL);
        if (c < 0) continue;
        unsigned char rb[4];
        if (wf_sock_io(c, rb, 4, false, deadline)) {
            int r = (int)((uint32_t)rb[0] | (uint32_t)rb[1] << 8 | (uint32_t)rb[2] << 16 | (uint32_t)rb[3] << 24);
            if (r > 0 && r < e->world && !seen[r] && wf_sock_io(c, (unsigned char *)id, bytes, true, deadline)) {
                seen[r] = 1, got++;
                if (keep) keep[r] = c, c = -1;
            }
        }
        if (c >= 0) close(c);
    }
    for (int r = 1; keep && s != WF_OK && r < e->world; r++)
        if (keep[r] >= 0) close(keep[r]), keep[r] = -1;
    free(seen);
    close(fd);
    return s;
}

/* keep: *keep = the connection to rank 0 instead of closing it. */
static wf_status fetch_id(const wf_launch_env *e, unsigned char *id, int bytes, double deadline,
                          double timeout_s, int *keep) {
    struct addrinfo hints = {.ai_family = AF_INET, .ai_socktype = SOCK_STREAM}, *ai = NULL;
    char port[16];
    snprintf(port, sizeof port, "%d", e->port);
    if (getaddrinfo(e->addr, port, &hints, &ai) != 0 || !ai)
        return wf_error(WF_ERR_INVALID, "launch: MASTER_ADDR %s does not resolve", e->addr);
    wf_status s = WF_ERR_IO;
    while (s != WF_OK && wf_sock_now() < deadline) {
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        if (fd >= 0 && connect(fd, ai->ai_addr, ai->ai_addrlen) == 0) {
            unsigned char rb[4] = {(unsigned char)e->rank, (unsigned char)(e->rank >> 8),
                                   (unsigned char)(e->rank >> 16), (unsigned char)(e->rank >> 24)};
            if (wf_sock_io(fd, rb, 4, true, deadline) && wf_sock_io(fd, id, bytes, false, deadline)) s = WF_OK;
        }
        if (s == WF_OK && keep) *keep = fd, fd = -1;
        if (fd >= 0) close(fd);
        if (s != WF_OK) {
            struct timespec ts = {0, 100000000L}; /* rank 0 may not listen yet */
            nanosleep(&ts, NULL);
        }
    }
    freeaddrinfo(ai);
    if (s != WF_OK)
        return wf_error(WF_ERR_IO, "launch: rank %d could not get the NCCL id from rank 0 at %s:%d within "
                        "%g s (is rank 0 running? MASTER_ADDR/MASTER_PORT)", e->rank, e->addr, e->port,
                        timeout_s);
    return WF_OK;
}

wf_status wf_launch_exchange_id_keep(const wf_launch_env *e, unsigned char *id, int bytes, double timeout_s,
                                     int *fds) {
    for (int r = 0; fds && r < e->world; r++) fds[r] = -1;
    if (e->world == 1) return WF_OK;
    double deadline = wf_sock_now() + timeout_s;
    return e->rank == 0 ? serve_id(e, id, bytes, deadline, timeout_s, fds)
                        : fetch_id(e, id, bytes, deadline, timeout_s, fds);
}

wf_status wf_launch_exchange_id(const wf_launch_env *e, unsigned char *id, int bytes, double timeout_s) {
    return wf_launch_exchange_id_keep(e, id, bytes, timeout_s, NULL);
}
