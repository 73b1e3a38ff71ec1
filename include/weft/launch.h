/* Multi-process launches (DESIGN.md "Parallelism"): reading a rank's place from the environment
 * that `weft launch`, srun, mpirun or a torchrun-style launcher set, and handing rank 0's NCCL
 * unique id to the other ranks over TCP (MASTER_ADDR:MASTER_PORT), with timeouts. Not here: the
 * collectives (comm.h) and the `weft launch` command (host/cli/cmd_launch.c). */
#ifndef WEFT_LAUNCH_H
#define WEFT_LAUNCH_H

#include "weft/comm.h"
#include "weft/run.h"

typedef struct wf_launch_env {
    int rank, world, local_rank;
    int device;       /* GPU index for this rank: WEFT_DEVICE, else LOCAL_RANK */
    char addr[256];   /* MASTER_ADDR (default 127.0.0.1) */
    int port;         /* MASTER_PORT (default 29500) */
    char source[48];  /* which variables said so: "RANK/WORLD_SIZE", "OMPI_COMM_WORLD_*",
                         "SLURM_*", "none" */
} wf_launch_env;

/* Reads, in order: RANK/WORLD_SIZE/LOCAL_RANK (weft launch, torchrun), OMPI_COMM_WORLD_RANK/
 * SIZE/LOCAL_RANK (mpirun), SLURM_PROCID/NTASKS/LOCALID (srun); none of them: rank 0 of 1.
 * A value that is not a number, or a rank outside [0, world), is an error naming the variable. */
wf_status wf_launch_env_read(wf_launch_env *e);

/* Rank 0 listens on e->port and sends the `bytes` of `id` to each of the world-1 other ranks;
 * the others connect to e->addr:e->port (retrying until the timeout) and receive it. Every wait
 * is bounded by timeout_s and fails naming the address and the ranks still missing. */
wf_status wf_launch_exchange_id(const wf_launch_env *e, unsigned char *id, int bytes, double timeout_s);
/* The same, keeping the connections for the rank monitor (monitor.h) instead of closing them:
 * fds (world) gets rank 0's connection to each rank r in fds[r] (r >= 1), another rank's
 * connection to rank 0 in fds[0]; the rest -1 (all -1 on failure). */
wf_status wf_launch_exchange_id_keep(const wf_launch_env *e, unsigned char *id, int bytes, double timeout_s,
                                     int *fds);

/* The run of this process's rank over NCCL (run_dist.c); an error without NCCL. */
wf_status wf_launch_train_nccl(const wf_run_config *cfg, const wf_run_opts *o, const wf_launch_env *e,
                               bool *interrupted);

#endif
