/* Output directories that appear whole or not at all, tree removal, file copies and JSON number
 * text (outdir.h). A directory cannot be renamed over a non-empty one, so replacing an old
 * export or checkpoint uses renameat2(RENAME_EXCHANGE) (Linux 3.15+), with a two-rename
 * fallback for filesystems that refuse it. */
#include "outdir.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <libgen.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "weft/mapped_file.h"

wf_status wf_path_join(char *out, const char *dir, const char *name) {
    if (snprintf(out, WF_PATH_MAX, "%s/%s", dir, name) >= WF_PATH_MAX)
        return wf_error(WF_ERR_INVALID, "%s/%s: path too long", dir, name);
    return WF_OK;
}

bool wf_path_exists(const char *path) {
    struct stat st;
    return lstat(path, &st) == 0;
}

bool wf_path_is_dir(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

static int remove_one(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
    (void)st, (void)flag, (void)ftw;
    return remove(path) == 0 || errno == ENOENT ? 0 : -1;
}

wf_status wf_path_remove_tree(const char *path) {
    if (!wf_path_exists(path)) return WF_OK;
    if (nftw(path, remove_one, 16, FTW_DEPTH | FTW_PHYS) != 0)
        return wf_error(WF_ERR_IO, "%s: cannot remove: %s", path, strerror(errno));
    return WF_OK;
}

/* mkdir -p of every parent of `path` (not path itself). */
static wf_status make_parents(const char *path) {
    char p[WF_PATH_MAX];
    if (snprintf(p, sizeof p, "%s", path) >= (int)sizeof p)
        return wf_error(WF_ERR_INVALID, "%s: path too long", path);
    for (char *c = p + 1; *c; c++) {
        if (*c != '/') continue;
        *c = 0;
        if (mkdir(p, 0755) != 0 && errno != EEXIST)
            return wf_error(WF_ERR_IO, "%s: cannot create directory: %s", p, strerror(errno));
        *c = '/';
    }
    return WF_OK;
}

wf_status wf_outdir_begin(const char *dir, char *tmp) {
    size_t n = strlen(dir);
    while (n > 1 && dir[n - 1] == '/') n--; /* "out/" names the same directory as "out" */
    if (n == 0 || snprintf(tmp, WF_PATH_MAX, "%.*s.tmp.%ld", (int)n, dir, (long)getpid()) >= WF_PATH_MAX)
        return wf_error(WF_ERR_INVALID, "'%s': not a usable output directory path", dir);
    WF_TRY(make_parents(tmp));
    WF_TRY(wf_path_remove_tree(tmp));
    if (mkdir(tmp, 0755) != 0)
        return wf_error(WF_ERR_IO, "%s: cannot create directory: %s", tmp, strerror(errno));
    return WF_OK;
}

static void fsync_path(const char *path) {
    int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return; /* some filesystems refuse: the rename itself is still atomic */
    fsync(fd);
    close(fd);
}

static void fsync_parent(const char *path) {
    char *copy = strdup(path);
    if (!copy) return;
    fsync_path(dirname(copy));
    free(copy);
}

void wf_outdir_abort(const char *tmp) { (void)wf_path_remove_tree(tmp); }

/* Replaces the existing directory `dir` by tmp when RENAME_EXCHANGE is refused: the old tree
 * moves aside first, so a crash in between leaves it at "<dir>.old.<pid>", never lost. */
static wf_status replace_by_two_renames(const char *tmp, const char *dir) {
    char old[WF_PATH_MAX + 32];
    snprintf(old, sizeof old, "%s.old.%ld", dir, (long)getpid());
    (void)wf_path_remove_tree(old);
    if (rename(dir, old) != 0)
        return wf_error(WF_ERR_IO, "%s: cannot move the old directory aside: %s", dir, strerror(errno));
    if (rename(tmp, dir) != 0) {
        int e = errno;
        (void)rename(old, dir);
        return wf_error(WF_ERR_IO, "%s: cannot rename %s into place: %s", dir, tmp, strerror(e));
    }
    fsync_parent(dir);
    return wf_path_remove_tree(old);
}

wf_status wf_outdir_commit(const char *tmp, const char *dir) {
    fsync_path(tmp); /* the files themselves were fsynced by wf_atomic_commit */
    wf_status s = WF_OK;
    if (!wf_path_exists(dir)) {
        if (rename(tmp, dir) != 0) s = wf_error(WF_ERR_IO, "%s: cannot rename %s into place: %s", dir, tmp, strerror(errno));
    } else if (!wf_path_is_dir(dir)) {
        s = wf_error(WF_ERR_IO, "%s: exists and is not a directory; not replacing it", dir);
    } else if (renameat2(AT_FDCWD, tmp, AT_FDCWD, dir, RENAME_EXCHANGE) == 0) {
        fsync_parent(dir);
        return wf_path_remove_tree(tmp); /* tmp now holds the old tree */
    } else if (errno == EINVAL || errno == ENOSYS || errno == ENOTSUP) {
        s = replace_by_two_renames(tmp, dir);
    } else {
        s = wf_error(WF_ERR_IO, "%s: cannot swap %s into place: %s", dir, tmp, strerror(errno));
    }
    if (s != WF_OK) {
        wf_outdir_abort(tmp);
        return s;
    }
    fsync_parent(dir);
    return WF_OK;
}

wf_status wf_file_copy(const char *src, const char *dst) {
    wf_mapped_file f;
    WF_TRY(wf_file_map(src, &f));
    wf_status s = wf_file_write_atomic(dst, f.data ? (const void *)f.data : "", f.size);
    wf_file_unmap(&f);
    return s;
}

void wf_float_text(float v, char *buf) {
    if (isnan(v)) {
        snprintf(buf, 32, "NaN");
        return;
    }
    if (isinf(v)) {
        snprintf(buf, 32, "%sInfinity", v < 0 ? "-" : "");
        return;
    }
    for (int digits = 1; digits <= 9; digits++) { /* 9 significant digits always round-trip */
        snprintf(buf, 32, "%.*g", digits, (double)v);
        if (strtof(buf, NULL) == v) return;
    }
}

bool wf_json_add_float(cJSON *obj, const char *key, float v) {
    char t[32];
    wf_float_text(v, t);
    if (!isfinite(v)) return cJSON_AddStringToObject(obj, key, t) != NULL;
    return cJSON_AddRawToObject(obj, key, t) != NULL;
}

wf_status wf_json_write(const char *path, const cJSON *obj) {
    char *text = cJSON_Print(obj);
    if (!text) return wf_error(WF_ERR_OOM, "%s: out of memory", path);
    size_t n = strlen(text);
    char *withnl = realloc(text, n + 2);
    if (!withnl) {
        free(text);
        return wf_error(WF_ERR_OOM, "%s: out of memory", path);
    }
    withnl[n] = '\n', withnl[n + 1] = 0;
    wf_status s = wf_file_write_atomic(path, withnl, n + 1);
    free(withnl);
    return s;
}
