/*
** cli_run.c - `lcmflow run`: loads a graph, applies --set overrides, runs it
** (once, or once per --sweep value with the cache kept), prints the
** requested outputs' values, progress and profiles.
*/
#include "cli.h"
#include "lcmflow/executor.h"
#include "lcmflow/tensor.h"

#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

static void usage(FILE *f)
{
    fprintf(f,
            "usage: lcmflow run GRAPH.yaml [options]\n"
            "\n"
            "Runs a graph: only the nodes that feed its outputs (the graph's\n"
            "'outputs:', or every sink node), reusing cached values.\n"
            "\n"
            "options:\n"
            "  --set NODE.PARAM=VALUE     override a param (repeatable); the value is typed\n"
            "                             by the param; a relative path is relative to the\n"
            "                             current folder (in the graph file: to its folder)\n"
            "  --sweep NODE.PARAM=V1,V2,...\n"
            "                             run once per value, in order, in one process with\n"
            "                             the cache kept; '{value}' in string params (output\n"
            "                             paths) is replaced by the value of each run\n"
            "  --output NODE[.OUTPUT]     run for this output only (repeatable)\n"
            "  --profile                  after each run print '<node> <wall time> ms cached|ran'\n"
            "                             and the process's peak memory (RSS) so far\n"
            "  --quiet                    no progress on stderr\n"
            "  --cache-mb N               cache budget in MiB (default: half the memory, at least "
            "%zu)\n"
            "  --device N|NAME            the device to use, an index or a name such as\n"
            "                             'lavapipe' ('lcmflow devices'); as LCMFLOW_DEVICE\n"
            "  -h, --help                 this help\n"
            "\n"
            "Scalar outputs are printed on stdout as 'node.output = value'.\n"
            "Ctrl-C stops after the current dispatch; exit status 130.\n",
            LF_CACHE_DEFAULT_BYTES >> 20);
}

static struct lf_session *running; /* for the SIGINT handler */

static void on_sigint(int sig)
{
    (void)sig;
    if (running) lf_session_interrupt(running);
    /* A second Ctrl-C kills at once. */
    signal(SIGINT, SIG_DFL);
}

static void print_value(const char *ref, const struct lf_value *v)
{
    switch (v->type) {
    case LF_TYPE_INT:
        printf("%s = %lld\n", ref, (long long)v->u.i);
        break;
    case LF_TYPE_FLOAT:
        printf("%s = %.17g\n", ref, v->u.f);
        break;
    case LF_TYPE_BOOL:
        printf("%s = %s\n", ref, v->u.b ? "true" : "false");
        break;
    case LF_TYPE_STRING:
        printf("%s = %s\n", ref, v->u.s);
        break;
    default:
        printf("%s: %s", ref, lf_value_type_name(v->type));
        if (v->type >= LF_TYPE_TENSOR && v->type <= LF_TYPE_IMAGE && v->u.tensor) {
            const struct lf_tensor *t = v->u.tensor;
            for (int i = 0; i < t->rank && i < LF_TENSOR_MAX_RANK; i++)
                printf("%s%lld", i ? "," : " [", (long long)t->shape[i]);
            printf("%s", t->rank > 0 ? "]" : "");
        } else if (v->type >= LF_TYPE_UNET && v->type <= LF_TYPE_VAE && v->u.object) {
            printf(" (%s, %llu bytes)", v->u.object->kind ? v->u.object->kind : "?",
                   (unsigned long long)v->u.object->nbytes);
        }
        printf("\n");
        break;
    }
}

/* Prints every requested output of the run (graph order). */
static void print_outputs(const struct lf_graph *g, const struct lf_run *run)
{
    for (size_t i = 0; i < lf_graph_node_count(g); i++) {
        const struct lf_node_type *t = lf_graph_node_type(g, i);
        for (const struct lf_output_desc *o = t->outputs; o && o->name; o++) {
            const char *id = lf_graph_node_id(g, i);
            size_t size = strlen(id) + strlen(o->name) + 2;
            char *ref = malloc(size);
            const struct lf_value *v;
            if (!ref) continue;
            snprintf(ref, size, "%s.%s", id, o->name);
            if ((v = lf_run_output(run, ref)) != NULL) print_value(ref, v);
            free(ref);
        }
    }
    fflush(stdout);
}

