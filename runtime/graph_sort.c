/*
** graph_sort.c - the dependency order of a validated graph's nodes
** (g->order), and the cycle a graph cannot be ordered by.
*/
#include "graph-impl.h"

#include <stdio.h>
#include <stdlib.h>

/*
** Depth-first topological sort, iterative (a 100,000-node chain must not
** exhaust the C stack): stack[] is the path of grey nodes, next[] the input
** each of them continues with.  A grey node met again closes a cycle: the
** path from that node on is the cycle, named in the message.
*/
enum { WHITE = 0, GREY, BLACK };

static enum lf_status cycle_error(const struct lf_graph *g, const size_t *stack, size_t depth,
                                  size_t s, struct lf_error *err)
{
    char msg[LF_ERROR_MESSAGE_MAX];
    size_t from = 0, len;
    while (stack[from] != s)
        from++;
    /* The path runs from consumers to producers; name the cycle in
    ** data-flow order: s feeds stack[depth-1] ... feeds s. */
    len = (size_t)snprintf(msg, sizeof msg, "cycle: %s", g->nodes[s].id);
    for (size_t i = depth; i-- > from + 1 && len < sizeof msg;)
        len += (size_t)snprintf(msg + len, sizeof msg - len, " -> %s", g->nodes[stack[i]].id);
    if (len < sizeof msg) snprintf(msg + len, sizeof msg - len, " -> %s", g->nodes[s].id);
    return lf_graph_error(g, g->nodes[s].pos, err, "%s", msg);
}

static enum lf_status sort_from(struct lf_graph *g, size_t root, unsigned char *color,
                                size_t *stack, size_t *next, size_t *count, struct lf_error *err)
{
    size_t depth = 1;
    color[root] = GREY;
    stack[0] = root;
    next[0] = 0;
    while (depth > 0) {
        size_t v = stack[depth - 1];
        const struct lf_gnode *n = &g->nodes[v];
        if (next[depth - 1] == n->n_in) {
            color[v] = BLACK;
            g->order[(*count)++] = v;
            depth--;
            continue;
        }
        long s = n->src_node[next[depth - 1]++];
        if (s < 0 || color[s] == BLACK) continue;
        if (color[s] == GREY) return cycle_error(g, stack, depth, (size_t)s, err);
        color[s] = GREY;
        stack[depth] = (size_t)s;
        next[depth++] = 0;
    }
    return LF_OK;
}

enum lf_status lf_graph_sort(struct lf_graph *g, struct lf_error *err)
{
    unsigned char *color = calloc(g->nnodes + 1, 1);
    size_t *stack = calloc(g->nnodes + 1, sizeof *stack), count = 0;
    size_t *next = calloc(g->nnodes + 1, sizeof *next);
    enum lf_status st = LF_OK;
    free(g->order);
    g->order = calloc(g->nnodes + 1, sizeof *g->order);
    if (!color || !stack || !next || !g->order)
        st = lf_error_set(err, LF_ERR_OUT_OF_MEMORY, "out of memory");
    for (size_t v = 0; st == LF_OK && v < g->nnodes; v++)
        if (color[v] == WHITE) st = sort_from(g, v, color, stack, next, &count, err);
    free(color);
    free(stack);
    free(next);
    return st;
}
