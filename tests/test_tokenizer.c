/* test_tokenizer.c - the CLIP tokenizer gives openai CLIP's ids for the 18
** reference prompts with both vocabulary layouts, finds its vocabulary in the
** documented order, and names the file when a vocabulary is broken. */
#include "sd_tokenizer.h"
#include "test_util.h"

#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

static char fixtures[1024];
static struct json_object *cases; /* ref/tokenizer.json "cases" */
static struct json_object *ref_root;

static void fixture(char *out, size_t size, const char *rel)
{
    snprintf(out, size, "%s/%s", fixtures, rel);
}

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static struct sd_tokenizer *load_ok(const char *rel)
{
    char path[1200];
    struct lf_error err = {0};
    struct sd_tokenizer *tok = NULL;
    double t0 = now_ms();
    fixture(path, sizeof path, rel);
    if (sd_tokenizer_load(path, &tok, &err) != LF_OK) fail_msg("loading %s: %s", path, err.message);
    printf("# loaded %s in %.1f ms\n", rel, now_ms() - t0);
    return tok;
}

static void check_ints(struct json_object *want, const int32_t *got, size_t n, const char *what,
                       const char *prompt)
{
    if (json_object_array_length(want) != n)
        fail_msg("%s of '%s': %zu ids, reference has %zu", what, prompt, n,
                 json_object_array_length(want));
    for (size_t i = 0; i < n; i++) {
        int32_t w = json_object_get_int(json_object_array_get_idx(want, i));
        if (got[i] != w)
            fail_msg("%s of '%s': id %zu is %d, reference %d", what, prompt, i, got[i], w);
    }
}

/* Every reference case: the 77 ids, the untruncated BPE ids and their token
** strings, and the truncation flag. */
static void check_all_cases(struct sd_tokenizer *tok)
{
    size_t n_cases = json_object_array_length(cases);
    assert_int_equal(n_cases, 18);
    for (size_t c = 0; c < n_cases; c++) {
        struct json_object *cs = json_object_array_get_idx(cases, c), *v;
        const char *prompt = json_object_get_string(json_object_object_get(cs, "prompt"));
        int32_t ids[SD_TOKENIZER_CONTEXT], *bpe = NULL;
        size_t n = 0;
        bool truncated = true;
        struct lf_error err = {0};

        assert_int_equal(sd_tokenizer_encode(tok, prompt, ids, &truncated, &err), LF_OK);
        check_ints(json_object_object_get(cs, "input_ids"), ids, SD_TOKENIZER_CONTEXT, "input_ids",
                   prompt);
        assert_int_equal(truncated,
                         json_object_get_boolean(json_object_object_get(cs, "truncated")));

        assert_int_equal(sd_tokenizer_encode_untruncated(tok, prompt, &bpe, &n, &err), LF_OK);
        check_ints(json_object_object_get(cs, "bpe_ids_untruncated"), bpe, n, "bpe_ids_untruncated",
                   prompt);
        v = json_object_object_get(cs, "bpe_tokens");
        for (size_t i = 0; i < n; i++)
            assert_string_equal(sd_tokenizer_token(tok, bpe[i]),
                                json_object_get_string(json_object_array_get_idx(v, i)));
        free(bpe);
        /* A second pass goes through the per-word cache and must agree. */
        int32_t again[SD_TOKENIZER_CONTEXT];
        assert_int_equal(sd_tokenizer_encode(tok, prompt, again, NULL, &err), LF_OK);
        assert_memory_equal(ids, again, sizeof ids);
    }
}

static void check_vocab_facts(struct sd_tokenizer *tok)
{
    assert_int_equal(sd_tokenizer_vocab_size(tok), 49408);
    assert_int_equal(sd_tokenizer_merge_count(tok), 48894);
    assert_int_equal(sd_tokenizer_bos(tok), 49406);
    assert_int_equal(sd_tokenizer_eos(tok), 49407);
    assert_string_equal(sd_tokenizer_token(tok, 49406), "<|startoftext|>");
    assert_string_equal(sd_tokenizer_token(tok, 0), "!");
    assert_string_equal(sd_tokenizer_token(tok, 256), "!</w>");
    assert_null(sd_tokenizer_token(tok, 49408));
    assert_null(sd_tokenizer_token(tok, -1));
}

static void hf_layout_matches_reference(void **state)
{
    struct sd_tokenizer *tok = load_ok("clip/vocab.json");
    check_vocab_facts(tok);
    check_all_cases(tok);
    sd_tokenizer_free(tok);
}

