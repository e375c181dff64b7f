/*
** test_serve_paths.c - the server's file policy (runtime/server/serve_paths.c):
** paths resolve inside the roots; absolute paths, '..' and symlinks leading
** out are refused naming the param; loopback detection for the token rule.
*/
#include "server.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char tmp[] = "/tmp/lcmflow-serve-paths-XXXXXX";
static struct serve_roots roots;

static void touch(const char *rel)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", tmp, rel);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fclose(f);
}

static void sub(const char *rel)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", tmp, rel);
    assert_int_equal(mkdir(path, 0755), 0);
}

static int setup(void **state)
{
    char path[512], target[512];
    struct lf_error err = {0};
    (void)state;
    if (!mkdtemp(tmp)) return -1;
    sub("models");
    sub("models2");
    sub("out");
    sub("outside");
    touch("models/a.safetensors");
    touch("models2/b.safetensors");
    touch("outside/secret");
    snprintf(path, sizeof path, "%s/models/link.safetensors", tmp);
    snprintf(target, sizeof target, "%s/outside/secret", tmp);
    if (symlink(target, path)) return -1;
    snprintf(path, sizeof path, "%s/models/inner.safetensors", tmp);
    if (symlink("a.safetensors", path)) return -1;
    snprintf(path, sizeof path, "%s/out/escape", tmp);
    snprintf(target, sizeof target, "%s/outside", tmp);
    if (symlink(target, path)) return -1;
    snprintf(path, sizeof path, "%s/models", tmp);
    if (serve_roots_add_model(&roots, path, &err)) return -1;
    snprintf(path, sizeof path, "%s/models2", tmp);
    if (serve_roots_add_model(&roots, path, &err)) return -1;
    snprintf(path, sizeof path, "%s/out", tmp);
    return serve_roots_set_output(&roots, path, &err) ? -1 : 0;
}

static int teardown(void **state)
{
    char cmd[600];
    (void)state;
    serve_roots_free(&roots);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp);
    return system(cmd) == 0 ? 0 : -1;
}

/* Resolves and returns the status; *out freed by the caller. */
static enum lf_status resolve(enum serve_path_kind kind, const char *text, char **out,
                              struct lf_error *err)
{
    return serve_resolve_path(&roots, kind, "node.path", text, out, err);
}

static void test_inside(void **state)
{
    struct lf_error err = {0};
    char *out = NULL, want[512];
    (void)state;
    assert_int_equal(resolve(SERVE_PATH_READ, "a.safetensors", &out, &err), LF_OK);
    snprintf(want, sizeof want, "%s/a.safetensors", roots.models[0]);
    assert_string_equal(out, want);
    free(out);
    /* the second root holds it */
    assert_int_equal(resolve(SERVE_PATH_READ, "b.safetensors", &out, &err), LF_OK);
    snprintf(want, sizeof want, "%s/b.safetensors", roots.models[1]);
    assert_string_equal(out, want);
    free(out);
    /* a symlink staying inside is fine; a missing file resolves in the first root */
    assert_int_equal(resolve(SERVE_PATH_READ, "inner.safetensors", &out, &err), LF_OK);
    free(out);
    assert_int_equal(resolve(SERVE_PATH_READ, "missing/x.safetensors", &out, &err), LF_OK);
    snprintf(want, sizeof want, "%s/missing/x.safetensors", roots.models[0]);
    assert_string_equal(out, want);
    free(out);
    /* outputs go under --output, new folders included */
    assert_int_equal(resolve(SERVE_PATH_WRITE, "new/dir/x.png", &out, &err), LF_OK);
    snprintf(want, sizeof want, "%s/new/dir/x.png", roots.output);
    assert_string_equal(out, want);
    free(out);
}

static void refused(enum serve_path_kind kind, const char *text, const char *word)
{
    struct lf_error err = {0};
    char *out = (char *)"unchanged";
    assert_int_equal(resolve(kind, text, &out, &err), LF_ERR_INVALID);
    assert_null(out);
    assert_non_null(strstr(err.message, "node.path"));
    if (!strstr(err.message, word)) fail_msg("'%s': '%s' lacks '%s'", text, err.message, word);
}

static void test_refused(void **state)
{
    (void)state;
    refused(SERVE_PATH_READ, "/etc/passwd", "absolute");
    refused(SERVE_PATH_READ, "../outside/secret", "..");
    refused(SERVE_PATH_READ, "sub/../../outside/secret", "..");
    refused(SERVE_PATH_READ, "link.safetensors", "outside");
    refused(SERVE_PATH_WRITE, "/tmp/x.png", "absolute");
    refused(SERVE_PATH_WRITE, "../x.png", "..");
    refused(SERVE_PATH_WRITE, "escape/x.png", "outside");
    refused(SERVE_PATH_READ, "upload:../../etc", "upload");
}

static void test_uploads_and_hosts(void **state)
{
    (void)state;
    assert_true(serve_upload_id_ok("0123456789abcdef0123456789abcdef"));
    assert_false(serve_upload_id_ok("0123456789abcdef0123456789abcde"));
    assert_false(serve_upload_id_ok("0123456789abcdef0123456789abcdeg"));
    assert_false(serve_upload_id_ok("../../../../etc/passwd0000000000"));
    assert_true(serve_host_is_loopback("127.0.0.1"));
    assert_true(serve_host_is_loopback("127.1.2.3"));
    assert_true(serve_host_is_loopback("localhost"));
    assert_true(serve_host_is_loopback("[::1]"));
    assert_false(serve_host_is_loopback("0.0.0.0"));
    assert_false(serve_host_is_loopback("192.168.1.10"));
    assert_false(serve_host_is_loopback("[::]"));
    assert_false(serve_host_is_loopback("127.0.0.1.evil.example"));
    assert_false(serve_host_is_loopback("example.com"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_inside),
        cmocka_unit_test(test_refused),
        cmocka_unit_test(test_uploads_and_hosts),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
