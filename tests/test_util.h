/*
** test_util.h - what the fixture, command and graph tests share: finding
** ../shared/fixtures, running a built executable, and the engine calls
** (opening safetensors, graphs) that fail the current cmocka test with the
** error's text.
*/
#ifndef LCMFLOW_TEST_UTIL_H
#define LCMFLOW_TEST_UTIL_H

#include "lcmflow/executor.h"
#include "lcmflow/graph.h"
#include "lcmflow/safetensors.h"

#include <stdbool.h>
#include <stddef.h>

/* Sets dir (size bytes) to $LCMFLOW_FIXTURES, else ../shared/fixtures, and
** whether dir/probe can be read; when not, says so on stderr (the caller
** then exits 77: skipped). */
bool test_fixtures_find(char *dir, size_t size, const char *probe);

/* What a child process left: its exit status (-1 when it did not exit)
** and the start of its stdout and stderr. */
struct test_output {
    int status;
    char out[16384];
    char err[4096];
};

/* Runs argv[0] with argv (NULL-terminated; no shell, so arguments pass
** verbatim).  In the child env_name is set to env_value, or unset when
** env_value is NULL; env_name NULL leaves the environment alone. */
void test_exec(struct test_output *r, const char *const *argv, const char *env_name,
               const char *env_value);

/* Removes dir with what is in it (rm -rf): 0, or -1 after saying so. */
int test_remove_tree(const char *dir);

/* A fresh folder from the mkdtemp template tmp, a registry with the default
** plugins and a session that prints no progress; false after saying why on
** stderr. */
bool test_engine_open(char *tmp, struct lf_registry **reg, struct lf_session **session);

/* Destroys the session and registry and removes tmp with what is in it;
** -1 (after saying so) when tmp could not be removed. */
int test_engine_close(const char *tmp, struct lf_registry *reg, struct lf_session *session);

/* lf_safetensors_open of the printf-formatted path. */
struct lf_safetensors *test_safetensors_open(const char *fmt, ...);

/* lf_graph_load_string of yaml, named name in messages. */
struct lf_graph *test_graph_load(struct lf_registry *reg, const char *name, const char *yaml);

/* lf_graph_set of the printf-formatted assignment "node.param=value". */
void test_graph_set(struct lf_graph *g, const char *fmt, ...);

/* lf_session_run of the whole graph. */
struct lf_run *test_graph_run(struct lf_session *session, struct lf_graph *g);

#endif
