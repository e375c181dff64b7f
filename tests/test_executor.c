/*
** test_executor.c - the executor and its cache, witnessed by the counting
** test plugin: an unchanged re-run executes nothing; a param change
** re-executes exactly the nodes downstream of the outputs it feeds; a
** touched file re-executes its reader; a small budget evicts the least
** recently used value; side-effect and non-deterministic nodes always run;
** interruption, node errors, progress and profile output.
**
** Argument: the build folder of tests/plugins.
*/
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "lcmflow/executor.h"

#include <dlfcn.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static char plugin_path[1024];
static int (*executions)(const char *node_id);
static void (*reset)(void);

struct fixture {
    struct lf_registry *reg;
    struct lf_session *session;
    struct lf_graph *graph;
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof *f);
    struct lf_error err = {0};
    assert_int_equal(lf_registry_create(&f->reg, &err), LF_OK);
    assert_int_equal(lf_registry_load_file(f->reg, plugin_path, &err), LF_OK);
    assert_int_equal(lf_session_create(NULL, &f->session, &err), LF_OK);
    /* The plugin is loaded once per process: reach its counters. */
    void *h = dlopen(plugin_path, RTLD_NOW | RTLD_NOLOAD);
    assert_non_null(h);
    *(void **)&executions = dlsym(h, "lftest_executions");
    *(void **)&reset = dlsym(h, "lftest_reset");
    assert_non_null(executions);
    assert_non_null(reset);
    dlclose(h);
    reset();
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    lf_graph_destroy(f->graph);
    lf_session_destroy(f->session);
    lf_registry_destroy(f->reg);
    free(f);
    return 0;
}

static void load(struct fixture *f, const char *text)
{
    struct lf_error err = {0};
    char buf[2048];
    lf_graph_destroy(f->graph);
    if (lf_graph_load_string(f->reg, "test.yaml", text, strlen(text), &f->graph, &err) != LF_OK)
        fail_msg("%s", lf_error_text(&err, buf, sizeof buf));
}

/* Runs (all sinks, or the given targets) and returns how many nodes executed. */
static int run(struct fixture *f, const char *target, struct lf_run **out)
{
    struct lf_error err = {0};
    struct lf_run *r;
    char buf[2048];
    int before = executions(NULL);
    enum lf_status st = target ? lf_session_run_targets(f->session, f->graph, &target, 1, &r, &err)
                               : lf_session_run(f->session, f->graph, &r, &err);
    if (st != LF_OK) fail_msg("%s", lf_error_text(&err, buf, sizeof buf));
    assert_int_equal((int)lf_run_executed_count(r), executions(NULL) - before);
    if (out)
        *out = r;
    else
        lf_run_destroy(r);
    return executions(NULL) - before;
}

static void set(struct fixture *f, const char *assignment)
{
    struct lf_error err = {0};
    assert_int_equal(lf_graph_set(f->graph, assignment, &err), LF_OK);
}

static double output_f(const struct lf_run *r, const char *ref)
{
    const struct lf_value *v = lf_run_output(r, ref);
    assert_non_null(v);
    assert_int_equal(v->type, LF_TYPE_FLOAT);
    return v->u.f;
}

static const char arith[] = "version: 1\n"
                            "nodes:\n"
                            "  x:     { type: TestNumber, params: { value: 2 } }\n"
                            "  y:     { type: TestNumber, params: { value: 3.5 } }\n"
                            "  sum:   { type: TestAdd, inputs: { a: x.value, b: y.value } }\n"
                            "  twice: { type: TestScale, inputs: { value: sum.sum },\n"
                            "           params: { factor: 2 } }\n"
                            "  other: { type: TestScale, inputs: { value: y.value } }\n"
                            "outputs: [twice.value]\n";

