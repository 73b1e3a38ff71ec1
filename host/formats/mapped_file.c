/* mmap-based reading and atomic (temp + fsync + rename) writing of whole files. */
#include "weft/mapped_file.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

wf_status wf_file_map(const char *path, wf_mapped_file *out) {
    *out = (wf_mapped_file){0};
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return wf_error(WF_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return wf_error(WF_ERR_IO, "%s: not a regular file", path);
    }
    if (st.st_size > 0) {
        void *p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (p == MAP_FAILED) {
            int e = errno;
            close(fd);
            return wf_error(WF_ERR_IO, "%s: cannot map: %s", path, strerror(e));
        }
        out->data = p;
    }
    out->size = (size_t)st.st_size;
    close(fd);
    return WF_OK;
}

void wf_file_unmap(wf_mapped_file *f) {
    if (f->data) munmap((void *)f->data, f->size);
    *f = (wf_mapped_file){0};
}

static wf_status fsync_dir_of(const char *path) {
    char *copy = strdup(path);
    if (!copy) return wf_error(WF_ERR_OOM, "%s: out of memory", path);
    int fd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    free(copy);
    if (fd < 0) return WF_OK; /* some filesystems refuse: the rename itself is still atomic */
    fsync(fd);
    close(fd);
    return WF_OK;
}

wf_status wf_atomic_open(wf_atomic_file *f, const char *path) {
    f->fd = -1;
    if (snprintf(f->path, sizeof f->path, "%s", path) >= (int)sizeof f->path)
        return wf_error(WF_ERR_INVALID, "%s: path too long", path);
    snprintf(f->tmp, sizeof f->tmp, "%s.tmp.%ld", path, (long)getpid());
    f->fd = open(f->tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (f->fd < 0) return wf_error(WF_ERR_IO, "%s: cannot create: %s", f->tmp, strerror(errno));
    return WF_OK;
}

void wf_atomic_abort(wf_atomic_file *f) {
    if (f->fd >= 0) {
        close(f->fd);
        unlink(f->tmp);
    }
    f->fd = -1;
}

wf_status wf_atomic_write(wf_atomic_file *f, const void *data, size_t size) {
    const unsigned char *p = data;
    while (size > 0) {
        ssize_t n = write(f->fd, p, size);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
            int e = n < 0 ? errno : ENOSPC;
            wf_atomic_abort(f);
            return wf_error(WF_ERR_IO, "%s: write failed: %s", f->tmp, strerror(e));
        }
        p += n, size -= (size_t)n;
    }
    return WF_OK;
}

wf_status wf_atomic_commit(wf_atomic_file *f) {
    if (fsync(f->fd) != 0) {
        int e = errno;
        wf_atomic_abort(f);
        return wf_error(WF_ERR_IO, "%s: fsync failed: %s", f->tmp, strerror(e));
    }
    close(f->fd);
    f->fd = -1;
    if (rename(f->tmp, f->path) != 0) {
        int e = errno;
        unlink(f->tmp);
        return wf_error(WF_ERR_IO, "%s: cannot rename into place: %s", f->path, strerror(e));
    }
    return fsync_dir_of(f->path);
}

wf_status wf_file_write_atomic(const char *path, const void *data, size_t size) {
    wf_atomic_file f;
    WF_TRY(wf_atomic_open(&f, path));
    WF_TRY(wf_atomic_write(&f, data, size));
    return wf_atomic_commit(&f);
}

wf_status wf_mkdir_p(const char *dir) {
    char p[4096];
    if (snprintf(p, sizeof p, "%s", dir) >= (int)sizeof p)
        return wf_error(WF_ERR_INVALID, "%s: path too long", dir);
    for (char *s = p + 1;; s++) {
        if (*s != '/' && *s) continue;
        char c = *s;
        *s = 0;
        if (mkdir(p, 0755) != 0 && errno != EEXIST)
            return wf_error(WF_ERR_IO, "%s: cannot create directory: %s", p, strerror(errno));
        if (!c) return WF_OK;
        *s = c;
    }
}
