/* Thread-local error messages behind wf_error() / wf_last_error(). */
#include "weft/status.h"

#include <stdarg.h>

static _Thread_local char g_msg[1024];

wf_status wf_error(wf_status code, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(g_msg, sizeof g_msg, fmt, ap);
    va_end(ap);
    return code;
}

const char *wf_last_error(void) { return g_msg; }

const char *wf_status_name(wf_status s) {
    switch (s) {
    case WF_OK: return "ok";
    case WF_ERR_INVALID: return "invalid argument";
    case WF_ERR_UNSUPPORTED: return "unsupported";
    case WF_ERR_OOM: return "out of memory";
    case WF_ERR_IO: return "i/o error";
    case WF_ERR_FORMAT: return "format error";
    case WF_ERR_BACKEND: return "backend error";
    }
    return "unknown status";
}