struct options {
    const char *graph;
    const char **sets;
    size_t nsets;
    const char **targets;
    size_t ntargets;
    const char *sweep;
    bool profile, quiet;
    size_t cache_bytes;
};

static int parse_args(int argc, char **argv, struct options *o)
{
    o->sets = calloc((size_t)argc, sizeof *o->sets);
    o->targets = calloc((size_t)argc, sizeof *o->targets);
    bool device_given = false;
    if (!o->sets || !o->targets) return 1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        bool has_value = i + 1 < argc;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            return -1;
        } else if (!strcmp(a, "--set") && has_value) {
            o->sets[o->nsets++] = argv[++i];
        } else if (!strcmp(a, "--output") && has_value) {
            o->targets[o->ntargets++] = argv[++i];
        } else if (!strcmp(a, "--sweep") && has_value) {
            if (o->sweep) {
                fprintf(stderr, "lcmflow run: only one --sweep per run\n");
                return 2;
            }
            o->sweep = argv[++i];
        } else if (!strcmp(a, "--cache-mb") && has_value) {
            char *end;
            unsigned long long mb = strtoull(argv[++i], &end, 10);
            if (*end || mb == 0 || mb > ((size_t)-1 >> 20)) {
                fprintf(stderr, "lcmflow run: --cache-mb needs a positive number of MiB\n");
                return 2;
            }
            o->cache_bytes = (size_t)mb << 20;
        } else if (!strcmp(a, "--device") && has_value) {
            /* The session opens the device on first use and reads this. */
            if (!lf_cli_device_export("run", argv[++i])) return 2;
            device_given = true;
        } else if (!strcmp(a, "--profile")) {
            o->profile = true;
        } else if (!strcmp(a, "--quiet") || !strcmp(a, "-q")) {
            o->quiet = true;
        } else if (a[0] == '-' && a[1]) {
            fprintf(stderr, "lcmflow run: unknown or incomplete option '%s'\n", a);
            usage(stderr);
            return 2;
        } else if (!o->graph) {
            o->graph = a;
        } else {
            fprintf(stderr, "lcmflow run: one graph per run ('%s' is extra)\n", a);
            return 2;
        }
    }
    if (!o->graph) {
        usage(stderr);
        return 2;
    }
    /* A bad LCMFLOW_DEVICE is the device's error, said before anything
    ** runs (it was reported against the first node needing a device). */
    if (!device_given && !lf_cli_device_export("run", NULL)) return 2;
    return 0;
}

/* One run; returns the exit status. */
static int run_once(struct lf_session *s, struct lf_graph *g, const struct options *o)
{
    struct lf_error err = {0};
    struct lf_run *run;
    char text[2048];
    enum lf_status st = o->ntargets
                            ? lf_session_run_targets(s, g, o->targets, o->ntargets, &run, &err)
                            : lf_session_run(s, g, &run, &err);
    if (st == LF_ERR_INTERRUPTED) {
        fprintf(stderr, "lcmflow: %s\n", lf_error_text(&err, text, sizeof text));
        return 130;
    }
    if (st) {
        fprintf(stderr, "lcmflow: %s\n", lf_error_text(&err, text, sizeof text));
        return 1;
    }
    print_outputs(g, run);
    if (o->profile) {
        lf_run_print_profile(run, stdout);
        struct rusage ru;
        getrusage(RUSAGE_SELF, &ru); /* ru_maxrss: KiB on Linux */
        printf("peak host memory (RSS) %.2f GiB\n", (double)ru.ru_maxrss / (1024.0 * 1024.0));
    }
    fflush(stdout);
    lf_run_destroy(run);
    return 0;
}

