/* What the exports (export_peft.c, export_merged.c) and the checkpoints (checkpoint.c) share:
 * output directories that appear whole or not at all (built under "<dir>.tmp.<pid>", fsynced,
 * then swapped in with one rename), tree removal, file copies, and JSON helpers (cJSON with
 * floats printed as the shortest text that reads back to the same float).
 * Internal to host/train. */
#ifndef WEFT_HOST_TRAIN_OUTDIR_H
#define WEFT_HOST_TRAIN_OUTDIR_H

#include <stdbool.h>
#include <stddef.h>

#include "weft/status.h"

typedef struct cJSON cJSON;

#define WF_PATH_MAX 4096

/* Creates the parents of `dir` if needed and an empty "<dir>.tmp.<pid>" (an old one of this
 * process is removed first); its path goes to tmp (WF_PATH_MAX). */
wf_status wf_outdir_begin(const char *dir, char *tmp);
/* Fsyncs tmp (its files were fsynced as they were written), then puts it at `dir` atomically: a plain rename when dir
 * does not exist, else an exchange (renameat2 RENAME_EXCHANGE) and removal of the old tree.
 * On failure an existing `dir` is untouched and tmp is removed. */
wf_status wf_outdir_commit(const char *tmp, const char *dir);
/* Removes tmp after a failed write (errors ignored: the original error is what matters). */
void wf_outdir_abort(const char *tmp);

/* Removes a file or a directory tree (no symlink is followed). Missing is not an error. */
wf_status wf_path_remove_tree(const char *path);
bool wf_path_exists(const char *path);
bool wf_path_is_dir(const char *path);
/* Copies src to dst (written atomically). */
wf_status wf_file_copy(const char *src, const char *dst);
/* snprintf into a WF_PATH_MAX buffer; a path that does not fit is an error naming it. */
wf_status wf_path_join(char *out, const char *dir, const char *name);

/* The shortest decimal text that reads back as exactly v ("1e-05", "0.1"); non-finite values
 * give "NaN", "Infinity", "-Infinity" (which no JSON number can hold). */
void wf_float_text(float v, char *buf /* 32 */);
/* Adds v to obj as a JSON number in wf_float_text form (non-finite: as a string). */
bool wf_json_add_float(cJSON *obj, const char *key, float v);
/* Prints obj (indented, newline-terminated) and writes it to path atomically. */
wf_status wf_json_write(const char *path, const cJSON *obj);

#endif
