/*
** interrupt.h - the interruption flag of the node this thread is running,
** seen by the op fronts and the backends.
**
** The executor publishes its session's flag for the length of a node's
** execute.  Every op front checks it before calling its backend, so a node
** stops between ops however long it is and whatever backend runs it; a
** backend that defers work (Vulkan) submits in bounded chunks and checks it
** between them, so deferred work cannot outlast an interruption either.
** Ops called outside a node (tests, tools) see no flag and never stop.
*/
#ifndef LCMFLOW_INTERRUPT_H
#define LCMFLOW_INTERRUPT_H

#include "lcmflow/error.h"

#include <stdatomic.h>

/* Publishes flag (NULL: none) for this thread; returns the one it replaces,
** which the caller restores when the node returns. */
const atomic_int *lf_interrupt_publish(const atomic_int *flag);

/* LF_ERR_INTERRUPTED ("WHAT: interrupted") when this thread's published flag
** is set, else LF_OK. */
enum lf_status lf_interrupt_check(const char *what, struct lf_error *err);

#endif
