/* Which ranks a `weft train` runs (run.h): one rank; `dist.cpu_ranks` ranks as threads over the
 * CPU communicator; or, under a launcher (weft launch, srun, mpirun, torchrun-style variables),
 * this process's rank over NCCL with the unique id handed out by rank 0 over TCP (launch.h).
 * A rank that fails marks its communicator dead so the others stop at their next collective;
 * the error reported is the first failing rank's own. Not here: the step loop (run.c). */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "run_internal.h"
#include "weft/launch.h"
#include "weft/monitor.h"

/* The ranks of one dist.cpu_ranks run; on the heap, because a rank that hangs is left behind
 * with it (the process exit ends that thread). */
typedef struct rank_set {
    wf_run_config cfg; /* every rank on the cpu backend */
    const wf_run_opts *o;
    wf_comm_group *g;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int finished;
    struct rank_job {
        struct rank_set *set;
        wf_comm *comm;
        wf_status s;
        bool interrupted;
        pthread_t th;
    } *jobs; /* (world) */
} rank_set;

static void *rank_thread(void *arg) {
    struct rank_job *j = arg;
    rank_set *rs = j->set;
    j->s = wf_run_train_rank(&rs->cfg, rs->o, j->comm, &j->interrupted);
    if (j->s != WF_OK) wf_comm_abort(j->comm, wf_last_error());
    pthread_mutex_lock(&rs->mu);
    rs->finished++;
    pthread_cond_broadcast(&rs->cv);
    pthread_mutex_unlock(&rs->mu);
    return NULL;
}

/* Waits for `n` ranks; once one has failed, the rest get the communicator timeout (plus 1 s) to
 * stop, after which a rank still running counts as hung. Returns the ranks that finished. */
static int wait_ranks(rank_set *rs, int n) {
    pthread_mutex_lock(&rs->mu);
    bool failing = false;
    struct timespec dl = {0};
    while (rs->finished < n) {
        if (!failing && wf_comm_cpu_first_failure(rs->g, NULL, 0) >= 0) {
            failing = true;
            clock_gettime(CLOCK_REALTIME, &dl);
            dl.tv_sec += (time_t)rs->cfg.dist.timeout_s + 1;
        }
        struct timespec tick;
        clock_gettime(CLOCK_REALTIME, &tick);
        tick.tv_nsec += 100000000L;
        if (tick.tv_nsec >= 1000000000L) tick.tv_sec++, tick.tv_nsec -= 1000000000L;
        pthread_cond_timedwait(&rs->cv, &rs->mu, &tick);
        if (failing && tick.tv_sec > dl.tv_sec) break;
    }
    int done = rs->finished;
    pthread_mutex_unlock(&rs->mu);
    return done;
}

static wf_status train_cpu_ranks(const wf_run_config *cfg, const wf_run_opts *o, bool *interrupted) {
    int W = (int)cfg->dist.cpu_ranks;
    if (cfg->backend.name == WF_CFG_BACKEND_CUDA)
        return wf_error(WF_ERR_INVALID, "'dist.cpu_ranks' %d runs ranks over the CPU communicator: it "
                        "needs backend.name cpu (GPUs: weft launch --gpus)", W);
    rank_set *rs = calloc(1, sizeof *rs);
    if (rs) rs->jobs = calloc((size_t)W, sizeof *rs->jobs);
    if (!rs || !rs->jobs) {
        if (rs) free(rs->jobs);
        free(rs);
        return wf_error(WF_ERR_OOM, "train: out of memory for %d ranks", W);
    }
    wf_status s = wf_comm_cpu_group_create(W, cfg->dist.timeout_s, &rs->g);
    if (s != WF_OK) return free(rs->jobs), free(rs), s;
    rs->cfg = *cfg, rs->o = o;
    rs->cfg.backend.name = WF_CFG_BACKEND_CPU;
    pthread_mutex_init(&rs->mu, NULL);
    pthread_cond_init(&rs->cv, NULL);
    int started = 0;
    for (int r = 0; r < W; r++) {
        rs->jobs[r] = (struct rank_job){.set = rs, .comm = wf_comm_cpu_get(rs->g, r)};
        if (pthread_create(&rs->jobs[r].th, NULL, rank_thread, &rs->jobs[r]) != 0) {
            wf_comm_abort(rs->jobs[r].comm, "could not start its thread");
            break;
        }
        started++;
    }
    int done = wait_ranks(rs, started);
    char why[1024];
    int bad = wf_comm_cpu_first_failure(rs->g, why, sizeof why);
    if (bad >= 0)
        s = wf_error(rs->jobs[bad].s != WF_OK ? rs->jobs[bad].s : WF_ERR_BACKEND, "rank %d of %d: %s", bad,
                     W, why);
    for (int r = 0; done == started && r < started && s == WF_OK; r++) /* a backstop: failing ranks abort */
        if (rs->jobs[r].s != WF_OK) s = wf_error(rs->jobs[r].s, "rank %d of %d failed", r, W);
    *interrupted = rs->jobs[0].interrupted;
    if (done < started) return s; /* a rank hangs: its thread keeps rs until the process exits */
    for (int r = 0; r < started; r++) pthread_join(rs->jobs[r].th, NULL);
    wf_comm_cpu_group_destroy(rs->g);
    pthread_mutex_destroy(&rs->mu);
    pthread_cond_destroy(&rs->cv);
    free(rs->jobs), free(rs);
    return s;
}

