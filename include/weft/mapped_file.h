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

/* Writes `size` bytes to `path` atomically: to "<path>.tmp.<pid>", fsync, rename, fsync of the
 * directory. On failure the old file (if any) is untouched and the temporary is removed. */
wf_status wf_file_write_atomic(const char *path, const void *data, size_t size);

#endif
