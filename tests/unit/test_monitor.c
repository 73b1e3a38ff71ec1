/* The rank monitor (host/comm/monitor.c) over real processes and the TCP connections of the id
 * hand-out (wf_launch_exchange_id_keep), heartbeats every 0.1 s: a rank that has not entered the
 * others' collective is named with its count, from rank 0 and from another rank; a rank whose
 * process dies is named as gone, one stopped (SIGSTOP) as silent, one that finishes normally not
 * at all; a rank that lost rank 0 says so. Each rank is a forked child driven over a pipe. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "expect.h"
#include "weft/launch.h"
#include "weft/monitor.h"

#define MAX_RANKS 4

typedef struct child {
    pid_t pid;
    int cmd, reply; /* the parent's ends */
} child;

static int free_port(void) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof sa;
    if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof sa) != 0 ||
        getsockname(fd, (struct sockaddr *)&sa, &len) != 0)
        abort();
    close(fd);
    return ntohs(sa.sin_port);
}

static void sleep_s(double s) {
    struct timespec ts = {(time_t)s, (long)((s - (double)(time_t)s) * 1e9)};
    nanosleep(&ts, NULL);
}

/* A rank: joins, starts its monitor, then obeys one-letter commands: e N (enter N collectives),
 * x (explain: one line back), q (stop as finished, exit 0), k (die: _exit(3), no goodbye). */
static void rank_main(int rank, int world, int port, int cmd, int reply) {
    wf_launch_env e = {.rank = rank, .world = world, .port = port};
    snprintf(e.addr, sizeof e.addr, "127.0.0.1");
    unsigned char id[WF_NCCL_ID_BYTES] = {1, 2, 3};
    int fds[MAX_RANKS];
    wf_monitor *m = NULL;
    if (wf_launch_exchange_id_keep(&e, id, WF_NCCL_ID_BYTES, 20.0, fds) != WF_OK ||
        wf_monitor_start(rank, world, fds, 0.1, &m) != WF_OK) {
        fprintf(stderr, "rank %d: %s\n", rank, wf_last_error());
        _exit(2);
    }
    FILE *in = fdopen(cmd, "r");
    char line[64];
    while (fgets(line, sizeof line, in)) {
        if (line[0] == 'e') {
            for (int n = atoi(line + 2); n > 0; n--) wf_monitor_enter(m);
        } else if (line[0] == 'x') {
            char why[1024];
            wf_monitor_explain(m, why, sizeof why);
            dprintf(reply, "%s\n", why);
        } else if (line[0] == 'q') {
            wf_monitor_stop(m, true);
            _exit(0);
        } else if (line[0] == 'k') {
            _exit(3);
        }
    }
    _exit(4);
}

static void spawn(int world, child *ch) {
    int port = free_port();
    for (int r = 0; r < world; r++) {
        int c[2], p[2];
        if (pipe(c) || pipe(p)) abort();
        pid_t pid = fork();
        if (pid == 0) {
            close(c[1]), close(p[0]);
            rank_main(r, world, port, c[0], p[1]);
        }
        close(c[0]), close(p[1]);
        ch[r] = (child){.pid = pid, .cmd = c[1], .reply = p[0]};
    }
}

static void say(const child *c, const char *cmd) { dprintf(c->cmd, "%s\n", cmd); }

/* The rank's explanation (one line). */
static void explain(const child *c, char *out, size_t cap) {
    say(c, "x");
    size_t n = 0;
    out[0] = 0;
    while (n + 1 < cap && read(c->reply, out + n, 1) == 1 && out[n] != '\n') n++;
    out[n] = 0;
}

static int reap(const child *c) {
    int st = 0;
    waitpid(c->pid, &st, 0);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static void three_ranks(void) {
    child ch[3];
    spawn(3, ch);
    char a[1024], b[1024];
    /* ranks 0 and 1 enter 5 collectives, rank 2 only 3 */
    say(&ch[0], "e 5"), say(&ch[1], "e 5"), say(&ch[2], "e 3");
    sleep_s(0.6);
    explain(&ch[0], a, sizeof a), explain(&ch[1], b, sizeof b);
    CHECK(strstr(a, "collective #5") && strstr(a, "rank 2 has not entered it (it has entered 3)") &&
          !strstr(a, "rank 1"), "rank 0: %s", a);
    CHECK(strstr(b, "collective #5") && strstr(b, "rank 2 has not entered it (it has entered 3)") &&
          !strstr(b, "rank 0"), "rank 1: %s", b);
    /* once rank 2 catches up, nobody is behind */
    say(&ch[2], "e 2");
    sleep_s(0.6);
    explain(&ch[0], a, sizeof a);
    CHECK(strstr(a, "every other rank had entered it"), "rank 0 after rank 2 caught up: %s", a);
    /* rank 1 stopped (SIGSTOP): silent after 10 heartbeats (1 s) */
    kill(ch[1].pid, SIGSTOP);
    sleep_s(1.6);
    explain(&ch[0], a, sizeof a);
    CHECK(strstr(a, "rank 1 silent for"), "rank 0 with rank 1 stopped: %s", a);
    kill(ch[1].pid, SIGCONT);
    /* rank 2 dies without a goodbye: gone, as seen from rank 0 and from rank 1 */
    say(&ch[2], "k");
    EXPECT(reap(&ch[2]) == 3);
    sleep_s(0.6);
    explain(&ch[0], a, sizeof a), explain(&ch[1], b, sizeof b);
    CHECK(strstr(a, "rank 2 left without finishing") && !strstr(a, "rank 1"), "rank 0 after rank 2 died: %s", a);
    CHECK(strstr(b, "rank 2 left without finishing"), "rank 1 after rank 2 died: %s", b);
    /* rank 1 finishes normally: not reported */
    say(&ch[1], "q");
    EXPECT(reap(&ch[1]) == 0);
    sleep_s(0.3);
    explain(&ch[0], a, sizeof a);
    CHECK(!strstr(a, "rank 1"), "rank 0 after rank 1 finished: %s", a);
    say(&ch[0], "q");
    EXPECT(reap(&ch[0]) == 0);
}

static void rank0_dies(void) {
    child ch[2];
    spawn(2, ch);
    char b[1024];
    sleep_s(0.3);
    explain(&ch[1], b, sizeof b);
    CHECK(strstr(b, "every other rank had entered it"), "rank 1 at the start: %s", b);
    say(&ch[0], "k");
    EXPECT(reap(&ch[0]) == 3);
    sleep_s(0.6);
    explain(&ch[1], b, sizeof b);
    CHECK(strstr(b, "rank 0 unreachable"), "rank 1 after rank 0 died: %s", b);
    say(&ch[1], "q");
    EXPECT(reap(&ch[1]) == 0);
}

int main(void) {
    signal(SIGPIPE, SIG_IGN);
    three_ranks();
    rank0_dies();
    if (failures) fprintf(stderr, "%d failure(s)\n", failures);
    else printf("rank monitor: ok\n");
    return failures != 0;
}
