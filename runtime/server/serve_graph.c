/*
** serve_graph.c - a job's graph from a request: YAML text or a JSON object
** in the file format, then the request's `set`, then the server's rules:
** every path param inside the roots, and the limits.
*/
#include "server.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The name graphs from requests carry in messages ("graph:3:12: ..."). */
#define GRAPH_NAME "graph"

/* Node types that read or write files through params that are not paths
** (a comma-separated list): refused, their files cannot be checked. */
static const char *const refused_types[] = {"ContactSheet", NULL};

void serve_limits_default(struct serve_limits *l)
{
    *l = (struct serve_limits){
        .body_bytes = 1u << 20,
        .upload_bytes = 16u << 20,
        .max_side = 1024,
        .max_steps = 50,
        .max_batch = 4,
        .max_text = 4096,
        .max_nodes = 128,
        .queue = 8,
        .sessions = 32,
        .history = 64,
        .uploads = 32,
    };
}

/* A JSON scalar as the text lf_graph_add_param / lf_graph_set_param take. */
static enum lf_status scalar_text(struct json_object *v, const char *what, char *buf, size_t size,
                                  bool *quoted, struct lf_error *err)
{
    *quoted = false;
    switch (json_object_get_type(v)) {
    case json_type_string:
        *quoted = true;
        if ((size_t)json_object_get_string_len(v) >= size)
            return lf_error_set(err, LF_ERR_INVALID, "%s: string too long", what);
        snprintf(buf, size, "%s", json_object_get_string(v));
        return LF_OK;
    case json_type_int:
        snprintf(buf, size, "%lld", (long long)json_object_get_int64(v));
        return LF_OK;
    case json_type_double:
        snprintf(buf, size, "%.17g", json_object_get_double(v));
        return LF_OK;
    case json_type_boolean:
        snprintf(buf, size, "%s", json_object_get_boolean(v) ? "true" : "false");
        return LF_OK;
    default:
        return lf_error_set(err, LF_ERR_INVALID, "%s: expected a string, number or boolean", what);
    }
}

static enum lf_status json_node(struct lf_graph *g, const char *id, struct json_object *node,
                                char *buf, size_t size, struct lf_error *err)
{
    struct json_object *type, *inputs, *params;
    enum lf_status st;
    bool quoted;
    if (!json_object_is_type(node, json_type_object) ||
        !json_object_object_get_ex(node, "type", &type) ||
        !json_object_is_type(type, json_type_string))
        return lf_error_set(err, LF_ERR_GRAPH, "%s: node '%s' needs a \"type\" string", GRAPH_NAME,
                            id);
    if ((st = lf_graph_add_node(g, id, json_object_get_string(type), 0, err)) != LF_OK) return st;
    if (json_object_object_get_ex(node, "inputs", &inputs)) {
        if (!json_object_is_type(inputs, json_type_object))
            return lf_error_set(err, LF_ERR_GRAPH, "%s: node '%s': inputs must be an object",
                                GRAPH_NAME, id);
        json_object_object_foreach(inputs, port, ref)
        {
            if (!json_object_is_type(ref, json_type_string))
                return lf_error_set(err, LF_ERR_GRAPH,
                                    "%s: node '%s': input '%s' must be \"node.output\"", GRAPH_NAME,
                                    id, port);
            if ((st = lf_graph_add_input(g, id, port, json_object_get_string(ref), err)) != LF_OK)
                return st;
        }
    }
    if (json_object_object_get_ex(node, "params", &params)) {
        if (!json_object_is_type(params, json_type_object))
            return lf_error_set(err, LF_ERR_GRAPH, "%s: node '%s': params must be an object",
                                GRAPH_NAME, id);
        json_object_object_foreach(params, name, value)
        {
            if ((st = scalar_text(value, name, buf, size, &quoted, err)) != LF_OK ||
                (st = lf_graph_add_param(g, id, name, buf, quoted, err)) != LF_OK)
                return st;
        }
    }
    return LF_OK;
}

