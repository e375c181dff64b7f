/*
** bench_graph.c - times loading a large graph: YAML parse and validation
** against the registry (lf_graph_load_string), for the scale target of
** 100,000 nodes in under 1 s.  Not a test: tests/bench/graph.sh runs it.
** Wall and CPU time are printed: on a shared machine the CPU time is the
** steadier figure.
**
** usage: bench-graph PLUGIN_DIR [NODES [REPEATS]]
*/
#include "../chain_graph.h"
#include "lcmflow/graph.h"

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double now(clockid_t clock)
{
    struct timespec ts;
    clock_gettime(clock, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: bench-graph PLUGIN_DIR [NODES [REPEATS]]\n");
        return 2;
    }
    size_t n = argc > 2 ? strtoull(argv[2], NULL, 10) : 100000, size;
    int repeats = argc > 3 ? atoi(argv[3]) : 3;
    char path[4096], text[2048];
    struct lf_registry *reg;
    struct lf_error err = {0};
    snprintf(path, sizeof path, "%s/lftest_counting.so", argv[1]);
    char *yaml = chain_graph_yaml(n ? n : 1, &size);
    if (!yaml || lf_registry_create(&reg, &err) || lf_registry_load_file(reg, path, &err)) {
        fprintf(stderr, "bench-graph: %s\n", yaml ? lf_error_text(&err, text, sizeof text) : "");
        return 1;
    }
    double best = 1e30, best_cpu = 1e30;
    for (int r = 0; r < repeats; r++) {
        struct lf_graph *g;
        double t0 = now(CLOCK_MONOTONIC), c0 = now(CLOCK_PROCESS_CPUTIME_ID);
        if (lf_graph_load_string(reg, "chain.yaml", yaml, size, &g, &err)) {
            fprintf(stderr, "bench-graph: %s\n", lf_error_text(&err, text, sizeof text));
            return 1;
        }
        double t = now(CLOCK_MONOTONIC) - t0, c = now(CLOCK_PROCESS_CPUTIME_ID) - c0;
        lf_graph_destroy(g);
        best = t < best ? t : best;
        best_cpu = c < best_cpu ? c : best_cpu;
        printf("%zu nodes (%.1f MB of YAML): parse + validate %.3f s (CPU %.3f s)\n", n,
               (double)size / 1e6, t, c);
    }
    printf("best of %d: %.3f s wall, %.3f s CPU\n", repeats, best, best_cpu);
    free(yaml);
    lf_registry_destroy(reg);
    return 0;
}
