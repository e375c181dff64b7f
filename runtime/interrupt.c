/*
** interrupt.c - the per-thread published interruption flag (interrupt.h).
*/
#include "interrupt.h"

/* Per thread: the server runs jobs on worker threads, each its own session. */
static _Thread_local const atomic_int *published;

const atomic_int *lf_interrupt_publish(const atomic_int *flag)
{
    const atomic_int *old = published;
    published = flag;
    return old;
}

enum lf_status lf_interrupt_check(const char *what, struct lf_error *err)
{
    if (published && atomic_load(published))
        return lf_error_set(err, LF_ERR_INTERRUPTED, "%s: interrupted", what);
    return LF_OK;
}
