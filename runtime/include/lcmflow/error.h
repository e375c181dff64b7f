/*
** error.h - status codes and the caller-owned error object.
**
** Every fallible lcmflow call returns an enum lf_status and, when given a
** non-NULL struct lf_error, fills it with a message and, where the problem
** sits in a file, the file's path and a 1-based line and column.  Errors a
** user can cause never abort: they come back as values.
**
**     struct lf_error err = {0};
**     if (lf_graph_load("g.yaml", &graph, &err) != LF_OK)
**         fprintf(stderr, "%s\n", lf_error_text(&err, buf, sizeof buf));
*/
#ifndef LCMFLOW_ERROR_H
#define LCMFLOW_ERROR_H

#include <stddef.h>

enum lf_status {
    LF_OK = 0,
    LF_ERR_INVALID,           /* a bad argument or parameter value */
    LF_ERR_IO,                /* a file could not be read or written */
    LF_ERR_FORMAT,            /* a file's content is malformed */
    LF_ERR_NOT_FOUND,         /* a named thing (file, node type, tensor) is missing */
    LF_ERR_UNSUPPORTED,       /* valid, but not something lcmflow does */
    LF_ERR_OUT_OF_MEMORY,     /* host memory */
    LF_ERR_NO_DEVICE,         /* no usable Vulkan device */
    LF_ERR_DEVICE_LOST,       /* the device stopped responding */
    LF_ERR_OUT_OF_DEVICE_MEMORY,
    LF_ERR_DEVICE,            /* any other Vulkan failure */
    LF_ERR_PLUGIN,            /* a plugin could not be loaded or misbehaved */
    LF_ERR_GRAPH,             /* a graph file is wrong */
    LF_ERR_INTERRUPTED,       /* stopped by the user (Ctrl-C) */
};

#define LF_ERROR_MESSAGE_MAX 1024
#define LF_ERROR_PATH_MAX    512

/* Caller-owned; zero-initialise before first use.  line/col are 1-based,
** 0 when the error has no position. */
struct lf_error {
    enum lf_status code;
    int line;
    int col;
    char path[LF_ERROR_PATH_MAX];
    char message[LF_ERROR_MESSAGE_MAX];
};

/* Sets err (if non-NULL) and returns code, so callers can write
** `return lf_error_set(err, LF_ERR_IO, "%s: %s", path, strerror(errno));`. */
enum lf_status lf_error_set(struct lf_error *err, enum lf_status code, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

/* The same with a position in a file (line and col 1-based; 0 = unknown). */
enum lf_status lf_error_set_at(struct lf_error *err, enum lf_status code, const char *path,
                               int line, int col, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 6, 7)))
#endif
    ;

/* Prefixes the existing message with "prefix: " (context as the error travels up). */
void lf_error_prefix(struct lf_error *err, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

void lf_error_clear(struct lf_error *err);

/* Formats "path:line:col: message" (or the parts that are known) into buf
** and returns buf. */
const char *lf_error_text(const struct lf_error *err, char *buf, size_t size);

/* A short constant name for a status ("invalid argument", "device lost", ...). */
const char *lf_status_name(enum lf_status status);

#endif
