/* The launcher environment and the TCP hand-out of the NCCL id (host/comm/launch_env.c): the
 * variable families of weft launch / torchrun, mpirun and srun, bad values named, an id sent from
 * rank 0 to 3 peers (threads), and bounded waits that name what is missing. Then `weft launch`
 * itself (argv[1]: the weft executable): usage errors, and a failing rank named by the launcher. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "expect.h"
#include "weft/launch.h"

static const char *const k_vars[] = {"RANK", "WORLD_SIZE", "LOCAL_RANK", "OMPI_COMM_WORLD_RANK",
                                     "OMPI_COMM_WORLD_SIZE", "OMPI_COMM_WORLD_LOCAL_RANK", "SLURM_PROCID",
                                     "SLURM_NTASKS", "SLURM_LOCALID", "MASTER_ADDR", "MASTER_PORT",
                                     "WEFT_DEVICE", "SLURM_NNODES", "OMPI_COMM_WORLD_LOCAL_SIZE"};

static void clear_env(void) {
    for (size_t i = 0; i < sizeof k_vars / sizeof k_vars[0]; i++) unsetenv(k_vars[i]);
}

static void env_cases(void) {
    wf_launch_env e;
    clear_env();
    EXPECT(wf_launch_env_read(&e) == WF_OK && e.world == 1 && e.rank == 0 && !strcmp(e.source, "none"));
    setenv("SLURM_PROCID", "5", 1), setenv("SLURM_NTASKS", "8", 1), setenv("SLURM_LOCALID", "1", 1);
    setenv("MASTER_ADDR", "node07", 1), setenv("MASTER_PORT", "1234", 1);
    EXPECT(wf_launch_env_read(&e) == WF_OK && e.rank == 5 && e.world == 8 && e.local_rank == 1 &&
           e.device == 1 && !strcmp(e.addr, "node07") && e.port == 1234 && !strcmp(e.source, "SLURM_*"));
    /* mpirun's variables win over srun's, RANK/WORLD_SIZE over both */
    setenv("OMPI_COMM_WORLD_RANK", "2", 1), setenv("OMPI_COMM_WORLD_SIZE", "4", 1);
    EXPECT(wf_launch_env_read(&e) == WF_OK && e.rank == 2 && e.world == 4 && e.local_rank == 2);
    setenv("RANK", "3", 1), setenv("WORLD_SIZE", "4", 1), setenv("LOCAL_RANK", "0", 1), setenv("WEFT_DEVICE", "0", 1);
    EXPECT(wf_launch_env_read(&e) == WF_OK && e.rank == 3 && e.local_rank == 0 && e.device == 0 &&
           !strcmp(e.source, "RANK/WORLD_SIZE"));
    setenv("RANK", "4", 1);
    EXPECT(wf_launch_env_read(&e) == WF_ERR_INVALID && strstr(wf_last_error(), "RANK=4 is not below WORLD_SIZE=4"));
    setenv("RANK", "x1", 1);
    EXPECT(wf_launch_env_read(&e) == WF_ERR_INVALID && strstr(wf_last_error(), "RANK=\"x1\""));
    unsetenv("WORLD_SIZE"), setenv("RANK", "1", 1);
    EXPECT(wf_launch_env_read(&e) == WF_ERR_INVALID && strstr(wf_last_error(), "WORLD_SIZE is not"));
    /* several nodes without MASTER_ADDR: an error, not a timeout at 127.0.0.1 */
    clear_env();
    setenv("SLURM_PROCID", "0", 1), setenv("SLURM_NTASKS", "16", 1), setenv("SLURM_NNODES", "2", 1);
    EXPECT(wf_launch_env_read(&e) == WF_ERR_INVALID && strstr(wf_last_error(), "MASTER_ADDR is not set"));
    setenv("SLURM_NNODES", "1", 1);
    EXPECT(wf_launch_env_read(&e) == WF_OK && !strcmp(e.addr, "127.0.0.1"));
    clear_env();
    setenv("OMPI_COMM_WORLD_RANK", "1", 1), setenv("OMPI_COMM_WORLD_SIZE", "8", 1);
    setenv("OMPI_COMM_WORLD_LOCAL_SIZE", "4", 1);
    EXPECT(wf_launch_env_read(&e) == WF_ERR_INVALID && strstr(wf_last_error(), "OMPI_COMM_WORLD_*"));
    clear_env();
    setenv("MASTER_PORT", "70000", 1);
    EXPECT(wf_launch_env_read(&e) == WF_ERR_INVALID && strstr(wf_last_error(), "MASTER_PORT"));
    clear_env();
}

typedef struct peer {
    wf_launch_env e;
    unsigned char id[WF_NCCL_ID_BYTES];
    double timeout;
    wf_status s;
    char msg[512];
} peer;

static void *peer_main(void *arg) {
    peer *p = arg;
    p->s = wf_launch_exchange_id(&p->e, p->id, WF_NCCL_ID_BYTES, p->timeout);
    snprintf(p->msg, sizeof p->msg, "%s", wf_last_error());
    return NULL;
}

