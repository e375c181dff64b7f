/*
** graph_yaml.c - reads a YAML graph file into a graph's written form.
**
** libyaml's event stream is first turned into a small tree that keeps every
** node's start mark, then walked; positions become 1-based here and only
** here (libyaml marks are 0-based).
*/
#include "graph-impl.h"

#include <stdlib.h>
#include <string.h>
#include <yaml.h>

enum ykind { Y_SCALAR, Y_MAP, Y_SEQ };

struct ynode {
    enum ykind kind;
    struct lf_pos pos;
    char *text;           /* scalars: in the node's own block, after it */
    size_t len;           /* scalars: bytes in text (a NUL inside makes strlen shorter) */
    bool quoted;          /* scalars: not plain */
    struct ynode **items; /* maps: key, value, key, value ...; sequences: items */
    size_t n, cap;
};

static void ynode_free(struct ynode *y)
{
    if (!y) return;
    for (size_t i = 0; i < y->n; i++)
        ynode_free(y->items[i]);
    free(y->items);
    free(y); /* a scalar's text lives in the same block */
}

static struct lf_pos mark_pos(yaml_mark_t m)
{
    return (struct lf_pos){(int)m.line + 1, (int)m.column + 1};
}

static enum lf_status yaml_failure(const struct lf_graph *g, const yaml_parser_t *p,
                                   struct lf_error *err)
{
    const char *problem = p->problem ? p->problem : "unreadable input";
    if (p->error == YAML_MEMORY_ERROR)
        return lf_error_set(err, LF_ERR_OUT_OF_MEMORY, "%s: out of memory reading YAML", g->path);
    if (p->context)
        return lf_graph_error(g, mark_pos(p->problem_mark), err,
                              "YAML syntax error: %s (%s that starts at line %d)", problem,
                              p->context, (int)p->context_mark.line + 1);
    return lf_graph_error(g, mark_pos(p->problem_mark), err, "YAML syntax error: %s", problem);
}

static enum lf_status append(struct ynode *parent, struct ynode *child, struct lf_error *err)
{
    enum lf_status st =
        lf_grow((void **)&parent->items, &parent->cap, parent->n + 1, sizeof *parent->items, err);
    if (st) return st;
    parent->items[parent->n++] = child;
    return LF_OK;
}

/* Builds the tree of the first document; *root is NULL for an empty file. */
static enum lf_status build_tree(struct lf_graph *g, const char *text, size_t size,
                                 struct ynode **root, struct lf_error *err)
{
    yaml_parser_t parser;
    yaml_event_t ev;
    struct ynode *stack[64];
    int depth = 0;
    enum lf_status st = LF_OK;
    bool done = false;

    *root = NULL;
    if (!yaml_parser_initialize(&parser))
        return lf_error_set(err, LF_ERR_OUT_OF_MEMORY, "out of memory");
    yaml_parser_set_input_string(&parser, (const unsigned char *)text, size);
    while (!done && st == LF_OK) {
        if (!yaml_parser_parse(&parser, &ev)) {
            st = yaml_failure(g, &parser, err);
            break;
        }
        struct ynode *y = NULL;
        switch (ev.type) {
        case YAML_SCALAR_EVENT:
        case YAML_MAPPING_START_EVENT:
        case YAML_SEQUENCE_START_EVENT:
            /* One block per node, a scalar's text after it: a 100,000-node
            ** graph has millions of scalars, and malloc was most of the time. */
            y = calloc(1,
                       sizeof *y + (ev.type == YAML_SCALAR_EVENT ? ev.data.scalar.length + 1 : 0));
            if (!y) {
                st = lf_error_set(err, LF_ERR_OUT_OF_MEMORY, "out of memory");
                break;
            }
            y->pos = mark_pos(ev.start_mark);
            if (ev.type == YAML_SCALAR_EVENT) {
                y->kind = Y_SCALAR;
                y->text = (char *)(y + 1);
                memcpy(y->text, ev.data.scalar.value, ev.data.scalar.length);
                y->text[ev.data.scalar.length] = '\0';
                y->len = ev.data.scalar.length;
                y->quoted = ev.data.scalar.style != YAML_PLAIN_SCALAR_STYLE;
            } else {
                y->kind = ev.type == YAML_MAPPING_START_EVENT ? Y_MAP : Y_SEQ;
            }
            if (depth == 0) {
                *root = y;
            } else if ((st = append(stack[depth - 1], y, err)) != LF_OK) {
                ynode_free(y);
                break;
            }
            if (y->kind != Y_SCALAR) {
                if (depth == (int)(sizeof stack / sizeof *stack)) {
                    st = lf_graph_error(g, y->pos, err, "nesting too deep");
                    break;
                }
                stack[depth++] = y;
            }
            break;
        case YAML_MAPPING_END_EVENT:
        case YAML_SEQUENCE_END_EVENT:
            depth--;
            break;
        case YAML_ALIAS_EVENT:
            st = lf_graph_error(g, mark_pos(ev.start_mark), err,
                                "YAML aliases (*name) are not supported in graphs");
            break;
        case YAML_DOCUMENT_END_EVENT:
        case YAML_STREAM_END_EVENT:
            done = true;
            break;
        default:
            break;
        }
        yaml_event_delete(&ev);
    }
    yaml_parser_delete(&parser);
    if (st) {
        ynode_free(*root);
        *root = NULL;
    }
    return st;
}

