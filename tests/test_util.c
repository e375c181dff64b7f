/*
** test_util.c - see test_util.h.
*/
#include "test_util.h"

#include "lcmflow/registry.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <setjmp.h>
#include <cmocka.h>

bool test_fixtures_find(char *dir, size_t size, const char *probe)
{
    const char *env = getenv("LCMFLOW_FIXTURES");
    char path[1400];
    snprintf(dir, size, "%s", env ? env : "../shared/fixtures");
    snprintf(path, sizeof path, "%s/%s", dir, probe);
    if (access(path, R_OK) == 0) return true;
    fprintf(stderr, "skipping: fixtures not found (no %s; set LCMFLOW_FIXTURES)\n", path);
    return false;
}

static void drain(int fd, char *buf, size_t size)
{
    size_t n = 0;
    ssize_t got;
    while (n + 1 < size && (got = read(fd, buf + n, size - 1 - n)) > 0)
        n += (size_t)got;
    buf[n] = '\0';
    close(fd);
}

/* stderr is small, so reading stdout first cannot deadlock. */
void test_exec(struct test_output *r, const char *const *argv, const char *env_name,
               const char *env_value)
{
    int out[2], err[2], wstatus;
    assert_int_equal(pipe(out), 0);
    assert_int_equal(pipe(err), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        dup2(out[1], 1);
        dup2(err[1], 2);
        close(out[0]);
        close(err[0]);
        if (env_name && env_value)
            setenv(env_name, env_value, 1);
        else if (env_name)
            unsetenv(env_name);
        execv(argv[0], (char *const *)argv);
        _exit(127);
    }
    close(out[1]);
    close(err[1]);
    drain(out[0], r->out, sizeof r->out);
    drain(err[0], r->err, sizeof r->err);
    waitpid(pid, &wstatus, 0);
    r->status = WIFEXITED(wstatus) ? WEXITSTATUS(wstatus) : -1;
}

bool test_engine_open(char *tmp, struct lf_registry **reg, struct lf_session **session)
{
    struct lf_error err = {0};
    *reg = NULL;
    *session = NULL;
    if (!mkdtemp(tmp) || lf_registry_create(reg, &err) || lf_registry_load_default(*reg, &err) ||
        lf_session_create(NULL, session, &err)) {
        fprintf(stderr, "setup: %s\n", err.message);
        return false;
    }
    lf_session_set_progress(*session, LF_PROGRESS_NONE, stderr);
    return true;
}

int test_remove_tree(const char *dir)
{
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) == 0) return 0;
    fprintf(stderr, "could not remove %s\n", dir);
    return -1;
}

int test_engine_close(const char *tmp, struct lf_registry *reg, struct lf_session *session)
{
    lf_session_destroy(session);
    lf_registry_destroy(reg);
    return test_remove_tree(tmp);
}

struct lf_safetensors *test_safetensors_open(const char *fmt, ...)
{
    char path[1400], text[1600];
    struct lf_error err = {0};
    struct lf_safetensors *st;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(path, sizeof path, fmt, ap);
    va_end(ap);
    if (lf_safetensors_open(path, &st, &err))
        fail_msg("%s", lf_error_text(&err, text, sizeof text));
    return st;
}

struct lf_graph *test_graph_load(struct lf_registry *reg, const char *name, const char *yaml)
{
    struct lf_graph *g;
    struct lf_error err = {0};
    char text[1600];
    if (lf_graph_load_string(reg, name, yaml, strlen(yaml), &g, &err))
        fail_msg("%s", lf_error_text(&err, text, sizeof text));
    return g;
}

void test_graph_set(struct lf_graph *g, const char *fmt, ...)
{
    char assignment[3000], text[1600];
    struct lf_error err = {0};
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(assignment, sizeof assignment, fmt, ap);
    va_end(ap);
    if (lf_graph_set(g, assignment, &err))
        fail_msg("%s: %s", assignment, lf_error_text(&err, text, sizeof text));
}

struct lf_run *test_graph_run(struct lf_session *session, struct lf_graph *g)
{
    struct lf_run *r;
    struct lf_error err = {0};
    char text[1600];
    if (lf_session_run(session, g, &r, &err))
        fail_msg("%s", lf_error_text(&err, text, sizeof text));
    return r;
}
