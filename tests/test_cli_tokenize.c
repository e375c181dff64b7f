/* test_cli_tokenize.c - runs the built `lcmflow tokenize` (path in argv[1])
** and checks its output against ref/tokenizer.json, its help, and its
** errors. */
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

static const char *exe;
static char fixtures[1024];
static struct json_object *cases;

struct result {
    int status;
    char out[16384];
    char err[4096];
};

static void drain(int fd, char *buf, size_t size)
{
    size_t n = 0;
    ssize_t got;
    while (n + 1 < size && (got = read(fd, buf + n, size - 1 - n)) > 0)
        n += (size_t)got;
    buf[n] = '\0';
    close(fd);
}

/* Runs exe with args (NULL-terminated); no shell, so prompts pass verbatim.
** stderr is small, so reading stdout first cannot deadlock. */
static void run(struct result *r, const char *const *args, const char *env_tokenizer)
{
    int out[2], err[2], wstatus;
    const char *argv[16];
    size_t n = 0;
    argv[n++] = exe;
    while (*args && n < 15)
        argv[n++] = *args++;
    argv[n] = NULL;
    assert_int_equal(pipe(out), 0);
    assert_int_equal(pipe(err), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        dup2(out[1], 1);
        dup2(err[1], 2);
        close(out[0]);
        close(err[0]);
        if (env_tokenizer)
            setenv("LCMFLOW_TOKENIZER", env_tokenizer, 1);
        else
            unsetenv("LCMFLOW_TOKENIZER");
        execv(exe, (char *const *)argv);
        _exit(127);
    }
    close(out[1]);
    close(err[1]);
    drain(out[0], r->out, sizeof r->out);
    drain(err[0], r->err, sizeof r->err);
    waitpid(pid, &wstatus, 0);
    r->status = WIFEXITED(wstatus) ? WEXITSTATUS(wstatus) : -1;
}

static void check_ids(const char *out, struct json_object *want)
{
    const char *p = out;
    size_t n = json_object_array_length(want);
    for (size_t i = 0; i < n; i++) {
        char *end;
        long v = strtol(p, &end, 10);
        if (end == p) fail_msg("output '%s' has only %zu ids, expected %zu", out, i, n);
        assert_int_equal(v, json_object_get_int(json_object_array_get_idx(want, i)));
        p = end;
    }
    while (*p == ' ' || *p == '\n')
        p++;
    assert_string_equal(p, "");
}

static struct json_object *case_field(size_t i, const char *name)
{
    return json_object_object_get(json_object_array_get_idx(cases, i), name);
}

static void prints_reference_ids(void **state)
{
    char vocab[1200], gz[1200];
    struct result r;
    snprintf(vocab, sizeof vocab, "%s/clip/vocab.json", fixtures);
    snprintf(gz, sizeof gz, "%s/clip/bpe_simple_vocab_16e6.txt.gz", fixtures);
    for (size_t i = 0; i < json_object_array_length(cases); i++) {
        const char *prompt = json_object_get_string(case_field(i, "prompt"));
        if (!*prompt) continue; /* an empty argument is "no text" to the CLI's user too */
        const char *a1[] = {"tokenize", "--vocab", vocab, "--", prompt, NULL};
        run(&r, a1, NULL);
        assert_int_equal(r.status, 0);
        check_ids(r.out, case_field(i, "input_ids"));
        /* The environment variable and --untruncated. */
        const char *a2[] = {"tokenize", "--untruncated", prompt, NULL};
        run(&r, a2, gz);
        assert_int_equal(r.status, 0);
        check_ids(r.out, case_field(i, "bpe_ids_untruncated"));
    }
}

/* --weights: per chunk, 'chunk position id token weight' (hand-written
** expectations of the syntax; the ids come from the plain tokenizer). */
static void prints_weights(void **state)
{
    char vocab[1200], line[128];
    struct result r, cat;
    snprintf(vocab, sizeof vocab, "%s/clip", fixtures);
    const char *ids[] = {"tokenize", "--vocab", vocab, "--untruncated", "cat", NULL};
    run(&cat, ids, NULL);
    assert_int_equal(cat.status, 0);
    const char *args[] = {"tokenize", "--vocab", vocab, "--weights", "a ((cat)) BREAK [dog]", NULL};
    run(&r, args, NULL);
    printf("%s", r.out);
    assert_int_equal(r.status, 0);
    assert_non_null(strstr(r.out, "# chunk 0: 2 of 75 tokens\n"));
    snprintf(line, sizeof line, "\n0 2 %d cat</w> 1.21\n", atoi(cat.out));
    assert_non_null(strstr(r.out, line));
    assert_non_null(strstr(r.out, "# chunk 1: 1 of 75 tokens\n"));
    assert_non_null(strstr(r.out, " dog</w> 0.909091\n"));

    const char *emb[] = {"tokenize", "--vocab", vocab, "--weights", "embedding:nothing", NULL};
    run(&r, emb, NULL);
    assert_int_equal(r.status, 1);
    assert_non_null(strstr(r.err, "embedding:nothing"));
}

static void help_and_errors(void **state)
{
    struct result r;
    const char *help[] = {"tokenize", "--help", NULL};
    run(&r, help, NULL);
    assert_int_equal(r.status, 0);
    assert_non_null(strstr(r.out, "usage: lcmflow tokenize"));

    const char *top[] = {"--help", NULL};
    run(&r, top, NULL);
    assert_int_equal(r.status, 0);
    assert_non_null(strstr(r.out, "tokenize"));

    const char *none[] = {"tokenize", "a cat", NULL};
    run(&r, none, NULL);
    assert_int_equal(r.status, 1);
    assert_non_null(strstr(r.err, "no CLIP tokenizer vocabulary found"));
    assert_non_null(strstr(r.err, "LCMFLOW_TOKENIZER"));

    const char *notext[] = {"tokenize", "--vocab", "x", NULL};
    run(&r, notext, NULL);
    assert_int_equal(r.status, 2);
    assert_non_null(strstr(r.err, "no text"));

    const char *badopt[] = {"tokenize", "--frobnicate", "a", NULL};
    run(&r, badopt, NULL);
    assert_int_equal(r.status, 2);
}

int main(int argc, char **argv)
{
    const char *fx = getenv("LCMFLOW_FIXTURES");
    char ref[1200];
    struct json_object *root;
    struct stat st;
    if (argc < 2) {
        fprintf(stderr, "usage: test-cli-tokenize PATH-TO-lcmflow\n");
        return 1;
    }
    exe = argv[1];
    if (!fx || !*fx) {
        printf("LCMFLOW_FIXTURES is not set; skipping\n");
        return 77;
    }
    snprintf(fixtures, sizeof fixtures, "%s", fx);
    snprintf(ref, sizeof ref, "%s/tiny-sd15/ref/tokenizer.json", fixtures);
    if (stat(ref, &st) != 0) {
        printf("%s is missing (fixtures absent); skipping\n", ref);
        return 77;
    }
    root = json_object_from_file(ref);
    if (!root || !(cases = json_object_object_get(root, "cases"))) return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(prints_reference_ids),
        cmocka_unit_test(prints_weights),
        cmocka_unit_test(help_and_errors),
    };
    int failed = cmocka_run_group_tests(tests, NULL, NULL);
    json_object_put(root);
    return failed;
}