/* The JSON form of a graph file: {"version": 1, "nodes": {...}, "outputs": [...]}. */
static enum lf_status graph_from_json(struct lf_registry *reg, struct json_object *obj,
                                      struct lf_graph **out, struct lf_error *err)
{
    struct json_object *version, *nodes, *outputs;
    struct lf_graph *g = NULL;
    enum lf_status st;
    char *buf = malloc(65536);
    *out = NULL;
    if (!buf) return lf_error_set(err, LF_ERR_OUT_OF_MEMORY, "out of memory");
    if (!json_object_object_get_ex(obj, "version", &version) ||
        json_object_get_type(version) != json_type_int || json_object_get_int(version) != 1) {
        st = lf_error_set(err, LF_ERR_GRAPH, "%s: \"version\": 1 is required", GRAPH_NAME);
    } else if (!json_object_object_get_ex(obj, "nodes", &nodes) ||
               !json_object_is_type(nodes, json_type_object)) {
        st = lf_error_set(err, LF_ERR_GRAPH, "%s: \"nodes\" must be an object", GRAPH_NAME);
    } else {
        st = lf_graph_create(reg, GRAPH_NAME, &g, err);
    }
    if (st == LF_OK) {
        json_object_object_foreach(nodes, id, node)
        {
            if ((st = json_node(g, id, node, buf, 65536, err)) != LF_OK) break;
        }
    }
    if (st == LF_OK && json_object_object_get_ex(obj, "outputs", &outputs)) {
        size_t n =
            json_object_is_type(outputs, json_type_array) ? json_object_array_length(outputs) : 0;
        if (!json_object_is_type(outputs, json_type_array))
            st = lf_error_set(err, LF_ERR_GRAPH, "%s: \"outputs\" must be a list", GRAPH_NAME);
        for (size_t i = 0; st == LF_OK && i < n; i++) {
            struct json_object *ref = json_object_array_get_idx(outputs, i);
            if (!json_object_is_type(ref, json_type_string))
                st = lf_error_set(err, LF_ERR_GRAPH, "%s: outputs must be \"node[.output]\"",
                                  GRAPH_NAME);
            else
                st = lf_graph_add_output(g, json_object_get_string(ref), err);
        }
    }
    if (st == LF_OK) st = lf_graph_validate(g, err);
    free(buf);
    if (st != LF_OK) {
        lf_graph_destroy(g);
        return st;
    }
    *out = g;
    return LF_OK;
}

static enum lf_status apply_set(struct lf_graph *g, struct json_object *set, struct lf_error *err)
{
    char buf[8192];
    bool quoted;
    enum lf_status st;
    if (!json_object_is_type(set, json_type_object))
        return lf_error_set(err, LF_ERR_INVALID, "\"set\" must be an object of \"node.param\"");
    json_object_object_foreach(set, key, value)
    {
        if ((st = scalar_text(value, key, buf, sizeof buf, &quoted, err)) != LF_OK ||
            (st = lf_graph_set_param(g, key, buf, err)) != LF_OK) {
            lf_error_prefix(err, "set %s", key);
            return st;
        }
    }
    return LF_OK;
}

/* Rewrites every path param to its resolved location inside the roots. */
static enum lf_status apply_path_policy(struct lf_graph *g, const struct serve_roots *roots,
                                        struct lf_error *err)
{
    for (size_t i = 0; i < lf_graph_node_count(g); i++) {
        const struct lf_node_type *t = lf_graph_node_type(g, i);
        const char *id = lf_graph_node_id(g, i);
        for (const char *const *r = refused_types; *r; r++)
            if (!strcmp(t->name, *r))
                return lf_error_set(err, LF_ERR_INVALID,
                                    "node %s: %s is not available in server mode", id, t->name);
        for (const struct lf_param_desc *d = t->params; d && d->name; d++) {
            const char *text = lf_graph_param_text(g, id, d->name);
            const struct lf_value *v = lf_graph_param(g, id, d->name);
            char name[512], *resolved;
            enum lf_status st;
            if (!(d->flags & LF_PARAM_PATH)) continue;
            if (!text && v && v->type == LF_TYPE_STRING) text = v->u.s; /* a default */
            if (!text || !text[0]) continue;
            snprintf(name, sizeof name, "%s.%s", id, d->name);
            st = serve_resolve_path(
                roots, (t->flags & LF_NODE_SIDE_EFFECT) ? SERVE_PATH_WRITE : SERVE_PATH_READ, name,
                text, &resolved, err);
            if (st == LF_OK) st = lf_graph_set_param(g, name, resolved, err);
            free(resolved);
            if (st != LF_OK) return st;
        }
    }
    return LF_OK;
}