/* world ranks exchange an id on `port`; ranks listed in `absent` do not take part. */
static void exchange(int world, int port, int absent, double timeout, peer *ps) {
    pthread_t th[4];
    for (int r = 0; r < world; r++) {
        ps[r] = (peer){.e = {.rank = r, .world = world, .port = port}, .timeout = timeout};
        snprintf(ps[r].e.addr, sizeof ps[r].e.addr, "127.0.0.1");
        if (r == 0)
            for (int i = 0; i < WF_NCCL_ID_BYTES; i++) ps[r].id[i] = (unsigned char)(i * 7 + 3);
        if (r != absent) pthread_create(&th[r], NULL, peer_main, &ps[r]);
    }
    for (int r = 0; r < world; r++)
        if (r != absent) pthread_join(th[r], NULL);
}

static void tcp_cases(void) {
    int port = 20000 + (int)(getpid() % 20000);
    peer ps[4];
    exchange(4, port, -1, 10.0, ps);
    for (int r = 0; r < 4; r++) {
        CHECK(ps[r].s == WF_OK, "rank %d: %s", r, ps[r].msg);
        CHECK(memcmp(ps[r].id, ps[0].id, WF_NCCL_ID_BYTES) == 0, "rank %d got another id", r);
    }
    /* rank 2 never comes: rank 0 gives up after the timeout, naming it */
    exchange(3, port + 1, 2, 0.5, ps);
    CHECK(ps[0].s == WF_ERR_IO && strstr(ps[0].msg, "rank 2") && strstr(ps[0].msg, "did not connect"),
          "rank 0 with rank 2 absent: '%s'", ps[0].msg);
    /* rank 0 never comes: the others give up, naming the address */
    exchange(2, port + 2, 0, 0.5, ps);
    CHECK(ps[1].s == WF_ERR_IO && strstr(ps[1].msg, "127.0.0.1"), "rank 1 with rank 0 absent: '%s'", ps[1].msg);
}

/* Runs `weft ARGS` and returns its exit status; its stderr goes to `err`. */
static int run_weft(const char *weft, char *const *args, const char *err) {
    pid_t p = fork();
    if (p == 0) {
        if (!freopen(err, "w", stderr)) _exit(126);
        execv(weft, args);
        _exit(127);
    }
    int st;
    waitpid(p, &st, 0);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128;
}

static void launch_cases(const char *weft) {
    char err[64], text[4096] = {0};
    snprintf(err, sizeof err, "/tmp/weft_launch_%d.err", (int)getpid());
    char *none[] = {(char *)weft, "launch", NULL};
    EXPECT(run_weft(weft, none, err) == 2);
    char *both[] = {(char *)weft, "launch", "--gpus", "0", "--cpu-ranks", "2", "--", "train", "x.json", NULL};
    EXPECT(run_weft(weft, both, err) == 2);
    char *badg[] = {(char *)weft, "launch", "--gpus", "0,a", "--", "train", "x.json", NULL};
    EXPECT(run_weft(weft, badg, err) == 2);
    /* numbers are whole: trailing junk, empty and out-of-range values are usage errors */
    char *junk[] = {(char *)weft, "launch", "--cpu-ranks", "4abc", "--", "train", "x.json", NULL};
    EXPECT(run_weft(weft, junk, err) == 2);
    char *port[] = {(char *)weft, "launch", "--gpus", "0", "--master-port", "29500x", "--", "train", "x.json", NULL};
    EXPECT(run_weft(weft, port, err) == 2);
    char *bigport[] = {(char *)weft, "launch", "--gpus", "0", "--master-port", "99999999999", "--", "train",
                       "x.json", NULL};
    EXPECT(run_weft(weft, bigport, err) == 2);
    char *grace[] = {(char *)weft, "launch", "--gpus", "0", "--grace", "1s", "--", "train", "x.json", NULL};
    EXPECT(run_weft(weft, grace, err) == 2);
    char *cpu_eval[] = {(char *)weft, "launch", "--cpu-ranks", "2", "--", "eval", "x.json", NULL};
    EXPECT(run_weft(weft, cpu_eval, err) == 2);
    char *cpu_bad[] = {(char *)weft, "launch", "--cpu-ranks", "2", "--", "train", "/nonexistent/cfg.json", NULL};
    EXPECT(run_weft(weft, cpu_bad, err) == 1);
    /* every rank fails (no such config): the launcher exits 1 naming a rank and its GPU */
    char *fail[] = {(char *)weft, "launch", "--gpus", "3,5", "--grace", "1", "--", "train",
                    "/nonexistent/cfg.json", NULL};
    EXPECT(run_weft(weft, fail, err) == 1);
    FILE *f = fopen(err, "r");
    if (f) text[fread(text, 1, sizeof text - 1, f)] = 0, fclose(f);
    CHECK(strstr(text, "weft launch: rank ") && strstr(text, "(GPU ") && strstr(text, "exited with status 1"),
          "launcher message: '%s'", text);
    unlink(err);
}

int main(int argc, char **argv) {
    env_cases();
    tcp_cases();
    if (argc > 1) launch_cases(argv[1]);
    if (failures) fprintf(stderr, "%d failures\n", failures);
    return failures ? 1 : 0;
}