static const char *kind_name(enum ykind k)
{
    return k == Y_MAP ? "a mapping" : k == Y_SEQ ? "a list" : "a scalar";
}

static bool is_null(const struct ynode *y)
{
    return y->kind == Y_SCALAR && !y->quoted &&
           (!y->text[0] || !strcmp(y->text, "~") || !strcmp(y->text, "null"));
}

/* The first earlier key in map equal to key i, or NULL. */
static const struct ynode *earlier_key(const struct ynode *map, size_t i)
{
    const struct ynode *k = map->items[i];
    for (size_t j = 0; j < i; j += 2) {
        const struct ynode *o = map->items[j];
        if (o->kind == Y_SCALAR && k->kind == Y_SCALAR && !strcmp(o->text, k->text)) return o;
    }
    return NULL;
}

static enum lf_status read_params(struct lf_graph *g, struct lf_gnode *n, const struct ynode *map,
                                  struct lf_error *err)
{
    for (size_t i = 0; i + 1 < map->n; i += 2) {
        const struct ynode *k = map->items[i], *v = map->items[i + 1];
        const struct ynode *first;
        if (k->kind != Y_SCALAR)
            return lf_graph_error(g, k->pos, err, "param names must be scalars");
        if ((first = earlier_key(map, i)) != NULL)
            return lf_graph_error(g, k->pos, err,
                                  "param '%s' of node '%s' is set twice (first at line %d)",
                                  k->text, n->id, first->pos.line);
        if (v->kind != Y_SCALAR)
            return lf_graph_error(g, v->pos, err,
                                  "param '%s' of node '%s' must be a scalar or a string, not %s",
                                  k->text, n->id, kind_name(v->kind));
        if (is_null(v))
            return lf_graph_error(g, v->pos, err,
                                  "param '%s' of node '%s' has no value (null); leave it out for "
                                  "its default, or quote it (\"null\") for the text",
                                  k->text, n->id);
        if (strlen(v->text) != v->len)
            return lf_graph_error(g, v->pos, err,
                                  "param '%s' of node '%s' contains a NUL character (\\0)", k->text,
                                  n->id);
        enum lf_status st =
            lf_gnode_push_param(n, k->text, k->pos, v->text, v->quoted, v->pos, err);
        if (st) return st;
    }
    return LF_OK;
}

static enum lf_status read_inputs(struct lf_graph *g, struct lf_gnode *n, const struct ynode *map,
                                  struct lf_error *err)
{
    for (size_t i = 0; i + 1 < map->n; i += 2) {
        const struct ynode *k = map->items[i], *v = map->items[i + 1];
        const struct ynode *first;
        if (k->kind != Y_SCALAR)
            return lf_graph_error(g, k->pos, err, "input names must be scalars");
        if ((first = earlier_key(map, i)) != NULL)
            return lf_graph_error(g, k->pos, err,
                                  "input '%s' of node '%s' is connected twice (first at line %d)",
                                  k->text, n->id, first->pos.line);
        if (v->kind != Y_SCALAR)
            return lf_graph_error(g, v->pos, err,
                                  "input '%s' of node '%s' must be a reference node.output, "
                                  "not %s",
                                  k->text, n->id, kind_name(v->kind));
        enum lf_status st = lf_gnode_push_input(n, k->text, k->pos, v->text, v->pos, err);
        if (st) return st;
    }
    return LF_OK;
}

