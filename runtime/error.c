/*
** error.c - the error object: formatting and status names.
*/
#include "lcmflow/error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static void set_message(struct lf_error *err, const char *fmt, va_list ap)
{
    vsnprintf(err->message, sizeof err->message, fmt, ap);
}

enum lf_status lf_error_set(struct lf_error *err, enum lf_status code, const char *fmt, ...)
{
    if (err) {
        va_list ap;
        err->code = code;
        err->line = err->col = 0;
        err->path[0] = '\0';
        va_start(ap, fmt);
        set_message(err, fmt, ap);
        va_end(ap);
    }
    return code;
}

enum lf_status lf_error_set_at(struct lf_error *err, enum lf_status code, const char *path,
                               int line, int col, const char *fmt, ...)
{
    if (err) {
        va_list ap;
        err->code = code;
        err->line = line;
        err->col = col;
        snprintf(err->path, sizeof err->path, "%s", path ? path : "");
        va_start(ap, fmt);
        set_message(err, fmt, ap);
        va_end(ap);
    }
    return code;
}

void lf_error_prefix(struct lf_error *err, const char *fmt, ...)
{
    char prefix[512], old[LF_ERROR_MESSAGE_MAX];
    va_list ap;
    if (!err) return;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    memcpy(old, err->message, sizeof old);
    snprintf(err->message, sizeof err->message, "%s: %s", prefix, old);
}

void lf_error_clear(struct lf_error *err)
{
    if (err) memset(err, 0, sizeof *err);
}

const char *lf_error_text(const struct lf_error *err, char *buf, size_t size)
{
    if (!err || size == 0) return "";
    if (err->path[0] && err->line > 0 && err->col > 0)
        snprintf(buf, size, "%s:%d:%d: %s", err->path, err->line, err->col, err->message);
    else if (err->path[0] && err->line > 0)
        snprintf(buf, size, "%s:%d: %s", err->path, err->line, err->message);
    else if (err->path[0])
        snprintf(buf, size, "%s: %s", err->path, err->message);
    else if (err->message[0])
        snprintf(buf, size, "%s", err->message);
    else
        snprintf(buf, size, "%s", lf_status_name(err->code));
    return buf;
}

const char *lf_status_name(enum lf_status status)
{
    switch (status) {
    case LF_OK:
        return "ok";
    case LF_ERR_INVALID:
        return "invalid argument";
    case LF_ERR_IO:
        return "input/output error";
    case LF_ERR_FORMAT:
        return "malformed file";
    case LF_ERR_NOT_FOUND:
        return "not found";
    case LF_ERR_UNSUPPORTED:
        return "unsupported";
    case LF_ERR_OUT_OF_MEMORY:
        return "out of host memory";
    case LF_ERR_NO_DEVICE:
        return "no Vulkan device";
    case LF_ERR_DEVICE_LOST:
        return "device lost";
    case LF_ERR_OUT_OF_DEVICE_MEMORY:
        return "out of device memory";
    case LF_ERR_DEVICE:
        return "Vulkan error";
    case LF_ERR_PLUGIN:
        return "plugin error";
    case LF_ERR_GRAPH:
        return "graph error";
    case LF_ERR_INTERRUPTED:
        return "interrupted";
    }
    return "unknown status";
}
