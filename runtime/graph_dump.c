/*
** graph_dump.c - writes a graph back as YAML (lf_graph_to_yaml), so that
** an image can carry the graph and params that made it.
*/
#include "graph-impl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct buf {
    char *data;
    size_t size, cap;
    bool failed;
};

static void put(struct buf *b, const char *s, size_t n)
{
    if (b->failed) return;
    if (b->size + n + 1 > b->cap) {
        size_t cap = (b->cap + n + 1) * 2;
        char *d = realloc(b->data, cap);
        if (!d) {
            b->failed = true;
            return;
        }
        b->data = d;
        b->cap = cap;
    }
    memcpy(b->data + b->size, s, n);
    b->size += n;
    b->data[b->size] = '\0';
}

static void puts_(struct buf *b, const char *s)
{
    put(b, s, strlen(s));
}

/* A double-quoted YAML scalar with the escapes it needs. */
static void put_quoted(struct buf *b, const char *s)
{
    puts_(b, "\"");
    for (; *s; s++) {
        char esc[8];
        if (*s == '"' || *s == '\\') {
            esc[0] = '\\', esc[1] = *s, esc[2] = 0;
            puts_(b, esc);
        } else if (*s == '\n') {
            puts_(b, "\\n");
        } else if (*s == '\t') {
            puts_(b, "\\t");
        } else if ((unsigned char)*s < 0x20) {
            snprintf(esc, sizeof esc, "\\x%02x", (unsigned char)*s);
            puts_(b, esc);
        } else {
            put(b, s, 1);
        }
    }
    puts_(b, "\"");
}

enum lf_status lf_graph_to_yaml(const struct lf_graph *g, char **out, struct lf_error *err)
{
    struct buf b = {0};
    *out = NULL;
    puts_(&b, "version: 1\nnodes:\n");
    for (size_t i = 0; i < g->nnodes; i++) {
        const struct lf_gnode *n = &g->nodes[i];
        puts_(&b, "  "), puts_(&b, n->id), puts_(&b, ":\n    type: "), puts_(&b, n->type_name);
        puts_(&b, "\n");
        if (n->ninputs) {
            puts_(&b, "    inputs: {");
            for (size_t k = 0; k < n->ninputs; k++) {
                puts_(&b, k ? ", " : ""), puts_(&b, n->inputs[k].name), puts_(&b, ": ");
                puts_(&b, n->inputs[k].ref);
            }
            puts_(&b, "}\n");
        }
        if (n->nparams) {
            puts_(&b, "    params: {");
            for (size_t k = 0; k < n->nparams; k++) {
                puts_(&b, k ? ", " : ""), puts_(&b, n->params[k].name), puts_(&b, ": ");
                if (n->params[k].quoted)
                    put_quoted(&b, n->params[k].text);
                else
                    puts_(&b, n->params[k].text);
            }
            puts_(&b, "}\n");
        }
    }
    if (b.failed) {
        free(b.data);
        return lf_error_set(err, LF_ERR_OUT_OF_MEMORY, "out of memory");
    }
    *out = b.data;
    return LF_OK;
}