static enum lf_status read_node(struct lf_graph *g, const struct ynode *key,
                                const struct ynode *body, struct lf_error *err)
{
    struct lf_gnode *n;
    enum lf_status st;
    if (body->kind != Y_MAP)
        return lf_graph_error(g, body->pos, err,
                              "node '%s' must be a mapping with 'type', 'inputs', 'params'",
                              key->text);
    if (!(n = lf_graph_push_node(g, key->text, key->pos, err)))
        return err ? err->code : LF_ERR_OUT_OF_MEMORY;
    for (size_t i = 0; i + 1 < body->n; i += 2) {
        const struct ynode *k = body->items[i], *v = body->items[i + 1];
        const char *name = k->kind == Y_SCALAR ? k->text : "";
        if (earlier_key(body, i))
            return lf_graph_error(g, k->pos, err, "key '%s' appears twice in node '%s'", name,
                                  n->id);
        if (!strcmp(name, "type")) {
            if (v->kind != Y_SCALAR || !v->text[0])
                return lf_graph_error(g, v->pos, err, "the type of node '%s' must be a name",
                                      n->id);
            free(n->type_name);
            if (!(n->type_name = strdup(v->text)))
                return lf_error_set(err, LF_ERR_OUT_OF_MEMORY, "out of memory");
            n->type_pos = v->pos;
        } else if (!strcmp(name, "params") || !strcmp(name, "inputs")) {
            if (is_null(v)) continue;
            if (v->kind != Y_MAP)
                return lf_graph_error(g, v->pos, err, "'%s' of node '%s' must be a mapping", name,
                                      n->id);
            st = name[0] == 'p' ? read_params(g, n, v, err) : read_inputs(g, n, v, err);
            if (st) return st;
        } else {
            return lf_graph_error(g, k->pos, err,
                                  "unknown key '%s' in node '%s' (expected type, inputs, params)",
                                  name, n->id);
        }
    }
    if (!n->type_name) return lf_graph_error(g, key->pos, err, "node '%s' has no 'type'", n->id);
    return LF_OK;
}

static enum lf_status read_outputs(struct lf_graph *g, const struct ynode *v, struct lf_error *err)
{
    if (v->kind == Y_SCALAR) return lf_graph_push_target(g, v->text, v->pos, err);
    if (v->kind != Y_SEQ)
        return lf_graph_error(g, v->pos, err, "'outputs' must be a list of node or node.output");
    for (size_t i = 0; i < v->n; i++) {
        const struct ynode *item = v->items[i];
        if (item->kind != Y_SCALAR)
            return lf_graph_error(g, item->pos, err, "an output must be node or node.output");
        enum lf_status st = lf_graph_push_target(g, item->text, item->pos, err);
        if (st) return st;
    }
    return LF_OK;
}

static enum lf_status read_graph(struct lf_graph *g, const struct ynode *root, struct lf_error *err)
{
    const struct ynode *version = NULL, *nodes = NULL, *outputs = NULL;
    if (!root || root->kind != Y_MAP)
        return lf_graph_error(g, root ? root->pos : (struct lf_pos){1, 1}, err,
                              "a graph file is a mapping with 'version: 1' and 'nodes'");
    for (size_t i = 0; i + 1 < root->n; i += 2) {
        const struct ynode *k = root->items[i], *v = root->items[i + 1];
        const char *name = k->kind == Y_SCALAR ? k->text : "";
        if (earlier_key(root, i))
            return lf_graph_error(g, k->pos, err, "key '%s' appears twice", name);
        if (!strcmp(name, "version"))
            version = v;
        else if (!strcmp(name, "nodes"))
            nodes = v;
        else if (!strcmp(name, "outputs"))
            outputs = v;
        else
            return lf_graph_error(g, k->pos, err,
                                  "unknown key '%s' (expected version, nodes, outputs)", name);
    }
    if (!version) return lf_graph_error(g, root->pos, err, "missing 'version: 1'");
    if (version->kind != Y_SCALAR || version->quoted || strcmp(version->text, "1"))
        return lf_graph_error(g, version->pos, err,
                              "unsupported graph version '%s' (this lcmflow reads version 1)",
                              version->kind == Y_SCALAR ? version->text : kind_name(version->kind));
    if (!nodes) return lf_graph_error(g, root->pos, err, "missing 'nodes'");
    if (nodes->kind != Y_MAP)
        return lf_graph_error(g, nodes->pos, err, "'nodes' must be a mapping of id to node");
    for (size_t i = 0; i + 1 < nodes->n; i += 2) {
        const struct ynode *k = nodes->items[i];
        long first;
        enum lf_status st;
        if (k->kind != Y_SCALAR || !k->text[0] || strlen(k->text) != k->len)
            return lf_graph_error(g, k->pos, err,
                                  "node ids must be non-empty names without NUL characters");
        /* The graph's id index, not a scan of earlier keys: linear in the nodes. */
        if ((first = lf_graph_find_node(g, k->text)) >= 0)
            return lf_graph_error(g, k->pos, err,
                                  "duplicate node id '%s' (first defined at line %d)", k->text,
                                  g->nodes[first].pos.line);
        if (strchr(k->text, '.'))
            return lf_graph_error(g, k->pos, err,
                                  "node id '%s' must not contain '.' (it separates node and "
                                  "output in references)",
                                  k->text);
        if ((st = read_node(g, k, nodes->items[i + 1], err)) != LF_OK) return st;
    }
    return outputs ? read_outputs(g, outputs, err) : LF_OK;
}

enum lf_status lf_graph_parse_yaml(struct lf_graph *g, const char *text, size_t size,
                                   struct lf_error *err)
{
    struct ynode *root;
    enum lf_status st = build_tree(g, text, size, &root, err);
    if (st) return st;
    st = read_graph(g, root, err);
    ynode_free(root);
    return st;
}
