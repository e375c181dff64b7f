/*
** graph-impl.h - the graph's internal representation, shared by the YAML
** loader (graph_yaml.c), validation (graph.c) and the executor.
**
** A graph holds what was written (ids, type names, param texts, input refs,
** each with its 1-based source position) and, after lf_graph_validate, what
** it resolved to (node types, typed param values, input sources, an order).
*/
#ifndef LCMFLOW_GRAPH_IMPL_H
#define LCMFLOW_GRAPH_IMPL_H

#include "lcmflow/graph.h"

struct lf_pos {
    int line, col; /* 1-based; 0 = unknown */
};

struct lf_gparam {
    char *name;
    char *text;
    bool quoted; /* written as a string ("42"), not a plain scalar */
    struct lf_pos name_pos, pos;
};

struct lf_ginput {
    char *name;
    char *ref; /* "node.output" as written */
    struct lf_pos name_pos, pos;
};

struct lf_gnode {
    char *id;
    char *type_name;
    struct lf_pos pos, type_pos;
    struct lf_gparam *params;
    size_t nparams, cap_params;
    struct lf_ginput *inputs;
    size_t ninputs, cap_inputs;
    /* resolved by lf_graph_validate */
    const struct lf_node_type *type;
    const struct lf_plugin_desc *plugin;
    size_t n_in, n_out, n_par; /* declared counts */
    struct lf_value *values;   /* n_par typed param values, owned */
    long *src_node;            /* n_in: source node index, -1 when unconnected */
    int *src_output;           /* n_in: output index of the source */
};

struct lf_gtarget {
    char *ref; /* "node" or "node.output" */
    struct lf_pos pos;
    long node;
    int output; /* -1: the whole node */
};

/* A hash index from names (borrowed: they must outlive it) to positions. */
struct lf_name_slot {
    const char *name; /* NULL: empty */
    size_t value;
};
struct lf_name_index {
    struct lf_name_slot *slots;
    size_t cap, count; /* cap: 0 or a power of two */
};
/* Maps name to value, unless name is already there (the first value stays). */
enum lf_status lf_name_index_add(struct lf_name_index *ix, const char *name, size_t value,
                                 struct lf_error *err);
/* The value for name, or -1. */
long lf_name_index_find(const struct lf_name_index *ix, const char *name);
/* Frees the slots; the index is empty and reusable. */
void lf_name_index_clear(struct lf_name_index *ix);

struct lf_graph {
    struct lf_registry *reg; /* borrowed */
    char *path;              /* as given, for messages */
    char *dir;               /* for relative PATH params */
    struct lf_gnode *nodes;
    size_t nnodes, cap_nodes;
    struct lf_name_index ids; /* node id -> index in nodes */
    struct lf_gtarget *targets;
    size_t ntargets, cap_targets;
    size_t *order; /* nnodes node indices, dependencies first */
    bool validated;
};

/* Grows *items to hold at least need elements of size elem. */
enum lf_status lf_grow(void **items, size_t *cap, size_t need, size_t elem, struct lf_error *err);

/* The candidate closest to name by edit distance, if close enough to be a
** plausible typo; candidates is NULL-terminated.  NULL when none. */
const char *lf_closest_name(const char *name, const char *const *candidates);

/* Positions for messages: a graph error at pos. */
enum lf_status lf_graph_error(const struct lf_graph *g, struct lf_pos pos, struct lf_error *err,
                              const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 4, 5)))
#endif
    ;

/* An empty graph for path (used by both loaders). */
enum lf_status lf_graph_new(struct lf_registry *reg, const char *path, struct lf_graph **out,
                            struct lf_error *err);
/* Appends to a graph being built (the YAML loader sets positions). */
struct lf_gnode *lf_graph_push_node(struct lf_graph *g, const char *id, struct lf_pos pos,
                                    struct lf_error *err);
enum lf_status lf_gnode_push_param(struct lf_gnode *n, const char *name, struct lf_pos name_pos,
                                   const char *text, bool quoted, struct lf_pos pos,
                                   struct lf_error *err);
enum lf_status lf_gnode_push_input(struct lf_gnode *n, const char *name, struct lf_pos name_pos,
                                   const char *ref, struct lf_pos pos, struct lf_error *err);
enum lf_status lf_graph_push_target(struct lf_graph *g, const char *ref, struct lf_pos pos,
                                    struct lf_error *err);

/* Parses YAML text into g's written form (no validation). */
enum lf_status lf_graph_parse_yaml(struct lf_graph *g, const char *text, size_t size,
                                   struct lf_error *err);

/* Orders the nodes, dependencies first, into g->order (inputs resolved);
** a cycle is an error at the node that closes it, naming the cycle. */
enum lf_status lf_graph_sort(struct lf_graph *g, struct lf_error *err);

/* Indices of a node's declared port or param by name; -1 when absent. */
int lf_type_input_index(const struct lf_node_type *t, const char *name);
int lf_type_output_index(const struct lf_node_type *t, const char *name);
int lf_type_param_index(const struct lf_node_type *t, const char *name);

#endif
