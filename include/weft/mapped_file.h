/* Read-only memory-mapped files, for model checkpoints (safetensors, GGUF) that are far larger
 * than what should be read into buffers. Errors name the path. */
#ifndef WEFT_MAPPED_FILE_H
#define WEFT_MAPPED_FILE_H

#include <stddef.h>

#include "weft/status.h"

typedef struct wf_mapped_file {
    const unsigned char *data; /* NULL for an empty file */
    size_t size;
} wf_mapped_file;

wf_status wf_file_map(const char *path, wf_mapped_file *out);
void wf_file_unmap(wf_mapped_file *f);

/* A file written atomically: data goes to "<path>.tmp.<pid>"; commit fsyncs, renames it over
 * `path` and fsyncs the directory; abort (or any failed write) removes the temporary, leaving an
 * old `path` untouched. For large outputs (checkpoints, merged models) written piece by piece. */
typedef struct wf_atomic_file {
    int fd;
    char path[4096], tmp[4096 + 32];
} wf_atomic_file;

wf_status wf_atomic_open(wf_atomic_file *f, const char *path);
wf_status wf_atomic_write(wf_atomic_file *f, const void *data, size_t size);
wf_status wf_atomic_commit(wf_atomic_file *f);
void wf_atomic_abort(wf_atomic_file *f);

/* Creates `dir` and its missing parents (mkdir -p); an existing directory is fine. */
wf_status wf_mkdir_p(const char *dir);

/* Writes `size` bytes to `path` atomically: to "<path>.tmp.<pid>", fsync, rename, fsync of the
 * directory. On failure the old file (if any) is untouched and the temporary is removed. */
wf_status wf_file_write_atomic(const char *path, const void *data, size_t size);

#endif
