/* The CUDA emulator's memory guard (kernels/cuda_emu/emu_guard.cpp), through the backend API the
 * host code uses: a host read or write of device memory aborts naming the cudaMalloc block; a
 * host write to page-locked memory an H2D copy may still read aborts naming it, and is allowed
 * once an event recorded after the copy was waited on, or after a sync; kernels, copies and
 * memsets still work on guarded memory. Each fault is provoked in a child process and must end
 * it with SIGABRT and the guard's message. Built only with -Dcuda-emu=true (suite emu). */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../unit/expect.h"
#include "weft/backend.h"

typedef void (*child_fn)(wf_backend *be, void *dev, char *pinned);

/* Runs fn in a child; returns its wait status and its stderr in err. */
static int in_child(child_fn fn, wf_backend *be, void *dev, char *pinned, char *err, size_t cap) {
    int fd[2];
    if (pipe(fd) != 0) return -1;
    fflush(stdout), fflush(stderr);
    pid_t pid = fork();
    if (pid == 0) {
        close(fd[0]);
        dup2(fd[1], 2);
        fn(be, dev, pinned);
        _exit(0);
    }
    close(fd[1]);
    size_t n = 0;
    ssize_t r;
    while (n + 1 < cap && (r = read(fd[0], err + n, cap - 1 - n)) > 0) n += (size_t)r;
    err[n] = 0;
    close(fd[0]);
    int st = 0;
    waitpid(pid, &st, 0);
    return st;
}

static void read_device(wf_backend *be, void *dev, char *pinned) {
    (void)be, (void)pinned;
    volatile float x = ((const float *)dev)[3]; /* the planted bug: a host read of a tensor */
    (void)x;
}

static void write_device(wf_backend *be, void *dev, char *pinned) {
    (void)be, (void)pinned;
    ((float *)dev)[0] = 1.0f;
}

static void write_in_flight(wf_backend *be, void *dev, char *pinned) {
    if (be->copy(be, dev, pinned, 4096, WF_COPY_H2D) != WF_OK) _exit(3);
    pinned[100] = 7; /* the planted bug: refilling the staging before its copy is known done */
}

static void write_after_event(wf_backend *be, void *dev, char *pinned) {
    wf_event *e = NULL;
    if (be->event_create(be, &e) != WF_OK || be->copy(be, dev, pinned, 4096, WF_COPY_H2D) != WF_OK ||
        be->event_record(be, e) != WF_OK || be->event_wait(be, e) != WF_OK)
        _exit(3);
    pinned[100] = 7;
    /* an event recorded before a later copy does not cover it */
    if (be->event_record(be, e) != WF_OK || be->copy(be, dev, pinned, 4096, WF_COPY_H2D) != WF_OK ||
        be->event_wait(be, e) != WF_OK)
        _exit(3);
    pinned[200] = 7;
}

static void write_after_sync(wf_backend *be, void *dev, char *pinned) {
    if (be->copy(be, dev, pinned, 4096, WF_COPY_H2D) != WF_OK || be->sync(be) != WF_OK) _exit(3);
    pinned[100] = 7;
}

int main(void) {
    wf_backend *be = NULL;
    if (wf_backend_open("cuda", NULL, &be) != WF_OK) {
        printf("SKIP no cuda backend\n");
        return 77;
    }
    void *dev = NULL;
    char *pinned = NULL;
    if (be->alloc(be, 1 << 16, &dev) != WF_OK || be->host_alloc(be, 8192, (void **)&pinned) != WF_OK) {
        printf("FAIL allocation\n");
        return 1;
    }
    /* copies and memsets reach guarded device memory */
    for (int i = 0; i < 4096; i++) pinned[i] = (char)i;
    char back[4096];
    CHECK(be->memset(be, dev, 0, 1 << 16) == WF_OK && be->copy(be, dev, pinned, 4096, WF_COPY_H2D) == WF_OK &&
              be->copy(be, back, dev, 4096, WF_COPY_D2H) == WF_OK && memcmp(back, pinned, 4096) == 0,
          "H2D then D2H through guarded memory changed the bytes");
    char err[2048];
    int st = in_child(read_device, be, dev, pinned, err, sizeof err);
    CHECK(WIFSIGNALED(st) && WTERMSIG(st) == SIGABRT && strstr(err, "touched device memory"),
          "a host read of device memory was not caught (status %#x, stderr: %s)", st, err);
    st = in_child(write_device, be, dev, pinned, err, sizeof err);
    CHECK(WIFSIGNALED(st) && WTERMSIG(st) == SIGABRT && strstr(err, "touched device memory"),
          "a host write of device memory was not caught (status %#x, stderr: %s)", st, err);
    st = in_child(write_in_flight, be, dev, pinned, err, sizeof err);
    CHECK(WIFSIGNALED(st) && WTERMSIG(st) == SIGABRT && strstr(err, "may still be in flight"),
          "a write to an H2D copy's source before an event wait was not caught (status %#x, "
          "stderr: %s)", st, err);
    st = in_child(write_after_event, be, dev, pinned, err, sizeof err);
    CHECK(WIFSIGNALED(st) && WTERMSIG(st) == SIGABRT && strstr(err, "may still be in flight"),
          "a write after waiting on an event recorded before the copy was not caught (status "
          "%#x, stderr: %s)", st, err);
    CHECK(strstr(err, "0x") != NULL, "no address in the message: %s", err);
    st = in_child(write_after_sync, be, dev, pinned, err, sizeof err);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "a write after a sync faulted (status %#x, "
          "stderr: %s)", st, err);
    be->host_free(be, pinned);
    be->free(be, dev);
    wf_backend_close(be);
    if (failures) return 1;
    printf("ok   emu guard: host reads/writes of device memory and writes to an H2D copy's "
           "source before its event abort with the address; waits and syncs release it\n");
    return 0;
}
