/*
** test_safetensors.c - the safetensors reader on the fixture files, the
** writer by round trip, and one broken file per validation rule.
*/
#include "lcmflow/safetensors.h"

#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

static char tmpdir[256];
static const char *corpus_dir; /* argv[1]: tests/corpus/safetensors */
static bool fixtures_missing;  /* then main exits 77 (meson: skipped) */

static int make_tmpdir(void **state)
{
    const char *base = getenv("TMPDIR");
    snprintf(tmpdir, sizeof tmpdir, "%s/lf-st-XXXXXX", base && *base ? base : "/tmp");
    return mkdtemp(tmpdir) ? 0 : -1;
}

static int remove_tmpdir(void **state)
{
    DIR *d = opendir(tmpdir);
    struct dirent *e;
    char p[512];
    while (d && (e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        snprintf(p, sizeof p, "%s/%s", tmpdir, e->d_name);
        unlink(p);
    }
    if (d) closedir(d);
    return rmdir(tmpdir);
}

/* The fixture folder, or NULL (and the test is skipped) when absent. */
static const char *fixture(const char *rel, char *buf, size_t size)
{
    const char *root = getenv("LCMFLOW_FIXTURES");
    struct stat sb;
    snprintf(buf, size, "%s/%s", root ? root : "../shared/fixtures", rel);
    if (stat(buf, &sb) != 0) {
        print_message("fixture %s not found (set LCMFLOW_FIXTURES): skipped\n", buf);
        fixtures_missing = true;
        return NULL;
    }
    return buf;
}

/* {======== fixtures */

static void reads_fixture_model(void **state)
{
    char path[512];
    struct lf_error err = {0};
    struct lf_safetensors *st;
    if (!fixture("tiny-sd15/model.safetensors", path, sizeof path)) skip();
    assert_int_equal(lf_safetensors_open(path, &st, &err), LF_OK);
    assert_int_equal(lf_safetensors_count(st), 1002);
    /* Every tensor F16; the data is tiled in ascending order. */
    uint64_t next = 0;
    for (size_t i = 0; i < lf_safetensors_count(st); i++) {
        const struct lf_safetensors_tensor *t = lf_safetensors_tensor_at(st, i);
        assert_int_equal(t->st_dtype, LF_ST_DTYPE_F16);
        assert_true(t->has_dtype);
        assert_int_equal(t->dtype, LF_DTYPE_F16);
        assert_int_equal(t->offset, next);
        assert_int_equal(t->nbytes, (size_t)t->numel * 2);
        assert_ptr_equal(lf_safetensors_find(st, t->name), t);
        next += t->nbytes;
    }
    const struct lf_safetensors_tensor *t;
    assert_int_equal(lf_safetensors_get(st, "model.diffusion_model.time_embed.0.weight", &t, &err),
                     LF_OK);
    assert_int_equal(t->rank, 2);
    assert_int_equal(t->shape[0], 128);
    assert_int_equal(t->shape[1], 32);
    assert_int_equal(t->offset, 30327702);
    t = lf_safetensors_find(
        st, "cond_stage_model.transformer.text_model.embeddings.token_embedding.weight");
    assert_non_null(t);
    assert_int_equal(t->shape[0], 49408);
    assert_int_equal(t->shape[1], 64);
    /* The last tensor ends at the file's end. */
    const struct lf_safetensors_tensor *last = lf_safetensors_tensor_at(st, 1001);
    assert_int_equal(last->offset + last->nbytes, 30500030 - 8 - 131104);
    assert_null(lf_safetensors_tensor_at(st, 1002));

    assert_null(lf_safetensors_find(st, "model.diffusion_model.nonexistent"));
    assert_int_equal(lf_safetensors_get(st, "model.diffusion_model.nonexistent", &t, &err),
                     LF_ERR_NOT_FOUND);
    assert_non_null(strstr(err.path, "model.safetensors"));
    assert_non_null(strstr(err.message, "model.diffusion_model.nonexistent"));
    lf_safetensors_close(st);
}

static void reads_fixture_references(void **state)
{
    char dir[512], path[1024];
    struct lf_error err = {0};
    if (!fixture("tiny-sd15/ref", dir, sizeof dir)) skip();
    DIR *d = opendir(dir);
    assert_non_null(d);
    struct dirent *e;
    int files = 0, seen[LF_ST_DTYPE_COUNT] = {0};
    while ((e = readdir(d))) {
        size_t n = strlen(e->d_name);
        if (n < 12 || strcmp(e->d_name + n - 12, ".safetensors") != 0) continue;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        struct lf_safetensors *st;
        if (lf_safetensors_open(path, &st, &err) != LF_OK) fail_msg("%s: %s", path, err.message);
        const char *producer = lf_safetensors_metadata_get(st, "producer");
        assert_non_null(producer);
        assert_non_null(strstr(producer, "diffusers"));
        for (size_t i = 0; i < lf_safetensors_count(st); i++)
            seen[lf_safetensors_tensor_at(st, i)->st_dtype]++;
        lf_safetensors_close(st);
        files++;
    }
    closedir(d);
    assert_true(files >= 8);
    assert_true(seen[LF_ST_DTYPE_F32] > 0);
    assert_true(seen[LF_ST_DTYPE_I32] > 0);
    assert_true(seen[LF_ST_DTYPE_U8] > 0);

    /* Values, not just headers: pipe_a's token ids start with BOS. */
    struct lf_safetensors *st;
    snprintf(path, sizeof path, "%s/pipe_a.safetensors", dir);
    assert_int_equal(lf_safetensors_open(path, &st, &err), LF_OK);
    const struct lf_safetensors_tensor *ids = lf_safetensors_find(st, "input_ids");
    assert_non_null(ids);
    assert_int_equal(ids->st_dtype, LF_ST_DTYPE_I32);
    assert_int_equal(ids->numel, 77);
    int32_t first, last;
    memcpy(&first, ids->data, 4);
    memcpy(&last, (const char *)ids->data + 76 * 4, 4);
    assert_int_equal(first, 49406);
    assert_int_equal(last, 49407);
    const struct lf_safetensors_tensor *img = lf_safetensors_find(st, "image_uint8");
    assert_non_null(img);
    assert_int_equal(img->st_dtype, LF_ST_DTYPE_U8);
    assert_int_equal(img->rank, 4);
    assert_int_equal(img->shape[3], 3);
    float f[4];
    assert_int_equal(lf_safetensors_tensor_to_f32(st, img, f, 4, &err), LF_ERR_INVALID);
    assert_int_equal(lf_safetensors_tensor_to_f32(st, img, f, img->numel, &err),
                     LF_ERR_UNSUPPORTED);
    assert_non_null(strstr(err.message, "image_uint8"));
    lf_safetensors_close(st);
}

/* }======== */

/* {======== writer round trip */

static void round_trips(void **state)
{
    char path[512];
    struct lf_error err = {0};
    struct lf_safetensors_writer *w;
    snprintf(path, sizeof path, "%s/rt.safetensors", tmpdir);

    const float f32[6] = {1.5f, -2.0f, 0.0f, 3.25f, 1e-30f, -7.0f};
    /* 1, -2, 2^-24 (smallest subnormal), 65504, -0, +inf */
    const uint16_t f16[6] = {0x3c00, 0xc000, 0x0001, 0x7bff, 0x8000, 0x7c00};
    const uint16_t bf16[2] = {0x3f80, 0xc120}; /* 1, -10 */
    const int32_t i32[3] = {49406, -1, 7};
    const uint8_t u8[5] = {0, 1, 127, 128, 255};
    const int64_t i64[2] = {-5, INT64_MAX};
    const float scalar = 4.0f;
    const int64_t s23[2] = {2, 3}, s6[1] = {6}, s2[1] = {2}, s3[1] = {3}, s5[1] = {5},
                  s0[2] = {4, 0};

    assert_int_equal(lf_safetensors_writer_create(&w, &err), LF_OK);
    assert_int_equal(lf_safetensors_writer_add(w, "u8", LF_ST_DTYPE_U8, 1, s5, u8, 5, &err), LF_OK);
    assert_int_equal(lf_safetensors_writer_add(w, "f16", LF_ST_DTYPE_F16, 1, s6, f16, 12, &err),
                     LF_OK);
    assert_int_equal(lf_safetensors_writer_add(w, "b.f32", LF_ST_DTYPE_F32, 2, s23, f32, 24, &err),
                     LF_OK);
    assert_int_equal(lf_safetensors_writer_add(w, "bf16", LF_ST_DTYPE_BF16, 1, s2, bf16, 4, &err),
                     LF_OK);
    assert_int_equal(lf_safetensors_writer_add(w, "ids", LF_ST_DTYPE_I32, 1, s3, i32, 12, &err),
                     LF_OK);
    assert_int_equal(lf_safetensors_writer_add(w, "pos", LF_ST_DTYPE_I64, 1, s2, i64, 16, &err),
                     LF_OK);
    assert_int_equal(
        lf_safetensors_writer_add(w, "a.alpha", LF_ST_DTYPE_F32, 0, NULL, &scalar, 4, &err), LF_OK);
    assert_int_equal(lf_safetensors_writer_add(w, "empty", LF_ST_DTYPE_F32, 2, s0, NULL, 0, &err),
                     LF_OK);
    assert_int_equal(lf_safetensors_writer_set_metadata(w, "format", "pt", &err), LF_OK);
    assert_int_equal(
        lf_safetensors_writer_set_metadata(w, "note", "quote \" slash / tab \t caf\xc3\xa9", &err),
        LF_OK);
    assert_int_equal(lf_safetensors_writer_set_metadata(w, "format", "lcmflow", &err), LF_OK);

    /* Misuse is refused and leaves the writer usable. */
    assert_int_equal(lf_safetensors_writer_add(w, "u8", LF_ST_DTYPE_U8, 1, s5, u8, 5, &err),
                     LF_ERR_INVALID);
    assert_non_null(strstr(err.message, "'u8'"));
    assert_int_equal(lf_safetensors_writer_add(w, "x", LF_ST_DTYPE_F32, 1, s5, f32, 8, &err),
                     LF_ERR_INVALID);
    assert_int_equal(
        lf_safetensors_writer_add(w, "__metadata__", LF_ST_DTYPE_U8, 1, s5, u8, 5, &err),
        LF_ERR_INVALID);

    assert_int_equal(lf_safetensors_writer_write(w, path, &err), LF_OK);
    lf_safetensors_writer_free(w);

    /* Only the final file is left in the folder. */
    DIR *d = opendir(tmpdir);
    struct dirent *e;
    int entries = 0;
    while ((e = readdir(d)))
        if (e->d_name[0] != '.') entries++, assert_string_equal(e->d_name, "rt.safetensors");
    closedir(d);
    assert_int_equal(entries, 1);

    struct lf_safetensors *st;
    if (lf_safetensors_open(path, &st, &err) != LF_OK) fail_msg("%s", err.message);
    assert_int_equal(lf_safetensors_count(st), 8);
    assert_string_equal(lf_safetensors_metadata_get(st, "format"), "lcmflow");
    assert_string_equal(lf_safetensors_metadata_get(st, "note"),
                        "quote \" slash / tab \t caf\xc3\xa9");
    assert_int_equal(lf_safetensors_metadata_count(st), 2);
    /* Reference order: by element size descending, then name. */
    const char *order[] = {"pos", "a.alpha", "b.f32", "empty", "ids", "bf16", "f16", "u8"};
    for (size_t i = 0; i < 8; i++)
        assert_string_equal(lf_safetensors_tensor_at(st, i)->name, order[i]);

    const struct lf_safetensors_tensor *t = lf_safetensors_find(st, "b.f32");
    assert_int_equal(t->rank, 2);
    assert_int_equal(t->shape[0], 2);
    assert_int_equal(t->shape[1], 3);
    assert_memory_equal(t->data, f32, sizeof f32);
    t = lf_safetensors_find(st, "a.alpha");
    assert_int_equal(t->rank, 0);
    assert_int_equal(t->numel, 1);
    float v[6];
    assert_int_equal(lf_safetensors_tensor_to_f32(st, t, v, 1, &err), LF_OK);
    assert_true(v[0] == 4.0f);
    t = lf_safetensors_find(st, "f16");
    assert_int_equal(lf_safetensors_tensor_to_f32(st, t, v, 6, &err), LF_OK);
    assert_true(v[0] == 1.0f && v[1] == -2.0f && v[2] == ldexpf(1.0f, -24) && v[3] == 65504.0f);
    assert_true(v[4] == 0.0f && signbit(v[4]) && isinf(v[5]) && v[5] > 0);
    t = lf_safetensors_find(st, "bf16");
    assert_int_equal(lf_safetensors_tensor_to_f32(st, t, v, 2, &err), LF_OK);
    assert_true(v[0] == 1.0f && v[1] == -10.0f);
    t = lf_safetensors_find(st, "pos");
    assert_false(t->has_dtype);
    assert_string_equal(lf_st_dtype_name(t->st_dtype), "I64");
    assert_memory_equal(t->data, i64, sizeof i64);
    assert_memory_equal(lf_safetensors_find(st, "ids")->data, i32, sizeof i32);
    assert_memory_equal(lf_safetensors_find(st, "u8")->data, u8, sizeof u8);
    t = lf_safetensors_find(st, "empty");
    assert_int_equal(t->numel, 0);
    assert_int_equal(t->nbytes, 0);
    lf_safetensors_close(st);

    /* The header is space-padded to a multiple of 8. */
    FILE *fp = fopen(path, "rb");
    unsigned char len[8];
    assert_int_equal(fread(len, 1, 8, fp), 8);
    fclose(fp);
    assert_int_equal(len[0] % 8, 0);
    unlink(path);
}

static void writer_refuses_missing_folder(void **state)
{
    struct lf_error err = {0};
    struct lf_safetensors_writer *w;
    char path[512];
    snprintf(path, sizeof path, "%s/no/such/dir/x.safetensors", tmpdir);
    assert_int_equal(lf_safetensors_writer_create(&w, &err), LF_OK);
    assert_int_equal(lf_safetensors_writer_write(w, path, &err), LF_ERR_IO);
    assert_string_equal(err.path, path);
    lf_safetensors_writer_free(w);
}

/* }======== */

/* {======== validation: one broken file per rule */

/* Writes an 8-byte length (the given one, or the JSON's), the JSON, and
** data_len bytes of data. */
static void write_file(const char *path, const char *json, uint64_t len_field, size_t data_len)
{
    FILE *fp = fopen(path, "wb");
    assert_non_null(fp);
    size_t n = strlen(json);
    uint64_t len = len_field ? len_field : n;
    for (int i = 0; i < 8; i++)
        fputc((int)((len >> (8 * i)) & 0xff), fp);
    fwrite(json, 1, n, fp);
    for (size_t i = 0; i < data_len; i++)
        fputc((int)(i & 0xff), fp);
    fclose(fp);
}

/* Opens a broken file: the result must be a format error whose text names
** the file and contains each of the given fragments. */
static void expect_broken(const char *json, uint64_t len_field, size_t data_len, const char *frag1,
                          const char *frag2)
{
    char path[512], text[2048];
    struct lf_error err = {0};
    struct lf_safetensors *st = (struct lf_safetensors *)1;
    snprintf(path, sizeof path, "%s/broken.safetensors", tmpdir);
    write_file(path, json, len_field, data_len);
    enum lf_status s = lf_safetensors_open(path, &st, &err);
    lf_error_text(&err, text, sizeof text);
    print_message("  %s\n", text);
    assert_int_equal(s, LF_ERR_FORMAT);
    assert_null(st);
    assert_string_equal(err.path, path);
    if (frag1 && !strstr(text, frag1)) fail_msg("'%s' not in '%s'", frag1, text);
    if (frag2 && !strstr(text, frag2)) fail_msg("'%s' not in '%s'", frag2, text);
    unlink(path);
}

#define T1(name, dtype, shape, b, e)                                                               \
    "\"" name "\":{\"dtype\":\"" dtype "\",\"shape\":" shape ",\"data_offsets\":[" #b "," #e "]}"

static void rejects_truncated(void **state)
{
    char path[512];
    struct lf_error err = {0};
    struct lf_safetensors *st;
    snprintf(path, sizeof path, "%s/short.safetensors", tmpdir);
    FILE *fp = fopen(path, "wb");
    fwrite("\x10\0\0\0\0", 1, 5, fp);
    fclose(fp);
    assert_int_equal(lf_safetensors_open(path, &st, &err), LF_ERR_FORMAT);
    assert_non_null(strstr(err.message, "too short"));
    assert_string_equal(err.path, path);
    unlink(path);
    /* The length says 200 bytes of JSON, the file has fewer. */
    expect_broken("{" T1("a", "F32", "[1]", 0, 4) "}", 200, 4, "runs past the end", NULL);
    /* The data section is cut short: the tensor's range leaves it. */
    expect_broken("{" T1("w", "F32", "[4]", 0, 16) "}", 0, 10, "'w'", "outside the data section");
    /* An empty file. */
    fp = fopen(path, "wb");
    fclose(fp);
    assert_int_equal(lf_safetensors_open(path, &st, &err), LF_ERR_FORMAT);
    unlink(path);
}

/* lf_safetensors_read copies a tensor's bytes from the file, refuses a
** range outside the tensor, and names the file when it was cut short after
** it was opened. */
static void read_copies_bytes_and_names_a_short_file(void **state)
{
    char path[512];
    struct lf_error err = {0};
    struct lf_safetensors_writer *w;
    struct lf_safetensors *st;
    const struct lf_safetensors_tensor *t;
    snprintf(path, sizeof path, "%s/read.safetensors", tmpdir);
    float values[8] = {1, 2, 3, 4, 5, 6, 7, 8}, got[2] = {0, 0};
    int64_t shape[1] = {8};
    assert_int_equal(lf_safetensors_writer_create(&w, &err), LF_OK);
    assert_int_equal(
        lf_safetensors_writer_add(w, "x", LF_ST_DTYPE_F32, 1, shape, values, sizeof values, &err),
        LF_OK);
    assert_int_equal(lf_safetensors_writer_write(w, path, &err), LF_OK);
    lf_safetensors_writer_free(w);
    assert_int_equal(lf_safetensors_open(path, &st, &err), LF_OK);
    assert_int_equal(lf_safetensors_get(st, "x", &t, &err), LF_OK);
    assert_int_equal(lf_safetensors_read(st, t, 4 * sizeof(float), got, sizeof got, &err), LF_OK);
    assert_true(got[0] == 5.0f && got[1] == 6.0f);
    assert_int_equal(lf_safetensors_read(st, t, 7 * sizeof(float), got, sizeof got, &err),
                     LF_ERR_INVALID);
    struct stat sb;
    assert_int_equal(stat(path, &sb), 0);
    assert_int_equal(truncate(path, sb.st_size - 8), 0);
    assert_int_equal(lf_safetensors_read(st, t, 6 * sizeof(float), got, sizeof got, &err),
                     LF_ERR_IO);
    assert_string_equal(err.path, path);
    assert_non_null(strstr(err.message, "ends early"));
    lf_safetensors_close(st);
    unlink(path);
}

static void rejects_header_too_long(void **state)
{
    expect_broken("{}", LF_SAFETENSORS_MAX_HEADER + 1, 0, "exceeds the limit", NULL);
    expect_broken("{}", UINT64_MAX, 0, "exceeds the limit", NULL);
}

static void rejects_bad_json(void **state)
{
    expect_broken("{" T1("a", "F32", "[1]", 0, 4), 0, 4, "truncated", NULL);
    expect_broken("{" T1("a", "F32", "[1]", 0, 4) ",}", 0, 4, "not valid JSON", NULL);
    expect_broken("{'a': 1}", 0, 0, "not valid JSON", NULL);
    expect_broken("{\"a\": 1, 'b': 2}", 0, 0, "not valid JSON", NULL);
    expect_broken("{\"a\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [0, 4], "
                  "\"x\": NaN}}",
                  0, 4, "not valid JSON", NULL);
    expect_broken("{\"__metadata__\": {\"k\": \"line\nbreak\"}}", 0, 0, "not valid JSON", NULL);
    expect_broken("[1, 2]", 0, 0, "does not start with '{'", NULL);
    expect_broken("{" T1("a", "F32", "[1]", 0, 4) "}  x", 0, 4, "not valid JSON", NULL);
    expect_broken("{\"a\": \"\xff\xfe\"}", 0, 0, "not valid JSON", NULL);
    expect_broken("{\"a\": 1}", 0, 0, "'a'", "not an object");
    expect_broken("{\"a\": {\"dtype\": \"F32\", \"shape\": [1]}}", 0, 4, "'a'", "data_offsets");
    expect_broken("{" T1("a", "F32", "[1.0]", 0, 4) "}", 0, 4, "'a'", "shape[0]");
    expect_broken("{" T1("a", "F32", "[-1]", 0, 4) "}", 0, 4, "'a'", "shape[0]");
    expect_broken("{" T1("a", "F32", "[1]", -4, 4) "}", 0, 4, "'a'", "non-negative");
}

static void rejects_unknown_dtype(void **state)
{
    expect_broken("{" T1("w", "F32", "[1]", 0, 4) "," T1("v", "F33", "[1]", 4, 8) "}", 0, 8, "'v'",
                  "unknown dtype 'F33'");
}

static void rejects_size_mismatch(void **state)
{
    expect_broken("{" T1("w", "F32", "[2]", 0, 4) "}", 0, 4, "'w'", "8 bytes but");
    expect_broken("{" T1("w", "F16", "[4611686018427387904,4]", 0, 4) "}", 0, 4, "'w'",
                  "overflows");
    expect_broken("{" T1("w", "F32", "[2]", 8, 0) "}", 0, 8, "'w'", "end before");
}

static void rejects_overlap(void **state)
{
    expect_broken("{" T1("a", "F32", "[2]", 0, 8) "," T1("b", "F32", "[2]", 4, 12) "}", 0, 12,
                  "'b'", "overlap tensor 'a'");
}

static void rejects_gap(void **state)
{
    expect_broken("{" T1("a", "F32", "[1]", 0, 4) "," T1("b", "F32", "[1]", 8, 12) "}", 0, 12,
                  "'b'", "gap of 4 bytes");
    /* Bytes after the last tensor are a gap too. */
    expect_broken("{" T1("a", "F32", "[1]", 0, 4) "}", 0, 6, "'a'", "2 bytes after");
    expect_broken("{}", 0, 3, "no tensors", NULL);
}

static void rejects_out_of_range(void **state)
{
    expect_broken("{" T1("a", "F32", "[2]", 0, 8) "}", 0, 4, "'a'", "outside the data section");
    expect_broken("{" T1("a", "U8", "[1]", 18446744073709551614, 18446744073709551615) "}", 0, 4,
                  "'a'", "outside the data section");
}

static void rejects_duplicate_names(void **state)
{
    expect_broken("{" T1("a", "F32", "[1]", 0, 4) "," T1("a", "F32", "[1]", 0, 4) "}", 0, 4, "'a'",
                  "more than once");
    /* The same name spelled with an escape is still the same name. */
    expect_broken("{" T1("ab", "F32", "[1]", 0, 4) "," T1("\\u0061b", "F32", "[1]", 4, 8) "}", 0, 8,
                  "'ab'", "more than once");
}

static void rejects_non_string_metadata(void **state)
{
    expect_broken("{\"__metadata__\":{\"ok\":\"yes\",\"n\":1}," T1("a", "F32", "[1]", 0, 4) "}", 0,
                  4, "__metadata__", "'n'");
    expect_broken("{\"__metadata__\":[\"x\"]," T1("a", "F32", "[1]", 0, 4) "}", 0, 4,
                  "__metadata__", NULL);
}

/* Only regular files are opened: a FIFO with no writer used to block in
** open() forever; a device or a folder is named as such. */
static void refuses_fifos_devices_and_folders(void **state)
{
    (void)state;
    char fifo[300];
    struct lf_safetensors *st = NULL;
    struct lf_error err = {0};
    snprintf(fifo, sizeof fifo, "%s/model.safetensors", tmpdir);
    assert_int_equal(mkfifo(fifo, 0600), 0);
    assert_int_equal(lf_safetensors_open(fifo, &st, &err), LF_ERR_IO);
    assert_null(st);
    assert_string_equal(err.path, fifo);
    assert_non_null(strstr(err.message, "not a regular file but a FIFO"));
    unlink(fifo);
    assert_int_equal(lf_safetensors_open("/dev/zero", &st, &err), LF_ERR_IO);
    assert_non_null(strstr(err.message, "a character device"));
    assert_int_equal(lf_safetensors_open(tmpdir, &st, &err), LF_ERR_IO);
    assert_non_null(strstr(err.message, "a folder"));
    snprintf(fifo, sizeof fifo, "%s/none.safetensors", tmpdir);
    assert_int_equal(lf_safetensors_open(fifo, &st, &err), LF_ERR_NOT_FOUND);
}

static void accepts_minimal_files(void **state)
{
    char path[512];
    struct lf_error err = {0};
    struct lf_safetensors *st;
    snprintf(path, sizeof path, "%s/ok.safetensors", tmpdir);
    write_file(path, "{}", 0, 0);
    assert_int_equal(lf_safetensors_open(path, &st, &err), LF_OK);
    assert_int_equal(lf_safetensors_count(st), 0);
    lf_safetensors_close(st);
    /* Unpadded header: data is unaligned, still readable. */
    write_file(
        path,
        "{\"__metadata__\":null," T1("a", "F32", "[1]", 0, 4) "," T1("z", "F32", "[0]", 4, 4) "}",
        0, 4);
    assert_int_equal(lf_safetensors_open(path, &st, &err), LF_OK);
    assert_int_equal(lf_safetensors_count(st), 2);
    assert_int_equal(lf_safetensors_metadata_count(st), 0);
    lf_safetensors_close(st);
    unlink(path);

    /* A missing file is NOT_FOUND, a folder an I/O error. */
    snprintf(path, sizeof path, "%s/absent.safetensors", tmpdir);
    assert_int_equal(lf_safetensors_open(path, &st, &err), LF_ERR_NOT_FOUND);
    assert_int_equal(lf_safetensors_open(tmpdir, &st, &err), LF_ERR_IO);
}

/* Every seed-corpus file named bad-* must be refused, ok-* accepted. */
static void checks_seed_corpus(void **state)
{
    const char *dir = corpus_dir;
    if (!dir) {
        print_message("no corpus folder given on the command line: skipped\n");
        skip();
    }
    DIR *d = opendir(dir);
    assert_non_null(d);
    struct dirent *e;
    int n = 0;
    while ((e = readdir(d))) {
        char path[1024];
        struct lf_error err = {0};
        struct lf_safetensors *st;
        bool ok = strncmp(e->d_name, "ok-", 3) == 0, bad = strncmp(e->d_name, "bad-", 4) == 0;
        if (!ok && !bad) continue;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        enum lf_status s = lf_safetensors_open(path, &st, &err);
        if (ok && s != LF_OK) fail_msg("%s: %s", path, err.message);
        if (bad && s != LF_ERR_FORMAT) fail_msg("%s: accepted", path);
        lf_safetensors_close(st);
        n++;
    }
    closedir(d);
    assert_true(n >= 10);
}

/* }======== */

int main(int argc, char **argv)
{
    corpus_dir = argc > 1 ? argv[1] : NULL;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(reads_fixture_model),
        cmocka_unit_test(reads_fixture_references),
        cmocka_unit_test(round_trips),
        cmocka_unit_test(writer_refuses_missing_folder),
        cmocka_unit_test(rejects_truncated),
        cmocka_unit_test(read_copies_bytes_and_names_a_short_file),
        cmocka_unit_test(rejects_header_too_long),
        cmocka_unit_test(rejects_bad_json),
        cmocka_unit_test(rejects_unknown_dtype),
        cmocka_unit_test(rejects_size_mismatch),
        cmocka_unit_test(rejects_overlap),
        cmocka_unit_test(rejects_gap),
        cmocka_unit_test(rejects_out_of_range),
        cmocka_unit_test(rejects_duplicate_names),
        cmocka_unit_test(rejects_non_string_metadata),
        cmocka_unit_test(accepts_minimal_files),
        cmocka_unit_test(refuses_fifos_devices_and_folders),
        cmocka_unit_test(checks_seed_corpus),
    };
    int failed = cmocka_run_group_tests(tests, make_tmpdir, remove_tmpdir);
    return failed ? failed : fixtures_missing ? 77 : 0;
}