static void openai_layout_matches_reference(void **state)
{
    struct sd_tokenizer *tok = load_ok("clip/bpe_simple_vocab_16e6.txt.gz");
    check_vocab_facts(tok);
    check_all_cases(tok);
    sd_tokenizer_free(tok);
}

/* A folder (vocab.json + merges.txt) and a merges.txt path load the same. */
static void folder_and_merges_paths_load(void **state)
{
    const char *paths[] = {"clip", "tiny-sd15/diffusers/tokenizer", "clip/merges.txt"};
    for (size_t i = 0; i < 3; i++) {
        struct sd_tokenizer *tok = load_ok(paths[i]);
        check_vocab_facts(tok);
        int32_t ids[SD_TOKENIZER_CONTEXT];
        assert_int_equal(sd_tokenizer_encode(tok, "a cat", ids, NULL, NULL), LF_OK);
        assert_int_equal(ids[1], 320);
        assert_int_equal(ids[2], 2368);
        sd_tokenizer_free(tok);
    }
}

/* Clean-up cases beyond the fixture prompts, checked against the ids of
** text that Python's clean-up produces from them. */
static void cleanup_matches_python(void **state)
{
    static const char *pairs[][2] = {
        {"it\xe2\x80\x99s a \xe2\x80\x9c"
         "cat\xe2\x80\x9d",
         "it's a \"cat\""},                                              /* ftfy quotes */
        {"\xef\xbc\xa1\xef\xbc\xa2\xef\xbc\xa3 \xe3\x80\x80x", "abc x"}, /* full width */
        {"\xef\xac\x81ne", "fine"},                                      /* ligature */
        {"cafe\xcc\x81", "caf\xc3\xa9"},                                 /* NFC */
        {"fish &amp; chips &#38;&#x26; &lt;3 &amp;amp;", "fish & chips && <3 &"},
        {"\t A\xc2\xa0\xc2\x85\xe2\x80\x83"
         "B \n",
         "a b"}, /* Unicode whitespace */
        {"\xce\x9f\xce\x94\xce\x9f\xce\xa3", "\xce\xbf\xce\xb4\xce\xbf\xcf\x82"}, /* final sigma */
        {"\xc4\xb0stanbul", "i\xcc\x87stanbul"},                                  /* dotted I */
        {"a\x01"
         "b\x7f",
         "ab"}, /* controls */
    };
    struct sd_tokenizer *tok = load_ok("clip/vocab.json");
    for (size_t i = 0; i < sizeof pairs / sizeof pairs[0]; i++) {
        int32_t a[SD_TOKENIZER_CONTEXT], b[SD_TOKENIZER_CONTEXT];
        assert_int_equal(sd_tokenizer_encode(tok, pairs[i][0], a, NULL, NULL), LF_OK);
        assert_int_equal(sd_tokenizer_encode(tok, pairs[i][1], b, NULL, NULL), LF_OK);
        if (memcmp(a, b, sizeof a))
            fail_msg("'%s' should tokenise like '%s'", pairs[i][0], pairs[i][1]);
    }
    /* Whitespace only is the empty prompt: BOS then all EOS. */
    int32_t ids[SD_TOKENIZER_CONTEXT];
    assert_int_equal(sd_tokenizer_encode(tok, " \t\n ", ids, NULL, NULL), LF_OK);
    assert_int_equal(ids[0], 49406);
    for (int i = 1; i < SD_TOKENIZER_CONTEXT; i++)
        assert_int_equal(ids[i], 49407);
    sd_tokenizer_free(tok);
}

static void invalid_utf8_is_an_error(void **state)
{
    struct sd_tokenizer *tok = load_ok("clip/vocab.json");
    struct lf_error err = {0};
    int32_t ids[SD_TOKENIZER_CONTEXT];
    assert_int_equal(sd_tokenizer_encode(tok,
                                         "ab\xff"
                                         "c",
                                         ids, NULL, &err),
                     LF_ERR_INVALID);
    assert_non_null(strstr(err.message, "UTF-8"));
    assert_non_null(strstr(err.message, "byte 2"));
    sd_tokenizer_free(tok);
}

/* ---- lookup order ---- */

static char tmp[256];

static void write_file(const char *dir, const char *name, const void *data, size_t len)
{
    char path[512];
    FILE *f;
    snprintf(path, sizeof path, "%s/%s", dir, name);
    f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, len, f), len);
    fclose(f);
}