static void test_rerun_and_param_change(void **state)
{
    struct fixture *f = *state;
    struct lf_run *r;
    load(f, arith);
    assert_int_equal(run(f, NULL, &r), 4);
    assert_true(output_f(r, "twice.value") == 11.0);
    /* 'other' feeds no requested output: never visited. */
    assert_int_equal(lf_run_node_state(r, 4), LF_NODE_SKIPPED);
    assert_int_equal(executions("other"), 0);
    lf_run_destroy(r);

    /* Unchanged: nothing executes, the value comes from the cache. */
    assert_int_equal(run(f, NULL, &r), 0);
    assert_true(output_f(r, "twice.value") == 11.0);
    for (size_t i = 0; i < 4; i++)
        assert_int_equal(lf_run_node_state(r, i), LF_NODE_CACHED);
    lf_run_destroy(r);

    /* The last node's param: only that node. */
    reset();
    set(f, "twice.factor=3");
    assert_int_equal(run(f, NULL, &r), 1);
    assert_int_equal(executions("twice"), 1);
    assert_true(output_f(r, "twice.value") == 16.5);
    lf_run_destroy(r);

    /* A source's param: it and its descendants, not its sibling. */
    reset();
    set(f, "x.value=4");
    assert_int_equal(run(f, NULL, &r), 3);
    assert_int_equal(executions("x"), 1);
    assert_int_equal(executions("sum"), 1);
    assert_int_equal(executions("twice"), 1);
    assert_int_equal(executions("y"), 0);
    assert_true(output_f(r, "twice.value") == 22.5);
    lf_run_destroy(r);

    /* Back to earlier values: everything still cached. */
    set(f, "x.value=2");
    set(f, "twice.factor=2");
    assert_int_equal(run(f, NULL, &r), 0);
    assert_true(output_f(r, "twice.value") == 11.0);
    lf_run_destroy(r);
}

static void test_targets_and_keys(void **state)
{
    struct fixture *f = *state;
    struct lf_run *r;
    load(f, arith);
    /* Only what feeds 'other': y and other. */
    assert_int_equal(run(f, "other.value", &r), 2);
    assert_int_equal(executions("x"), 0);
    assert_true(output_f(r, "other.value") == 3.5);
    assert_null(lf_run_output(r, "twice.value"));
    /* Keys hash names and values only, never pointers: pinned across
    ** processes and builds (changing the encoding must change this). */
    assert_true(lf_run_output_key(r, "other.value") == UINT64_C(0xb5062d08512c99a8));
    lf_run_destroy(r);
    /* y is cached now: the full run executes x, sum, twice only. */
    assert_int_equal(run(f, NULL, NULL), 3);
    assert_int_equal(executions("y"), 1);
}

/* Like LoraLoader: an output that does not depend on the changed param keeps
** its key, so its consumer stays cached. */
static void test_per_output_dependencies(void **state)
{
    struct fixture *f = *state;
    struct lf_run *r;
    load(f, "version: 1\n"
            "nodes:\n"
            "  p: { type: TestPair, params: { left: 10, right: 20 } }\n"
            "  l: { type: TestInc, inputs: { value: p.left } }\n"
            "  r: { type: TestInc, inputs: { value: p.right } }\n");
    assert_int_equal(run(f, NULL, NULL), 3);
    reset();
    set(f, "p.left=11");
    assert_int_equal(run(f, NULL, &r), 2);
    assert_int_equal(executions("p"), 1);
    assert_int_equal(executions("l"), 1);
    assert_int_equal(executions("r"), 0);
    assert_int_equal(lf_run_output(r, "l.value")->u.i, 12);
    assert_int_equal(lf_run_output(r, "r.value")->u.i, 21);
    lf_run_destroy(r);
}

static void write_file(const char *path, const char *text)
{
    FILE *fp = fopen(path, "w");
    assert_non_null(fp);
    fputs(text, fp);
    fclose(fp);
}

