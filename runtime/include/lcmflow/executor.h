/*
** executor.h - running graphs: a session owns the value cache, progress
** reporting and the interruption flag; each run executes, in dependency
** order, only the nodes that feed the requested outputs and whose output
** values are not already cached.
**
**     struct lf_session *s;
**     struct lf_run *run;
**     lf_session_create(&(struct lf_session_options){.cache_bytes = 1 << 30}, &s, &err);
**     lf_session_run(s, graph, &run, &err);           // runs everything
**     lf_graph_set_param(graph, "sample.seed", "7", &err);
**     lf_session_run(s, graph, &run2, &err);          // runs the sampler and after
**     const struct lf_value *v = lf_run_output(run2, "decode.image");
**
** Cache keys.  Every output value has a 64-bit key: FNV-1a over a canonical
** byte encoding of the node type name, plugin name and version, the output
** name, and each param value and input key that the output depends on
** (lf_output_desc.depends_on), plus the file identity for READS_FILES nodes.
** No pointers are hashed, so keys are identical across processes.  Outputs
** of nodes that are not DETERMINISTIC, or have SIDE_EFFECT, get a key unique
** to the run, so they and their descendants are never reused.
*/
#ifndef LCMFLOW_EXECUTOR_H
#define LCMFLOW_EXECUTOR_H

#include "lcmflow/error.h"
#include "lcmflow/graph.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

enum lf_progress_mode {
    LF_PROGRESS_NONE = 0, /* quiet */
    LF_PROGRESS_LINES,    /* one line per node and per step */
    LF_PROGRESS_BAR,      /* a redrawn bar (for a terminal) */
    LF_PROGRESS_AUTO,     /* BAR when the stream is a terminal, else LINES */
};

#define LF_CACHE_DEFAULT_BYTES ((size_t)4 << 30)
/* The cache budget of a session created without one: half the machine's
** memory, at least LF_CACHE_DEFAULT_BYTES (a checkpoint and a LoRA-merged
** copy of its UNet take about 7.3 GiB in f32: with less, editing a LoRA's
** strength evicts and reloads the checkpoint). */
size_t lf_cache_default_bytes(void);

struct lf_session_options {
    size_t cache_bytes;             /* 0: lf_cache_default_bytes() */
    enum lf_progress_mode progress; /* default NONE */
    FILE *progress_stream;          /* NULL: stderr */
    /* (optional) the registry of the graphs run: its plugins' purge hooks
    ** run when the cache is cleared.  Borrowed; must outlive the session. */
    struct lf_registry *registry;
};

struct lf_session;
struct lf_run;

/* options may be NULL.  Caller frees with lf_session_destroy. */
enum lf_status lf_session_create(const struct lf_session_options *options, struct lf_session **out,
                                 struct lf_error *err);
/* Drops the cache and the device (if one was created).  NULL allowed.
** Runs made by it stay valid unless their outputs hold tensors: destroy
** those runs first (their tensors live on the session's device). */
void lf_session_destroy(struct lf_session *s);

/* Asks the current (or next) run to stop after the running node's current
** dispatch.  Safe from any thread and async-signal-safe: it only stores to
** a lock-free atomic_int. */
void lf_session_interrupt(struct lf_session *s);
/* Clears the flag (done by the caller after handling an interruption). */
void lf_session_clear_interrupt(struct lf_session *s);

/*
** An observer sees a run as it goes (the server's events and previews).
** Every callback is optional and is called on the thread running the
** session, between dispatches; it must not call back into the session.
** node: a node starts executing (index 1-based of total to execute).
** step: a node reported step (1-based) of total (sampler steps).
** latent: a sampler's current denoised estimate after step, host f32
** [B, C, H, W] (shape), borrowed for the call only.
** image: instead of latent when the node decoded that estimate itself
** (e.g. with TAESD): an IMAGE [B, H, W, 3] f32 in [0, 1] on the session's
** device, borrowed for the call only.
*/
struct lf_session_observer {
    void *user;
    void (*node)(void *user, const char *node_id, const char *type_name, size_t index,
                 size_t total);
    void (*step)(void *user, const char *node_id, int step, int total);
    void (*latent)(void *user, const char *node_id, int step, int total, const float *latent,
                   const int64_t shape[4]);
    void (*image)(void *user, const char *node_id, int step, int total, struct lf_tensor *image);
};

/* Copies *observer into the session (NULL removes it). */
void lf_session_set_observer(struct lf_session *s, const struct lf_session_observer *observer);

/* Changes how later runs report progress (stream NULL: keep the current one). */
void lf_session_set_progress(struct lf_session *s, enum lf_progress_mode mode, FILE *stream);

/* Changes the cache budget, evicting least recently used values now. */
void lf_session_set_cache_bytes(struct lf_session *s, size_t bytes);
/* Cache contents: number of values and their bytes. */
void lf_session_cache_stats(const struct lf_session *s, size_t *count, size_t *bytes);
/* Empties the cache (node outputs and the objects plugins put there), then
** calls the purge hook of every plugin of options.registry. */
void lf_session_cache_clear(struct lf_session *s);

/* Runs the graph for its requested outputs (the graph's `outputs:`, or every
** sink node).  On LF_OK, *out is a caller-owned run (lf_run_destroy); on
** failure *out is NULL and err names the node.  g must be validated. */
enum lf_status lf_session_run(struct lf_session *s, const struct lf_graph *g, struct lf_run **out,
                              struct lf_error *err);
/* The same for explicit targets: "node" or "node.output", count of them. */
enum lf_status lf_session_run_targets(struct lf_session *s, const struct lf_graph *g,
                                      const char *const *targets, size_t count, struct lf_run **out,
                                      struct lf_error *err);

void lf_run_destroy(struct lf_run *run); /* NULL allowed */

enum lf_node_state {
    LF_NODE_SKIPPED = 0, /* not needed by the requested outputs */
    LF_NODE_CACHED,      /* needed, every needed output came from the cache */
    LF_NODE_RAN,
};

/* Per node of the graph (graph index order). */
const char *lf_run_node_id(const struct lf_run *run, size_t node_index);
enum lf_node_state lf_run_node_state(const struct lf_run *run, size_t node_index);
double lf_run_node_ms(const struct lf_run *run, size_t node_index);
/* Nodes in the order the run visited them (needed nodes only), for profiles. */
size_t lf_run_visit_count(const struct lf_run *run);
size_t lf_run_visit_node(const struct lf_run *run, size_t i);
size_t lf_run_executed_count(const struct lf_run *run);

/* The value of a requested output ("node.output"); NULL when it is not one.
** Borrowed, valid until lf_run_destroy. */
const struct lf_value *lf_run_output(const struct lf_run *run, const char *ref);

/* The cache key of a requested output (0 when it is not one): stable across
** processes, for tests and debugging. */
uint64_t lf_run_output_key(const struct lf_run *run, const char *ref);

/* "<node id> <wall time> ms cached|ran" per visited node, visit order. */
void lf_run_print_profile(const struct lf_run *run, FILE *f);

#endif