static void lookup_order(void **state)
{
    char ckpt_dir[1200], ckpt_file[1200], vocab[1200], gz[1200], got[1200], empty_ckpt[512];
    struct lf_error err = {0};
    fixture(ckpt_dir, sizeof ckpt_dir, "tiny-sd15/diffusers");
    fixture(ckpt_file, sizeof ckpt_file, "tiny-sd15/model.safetensors");
    fixture(vocab, sizeof vocab, "clip/vocab.json");
    fixture(gz, sizeof gz, "clip/bpe_simple_vocab_16e6.txt.gz");
    snprintf(empty_ckpt, sizeof empty_ckpt, "%s/empty-ckpt", tmp);
    mkdir(empty_ckpt, 0755);

    /* 1. the checkpoint's tokenizer/ folder comes first. */
    setenv(SD_TOKENIZER_ENV, gz, 1);
    assert_int_equal(sd_tokenizer_locate(ckpt_dir, vocab, got, sizeof got, &err), LF_OK);
    assert_non_null(strstr(got, "diffusers/tokenizer"));
    /* 2. then the param (a single-file checkpoint here has no tokenizer/ beside it). */
    assert_int_equal(sd_tokenizer_locate(ckpt_file, vocab, got, sizeof got, &err), LF_OK);
    assert_string_equal(got, vocab);
    /* 3. then the environment. */
    assert_int_equal(sd_tokenizer_locate(empty_ckpt, NULL, got, sizeof got, &err), LF_OK);
    assert_string_equal(got, gz);
    assert_int_equal(sd_tokenizer_locate(NULL, "", got, sizeof got, &err), LF_OK);
    assert_string_equal(got, gz);

    /* sd_tokenizer_find loads what it found. */
    struct sd_tokenizer *tok = NULL;
    assert_int_equal(sd_tokenizer_find(ckpt_dir, NULL, &tok, &err), LF_OK);
    assert_int_equal(sd_tokenizer_vocab_size(tok), 49408);
    sd_tokenizer_free(tok);

    /* None found: the error names every place looked at. */
    unsetenv(SD_TOKENIZER_ENV);
    assert_int_equal(
        sd_tokenizer_locate(empty_ckpt, "/nonexistent/vocab.json", got, sizeof got, &err),
        LF_ERR_NOT_FOUND);
    printf("# %s\n", err.message);
    assert_non_null(strstr(err.message, "empty-ckpt/tokenizer"));
    assert_non_null(strstr(err.message, "/nonexistent/vocab.json"));
    assert_non_null(strstr(err.message, SD_TOKENIZER_ENV " (not set)"));
    setenv(SD_TOKENIZER_ENV, "/nonexistent/env.txt.gz", 1);
    tok = (struct sd_tokenizer *)&err; /* must be reset to NULL on failure */
    assert_int_equal(sd_tokenizer_find(NULL, NULL, &tok, &err), LF_ERR_NOT_FOUND);
    assert_null(tok);
    assert_non_null(strstr(err.message, "tokenizer param (not set)"));
    assert_non_null(strstr(err.message, "/nonexistent/env.txt.gz"));
    unsetenv(SD_TOKENIZER_ENV);
}

/* ---- broken vocabularies ---- */

/* Loads dir/name (or dir when name is NULL), expects code and an error
** message that contains `file` and `what`. */
static void expect_load_error(const char *path, enum lf_status code, const char *file,
                              const char *what)
{
    struct lf_error err = {0};
    struct sd_tokenizer *tok = NULL;
    char text[2048];
    assert_int_equal(sd_tokenizer_load(path, &tok, &err), code);
    assert_null(tok);
    lf_error_text(&err, text, sizeof text);
    printf("# %s\n", text);
    if (!strstr(text, file) || !strstr(text, what))
        fail_msg("error '%s' should name '%s' and say '%s'", text, file, what);
}