static void test_file_identity(void **state)
{
    struct fixture *f = *state;
    char dir[] = "/tmp/lftest-XXXXXX", path[256], yaml[1024];
    struct lf_run *r;
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/in.txt", dir);
    write_file(path, "abc");
    snprintf(yaml, sizeof yaml,
             "version: 1\n"
             "nodes:\n"
             "  read: { type: TestReadFile, params: { path: %s } }\n"
             "  n:    { type: TestNumber }\n"
             "  cat:  { type: TestConcat, inputs: { a: read.text }, params: { sep: '!' } }\n"
             "  len:  { type: TestInc, inputs: { value: read.length } }\n",
             path);
    load(f, yaml);
    assert_int_equal(run(f, NULL, &r), 4);
    assert_string_equal(lf_run_output(r, "cat.text")->u.s, "abc!");
    lf_run_destroy(r);
    assert_int_equal(run(f, NULL, NULL), 0);
    /* New content and mtime: the reader and its consumers run again. */
    reset();
    write_file(path, "abcdef");
    struct timespec times[2] = {{.tv_sec = time(NULL) + 5}, {.tv_sec = time(NULL) + 5}};
    assert_int_equal(utimensat(AT_FDCWD, path, times, 0), 0);
    assert_int_equal(run(f, NULL, &r), 3);
    assert_int_equal(executions("read"), 1);
    assert_int_equal(executions("n"), 0);
    assert_string_equal(lf_run_output(r, "cat.text")->u.s, "abcdef!");
    assert_int_equal(lf_run_output(r, "len.value")->u.i, 7);
    lf_run_destroy(r);
    /* Touch only (same size, new mtime): the reader runs. */
    reset();
    times[0].tv_sec = times[1].tv_sec = time(NULL) + 10;
    assert_int_equal(utimensat(AT_FDCWD, path, times, 0), 0);
    assert_int_equal(run(f, NULL, NULL), 3);
    assert_int_equal(executions("read"), 1);
    remove(path);
    rmdir(dir);
}

static void test_lru_budget(void **state)
{
    struct fixture *f = *state;
    size_t count, bytes;
    load(f, "version: 1\n"
            "nodes:\n"
            "  b1: { type: TestBlob, params: { kb: 64, seed: 1 } }\n"
            "  b2: { type: TestBlob, params: { kb: 64, seed: 2 } }\n"
            "  b3: { type: TestBlob, params: { kb: 64, seed: 3 } }\n");
    /* Room for one blob, not two. */
    lf_session_set_cache_bytes(f->session, 100 * 1024);
    assert_int_equal(run(f, "b1.blob", NULL), 1);
    assert_int_equal(run(f, "b1.blob", NULL), 0);
    assert_int_equal(run(f, "b2.blob", NULL), 1); /* evicts b1 */
    lf_session_cache_stats(f->session, &count, &bytes);
    assert_int_equal(count, 1);
    assert_true(bytes >= 64 * 1024 && bytes <= 100 * 1024);
    assert_int_equal(run(f, "b2.blob", NULL), 0);
    assert_int_equal(run(f, "b1.blob", NULL), 1); /* recomputed */

    /* Room for two: the least recently used goes, not the oldest stored. */
    lf_session_cache_clear(f->session);
    lf_session_set_cache_bytes(f->session, 150 * 1024);
    reset();
    assert_int_equal(run(f, "b1.blob", NULL), 1);
    assert_int_equal(run(f, "b2.blob", NULL), 1);
    assert_int_equal(run(f, "b1.blob", NULL), 0); /* b1 now most recently used */
    assert_int_equal(run(f, "b3.blob", NULL), 1); /* evicts b2 */
    assert_int_equal(run(f, "b1.blob", NULL), 0);
    assert_int_equal(run(f, "b2.blob", NULL), 1);
    assert_int_equal(executions("b1"), 1);
    assert_int_equal(executions("b2"), 2);
}

