/* test_cli_tokenize.c - runs the built `lcmflow tokenize` (path in argv[1])
** and checks its output against ref/tokenizer.json, its help, and its
** errors. */
#include "test_util.h"

#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

static const char *exe;
static char fixtures[1024];
static struct json_object *cases;

/* Runs exe with args (NULL-terminated), LCMFLOW_TOKENIZER set to
** env_tokenizer or unset. */
static void run(struct test_output *r, const char *const *args, const char *env_tokenizer)
{
    const char *argv[16];
    size_t n = 0;
    argv[n++] = exe;
    while (*args && n < 15)
        argv[n++] = *args++;
    argv[n] = NULL;
    test_exec(r, argv, "LCMFLOW_TOKENIZER", env_tokenizer);
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
    struct test_output r;
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
    struct test_output r, cat;
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
    struct test_output r;
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
    char ref[1200];
    struct json_object *root;
    if (argc < 2) {
        fprintf(stderr, "usage: test-cli-tokenize PATH-TO-lcmflow\n");
        return 1;
    }
    exe = argv[1];
    if (!test_fixtures_find(fixtures, sizeof fixtures, "tiny-sd15/ref/tokenizer.json")) return 77;
    snprintf(ref, sizeof ref, "%s/tiny-sd15/ref/tokenizer.json", fixtures);
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
