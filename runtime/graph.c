/*
** graph.c - graphs: building, validation against the registry, param
** overrides and inspection.
*/
#include "graph-impl.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

enum lf_status lf_grow(void **items, size_t *cap, size_t need, size_t elem, struct lf_error *err)
{
    if (need <= *cap) return LF_OK;
    size_t n = *cap ? *cap : 4;
    while (n < need)
        n *= 2;
    void *p = realloc(*items, n * elem);
    if (!p) return lf_error_set(err, LF_ERR_OUT_OF_MEMORY, "out of memory");
    memset((char *)p + *cap * elem, 0, (n - *cap) * elem);
    *items = p;
    *cap = n;
    return LF_OK;
}

enum lf_status lf_graph_error(const struct lf_graph *g, struct lf_pos pos, struct lf_error *err,
                              const char *fmt, ...)
{
    char msg[LF_ERROR_MESSAGE_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return lf_error_set_at(err, LF_ERR_GRAPH, g->path, pos.line, pos.col, "%s", msg);
}

/* ---- building ---- */

enum lf_status lf_graph_new(struct lf_registry *reg, const char *path, struct lf_graph **out,
                            struct lf_error *err)
{
    struct lf_graph *g = calloc(1, sizeof *g);
    const char *slash = strrchr(path, '/');
    *out = NULL;
    if (!g) return lf_error_set(err, LF_ERR_OUT_OF_MEMORY, "out of memory");
    g->reg = reg;
    g->path = strdup(path);
    g->dir = slash ? strndup(path, (size_t)(slash - path) + (slash == path)) : strdup(".");
    if (!g->path || !g->dir) {
        lf_graph_destroy(g);
        return lf_error_set(err, LF_ERR_OUT_OF_MEMORY, "out of memory");
    }
    *out = g;
    return LF_OK;
}

static void clear_resolved(struct lf_gnode *n)
{
    for (size_t i = 0; n->values && i < n->n_par; i++)
        lf_value_clear(&n->values[i]);
    free(n->values);
    free(n->src_node);
    free(n->src_output);
    n->values = NULL;
    n->src_node = NULL;
    n->src_output = NULL;
    n->type = NULL;
}

void lf_graph_destroy(struct lf_graph *g)
{
    if (!g) return;
    for (size_t i = 0; i < g->nnodes; i++) {
        struct lf_gnode *n = &g->nodes[i];
        clear_resolved(n);
        for (size_t j = 0; j < n->nparams; j++) {
            free(n->params[j].name);
            free(n->params[j].text);
        }
        for (size_t j = 0; j < n->ninputs; j++) {
            free(n->inputs[j].name);
            free(n->inputs[j].ref);
        }
        free(n->params);
        free(n->inputs);
        free(n->id);
        free(n->type_name);
    }
    for (size_t i = 0; i < g->ntargets; i++)
        free(g->targets[i].ref);
    free(g->targets);
    free(g->nodes);
    lf_name_index_clear(&g->ids);
    free(g->order);
    free(g->path);
    free(g->dir);
    free(g);
}

struct lf_gnode *lf_graph_push_node(struct lf_graph *g, const char *id, struct lf_pos pos,
                                    struct lf_error *err)
{
    if (lf_grow((void **)&g->nodes, &g->cap_nodes, g->nnodes + 1, sizeof *g->nodes, err))
        return NULL;
    struct lf_gnode *n = &g->nodes[g->nnodes];
    memset(n, 0, sizeof *n);
    if (!(n->id = strdup(id))) {
        lf_error_set(err, LF_ERR_OUT_OF_MEMORY, "out of memory");
        return NULL;
    }
    n->pos = n->type_pos = pos;
    if (lf_name_index_add(&g->ids, n->id, g->nnodes, err)) {
        free(n->id);
        return NULL;
    }
    g->nnodes++;
    g->validated = false;
    return n;
}

enum lf_status lf_gnode_push_param(struct lf_gnode *n, const char *name, struct lf_pos name_pos,
                                   const char *text, bool quoted, struct lf_pos pos,
                                   struct lf_error *err)
{
    enum lf_status st =
        lf_grow((void **)&n->params, &n->cap_params, n->nparams + 1, sizeof *n->params, err);
    if (st) return st;
    struct lf_gparam *p = &n->params[n->nparams];
    p->name = strdup(name);
    p->text = strdup(text);
    if (!p->name || !p->text) {
        free(p->name);
        free(p->text);
        return lf_error_set(err, LF_ERR_OUT_OF_MEMORY, "out of memory");
    }
    p->quoted = quoted;
    p->name_pos = name_pos;
    p->pos = pos;
    n->nparams++;
    return LF_OK;
}

enum lf_status lf_gnode_push_input(struct lf_gnode *n, const char *name, struct lf_pos name_pos,
                                   const char *ref, struct lf_pos pos, struct lf_error *err)
{
    enum lf_status st =
        lf_grow((void **)&n->inputs, &n->cap_inputs, n->ninputs + 1, sizeof *n->inputs, err);
    if (st) return st;
    struct lf_ginput *in = &n->inputs[n->ninputs];
    in->name = strdup(name);
    in->ref = strdup(ref);
    if (!in->name || !in->ref) {
        free(in->name);
        free(in->ref);
        return lf_error_set(err, LF_ERR_OUT_OF_MEMORY, "out of memory");
    }
    in->name_pos = name_pos;
    in->pos = pos;
    n->ninputs++;
    return LF_OK;
}

enum lf_status lf_graph_push_target(struct lf_graph *g, const char *ref, struct lf_pos pos,
                                    struct lf_error *err)
{
    enum lf_status st =
        lf_grow((void **)&g->targets, &g->cap_targets, g->ntargets + 1, sizeof *g->targets, err);
    if (st) return st;
    if (!(g->targets[g->ntargets].ref = strdup(ref)))
        return lf_error_set(err, LF_ERR_OUT_OF_MEMORY, "out of memory");
    g->targets[g->ntargets].pos = pos;
    g->ntargets++;
    g->validated = false;
    return LF_OK;
}

static struct lf_gnode *find_node(const struct lf_graph *g, const char *id)
{
    long i = lf_graph_find_node(g, id);
    return i < 0 ? NULL : &g->nodes[i];
}

enum lf_status lf_graph_create(struct lf_registry *reg, const char *source, struct lf_graph **out,
                               struct lf_error *err)
{
    return lf_graph_new(reg, source ? source : "(graph)", out, err);
}

enum lf_status lf_graph_add_node(struct lf_graph *g, const char *id, const char *type, int line,
                                 struct lf_error *err)
{
    struct lf_pos pos = {line, 0};
    struct lf_gnode *n;
    if (find_node(g, id)) return lf_graph_error(g, pos, err, "duplicate node id '%s'", id);
    if (!id[0] || strchr(id, '.'))
        return lf_graph_error(g, pos, err, "node id '%s' must be non-empty and without '.'", id);
    if (!(n = lf_graph_push_node(g, id, pos, err))) return err ? err->code : LF_ERR_OUT_OF_MEMORY;
    if (!(n->type_name = strdup(type)))
        return lf_error_set(err, LF_ERR_OUT_OF_MEMORY, "out of memory");
    return LF_OK;
}

enum lf_status lf_graph_add_input(struct lf_graph *g, const char *id, const char *input,
                                  const char *ref, struct lf_error *err)
{
    struct lf_gnode *n = find_node(g, id);
    if (!n) return lf_error_set(err, LF_ERR_NOT_FOUND, "no node '%s'", id);
    g->validated = false;
    return lf_gnode_push_input(n, input, n->pos, ref, n->pos, err);
}

enum lf_status lf_graph_add_param(struct lf_graph *g, const char *id, const char *param,
                                  const char *text, bool quoted, struct lf_error *err)
{
    struct lf_gnode *n = find_node(g, id);
    if (!n) return lf_error_set(err, LF_ERR_NOT_FOUND, "no node '%s'", id);
    g->validated = false;
    return lf_gnode_push_param(n, param, n->pos, text, quoted, n->pos, err);
}

enum lf_status lf_graph_add_output(struct lf_graph *g, const char *ref, struct lf_error *err)
{
    return lf_graph_push_target(g, ref, (struct lf_pos){0, 0}, err);
}

/* ---- loading ---- */

enum lf_status lf_graph_load_string(struct lf_registry *reg, const char *name, const char *text,
                                    size_t size, struct lf_graph **out, struct lf_error *err)
{
    struct lf_graph *g;
    enum lf_status st = lf_graph_new(reg, name, &g, err);
    *out = NULL;
    if (st) return st;
    if ((st = lf_graph_parse_yaml(g, text, size, err)) != LF_OK ||
        (st = lf_graph_validate(g, err)) != LF_OK) {
        lf_graph_destroy(g);
        return st;
    }
    *out = g;
    return LF_OK;
}

enum lf_status lf_graph_load(struct lf_registry *reg, const char *path, struct lf_graph **out,
                             struct lf_error *err)
{
    FILE *f = fopen(path, "rb");
    char *text = NULL;
    size_t size = 0, cap = 0;
    enum lf_status st;
    *out = NULL;
    struct stat sb;
    if (!f) return lf_error_set(err, LF_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    if (fstat(fileno(f), &sb) == 0 && S_ISDIR(sb.st_mode)) {
        fclose(f);
        return lf_error_set(err, LF_ERR_IO, "%s: is a folder, not a graph file (a .yaml file)",
                            path);
    }
    for (;;) {
        if ((st = lf_grow((void **)&text, &cap, size + 4096, 1, err)) != LF_OK) {
            fclose(f);
            free(text);
            return st;
        }
        size_t got = fread(text + size, 1, cap - size, f);
        size += got;
        if (got == 0) break;
    }
    if (ferror(f)) {
        fclose(f);
        free(text);
        return lf_error_set(err, LF_ERR_IO, "%s: read error", path);
    }
    fclose(f);
    st = lf_graph_load_string(reg, path, text, size, out, err);
    free(text);
    return st;
}

/* ---- validation ---- */

int lf_type_input_index(const struct lf_node_type *t, const char *name)
{
    int i = 0;
    for (const struct lf_input_desc *d = t->inputs; d && d->name; d++, i++)
        if (!strcmp(d->name, name)) return i;
    return -1;
}

int lf_type_output_index(const struct lf_node_type *t, const char *name)
{
    int i = 0;
    for (const struct lf_output_desc *d = t->outputs; d && d->name; d++, i++)
        if (!strcmp(d->name, name)) return i;
    return -1;
}

int lf_type_param_index(const struct lf_node_type *t, const char *name)
{
    int i = 0;
    for (const struct lf_param_desc *d = t->params; d && d->name; d++, i++)
        if (!strcmp(d->name, name)) return i;
    return -1;
}

/* ", did you mean 'x'?" or "" into buf. */
static const char *hint(char *buf, size_t size, const char *best)
{
    if (best)
        snprintf(buf, size, " (did you mean '%s'?)", best);
    else
        buf[0] = '\0';
    return buf;
}

static const char *closest_input(const struct lf_node_type *t, const char *name)
{
    const char **names = NULL, *best;
    size_t n = 0;
    for (const struct lf_input_desc *d = t->inputs; d && d->name; d++)
        n++;
    if (!(names = calloc(n + 1, sizeof *names))) return NULL;
    for (size_t i = 0; i < n; i++)
        names[i] = t->inputs[i].name;
    best = lf_closest_name(name, (const char *const *)names);
    free(names);
    return best;
}

static const char *closest_output(const struct lf_node_type *t, const char *name)
{
    const char **names = NULL, *best;
    size_t n = 0;
    for (const struct lf_output_desc *d = t->outputs; d && d->name; d++)
        n++;
    if (!(names = calloc(n + 1, sizeof *names))) return NULL;
    for (size_t i = 0; i < n; i++)
        names[i] = t->outputs[i].name;
    best = lf_closest_name(name, (const char *const *)names);
    free(names);
    return best;
}

static const char *closest_param(const struct lf_node_type *t, const char *name)
{
    const char **names = NULL, *best;
    size_t n = 0;
    for (const struct lf_param_desc *d = t->params; d && d->name; d++)
        n++;
    if (!(names = calloc(n + 1, sizeof *names))) return NULL;
    for (size_t i = 0; i < n; i++)
        names[i] = t->params[i].name;
    best = lf_closest_name(name, (const char *const *)names);
    free(names);
    return best;
}

static const char *closest_node(const struct lf_graph *g, const char *name)
{
    const char **names = calloc(g->nnodes + 1, sizeof *names), *best;
    if (!names) return NULL;
    for (size_t i = 0; i < g->nnodes; i++)
        names[i] = g->nodes[i].id;
    best = lf_closest_name(name, (const char *const *)names);
    free(names);
    return best;
}

static const char *type_word(const struct lf_param_desc *d)
{
    switch (d->type) {
    case LF_TYPE_INT:
        return d->flags & LF_PARAM_UNSIGNED ? "an unsigned integer" : "an integer";
    case LF_TYPE_FLOAT:
        return "a number";
    case LF_TYPE_BOOL:
        return "true or false";
    default:
        return "a string";
    }
}

/*
** Parses text as the param's declared type into *out (a fresh value).  On a
** type or range problem returns LF_ERR_INVALID with a message (no position)
** that the caller places.
*/
static enum lf_status parse_param(const struct lf_graph *g, const struct lf_gnode *n,
                                  const struct lf_param_desc *d, const char *text, bool quoted,
                                  struct lf_value *out, struct lf_error *err)
{
    char *end;
    memset(out, 0, sizeof *out);
    out->type = d->type;
    switch (d->type) {
    case LF_TYPE_INT: {
        char v[24], lo[24], hi[24];
        int64_t min, max;
        if (quoted || !lf_param_int_parse(d, text, &out->u.i)) goto wrong_type;
        if (lf_param_int_in_range(d, out->u.i)) return LF_OK;
        lf_param_int_bounds(d, &min, &max);
        return lf_error_set(
            err, LF_ERR_INVALID, "param '%s' of node '%s' (%s) is %s, out of range [%s, %s]",
            d->name, n->id, n->type_name, lf_param_int_format(d, out->u.i, v, sizeof v),
            lf_param_int_format(d, min, lo, sizeof lo), lf_param_int_format(d, max, hi, sizeof hi));
    }
    case LF_TYPE_FLOAT: {
        double v;
        errno = 0;
        v = strtod(text, &end);
        if (quoted || !text[0] || *end || errno || !isfinite(v)) goto wrong_type;
        out->u.f = v;
        if ((d->flags & LF_PARAM_HAS_RANGE) && (v < d->min || v > d->max))
            return lf_error_set(err, LF_ERR_INVALID,
                                "param '%s' of node '%s' (%s) is %g, out of range [%g, %g]",
                                d->name, n->id, n->type_name, v, d->min, d->max);
        return LF_OK;
    }
    case LF_TYPE_BOOL:
        if (quoted) goto wrong_type;
        if (!strcasecmp(text, "true") || !strcasecmp(text, "yes"))
            out->u.b = true;
        else if (!strcasecmp(text, "false") || !strcasecmp(text, "no"))
            out->u.b = false;
        else
            goto wrong_type;
        return LF_OK;
    default: {
        /* PATH params resolve against the graph's folder. */
        bool rel =
            (d->flags & LF_PARAM_PATH) && text[0] && text[0] != '/' && strcmp(g->dir, ".") != 0;
        size_t len = strlen(text) + (rel ? strlen(g->dir) + 1 : 0) + 1;
        if (!(out->u.s = malloc(len))) {
            out->type = LF_TYPE_NONE;
            return lf_error_set(err, LF_ERR_OUT_OF_MEMORY, "out of memory");
        }
        if (rel)
            snprintf(out->u.s, len, "%s/%s", g->dir, text);
        else
            snprintf(out->u.s, len, "%s", text);
        return LF_OK;
    }
    }
wrong_type:
    out->type = LF_TYPE_NONE;
    return lf_error_set(err, LF_ERR_INVALID, "param '%s' of node '%s' (%s) expects %s, got %s%s%s",
                        d->name, n->id, n->type_name, type_word(d), quoted ? "\"" : "'", text,
                        quoted ? "\"" : "'");
}

/* The type's param_defaults pairs (ABI 1.1), or NULL for older plugins. */
static const char *const *param_defaults_of(const struct lf_gnode *n)
{
    size_t end = offsetof(struct lf_node_type, param_defaults) + sizeof(const char *const *);
    if (!n->plugin ||
        n->plugin->struct_size <
            offsetof(struct lf_plugin_desc, node_type_size) + sizeof(uint32_t) ||
        n->plugin->node_type_size < end)
        return NULL;
    return n->type->param_defaults;
}

/* Params not written in the graph (set[k] false; NULL = look at the written
** params) take the value of the param their type names in param_defaults. */
static enum lf_status apply_param_defaults(struct lf_gnode *n, const bool *set,
                                           struct lf_error *err)
{
    const char *const *pairs = param_defaults_of(n);
    for (size_t i = 0; pairs && pairs[i] && pairs[i + 1]; i += 2) {
        int x = lf_type_param_index(n->type, pairs[i]);
        int y = lf_type_param_index(n->type, pairs[i + 1]);
        if (x < 0 || y < 0) continue;
        bool written = false;
        if (set)
            written = set[x];
        else
            for (size_t j = 0; j < n->nparams; j++)
                written = written || !strcmp(n->params[j].name, pairs[i]);
        if (written) continue;
        struct lf_value v;
        enum lf_status st = lf_value_copy(&v, &n->values[y], err);
        if (st) return st;
        lf_value_clear(&n->values[x]);
        n->values[x] = v;
    }
    return LF_OK;
}

static void default_value(const struct lf_param_desc *d, struct lf_value *v)
{
    memset(v, 0, sizeof *v);
    v->type = d->type;
    switch (d->type) {
    case LF_TYPE_INT:
        v->u.i = d->default_int;
        break;
    case LF_TYPE_FLOAT:
        v->u.f = d->default_float;
        break;
    case LF_TYPE_BOOL:
        v->u.b = d->default_bool;
        break;
    default:
        v->u.s = strdup(d->default_string ? d->default_string : "");
        if (!v->u.s) v->type = LF_TYPE_NONE;
        break;
    }
}

static size_t count_inputs(const struct lf_node_type *t)
{
    size_t n = 0;
    for (const struct lf_input_desc *d = t->inputs; d && d->name; d++)
        n++;
    return n;
}

static size_t count_outputs(const struct lf_node_type *t)
{
    size_t n = 0;
    for (const struct lf_output_desc *d = t->outputs; d && d->name; d++)
        n++;
    return n;
}

static size_t count_params(const struct lf_node_type *t)
{
    size_t n = 0;
    for (const struct lf_param_desc *d = t->params; d && d->name; d++)
        n++;
    return n;
}

/* Where a validate hook's message belongs: at the value of the written
** param it names first (as a whole word: "width 63 is not a multiple of
** 8"), else at the node. */
static struct lf_pos blamed_param_pos(const struct lf_gnode *n, const char *message)
{
    const char *best = NULL;
    struct lf_pos pos = n->pos;
    for (size_t j = 0; j < n->nparams; j++) {
        const char *name = n->params[j].name;
        size_t len = strlen(name);
        for (const char *p = strstr(message, name); p && (!best || p < best);
             p = strstr(p + 1, name)) {
            bool starts = p == message || !(isalnum((unsigned char)p[-1]) || p[-1] == '_');
            bool ends = !(isalnum((unsigned char)p[len]) || p[len] == '_');
            if (starts && ends) {
                best = p;
                pos = n->params[j].pos;
                break;
            }
        }
    }
    return pos;
}

/* Pass 1: the node's type and params. */
static enum lf_status resolve_type_params(struct lf_graph *g, struct lf_gnode *n,
                                          struct lf_error *err)
{
    char h[300];
    enum lf_status st;
    n->type = lf_registry_find(g->reg, n->type_name);
    if (!n->type) {
        /* The type may be one of a plugin that could not be loaded: say so. */
        char skipped[1200] = "";
        size_t nf = lf_registry_failure_count(g->reg);
        if (nf)
            snprintf(skipped, sizeof skipped, "; %zu plugin%s could not be loaded: %s%s", nf,
                     nf == 1 ? "" : "s", lf_registry_failure(g->reg, 0, NULL),
                     nf > 1 ? " (and more)" : "");
        return lf_graph_error(g, n->type_pos, err, "unknown node type '%s'%s%s", n->type_name,
                              hint(h, sizeof h, lf_registry_suggest(g->reg, n->type_name)),
                              skipped);
    }
    n->plugin = lf_registry_plugin_of(g->reg, n->type, NULL);
    n->n_in = count_inputs(n->type);
    n->n_out = count_outputs(n->type);
    n->n_par = count_params(n->type);
    n->values = calloc(n->n_par + 1, sizeof *n->values);
    n->src_node = calloc(n->n_in + 1, sizeof *n->src_node);
    n->src_output = calloc(n->n_in + 1, sizeof *n->src_output);
    if (!n->values || !n->src_node || !n->src_output)
        return lf_error_set(err, LF_ERR_OUT_OF_MEMORY, "out of memory");
    for (size_t i = 0; i < n->n_in; i++)
        n->src_node[i] = -1;
    for (size_t i = 0; i < n->n_par; i++)
        default_value(&n->type->params[i], &n->values[i]);
    bool *set = calloc(n->n_par + 1, sizeof *set);
    if (!set) return lf_error_set(err, LF_ERR_OUT_OF_MEMORY, "out of memory");
    for (size_t j = 0; j < n->nparams; j++) {
        const struct lf_gparam *p = &n->params[j];
        int k = lf_type_param_index(n->type, p->name);
        if (k < 0) {
            free(set);
            return lf_graph_error(g, p->name_pos, err, "node '%s' (%s) has no param '%s'%s", n->id,
                                  n->type_name, p->name,
                                  hint(h, sizeof h, closest_param(n->type, p->name)));
        }
        lf_value_clear(&n->values[k]);
        st = parse_param(g, n, &n->type->params[k], p->text, p->quoted, &n->values[k], err);
        if (st) {
            free(set);
            if (st == LF_ERR_INVALID && err)
                return lf_graph_error(g, p->pos, err, "%s", err->message);
            return st;
        }
        set[k] = true;
    }
    if ((st = apply_param_defaults(n, set, err))) {
        free(set);
        return st;
    }
    for (size_t k = 0; k < n->n_par; k++)
        if ((n->type->params[k].flags & LF_PARAM_REQUIRED) && !set[k]) {
            free(set);
            return lf_graph_error(g, n->pos, err, "node '%s' (%s) is missing required param '%s'",
                                  n->id, n->type_name, n->type->params[k].name);
        }
    free(set);
    if (n->type->validate && (st = n->type->validate(n->type, n->values, err)) != LF_OK) {
        if (!err) return st;
        return lf_graph_error(g, blamed_param_pos(n, err->message), err, "node '%s' (%s): %s",
                              n->id, n->type_name, err->message);
    }
    return LF_OK;
}

static bool is_tensor_kind(enum lf_value_type t)
{
    return t >= LF_TYPE_TENSOR && t <= LF_TYPE_IMAGE;
}

/* A TENSOR port accepts or feeds any tensor-valued type; others match exactly. */
static bool compatible(enum lf_value_type want, enum lf_value_type have)
{
    if (want == have) return true;
    return is_tensor_kind(want) && is_tensor_kind(have) &&
           (want == LF_TYPE_TENSOR || have == LF_TYPE_TENSOR);
}

/* Splits "node.output" at its last dot; false when it has no dot. */
static bool split_ref(const char *ref, char *node, size_t size, const char **output)
{
    const char *dot = strrchr(ref, '.');
    if (!dot || dot == ref || !dot[1] || (size_t)(dot - ref) >= size) return false;
    memcpy(node, ref, (size_t)(dot - ref));
    node[dot - ref] = '\0';
    *output = dot + 1;
    return true;
}

/* Pass 2: the node's inputs. */
static enum lf_status resolve_inputs(struct lf_graph *g, struct lf_gnode *n, struct lf_error *err)
{
    char h[300], id[256];
    const char *out_name;
    for (size_t j = 0; j < n->ninputs; j++) {
        const struct lf_ginput *in = &n->inputs[j];
        int k = lf_type_input_index(n->type, in->name);
        if (k < 0)
            return lf_graph_error(g, in->name_pos, err, "node '%s' (%s) has no input '%s'%s", n->id,
                                  n->type_name, in->name,
                                  hint(h, sizeof h, closest_input(n->type, in->name)));
        if (!split_ref(in->ref, id, sizeof id, &out_name))
            return lf_graph_error(g, in->pos, err,
                                  "input '%s' of node '%s': '%s' is not a reference node.output",
                                  in->name, n->id, in->ref);
        long src = lf_graph_find_node(g, id);
        if (src < 0)
            return lf_graph_error(g, in->pos, err,
                                  "input '%s' of node '%s' refers to unknown node '%s'%s", in->name,
                                  n->id, id, hint(h, sizeof h, closest_node(g, id)));
        const struct lf_gnode *s = &g->nodes[src];
        int o = lf_type_output_index(s->type, out_name);
        if (o < 0)
            return lf_graph_error(g, in->pos, err, "node '%s' (%s) has no output '%s'%s", s->id,
                                  s->type_name, out_name,
                                  hint(h, sizeof h, closest_output(s->type, out_name)));
        enum lf_value_type want = n->type->inputs[k].type, have = s->type->outputs[o].type;
        if (!compatible(want, have))
            return lf_graph_error(g, in->pos, err,
                                  "input '%s' of node '%s' (%s) expects %s, but '%s' is %s",
                                  in->name, n->id, n->type_name, lf_value_type_name(want), in->ref,
                                  lf_value_type_name(have));
        n->src_node[k] = src;
        n->src_output[k] = o;
    }
    for (size_t k = 0; k < n->n_in; k++)
        if (n->src_node[k] < 0 && !(n->type->inputs[k].flags & LF_PORT_OPTIONAL))
            return lf_graph_error(g, n->pos, err, "node '%s' (%s) is missing required input '%s'",
                                  n->id, n->type_name, n->type->inputs[k].name);
    return LF_OK;
}

static enum lf_status resolve_targets(struct lf_graph *g, struct lf_error *err)
{
    char h[300], id[256];
    for (size_t i = 0; i < g->ntargets; i++) {
        struct lf_gtarget *t = &g->targets[i];
        const char *out_name = NULL;
        bool has_output = split_ref(t->ref, id, sizeof id, &out_name);
        if (!has_output) snprintf(id, sizeof id, "%s", t->ref);
        t->node = lf_graph_find_node(g, id);
        t->output = -1;
        if (t->node < 0)
            return lf_graph_error(g, t->pos, err, "output '%s' names unknown node '%s'%s", t->ref,
                                  id, hint(h, sizeof h, closest_node(g, id)));
        if (has_output) {
            const struct lf_gnode *s = &g->nodes[t->node];
            t->output = lf_type_output_index(s->type, out_name);
            if (t->output < 0)
                return lf_graph_error(g, t->pos, err, "node '%s' (%s) has no output '%s'%s", s->id,
                                      s->type_name, out_name,
                                      hint(h, sizeof h, closest_output(s->type, out_name)));
        }
    }
    return LF_OK;
}

enum lf_status lf_graph_validate(struct lf_graph *g, struct lf_error *err)
{
    enum lf_status st;
    g->validated = false;
    for (size_t i = 0; i < g->nnodes; i++)
        clear_resolved(&g->nodes[i]);
    for (size_t i = 0; i < g->nnodes; i++)
        if ((st = resolve_type_params(g, &g->nodes[i], err)) != LF_OK) return st;
    for (size_t i = 0; i < g->nnodes; i++)
        if ((st = resolve_inputs(g, &g->nodes[i], err)) != LF_OK) return st;
    if ((st = lf_graph_sort(g, err)) != LF_OK || (st = resolve_targets(g, err)) != LF_OK) return st;
    g->validated = true;
    return LF_OK;
}

/* ---- overrides ---- */

enum lf_status lf_graph_set_param(struct lf_graph *g, const char *node_param, const char *value,
                                  struct lf_error *err)
{
    char id[256], h[300];
    const char *name;
    struct lf_gnode *n;
    struct lf_value v;
    enum lf_status st;
    if (!g->validated)
        return lf_error_set(err, LF_ERR_INVALID, "the graph must be validated before setting '%s'",
                            node_param);
    if (!split_ref(node_param, id, sizeof id, &name))
        return lf_error_set(err, LF_ERR_INVALID, "'%s' is not of the form node.param", node_param);
    if (!(n = find_node(g, id)))
        return lf_error_set(err, LF_ERR_NOT_FOUND, "%s: no node '%s' in %s%s", node_param, id,
                            g->path, hint(h, sizeof h, closest_node(g, id)));
    int k = lf_type_param_index(n->type, name);
    if (k < 0)
        return lf_error_set(err, LF_ERR_NOT_FOUND, "%s: node '%s' (%s) has no param '%s'%s",
                            node_param, id, n->type_name, name,
                            hint(h, sizeof h, closest_param(n->type, name)));
    if ((st = parse_param(g, n, &n->type->params[k], value, false, &v, err)) != LF_OK) return st;
    if (n->type->validate) {
        struct lf_value old = n->values[k];
        n->values[k] = v;
        st = n->type->validate(n->type, n->values, err);
        n->values[k] = old;
        if (st) {
            lf_value_clear(&v);
            lf_error_prefix(err, "%s", node_param);
            return st;
        }
    }
    /* Keep the written form in step, so a later validate sees the override. */
    size_t j = 0;
    while (j < n->nparams && strcmp(n->params[j].name, name))
        j++;
    if (j == n->nparams) {
        st = lf_gnode_push_param(n, name, n->pos, value, false, n->pos, err);
    } else {
        char *text = strdup(value);
        st = text ? LF_OK : lf_error_set(err, LF_ERR_OUT_OF_MEMORY, "out of memory");
        if (text) {
            free(n->params[j].text);
            n->params[j].text = text;
            n->params[j].quoted = false;
        }
    }
    if (st) {
        lf_value_clear(&v);
        return st;
    }
    lf_value_clear(&n->values[k]);
    n->values[k] = v;
    return apply_param_defaults(n, NULL, err);
}

enum lf_status lf_graph_set(struct lf_graph *g, const char *assignment, struct lf_error *err)
{
    const char *eq = strchr(assignment, '=');
    char key[512];
    if (!eq || (size_t)(eq - assignment) >= sizeof key)
        return lf_error_set(err, LF_ERR_INVALID, "'%s' is not of the form node.param=value",
                            assignment);
    memcpy(key, assignment, (size_t)(eq - assignment));
    key[eq - assignment] = '\0';
    return lf_graph_set_param(g, key, eq + 1, err);
}

/* ---- inspection ---- */

const char *lf_graph_path(const struct lf_graph *g)
{
    return g->path;
}

size_t lf_graph_node_count(const struct lf_graph *g)
{
    return g->nnodes;
}

const char *lf_graph_node_id(const struct lf_graph *g, size_t index)
{
    return index < g->nnodes ? g->nodes[index].id : NULL;
}

const struct lf_node_type *lf_graph_node_type(const struct lf_graph *g, size_t index)
{
    return index < g->nnodes ? g->nodes[index].type : NULL;
}

long lf_graph_find_node(const struct lf_graph *g, const char *id)
{
    return lf_name_index_find(&g->ids, id);
}

const struct lf_value *lf_graph_param(const struct lf_graph *g, const char *node_id,
                                      const char *param)
{
    const struct lf_gnode *n = find_node(g, node_id);
    int k;
    if (!n || !n->type || !n->values || (k = lf_type_param_index(n->type, param)) < 0) return NULL;
    return &n->values[k];
}

const char *lf_graph_param_text(const struct lf_graph *g, const char *node_id, const char *param)
{
    const struct lf_gnode *n = find_node(g, node_id);
    for (size_t j = 0; n && j < n->nparams; j++)
        if (!strcmp(n->params[j].name, param)) return n->params[j].text;
    return NULL;
}