/* An LF_NODE_REPLACES node's earlier result leaves the cache before it runs
** again (its memory can serve the new one); others keep every result. */
static void test_replacing_node(void **state)
{
    struct fixture *f = *state;
    size_t count, bytes;
    void *h = dlopen(plugin_path, RTLD_NOW | RTLD_NOLOAD);
    int (*alive_at_merge)(void);
    *(void **)&alive_at_merge = dlsym(h, "lftest_blobs_alive_at_merge");
    assert_non_null(alive_at_merge);
    dlclose(h);
    load(f, "version: 1\n"
            "nodes:\n"
            "  m: { type: TestMerged, params: { kb: 64, seed: 1 } }\n"
            "  b: { type: TestBlob, params: { kb: 64, seed: 1 } }\n");
    assert_int_equal(run(f, "m.blob", NULL), 1);
    assert_int_equal(run(f, "b.blob", NULL), 1);
    set(f, "m.seed=2");
    set(f, "b.seed=2");
    assert_int_equal(run(f, "m.blob", NULL), 1);
    assert_int_equal(alive_at_merge(), 1); /* only b's: m's first result went first */
    assert_int_equal(run(f, "b.blob", NULL), 1);
    lf_session_cache_stats(f->session, &count, &bytes);
    assert_int_equal(count, 3); /* m's newest, b's two */
    set(f, "m.seed=1");
    set(f, "b.seed=1");
    assert_int_equal(run(f, "b.blob", NULL), 0); /* still cached */
    assert_int_equal(run(f, "m.blob", NULL), 1); /* recomputed */
    assert_int_equal(run(f, "m.blob", NULL), 0); /* the same key stays */
}

static void test_side_effects_and_nondeterminism(void **state)
{
    struct fixture *f = *state;
    char dir[] = "/tmp/lftest-XXXXXX", yaml[1024], path[256];
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/out.txt", dir);
    snprintf(yaml, sizeof yaml,
             "version: 1\n"
             "nodes:\n"
             "  t: { type: TestText, params: { text: hi } }\n"
             "  w: { type: TestWrite, inputs: { text: t.text }, params: { path: %s } }\n"
             "  c: { type: TestClock }\n"
             "  i: { type: TestInc, inputs: { value: c.value } }\n",
             path);
    load(f, yaml);
    assert_int_equal(run(f, NULL, NULL), 4);
    assert_int_equal(run(f, NULL, NULL), 3); /* w, c, i: never cached */
    assert_int_equal(executions("t"), 1);
    assert_int_equal(executions("w"), 2);
    assert_int_equal(executions("i"), 2);
    FILE *fp = fopen(path, "r");
    char text[16] = {0};
    assert_non_null(fp);
    assert_non_null(fgets(text, sizeof text, fp));
    fclose(fp);
    assert_string_equal(text, "hi");
    remove(path);
    rmdir(dir);
}

static void test_node_errors(void **state)
{
    struct fixture *f = *state;
    struct lf_error err = {0};
    struct lf_run *r = (struct lf_run *)&err;
    load(f, "version: 1\n"
            "nodes:\n"
            "  n: { type: TestNumber }\n"
            "  f: { type: TestFail, inputs: { value: n.value } }\n");
    assert_int_equal(lf_session_run(f->session, f->graph, &r, &err), LF_ERR_INVALID);
    assert_null(r);
    assert_string_equal(err.message, "node 'f' (TestFail): deliberate failure");
    /* What ran before the failure is cached. */
    reset();
    assert_int_equal(lf_session_run(f->session, f->graph, &r, &err), LF_ERR_INVALID);
    assert_int_equal(executions("n"), 0);
    assert_int_equal(executions("f"), 1);
    load(f, "version: 1\nnodes:\n  b: { type: TestBadOutput }\n");
    assert_int_equal(lf_session_run(f->session, f->graph, &r, &err), LF_ERR_PLUGIN);
    assert_string_equal(err.message,
                        "node 'b' (TestBadOutput) returned INT for output 'value', declared FLOAT");
}

static void *interrupt_later(void *arg)
{
    nanosleep(&(struct timespec){.tv_nsec = 60 * 1000000L}, NULL);
    lf_session_interrupt(arg);
    return NULL;
}

static void test_interrupt(void **state)
{
    struct fixture *f = *state;
    struct lf_error err = {0};
    struct lf_run *r;
    pthread_t thread;
    load(f, "version: 1\n"
            "nodes:\n"
            "  a: { type: TestSteps, params: { steps: 200, delay_ms: 5 } }\n"
            "  b: { type: TestSteps, inputs: { after: a.value } }\n");
    lf_session_interrupt(f->session);
    assert_int_equal(lf_session_run(f->session, f->graph, &r, &err), LF_ERR_INTERRUPTED);
    assert_string_equal(err.message, "interrupted before node 'a'");
    assert_int_equal(executions(NULL), 0);
    lf_session_clear_interrupt(f->session);
    /* Stopped inside a node, between two steps; the next node never starts. */
    assert_int_equal(pthread_create(&thread, NULL, interrupt_later, f->session), 0);
    assert_int_equal(lf_session_run(f->session, f->graph, &r, &err), LF_ERR_INTERRUPTED);
    pthread_join(thread, NULL);
    assert_non_null(strstr(err.message, "interrupted at step"));
    assert_int_equal(executions("a"), 1);
    assert_int_equal(executions("b"), 0);
    lf_session_clear_interrupt(f->session);
}

