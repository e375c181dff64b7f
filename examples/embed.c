/*
** embed.c - embedding lcmflow in a C program: load a graph, run it, change
** one param, run it again (only what the param feeds is recomputed), and
** read an output.
**
**   embed GRAPH.yaml NODE.PARAM=VALUE NODE.OUTPUT [PLUGIN_DIR]
**
** e.g. embed tests/graphs/ok.yaml twice.factor=3 twice.value build/tests/plugins
*/
#include "lcmflow/executor.h"
#include "lcmflow/graph.h"

#include <stdio.h>

static void print_output(const char *label, const struct lf_run *run, const char *ref)
{
    const struct lf_value *v = lf_run_output(run, ref);
    printf("%s: ", label);
    if (!v)
        printf("%s is not an output of the run", ref);
    else if (v->type == LF_TYPE_FLOAT)
        printf("%s = %g", ref, v->u.f);
    else if (v->type == LF_TYPE_INT)
        printf("%s = %lld", ref, (long long)v->u.i);
    else if (v->type == LF_TYPE_STRING)
        printf("%s = %s", ref, v->u.s);
    else
        printf("%s is a %s", ref, lf_value_type_name(v->type));
    printf(" (%zu nodes executed)\n", lf_run_executed_count(run));
}

int main(int argc, char **argv)
{
    struct lf_error err = {0};
    struct lf_registry *reg = NULL;
    struct lf_graph *graph = NULL;
    struct lf_session *session = NULL;
    struct lf_run *first = NULL, *second = NULL;
    const char *targets[1];
    char text[2048];
    int status = 1;

    if (argc < 4) {
        fprintf(stderr, "usage: embed GRAPH.yaml NODE.PARAM=VALUE NODE.OUTPUT [PLUGIN_DIR]\n");
        return 2;
    }
    targets[0] = argv[3];
    /* Plugins: an extra folder first, then the usual places. */
    if (lf_registry_create(&reg, &err) || (argc > 4 && lf_registry_load_dir(reg, argv[4], &err)) ||
        lf_registry_load_default(reg, &err) || lf_graph_load(reg, argv[1], &graph, &err) ||
        lf_session_create(&(struct lf_session_options){.cache_bytes = 256u << 20}, &session, &err))
        goto fail;
    if (lf_session_run_targets(session, graph, targets, 1, &first, &err)) goto fail;
    print_output("first run", first, argv[3]);
    if (lf_graph_set(graph, argv[2], &err) ||
        lf_session_run_targets(session, graph, targets, 1, &second, &err))
        goto fail;
    print_output("after set", second, argv[3]);
    status = 0;
fail:
    if (status) fprintf(stderr, "embed: %s\n", lf_error_text(&err, text, sizeof text));
    lf_run_destroy(second);
    lf_run_destroy(first);
    lf_session_destroy(session);
    lf_graph_destroy(graph);
    lf_registry_destroy(reg);
    return status;
}
