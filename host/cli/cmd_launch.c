/* `weft launch`: data-parallel runs on one machine.
 *   weft launch --gpus 0,1,2,3 [--master-port P] -- train CONFIG [ARGS]
 *     one process per GPU (this executable again) with RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR,
 *     MASTER_PORT and CUDA_VISIBLE_DEVICES set; NCCL between them. When one exits with an error or
 *     a signal, the others get SIGTERM (then SIGKILL after --grace seconds) and the launcher exits
 *     1 naming that rank. Ctrl-C reaches every rank (one process group): they agree on the step,
 *     checkpoint and exit 130, and so does the launcher.
 *   weft launch --cpu-ranks N -- train CONFIG [ARGS]
 *     N ranks as threads of this process over the CPU communicator (--set dist.cpu_ranks=N).
 * Multi-node runs do not use this command: srun / mpirun / torchrun-style launchers start
 * `weft train` on each node and the ranks read their variables (launch.h). */
#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"

#define MAX_RANKS 64

static int usage(FILE *f) {
    fprintf(f, "usage: weft launch (--gpus LIST | --cpu-ranks N) [--master-port P] [--grace S] -- "
               "train CONFIG [ARGS]\n"
               "  --gpus 0,1,2,3   one process per listed GPU, NCCL between them\n"
               "  --cpu-ranks N    N ranks as threads over the CPU communicator (no GPU needed)\n"
               "  --master-port P  TCP port rank 0 hands the NCCL id out on (default 29500)\n"
               "  --grace S        seconds the other ranks get to stop after one fails (default 30)\n"
               "Multi-node: start `weft train` with srun or mpirun (README \"Multi-GPU and multi-node\").\n");
    return f == stderr ? 2 : 0;
}

static int parse_gpus(const char *s, int *gpus) {
    int n = 0;
    const char *p = s;
    while (*p && n < MAX_RANKS) {
        char *end;
        long g = strtol(p, &end, 10);
        if (end == p || g < 0 || g > 1023 || (*end && *end != ',')) return -1;
        gpus[n++] = (int)g;
        p = *end ? end + 1 : end;
    }
    return *p ? -1 : n;
}

static void set_int(const char *name, int v) {
    char b[32];
    snprintf(b, sizeof b, "%d", v);
    setenv(name, b, 1);
}

/* The child: this executable with `args` and rank r's environment. */
static void exec_rank(char **args, int r, int world, int gpu, int port) {
    set_int("RANK", r), set_int("WORLD_SIZE", world), set_int("LOCAL_RANK", r);
    set_int("CUDA_VISIBLE_DEVICES", gpu), set_int("WEFT_DEVICE", 0), set_int("MASTER_PORT", port);
    setenv("MASTER_ADDR", "127.0.0.1", 1);
    execv("/proc/self/exe", args);
    fprintf(stderr, "weft launch: rank %d: cannot run /proc/self/exe: %s\n", r, strerror(errno));
    _exit(127);
}

static void describe(int status, char *buf, size_t cap) {
    if (WIFSIGNALED(status)) snprintf(buf, cap, "was killed by signal %d", WTERMSIG(status));
    else snprintf(buf, cap, "exited with status %d", WEXITSTATUS(status));
}

/* Waits for every child; after the first failure the rest get SIGTERM, then SIGKILL after
 * `grace` seconds. Returns the first failing rank, or -1. */
static int supervise(pid_t *pids, int n, double grace, int *first_status, bool *interrupted) {
    int left = n, first = -1;
    double kill_at = 0;
    while (left > 0) {
        int st;
        pid_t p = waitpid(-1, &st, WNOHANG);
        if (p > 0) {
            for (int r = 0; r < n; r++)
                if (pids[r] == p) {
                    pids[r] = 0, left--;
                    /* 130: stopped by a signal after a checkpoint (weft train), as the others */
                    bool bad = !(WIFEXITED(st) && (WEXITSTATUS(st) == 0 || WEXITSTATUS(st) == 130));
                    if (WIFEXITED(st) && WEXITSTATUS(st) == 130) *interrupted = true;
                    if (bad && first < 0) {
                        first = r, *first_status = st;
                        for (int k = 0; k < n; k++)
                            if (pids[k] > 0) kill(pids[k], SIGTERM);
                        struct timespec t;
                        clock_gettime(CLOCK_MONOTONIC, &t);
                        kill_at = (double)t.tv_sec + grace;
                    }
                }
            continue;
        }
        if (first >= 0) {
            struct timespec t;
            clock_gettime(CLOCK_MONOTONIC, &t);
            if ((double)t.tv_sec > kill_at)
                for (int k = 0; k < n; k++)
                    if (pids[k] > 0) kill(pids[k], SIGKILL);
        }
        struct timespec ts = {0, 50000000L};
        nanosleep(&ts, NULL);
    }
    return first;
}