/*
** A relative path typed in the shell (--set, --sweep) means the current
** folder, as every other path on a command line does; paths written in the
** graph file keep resolving against the file's folder.  Returns value, or
** the absolute path (malloc'd, in *owned) when key names a PATH param.
*/
static const char *shell_path(const struct lf_graph *g, const char *key, const char *value,
                              char **owned)
{
    *owned = NULL;
    const char *dot = strrchr(key, '.');
    if (!dot || !value[0] || value[0] == '/') return value;
    for (size_t i = 0; i < lf_graph_node_count(g); i++) {
        const char *id = lf_graph_node_id(g, i);
        if (strlen(id) != (size_t)(dot - key) || strncmp(id, key, (size_t)(dot - key))) continue;
        for (const struct lf_param_desc *d = lf_graph_node_type(g, i)->params; d && d->name; d++) {
            if (strcmp(d->name, dot + 1) || !(d->flags & LF_PARAM_PATH)) continue;
            char cwd[PATH_MAX];
            if (!getcwd(cwd, sizeof cwd)) return value;
            size_t n = strlen(cwd) + strlen(value) + 2;
            if ((*owned = malloc(n)) == NULL) return value;
            snprintf(*owned, n, "%s/%s", cwd, value);
            return *owned;
        }
    }
    return value;
}

/* lf_graph_set_param with shell_path applied. */
static enum lf_status set_from_shell(struct lf_graph *g, const char *key, const char *value,
                                     struct lf_error *err)
{
    char *owned;
    enum lf_status st = lf_graph_set_param(g, key, shell_path(g, key, value, &owned), err);
    free(owned);
    return st;
}

/* Sets the swept param to v and fills every {value} template with it;
** returns the exit status (1 with a message on a bad value). */
static int set_sweep_value(struct lf_graph *g, const char *key, const char *v,
                           const struct lf_cli_template *templates, size_t ntemplates)
{
    struct lf_error err = {0};
    char text[2048];
    if (set_from_shell(g, key, v, &err) != LF_OK) {
        fprintf(stderr, "lcmflow: --sweep %s=%s: %s\n", key, v,
                lf_error_text(&err, text, sizeof text));
        return 1;
    }
    for (size_t t = 0; t < ntemplates; t++) {
        char *filled = lf_cli_replace_all(templates[t].text, "{value}", v);
        enum lf_status st = filled ? lf_graph_set_param(g, templates[t].key, filled, &err)
                                   : lf_error_set(&err, LF_ERR_OUT_OF_MEMORY, "out of memory");
        free(filled);
        if (st != LF_OK) {
            fprintf(stderr, "lcmflow: --sweep %s=%s: %s: %s\n", key, v, templates[t].key,
                    lf_error_text(&err, text, sizeof text));
            return 1;
        }
    }
    return 0;
}

/* --set NODE.PARAM=VALUE: lf_graph_set with shell_path applied. */
static enum lf_status set_assignment(struct lf_graph *g, const char *assignment,
                                     struct lf_error *err)
{
    const char *eq = strchr(assignment, '=');
    if (!eq) return lf_graph_set(g, assignment, err); /* its message for the malformed */
    char *key = strndup(assignment, (size_t)(eq - assignment));
    if (!key) return lf_error_set(err, LF_ERR_OUT_OF_MEMORY, "out of memory");
    enum lf_status st = set_from_shell(g, key, eq + 1, err);
    free(key);
    return st;
}

/* Whether ref is "id.param". */
static bool ref_is(const char *ref, const char *id, const char *param)
{
    size_t idlen = strlen(id);
    return !strncmp(ref, id, idlen) && ref[idlen] == '.' && !strcmp(ref + idlen + 1, param);
}

static bool is_template(const struct lf_cli_template *templates, size_t ntemplates, const char *id,
                        const char *param)
{
    for (size_t t = 0; t < ntemplates; t++)
        if (ref_is(templates[t].key, id, param)) return true;
    return false;
}

