/*
** executor-impl.h - the session's parts: the value cache, the host context
** handed to plugins, and progress display.
*/
#ifndef LCMFLOW_EXECUTOR_IMPL_H
#define LCMFLOW_EXECUTOR_IMPL_H

#include "lcmflow/executor.h"

#include <stdatomic.h>

/* lf_session_interrupt stores from signal handlers: only a lock-free atomic
** is async-signal-safe there. */
_Static_assert(ATOMIC_INT_LOCK_FREE == 2, "atomic_int must be lock-free");

/* ---- cache.c: values by 64-bit key, LRU under a byte budget ---- */

struct lf_cache;

enum lf_status lf_cache_create(size_t budget, struct lf_cache **out, struct lf_error *err);
void lf_cache_destroy(struct lf_cache *c); /* NULL allowed */
/* On a hit, copies the value into *out (a new reference), marks it most
** recently used and returns true. */
bool lf_cache_get(struct lf_cache *c, uint64_t key, struct lf_value *out);
/* Stores a copy of v under key (replacing any), then evicts least recently
** used values until the total fits the budget.  A value larger than the
** whole budget is not stored.  owner (0: none) names who made it, for
** lf_cache_drop_owner. */
void lf_cache_put(struct lf_cache *c, uint64_t key, uint64_t owner, const struct lf_value *v);
/* Removes owner's values except the one under key (LF_NODE_REPLACES). */
void lf_cache_drop_owner(struct lf_cache *c, uint64_t owner, uint64_t key);
/* The same for a plugin's object (the host's cache_get/cache_put): get
** returns a new reference or NULL (also when key holds a value); put keeps
** a new reference, counts sizeof *object + nbytes, and returns whether the
** object is stored (false: larger than the budget, or out of memory). */
struct lf_object *lf_cache_get_object(struct lf_cache *c, uint64_t key);
bool lf_cache_put_object(struct lf_cache *c, uint64_t key, struct lf_object *object);
void lf_cache_set_budget(struct lf_cache *c, size_t budget);
void lf_cache_stats(const struct lf_cache *c, size_t *count, size_t *bytes);
void lf_cache_clear(struct lf_cache *c);

/* ---- progress.c ---- */

struct lf_progress {
    enum lf_progress_mode mode; /* resolved: NONE, LINES or BAR */
    FILE *stream;
    size_t index, total; /* node being run (1-based) of nodes to run */
    const char *node_id, *type_name;
    bool bar_drawn;
};

void lf_progress_begin(struct lf_progress *p, enum lf_progress_mode mode, FILE *stream,
                       size_t total);
void lf_progress_node(struct lf_progress *p, size_t index, const char *node_id,
                      const char *type_name);
void lf_progress_step(struct lf_progress *p, int step, int total);
/* Prints a message without breaking the bar. */
void lf_progress_message(struct lf_progress *p, const char *text);
void lf_progress_end(struct lf_progress *p);

/* ---- the session and the host context ---- */

struct lf_session {
    struct lf_cache *cache;
    struct lf_registry *registry; /* borrowed, may be NULL: whose purge hooks run */
    enum lf_progress_mode mode;
    FILE *stream;
    /* Set by lf_session_interrupt from any thread or a signal handler, read
    ** by the running node's thread: C11 atomic (lock-free, so its stores are
    ** async-signal-safe) rather than volatile, which orders nothing across
    ** threads. */
    atomic_int interrupted;
    struct lf_device *device; /* created on first get_device */
    uint64_t run_counter;
    struct lf_progress progress;
    struct lf_session_observer observer; /* all NULL: none */
};

/* What a plugin's host calls see; one per running node. */
struct lf_host_ctx {
    struct lf_session *session;
    const char *node_id;
    const struct lf_plugin_desc *plugin; /* of the running node's type */
    const struct lf_graph *graph;
    char *graph_yaml; /* made on first request, freed after execute */
};

/* The cache key of a plugin's cache_put key: the plugin's name mixed in. */
uint64_t lf_host_cache_key(const char *plugin, uint64_t key);

#endif
