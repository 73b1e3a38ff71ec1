/* Which ranks a `weft train` runs (run.h): one rank; `dist.cpu_ranks` ranks as threads over the
 * CPU communicator; or, under a launcher (weft launch, srun, mpirun, torchrun-style variables),
 * this process's rank over NCCL with the unique id handed out by rank 0 over TCP (launch.h).
 * A rank that fails marks its communicator dead so the others stop at their next collective;
 * the error reported is the first failing rank's own. Not here: the step loop (run.c). */
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "run_internal.h"
#include "weft/launch.h"

typedef struct rank_job {
    const wf_run_config *cfg;
    const wf_run_opts *o;
    wf_comm *comm;
    wf_status s;
    bool interrupted;
    char msg[1024];
    pthread_mutex_t *mu;
    pthread_cond_t *cv;
    int *finished;
} rank_job;

static void *rank_thread(void *arg) {
    rank_job *j = arg;
    j->s = wf_run_train_rank(j->cfg, j->o, j->comm, &j->interrupted);
    snprintf(j->msg, sizeof j->msg, "%s", j->s == WF_OK ? "" : wf_last_error());
    if (j->s != WF_OK) wf_comm_abort(j->comm, j->msg);
    pthread_mutex_lock(j->mu);
    (*j->finished)++;
    pthread_cond_broadcast(j->cv);
    pthread_mutex_unlock(j->mu);
    return NULL;
}

/* Waits for every rank; once one has failed, the rest get the communicator timeout (plus a
 * margin) to stop before they are left behind (a hung rank thread dies with the process). */
static int wait_ranks(pthread_mutex_t *mu, pthread_cond_t *cv, int *finished, int world,
                      wf_comm_group *g, double timeout_s) {
    pthread_mutex_lock(mu);
    bool failing = false;
    struct timespec dl = {0};
    while (*finished < world) {
        if (!failing && wf_comm_cpu_first_failure(g, NULL, 0) >= 0) {
            failing = true;
            clock_gettime(CLOCK_REALTIME, &dl);
            dl.tv_sec += (time_t)timeout_s + 5;
        }
        struct timespec tick;
        clock_gettime(CLOCK_REALTIME, &tick);
        tick.tv_sec += 1;
        pthread_cond_timedwait(cv, mu, &tick);
        if (failing && (tick.tv_sec > dl.tv_sec)) break;
    }
    int done = *finished;
    pthread_mutex_unlock(mu);
    return done;
}

static wf_status train_cpu_ranks(const wf_run_config *cfg, const wf_run_opts *o, bool *interrupted) {
    int W = (int)cfg->dist.cpu_ranks;
    if (cfg->backend.name == WF_CFG_BACKEND_CUDA)
        return wf_error(WF_ERR_INVALID, "'dist.cpu_ranks' %d runs ranks over the CPU communicator: it "
                        "needs backend.name cpu (GPUs: weft launch --gpus)", W);
    wf_comm_group *g;
    WF_TRY(wf_comm_cpu_group_create(W, cfg->dist.timeout_s, &g));
    wf_run_config *cpu = malloc(sizeof *cpu); /* every rank on the cpu backend */
    rank_job *jobs = calloc((size_t)W, sizeof *jobs);
    pthread_t *th = calloc((size_t)W, sizeof *th);
    if (!cpu || !jobs || !th) {
        free(cpu), free(jobs), free(th), wf_comm_cpu_group_destroy(g);
        return wf_error(WF_ERR_OOM, "train: out of memory for %d ranks", W);
    }
    *cpu = *cfg;
    cpu->backend.name = WF_CFG_BACKEND_CPU;
    pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
    pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
    int finished = 0, started = 0;
    for (int r = 0; r < W; r++) {
        jobs[r] = (rank_job){.cfg = cpu, .o = o, .comm = wf_comm_cpu_get(g, r), .mu = &mu, .cv = &cv,
                             .finished = &finished};
        if (pthread_create(&th[r], NULL, rank_thread, &jobs[r]) != 0) {
            wf_comm_abort(jobs[r].comm, "could not start its thread");
            break;
        }
        started++;
    }
    int done = wait_ranks(&mu, &cv, &finished, started, g, cfg->dist.timeout_s);
    char why[1024];
    int bad = wf_comm_cpu_first_failure(g, why, sizeof why);
    wf_status s = WF_OK;
    if (bad >= 0) {
        s = jobs[bad].s != WF_OK ? jobs[bad].s : WF_ERR_BACKEND;
        s = wf_error(s, "rank %d of %d: %s", bad, W, why);
    } else if (started < W) {
        s = wf_error(WF_ERR_BACKEND, "train: could not start %d rank threads", W);
    }
    if (done == started) {
        for (int r = 0; r < started; r++) pthread_join(th[r], NULL);
        *interrupted = jobs[0].interrupted;
        wf_comm_cpu_group_destroy(g);
        free(cpu), free(jobs), free(th);
    } /* else: a rank hangs; its thread still uses the group, which is left to the process exit */
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
    WF_TRY(wf_launch_exchange_id(e, id, WF_NCCL_ID_BYTES, cfg->dist.timeout_s));
    wf_run_config *c = malloc(sizeof *c);
    if (!c) return wf_error(WF_ERR_OOM, "train: out of memory");
    *c = *cfg;
    c->backend.name = WF_CFG_BACKEND_CUDA, c->backend.device = e->device;
    wf_comm *comm;
    wf_status s = wf_comm_nccl_create(e->device, id, e->rank, e->world, cfg->dist.timeout_s, &comm);
    if (s == WF_OK) {
        s = wf_run_train_rank(c, o, comm, interrupted);
        if (s != WF_OK) {
            char why[1024];
            snprintf(why, sizeof why, "%s", wf_last_error());
            wf_comm_abort(comm, why);
            s = wf_error(s, "rank %d of %d: %s", e->rank, e->world, why);
        }
        comm->ops->destroy(comm);
    }
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