static enum lf_status check_limits(const struct lf_graph *g, const struct serve_limits *l,
                                   struct lf_error *err)
{
    if (lf_graph_node_count(g) > (size_t)l->max_nodes)
        return lf_error_set(err, LF_ERR_INVALID, "the graph has %zu nodes; the limit is %d",
                            lf_graph_node_count(g), l->max_nodes);
    for (size_t i = 0; i < lf_graph_node_count(g); i++) {
        const struct lf_node_type *t = lf_graph_node_type(g, i);
        const char *id = lf_graph_node_id(g, i);
        for (const struct lf_param_desc *d = t->params; d && d->name; d++) {
            const struct lf_value *v = lf_graph_param(g, id, d->name);
            long long limit = -1;
            if (!v) continue;
            if (v->type == LF_TYPE_STRING && !strcmp(d->name, "text"))
                limit = l->max_text;
            else if (v->type == LF_TYPE_INT &&
                     (!strcmp(d->name, "width") || !strcmp(d->name, "height")))
                limit = l->max_side;
            else if (v->type == LF_TYPE_INT && !strcmp(d->name, "steps"))
                limit = l->max_steps;
            else if (v->type == LF_TYPE_INT && !strcmp(d->name, "batch"))
                limit = l->max_batch;
            long long have = v->type == LF_TYPE_STRING ? (long long)strlen(v->u.s)
                             : v->type == LF_TYPE_INT  ? (long long)v->u.i
                                                       : 0;
            if (limit >= 0 && have > limit)
                return lf_error_set(err, LF_ERR_INVALID, "param %s.%s is %lld%s; the limit is %lld",
                                    id, d->name, have, v->type == LF_TYPE_STRING ? " bytes" : "",
                                    limit);
        }
    }
    return LF_OK;
}

enum lf_status serve_graph_from_request(struct lf_registry *reg, const struct serve_roots *roots,
                                        const struct serve_limits *limits, const char *default_yaml,
                                        struct json_object *request, struct lf_graph **out,
                                        struct lf_error *err)
{
    struct json_object *graph = NULL, *set = NULL;
    struct lf_graph *g = NULL;
    enum lf_status st;
    *out = NULL;
    if (!json_object_is_type(request, json_type_object))
        return lf_error_set(err, LF_ERR_INVALID, "the request must be a JSON object");
    json_object_object_get_ex(request, "graph", &graph);
    json_object_object_get_ex(request, "set", &set);
    if (!graph || json_object_is_type(graph, json_type_null)) {
        if (!default_yaml)
            return lf_error_set(err, LF_ERR_INVALID,
                                "\"graph\" is required (the server has no default graph)");
        st = lf_graph_load_string(reg, GRAPH_NAME, default_yaml, strlen(default_yaml), &g, err);
    } else if (json_object_is_type(graph, json_type_string)) {
        st = lf_graph_load_string(reg, GRAPH_NAME, json_object_get_string(graph),
                                  (size_t)json_object_get_string_len(graph), &g, err);
    } else if (json_object_is_type(graph, json_type_object)) {
        st = graph_from_json(reg, graph, &g, err);
    } else {
        st = lf_error_set(err, LF_ERR_INVALID, "\"graph\" must be YAML text or a graph object");
    }
    if (st == LF_OK && set) st = apply_set(g, set, err);
    if (st == LF_OK) st = apply_path_policy(g, roots, err);
    if (st == LF_OK) st = check_limits(g, limits, err);
    if (st != LF_OK) {
        lf_graph_destroy(g);
        return st;
    }
    *out = g;
    return LF_OK;
}