static int launch_gpus(int *gpus, int n, char **rest, int nrest, int port, double grace) {
    char **args = calloc((size_t)nrest + 2, sizeof *args);
    pid_t pids[MAX_RANKS] = {0};
    if (!args) return fprintf(stderr, "weft launch: out of memory\n"), 1;
    args[0] = "weft";
    for (int i = 0; i < nrest; i++) args[i + 1] = rest[i];
    signal(SIGINT, SIG_IGN); /* the children get the terminal's signals and checkpoint */
    int started = n;
    for (int r = 0; r < n; r++) {
        pid_t p = fork();
        if (p == 0) exec_rank(args, r, n, gpus[r], port);
        if (p < 0) {
            fprintf(stderr, "weft launch: fork for rank %d: %s\n", r, strerror(errno));
            for (int k = 0; k < r; k++) kill(pids[k], SIGTERM);
            started = r;
            break;
        }
        pids[r] = p;
    }
    int st = 0;
    bool interrupted = false;
    int bad = supervise(pids, started, grace, &st, &interrupted);
    free(args);
    if (started < n) return 1; /* the stopped ranks may exit 0 or 130: still a failed launch */
    if (bad >= 0) {
        char how[64];
        describe(st, how, sizeof how);
        fprintf(stderr, "weft launch: rank %d (GPU %d) %s; the other ranks were stopped\n", bad, gpus[bad], how);
        return 1;
    }
    return interrupted ? 130 : 0;
}

static int launch_cpu(int n, char **rest, int nrest) {
    if (nrest < 1 || strcmp(rest[0], "train") != 0) {
        fprintf(stderr, "weft launch: --cpu-ranks runs `train` (got '%s')\n", nrest ? rest[0] : "");
        return 2;
    }
    char set[64];
    snprintf(set, sizeof set, "dist.cpu_ranks=%d", n);
    char **args = calloc((size_t)nrest + 3, sizeof *args);
    if (!args) return fprintf(stderr, "weft launch: out of memory\n"), 1;
    for (int i = 0; i < nrest; i++) args[i] = rest[i];
    args[nrest] = "--set", args[nrest + 1] = set;
    int rc = wf_cmd_train(nrest + 2, args);
    free(args);
    return rc;
}

/* A whole decimal integer in [lo, hi] ("4abc", "", "99999999999" are not). */
static bool parse_int(const char *v, long lo, long hi, int *out) {
    char *end = NULL;
    errno = 0;
    long x = strtol(v, &end, 10);
    if (errno || end == v || *end || x < lo || x > hi) return false;
    *out = (int)x;
    return true;
}

int wf_cmd_launch(int argc, char **argv) {
    int gpus[MAX_RANKS], ngpus = 0, cpu_ranks = 0, port = 29500, i = 1;
    double grace = 30;
    for (; i < argc && strcmp(argv[i], "--"); i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) return usage(stdout);
        if (!strcmp(a, "--gpus") && v) {
            if ((ngpus = parse_gpus(v, gpus)) < 1)
                return fprintf(stderr, "weft launch: --gpus '%s': expected GPU indices like 0,1,2,3 (at most %d)\n",
                               v, MAX_RANKS), 2;
        } else if (!strcmp(a, "--cpu-ranks") && v) {
            if (!parse_int(v, 1, MAX_RANKS, &cpu_ranks))
                return fprintf(stderr, "weft launch: --cpu-ranks '%s': expected 1..%d\n", v, MAX_RANKS), 2;
        } else if (!strcmp(a, "--master-port") && v) {
            if (!parse_int(v, 1, 65535, &port)) return fprintf(stderr, "weft launch: --master-port '%s': expected 1..65535\n", v), 2;
        } else if (!strcmp(a, "--grace") && v) {
            char *end = NULL;
            grace = strtod(v, &end);
            if (end == v || *end || !(grace >= 0)) return fprintf(stderr, "weft launch: --grace '%s': expected seconds >= 0\n", v), 2;
        } else {
            fprintf(stderr, "weft launch: unexpected argument '%s'\n", a);
            return usage(stderr);
        }
        i++;
    }
    if (i >= argc - 1 || (ngpus > 0) == (cpu_ranks > 0)) return usage(stderr);
    char **rest = argv + i + 1;
    int nrest = argc - i - 1;
    return ngpus ? launch_gpus(gpus, ngpus, rest, nrest, port, grace) : launch_cpu(cpu_ranks, rest, nrest);
}