static void test_progress_and_profile(void **state)
{
    struct fixture *f = *state;
    struct lf_error err = {0};
    struct lf_session *s;
    struct lf_run *r;
    char *text = NULL, *progress = NULL;
    size_t size = 0, progress_size = 0;
    FILE *progress_mem = open_memstream(&progress, &progress_size), *mem;
    struct lf_session_options opts = {.progress = LF_PROGRESS_LINES,
                                      .progress_stream = progress_mem};
    load(f, "version: 1\n"
            "nodes:\n"
            "  a: { type: TestSteps, params: { steps: 2 } }\n"
            "  b: { type: TestInc, inputs: { value: a.value } }\n");
    assert_int_equal(lf_session_create(&opts, &s, &err), LF_OK);
    assert_int_equal(lf_session_run(s, f->graph, &r, &err), LF_OK);
    fflush(progress_mem);
    assert_string_equal(progress, "[1/2] a (TestSteps)\n"
                                  "[1/2] a: step 1/2\n"
                                  "[1/2] a: step 2/2\n"
                                  "[2/2] b (TestInc)\n");
    lf_run_destroy(r);

    mem = open_memstream(&text, &size);
    set(f, "a.steps=3");
    assert_int_equal(lf_session_run(s, f->graph, &r, &err), LF_OK);
    lf_run_print_profile(r, mem);
    fclose(mem);
    char id[16], state_word[16];
    double ms;
    int n = 0;
    for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n"), n++) {
        assert_int_equal(sscanf(line, "%15s %lf ms %15s", id, &ms, state_word), 3);
        assert_string_equal(id, n == 0 ? "a" : "b");
        assert_string_equal(state_word, "ran");
        assert_true(ms >= 0.0);
    }
    assert_int_equal(n, 2);
    free(text);
    lf_run_destroy(r);

    mem = open_memstream(&text, &size);
    assert_int_equal(lf_session_run(s, f->graph, &r, &err), LF_OK);
    lf_run_print_profile(r, mem);
    fclose(mem);
    assert_string_equal(text, "a 0.000 ms cached\nb 0.000 ms cached\n");
    free(text);
    lf_run_destroy(r);
    lf_session_destroy(s);
    fclose(progress_mem);
    free(progress);
}

/* On a terminal: one redrawn line, cleared at the end. */
static void test_progress_bar(void **state)
{
    struct fixture *f = *state;
    struct lf_error err = {0};
    struct lf_session *s;
    struct lf_run *r;
    char *text = NULL;
    size_t size = 0;
    FILE *mem = open_memstream(&text, &size);
    struct lf_session_options opts = {.progress = LF_PROGRESS_BAR, .progress_stream = mem};
    load(f, "version: 1\nnodes:\n  a: { type: TestSteps, params: { steps: 2 } }\n");
    assert_int_equal(lf_session_create(&opts, &s, &err), LF_OK);
    assert_int_equal(lf_session_run(s, f->graph, &r, &err), LF_OK);
    fclose(mem);
    assert_string_equal(text, "\r\033[K[------------------------] 1/1 a"
                              "\r\033[K[############------------] 1/1 a step 1/2"
                              "\r\033[K[########################] 1/1 a step 2/2"
                              "\r\033[K");
    free(text);
    lf_run_destroy(r);
    lf_session_destroy(s);
}

/* A counter the test plugin exports (TestCacheUser's objects, purges). */
static int plugin_counter(const char *name)
{
    void *h = dlopen(plugin_path, RTLD_NOW | RTLD_NOLOAD);
    int (*fn)(void);
    assert_non_null(h);
    *(void **)&fn = dlsym(h, name);
    assert_non_null(fn);
    dlclose(h);
    return fn();
}

