/*
** cli_nodes.c - `lcmflow nodes [TYPE]`: the node types of the loaded
** plugins, with ports, params, defaults and where each comes from.
*/
#include "cli.h"
#include "lcmflow/graph.h"

#include <stdio.h>
#include <string.h>

static void usage(FILE *f)
{
    fprintf(f, "usage: lcmflow nodes [TYPE]\n"
               "\n"
               "Lists every node type of the plugins found (LCMFLOW_PLUGIN_PATH, then the\n"
               "build or install tree) with its ports, params and plugin; with TYPE, shows\n"
               "that one type in detail.\n");
}

static void print_default(const struct lf_param_desc *d)
{
    if (d->flags & LF_PARAM_REQUIRED) {
        printf("required");
        return;
    }
    char buf[24];
    switch (d->type) {
    case LF_TYPE_INT:
        printf("%s", lf_param_int_format(d, d->default_int, buf, sizeof buf));
        break;
    case LF_TYPE_FLOAT:
        printf("%g", d->default_float);
        break;
    case LF_TYPE_BOOL:
        printf("%s", d->default_bool ? "true" : "false");
        break;
    default:
        printf("\"%s\"", d->default_string ? d->default_string : "");
        break;
    }
}

/* INT ranges exactly; unsigned INTs show their range even when implied. */
static void print_range(const struct lf_param_desc *d)
{
    char lo[24], hi[24];
    int64_t min, max;
    if (d->type == LF_TYPE_INT && (d->flags & (LF_PARAM_HAS_RANGE | LF_PARAM_UNSIGNED))) {
        lf_param_int_bounds(d, &min, &max);
        printf(", range [%s, %s]", lf_param_int_format(d, min, lo, sizeof lo),
               lf_param_int_format(d, max, hi, sizeof hi));
    } else if (d->flags & LF_PARAM_HAS_RANGE) {
        printf(", range [%g, %g]", d->min, d->max);
    }
}

/* One line per port group, compact, for the list. */
static void print_summary(const struct lf_registry *reg, const struct lf_node_type *t)
{
    const char *file = NULL;
    const struct lf_plugin_desc *p = lf_registry_plugin_of(reg, t, &file);
    const char *sep = "";
    printf("%s - %s [%s %s]\n", t->name, t->description ? t->description : "", p ? p->name : "?",
           p ? p->version : "?");
    printf("    inputs: ");
    for (const struct lf_input_desc *d = t->inputs; d && d->name; d++, sep = ", ")
        printf("%s%s %s%s", sep, d->name, lf_value_type_name(d->type),
               d->flags & LF_PORT_OPTIONAL ? "?" : "");
    printf("%s\n    outputs: ", *sep ? "" : "-");
    sep = "";
    for (const struct lf_output_desc *d = t->outputs; d && d->name; d++, sep = ", ")
        printf("%s%s %s", sep, d->name, lf_value_type_name(d->type));
    printf("%s\n    params: ", *sep ? "" : "-");
    sep = "";
    for (const struct lf_param_desc *d = t->params; d && d->name; d++, sep = ", ") {
        printf("%s%s %s=", sep, d->name, lf_value_type_name(d->type));
        print_default(d);
        if (d->flags & LF_PARAM_HAS_RANGE) printf(" in [%g, %g]", d->min, d->max);
    }
    printf("%s\n", *sep ? "" : "-");
}

static void print_detail(const struct lf_registry *reg, const struct lf_node_type *t)
{
    const char *file = NULL;
    const struct lf_plugin_desc *p = lf_registry_plugin_of(reg, t, &file);
    printf("%s - %s\n", t->name, t->description ? t->description : "");
    printf("plugin: %s %s (%s)\n", p ? p->name : "?", p ? p->version : "?", file ? file : "?");
    printf("flags:%s%s%s%s\n", t->flags & LF_NODE_DETERMINISTIC ? " deterministic" : "",
           t->flags & LF_NODE_READS_FILES ? " reads-files" : "",
           t->flags & LF_NODE_SIDE_EFFECT ? " side-effect" : "", t->flags ? "" : " none");
    printf("inputs:\n");
    for (const struct lf_input_desc *d = t->inputs; d && d->name; d++)
        printf("  %-16s %-13s%s%s%s\n", d->name, lf_value_type_name(d->type),
               d->flags & LF_PORT_OPTIONAL ? " optional" : "", d->description ? "  " : "",
               d->description ? d->description : "");
    printf("outputs:\n");
    for (const struct lf_output_desc *d = t->outputs; d && d->name; d++) {
        printf("  %-16s %-13s depends on:", d->name, lf_value_type_name(d->type));
        if (!d->depends_on)
            printf(" all");
        else if (!d->depends_on[0])
            printf(" nothing");
        for (const char *const *n = d->depends_on; n && *n; n++)
            printf(" %s", *n);
        printf("\n");
    }
    printf("params:\n");
    for (const struct lf_param_desc *d = t->params; d && d->name; d++) {
        printf("  %-16s %-13s default ", d->name, lf_value_type_name(d->type));
        print_default(d);
        print_range(d);
        if (d->flags & LF_PARAM_PATH) printf(", path");
        if (d->description) printf("  %s", d->description);
        printf("\n");
    }
}

void lf_cli_plugin_warnings(const struct lf_registry *reg)
{
    for (size_t i = 0; i < lf_registry_failure_count(reg); i++)
        fprintf(stderr, "lcmflow: warning: plugin skipped: %s\n",
                lf_registry_failure(reg, i, NULL));
}

int lf_cli_nodes(int argc, char **argv)
{
    struct lf_registry *reg = NULL;
    struct lf_error err = {0};
    char text[2048];
    int status = 0;
    if (argc > 1 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help"))) {
        usage(stdout);
        return 0;
    }
    if (argc > 2 || (argc == 2 && argv[1][0] == '-')) {
        usage(stderr);
        return 2;
    }
    if (lf_registry_create(&reg, &err) || lf_registry_load_default(reg, &err)) {
        fprintf(stderr, "lcmflow: %s\n", lf_error_text(&err, text, sizeof text));
        lf_registry_destroy(reg);
        return 1;
    }
    lf_cli_plugin_warnings(reg);
    if (argc == 2) {
        const struct lf_node_type *t = lf_registry_find(reg, argv[1]);
        if (t) {
            print_detail(reg, t);
        } else {
            const char *best = lf_registry_suggest(reg, argv[1]);
            fprintf(stderr, "lcmflow nodes: unknown node type '%s'", argv[1]);
            if (best) fprintf(stderr, " (did you mean '%s'?)", best);
            fprintf(stderr, "\n");
            status = 1;
        }
    } else {
        for (size_t i = 0; i < lf_registry_count(reg); i++)
            print_summary(reg, lf_registry_type(reg, i));
        if (lf_registry_count(reg) == 0)
            fprintf(stderr, "lcmflow nodes: no plugins found (set LCMFLOW_PLUGIN_PATH?)\n");
    }
    lf_registry_destroy(reg);
    return status;
}
