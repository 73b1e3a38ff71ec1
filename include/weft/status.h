/* Status codes and error reporting.
 * User-facing failures (bad config, file, data, shapes handed to an op) return a wf_status and
 * leave a message naming the file, key, line or op; wf_last_error() reads it back.
 * Broken internal invariants are not statuses: WF_ASSERT aborts with file:line and the expression. */
#ifndef WEFT_STATUS_H
#define WEFT_STATUS_H

#include <stdio.h>
#include <stdlib.h>

typedef enum wf_status {
    WF_OK = 0,
    WF_ERR_INVALID,     /* bad argument, shape, dtype, config value, data */
    WF_ERR_UNSUPPORTED, /* op or dtype not implemented on this backend */
    WF_ERR_OOM,         /* arena or device memory exhausted */
    WF_ERR_IO,          /* open/read/write/rename failed */
    WF_ERR_FORMAT,      /* a file's contents break its format */
    WF_ERR_BACKEND,     /* a CUDA / cuBLAS / NCCL call failed */
} wf_status;

/* Records a printf-style message for the calling thread and returns `code`. */
wf_status wf_error(wf_status code, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

/* The message of the last wf_error() on this thread ("" if none). */
const char *wf_last_error(void);
const char *wf_status_name(wf_status s);

/* Propagates a non-OK status to the caller. */
#define WF_TRY(expr)                                                                               \
    do {                                                                                           \
        wf_status wf_try_s_ = (expr);                                                              \
        if (wf_try_s_ != WF_OK) return wf_try_s_;                                                  \
    } while (0)

#define WF_ASSERT(cond)                                                                            \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "weft: internal error at %s:%d: assertion failed: %s\n", __FILE__,     \
                    __LINE__, #cond);                                                              \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

#endif