/* A side-effect node whose file params do not change with the swept value
** would write the same file on every run, keeping only the last: refused,
** with the path as it could be written ("out/cat.png" -> "out/cat_{value}.png"). */
static int check_sweep_outputs(const struct lf_graph *g, const char *key, size_t nvalues,
                               const struct lf_cli_template *templates, size_t ntemplates)
{
    if (nvalues < 2) return 0;
    for (size_t i = 0; i < lf_graph_node_count(g); i++) {
        const struct lf_node_type *t = lf_graph_node_type(g, i);
        const char *id = lf_graph_node_id(g, i), *first = NULL;
        bool varies = false;
        if (!(t->flags & LF_NODE_SIDE_EFFECT)) continue;
        for (const struct lf_param_desc *d = t->params; d && d->name; d++) {
            if (d->type != LF_TYPE_STRING || !(d->flags & LF_PARAM_PATH)) continue;
            if (ref_is(key, id, d->name) || is_template(templates, ntemplates, id, d->name))
                varies = true;
            if (!first) first = d->name;
        }
        if (!first || varies) continue;
        const char *text = lf_graph_param_text(g, id, first);
        const char *path = text ? text : "", *slash = strrchr(path, '/');
        const char *dot = strrchr(path, '.');
        if (!dot || (slash && dot < slash)) dot = path + strlen(path);
        fprintf(stderr,
                "lcmflow: --sweep %s: every run would write %s.%s '%s' again, keeping only the "
                "last; put {value} in it (e.g. --set %s.%s=\"%.*s_{value}%s\")\n",
                key, id, first, path, id, first, (int)(dot - path), path, dot);
        return 1;
    }
    return 0;
}

static int run_sweep(struct lf_session *s, struct lf_graph *g, const struct options *o)
{
    struct lf_cli_sweep sw;
    struct lf_cli_template *templates = NULL;
    size_t ntemplates = 0;
    int status = lf_cli_sweep_parse("run", o->sweep, &sw);
    if (status) return status;
    ntemplates = lf_cli_sweep_templates(g, &templates);
    /* Every value, every path it makes, and collisions are checked before
    ** the first run. */
    for (size_t i = 0; i < sw.nvalues && status == 0; i++)
        status = set_sweep_value(g, sw.key, sw.values[i], templates, ntemplates);
    if (status == 0) status = check_sweep_outputs(g, sw.key, sw.nvalues, templates, ntemplates);
    for (size_t i = 0; i < sw.nvalues && status == 0; i++) {
        if ((status = set_sweep_value(g, sw.key, sw.values[i], templates, ntemplates)) != 0) break;
        if (!o->quiet) fprintf(stderr, "sweep %s=%s\n", sw.key, sw.values[i]);
        printf("# %s=%s\n", sw.key, sw.values[i]);
        status = run_once(s, g, o);
    }
    lf_cli_sweep_templates_free(templates, ntemplates);
    lf_cli_sweep_free(&sw);
    return status;
}

int lf_cli_run(int argc, char **argv)
{
    struct options o = {0};
    struct lf_registry *reg = NULL;
    struct lf_graph *g = NULL;
    struct lf_session *s = NULL;
    struct lf_error err = {0};
    char text[2048];
    int status = parse_args(argc, argv, &o);
    if (status) {
        free(o.sets);
        free(o.targets);
        return status < 0 ? 0 : status;
    }
    struct lf_session_options so = {
        .cache_bytes = o.cache_bytes,
        .progress = o.quiet ? LF_PROGRESS_NONE : LF_PROGRESS_AUTO,
    };
    if (lf_registry_create(&reg, &err) || lf_registry_load_default(reg, &err) ||
        (lf_cli_plugin_warnings(reg), lf_graph_load(reg, o.graph, &g, &err))) {
        fprintf(stderr, "lcmflow: %s\n", lf_error_text(&err, text, sizeof text));
        status = 1;
        goto done;
    }
    for (size_t i = 0; i < o.nsets; i++)
        if (set_assignment(g, o.sets[i], &err) != LF_OK) {
            fprintf(stderr, "lcmflow: --set: %s\n", lf_error_text(&err, text, sizeof text));
            status = 1;
            goto done;
        }
    so.registry = reg;
    if (lf_session_create(&so, &s, &err) != LF_OK) {
        fprintf(stderr, "lcmflow: %s\n", lf_error_text(&err, text, sizeof text));
        status = 1;
        goto done;
    }
    running = s;
    signal(SIGINT, on_sigint);
    status = o.sweep ? run_sweep(s, g, &o) : run_once(s, g, &o);
    signal(SIGINT, SIG_DFL);
    running = NULL;
done:
    lf_session_destroy(s);
    lf_graph_destroy(g);
    lf_registry_destroy(reg);
    free(o.sets);
    free(o.targets);
    return status;
}