/* This process's rank under a launcher, over NCCL. */
static wf_status train_launched(const wf_run_config *cfg, const wf_run_opts *o, const wf_launch_env *e,
                                bool *interrupted) {
    if (cfg->backend.name == WF_CFG_BACKEND_CPU)
        return wf_error(WF_ERR_INVALID, "%s says %d ranks, but the CPU backend runs ranks as threads in "
                        "one process: use dist.cpu_ranks (weft launch --cpu-ranks N)", e->source, e->world);
    return wf_launch_train_nccl(cfg, o, e, interrupted);
}

wf_status wf_run_train(const wf_run_config *cfg, const wf_run_opts *o, bool *interrupted) {
    *interrupted = false;
    wf_launch_env e;
    WF_TRY(wf_launch_env_read(&e));
    WF_TRY(wf_run_claim_dir(cfg, o, e.rank));
    if (e.world > 1 && cfg->dist.cpu_ranks > 1)
        return wf_error(WF_ERR_INVALID, "'dist.cpu_ranks' %lld inside a %d-rank launch (%s): use one "
                        "or the other", (long long)cfg->dist.cpu_ranks, e.world, e.source);
    if (e.world > 1) return train_launched(cfg, o, &e, interrupted);
    if (cfg->dist.cpu_ranks > 1 && !o->dry_run) return train_cpu_ranks(cfg, o, interrupted);
    return wf_run_train_rank(cfg, o, wf_comm_single(), interrupted);
}

#if defined(WF_HAVE_NCCL)
wf_status wf_launch_train_nccl(const wf_run_config *cfg, const wf_run_opts *o, const wf_launch_env *e,
                               bool *interrupted) {
    unsigned char id[WF_NCCL_ID_BYTES] = {0};
    if (e->rank == 0) WF_TRY(wf_comm_nccl_id(id));
    int *fds = malloc((size_t)e->world * sizeof *fds);
    wf_run_config *c = malloc(sizeof *c);
    if (!fds || !c) return free(fds), free(c), wf_error(WF_ERR_OOM, "train: out of memory");
    /* the hand-out's connections stay open as the rank monitor's (monitor.h) */
    wf_monitor *mon = NULL;
    wf_status s = wf_launch_exchange_id_keep(e, id, WF_NCCL_ID_BYTES, cfg->dist.timeout_s, fds);
    if (s == WF_OK) s = wf_monitor_start(e->rank, e->world, fds, 0, &mon);
    free(fds);
    if (s != WF_OK) return free(c), s;
    *c = *cfg;
    c->backend.name = WF_CFG_BACKEND_CUDA, c->backend.device = e->device;
    wf_comm *comm;
    s = wf_comm_nccl_create(e->device, id, e->rank, e->world, cfg->dist.timeout_s, &comm);
    if (s == WF_OK) {
        comm->monitor = mon;
        s = wf_run_train_rank(c, o, comm, interrupted);
        if (s != WF_OK) {
            char why[1024];
            snprintf(why, sizeof why, "%s", wf_last_error());
            wf_comm_abort(comm, why);
            s = wf_error(s, "rank %d of %d: %s", e->rank, e->world, why);
        }
        comm->ops->destroy(comm);
    }
    wf_monitor_stop(mon, s == WF_OK);
    free(c);
    return s;
}
#else
wf_status wf_launch_train_nccl(const wf_run_config *cfg, const wf_run_opts *o, const wf_launch_env *e,
                               bool *interrupted) {
    (void)cfg, (void)o, (void)interrupted;
    return wf_error(WF_ERR_UNSUPPORTED, "%s says %d ranks, but this weft was built without NCCL "
                    "(meson setup -Dcuda=enabled -Dnccl-dir=DIR)", e->source, e->world);
}
#endif