static void broken_vocab_errors_name_the_file(void **state)
{
    char dir[512], path[600];
    static const char merges_ok[] = "#version: 0.2\na b\n";
    static const char vocab_ok[] = "{\"a\": 0, \"b\": 1, \"ab\": 2}";

    snprintf(dir, sizeof dir, "%s/bad-json", tmp);
    mkdir(dir, 0755);
    write_file(dir, "vocab.json", "{\"a\": 1,", 8);
    write_file(dir, "merges.txt", merges_ok, strlen(merges_ok));
    snprintf(path, sizeof path, "%s/vocab.json", dir);
    expect_load_error(dir, LF_ERR_FORMAT, path, "not valid JSON");

    write_file(dir, "vocab.json", "[1, 2]", 6);
    expect_load_error(path, LF_ERR_FORMAT, path, "expected a JSON object");

    write_file(dir, "vocab.json", "{\"a\": \"x\"}", 10);
    expect_load_error(path, LF_ERR_FORMAT, path, "token 'a' has id");

    /* Valid JSON without the byte symbols / special tokens CLIP needs. */
    write_file(dir, "vocab.json", vocab_ok, strlen(vocab_ok));
    expect_load_error(path, LF_ERR_FORMAT, path, "the vocabulary has no '<|startoftext|>'");

    /* merges.txt missing / broken, with the real vocab.json copied beside it. */
    char real[1200], *data = NULL;
    size_t len = 0;
    FILE *f;
    fixture(real, sizeof real, "clip/vocab.json");
    f = fopen(real, "rb");
    assert_non_null(f);
    data = malloc(2 << 20);
    len = fread(data, 1, 2 << 20, f);
    fclose(f);
    snprintf(dir, sizeof dir, "%s/bad-merges", tmp);
    mkdir(dir, 0755);
    write_file(dir, "vocab.json", data, len);
    free(data);
    snprintf(path, sizeof path, "%s/merges.txt", dir);
    expect_load_error(dir, LF_ERR_NOT_FOUND, path, "cannot open");
    write_file(dir, "merges.txt", "#version: 0.2\ni n\nt h e r\n", 26);
    expect_load_error(dir, LF_ERR_FORMAT, path, ":3:");
    write_file(dir, "merges.txt", "#version: 0.2\ni n\nQQ zz\n", 24);
    expect_load_error(dir, LF_ERR_FORMAT, path, "merge symbol 'QQ' is not in the vocabulary");

    /* openai layout: not a BPE file, and a truncated gzip. */
    snprintf(dir, sizeof dir, "%s/bad-gz", tmp);
    mkdir(dir, 0755);
    snprintf(path, sizeof path, "%s/notes.txt", dir);
    write_file(dir, "notes.txt", "hello\nthis is not a merge list\n", 31);
    expect_load_error(path, LF_ERR_FORMAT, path, ":2:");

    char gz[1200];
    fixture(gz, sizeof gz, "clip/bpe_simple_vocab_16e6.txt.gz");
    f = fopen(gz, "rb");
    assert_non_null(f);
    data = malloc(200000);
    len = fread(data, 1, 200000, f);
    fclose(f);
    write_file(dir, "cut.txt.gz", data, len);
    free(data);
    snprintf(path, sizeof path, "%s/cut.txt.gz", dir);
    expect_load_error(path, LF_ERR_FORMAT, path, "cannot read");

    snprintf(path, sizeof path, "%s/absent.json", dir);
    expect_load_error(path, LF_ERR_NOT_FOUND, path, "not found");
    snprintf(path, sizeof path, "%s/bad-gz", tmp);
    expect_load_error(path, LF_ERR_NOT_FOUND, path, "neither vocab.json");
}

int main(void)
{
    char ref[1200];
    if (!test_fixtures_find(fixtures, sizeof fixtures, "tiny-sd15/ref/tokenizer.json")) return 77;
    fixture(ref, sizeof ref, "tiny-sd15/ref/tokenizer.json");
    ref_root = json_object_from_file(ref);
    if (!ref_root || !(cases = json_object_object_get(ref_root, "cases"))) {
        printf("cannot read %s\n", ref);
        return 1;
    }
    snprintf(tmp, sizeof tmp, "/tmp/lcmflow-test-tokenizer-XXXXXX");
    if (!mkdtemp(tmp)) {
        perror("mkdtemp");
        return 1;
    }
    unsetenv(SD_TOKENIZER_ENV);

    const struct CMUnitTest tests[] = {
        cmocka_unit_test(hf_layout_matches_reference),
        cmocka_unit_test(openai_layout_matches_reference),
        cmocka_unit_test(folder_and_merges_paths_load),
        cmocka_unit_test(cleanup_matches_python),
        cmocka_unit_test(invalid_utf8_is_an_error),
        cmocka_unit_test(lookup_order),
        cmocka_unit_test(broken_vocab_errors_name_the_file),
    };
    int failed = cmocka_run_group_tests(tests, NULL, NULL);
    test_remove_tree(tmp);
    json_object_put(ref_root);
    return failed;
}