static int64_t hit(struct fixture *f)
{
    struct lf_run *r;
    run(f, NULL, &r);
    const struct lf_value *v = lf_run_output(r, "u.hit");
    assert_non_null(v);
    int64_t h = v->u.i;
    lf_run_destroy(r);
    return h;
}

/* Plugin ABI 1.2 cache_get/cache_put: objects are found again, counted in
** the budget, evicted least recently used first with the values, and the
** purge hook runs when the cache is cleared. */
static void test_host_cache_and_purge(void **state)
{
    struct fixture *f = *state;
    struct lf_error err = {0};
    size_t count, bytes;
    int made = plugin_counter("lftest_objects_made"), purges = plugin_counter("lftest_purges");
    lf_session_destroy(f->session);
    assert_int_equal(
        lf_session_create(&(struct lf_session_options){.cache_bytes = 64 << 10, .registry = f->reg},
                          &f->session, &err),
        LF_OK);
    load(f, "version: 1\nnodes:\n  u: { type: TestCacheUser, params: { key: 1, kb: 8 } }\n");
    assert_int_equal(hit(f), 0);
    assert_int_equal(hit(f), 1);
    assert_int_equal(plugin_counter("lftest_objects_made"), made + 1);
    lf_session_cache_stats(f->session, &count, &bytes);
    assert_true(bytes >= 8 << 10 && bytes < 9 << 10);
    /* Another plugin key is another object; both fit. */
    set(f, "u.key=2");
    assert_int_equal(hit(f), 0);
    assert_int_equal(plugin_counter("lftest_objects_alive"), 2);
    /* Larger than the whole budget: not kept. */
    set(f, "u.kb=100");
    set(f, "u.key=3");
    assert_int_equal(hit(f), 0);
    assert_int_equal(hit(f), 0);
    assert_int_equal(plugin_counter("lftest_objects_alive"), 2);
    /* 8 + 8 + 40 + 40 KiB > 64: the least recently used (keys 1, 2, 4) go. */
    set(f, "u.kb=40");
    set(f, "u.key=4");
    assert_int_equal(hit(f), 0);
    set(f, "u.key=5");
    assert_int_equal(hit(f), 0);
    assert_int_equal(plugin_counter("lftest_objects_alive"), 1);
    set(f, "u.key=1");
    assert_int_equal(hit(f), 0);
    /* Clearing drops every object, then calls purge once. */
    assert_int_equal(plugin_counter("lftest_purges"), purges);
    lf_session_cache_clear(f->session);
    assert_int_equal(plugin_counter("lftest_objects_alive"), 0);
    assert_int_equal(plugin_counter("lftest_purges"), purges + 1);
    assert_int_equal(hit(f), 0);
    lf_session_destroy(f->session); /* frees the cached object */
    f->session = NULL;
    assert_int_equal(plugin_counter("lftest_objects_alive"), 0);
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_rerun_and_param_change, setup, teardown),
        cmocka_unit_test_setup_teardown(test_targets_and_keys, setup, teardown),
        cmocka_unit_test_setup_teardown(test_per_output_dependencies, setup, teardown),
        cmocka_unit_test_setup_teardown(test_file_identity, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lru_budget, setup, teardown),
        cmocka_unit_test_setup_teardown(test_replacing_node, setup, teardown),
        cmocka_unit_test_setup_teardown(test_side_effects_and_nondeterminism, setup, teardown),
        cmocka_unit_test_setup_teardown(test_node_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_interrupt, setup, teardown),
        cmocka_unit_test_setup_teardown(test_progress_and_profile, setup, teardown),
        cmocka_unit_test_setup_teardown(test_progress_bar, setup, teardown),
        cmocka_unit_test_setup_teardown(test_host_cache_and_purge, setup, teardown),
    };
    if (argc < 2) {
        fprintf(stderr, "usage: test-executor PLUGIN_DIR\n");
        return 1;
    }
    snprintf(plugin_path, sizeof plugin_path, "%s/lftest_counting.so", argv[1]);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
