/*
** test_image_io.c - PNGs round-trip with their text chunks; missing,
** truncated and non-image files are clear errors naming the file; nothing
** is left behind under a temporary name.
*/
#include "test_util.h"
#include "image_io.h"

#include <dirent.h>
#include <limits.h>
#include <sys/stat.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

static char dir[] = "/tmp/lcmflow-image-XXXXXX";

struct seen {
    int count;
    char graph[256];
};

static void on_text(const char *key, const char *value, void *user)
{
    struct seen *s = user;
    s->count++;
    if (!strcmp(key, "lcmflow.graph")) snprintf(s->graph, sizeof s->graph, "%s", value);
}

static void round_trip_with_text(void **state)
{
    int w = 13, h = 7;
    uint8_t px[13 * 7 * 3];
    for (int i = 0; i < w * h * 3; i++)
        px[i] = (uint8_t)(i * 37);
    char path[128];
    snprintf(path, sizeof path, "%s/a.png", dir);
    struct lf_image_text text[2] = {{"lcmflow.graph", "nodes: {é: 1}"}, {"Software", "lcmflow"}};
    struct lf_error err = {0};
    assert_int_equal(lf_image_save(path, w, h, px, text, 2, &err), LF_OK);
    int gw, gh;
    uint8_t *got;
    assert_int_equal(lf_image_load(path, &gw, &gh, &got, &err), LF_OK);
    assert_int_equal(gw, w);
    assert_int_equal(gh, h);
    assert_memory_equal(got, px, sizeof px);
    free(got);
    struct seen s = {0};
    assert_int_equal(lf_image_read_png_text(path, on_text, &s, &err), LF_OK);
    assert_int_equal(s.count, 2);
    assert_string_equal(s.graph, "nodes: {é: 1}");
    /* Only a.png in the folder: no temporary left behind. */
    DIR *d = opendir(dir);
    int files = 0;
    for (struct dirent *e; (e = readdir(d));)
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) files++;
    closedir(d);
    assert_int_equal(files, 1);
}

static void bad_files_are_named_errors(void **state)
{
    struct lf_error err = {0};
    int w, h;
    uint8_t *px;
    char path[128];
    snprintf(path, sizeof path, "%s/missing.png", dir);
    assert_int_equal(lf_image_load(path, &w, &h, &px, &err), LF_ERR_NOT_FOUND);
    assert_string_equal(err.path, path);

    snprintf(path, sizeof path, "%s/text.png", dir);
    FILE *f = fopen(path, "wb");
    fputs("this is not an image", f);
    fclose(f);
    assert_int_equal(lf_image_load(path, &w, &h, &px, &err), LF_ERR_FORMAT);
    assert_string_equal(err.path, path);

    /* A PNG cut in half. */
    uint8_t img[64 * 64 * 3];
    for (size_t i = 0; i < sizeof img; i++)
        img[i] = (uint8_t)(i * 7919 >> 3);
    char full[128];
    snprintf(full, sizeof full, "%s/full.png", dir);
    assert_int_equal(lf_image_save(full, 64, 64, img, NULL, 0, &err), LF_OK);
    f = fopen(full, "rb");
    char buf[20000];
    size_t n = fread(buf, 1, sizeof buf, f);
    fclose(f);
    snprintf(path, sizeof path, "%s/cut.png", dir);
    f = fopen(path, "wb");
    fwrite(buf, 1, n / 2, f);
    fclose(f);
    assert_int_equal(lf_image_load(path, &w, &h, &px, &err), LF_ERR_FORMAT);
    assert_non_null(strstr(err.message, "image"));

    /* A PNG header claiming a huge image is refused before decoding. */
    static const uint8_t huge[] = {0x89, 'P',  'N', 'G', '\r', '\n', 0x1a, '\n', 0,    0, 0,
                                   13,   'I',  'H', 'D', 'R',  0,    0,    0x3e, 0x80, 0, 0,
                                   0x4e, 0x20, 8,   2,   0,    0,    0,    0,    0,    0, 0};
    snprintf(path, sizeof path, "%s/huge.png", dir);
    f = fopen(path, "wb");
    fwrite(huge, 1, sizeof huge, f);
    fclose(f);
    assert_int_equal(lf_image_load(path, &w, &h, &px, &err), LF_ERR_UNSUPPORTED);
    assert_string_equal(err.path, path);
    assert_non_null(strstr(err.message, "image is 16000x20000; at most 16384 pixels a side"));
    assert_int_equal(lf_image_decode(huge, sizeof huge, "mem", &w, &h, &px, &err),
                     LF_ERR_UNSUPPORTED);

    /* A FIFO (it blocked in open()) or a device is refused, naming it. */
    snprintf(path, sizeof path, "%s/fifo.png", dir);
    assert_int_equal(mkfifo(path, 0600), 0);
    assert_int_equal(lf_image_load(path, &w, &h, &px, &err), LF_ERR_IO);
    assert_string_equal(err.path, path);
    assert_non_null(strstr(err.message, "cannot open image: not a regular file but a FIFO"));
    unlink(path);
    assert_int_equal(lf_image_load("/dev/null", &w, &h, &px, &err), LF_ERR_IO);
    assert_non_null(strstr(err.message, "a character device"));

    /* Writing into a folder that does not exist fails cleanly. */
    snprintf(path, sizeof path, "%s/no/such/dir/x.png", dir);
    assert_int_equal(lf_image_save(path, 64, 64, img, NULL, 0, &err), LF_ERR_IO);
}

static void resize_nearest(void **state)
{
    uint8_t px[2 * 1 * 3] = {10, 20, 30, 40, 50, 60}, *out;
    struct lf_error err = {0};
    assert_int_equal(lf_image_resize(px, 2, 1, 3, 1, &out, &err), LF_OK);
    /* floor(dst * 2 / 3) = 0, 0, 1 */
    uint8_t want[9] = {10, 20, 30, 10, 20, 30, 40, 50, 60};
    assert_memory_equal(out, want, 9);
    free(out);
}

/* Counts the entries of folder d other than . and .. */
static int count_files(const char *d)
{
    DIR *dd = opendir(d);
    int files = 0;
    for (struct dirent *e; dd && (e = readdir(dd));)
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) files++;
    if (dd) closedir(dd);
    return files;
}

/* Paths longer than any fixed buffer are written under their full name
** (the old 1100-byte buffers truncated them), and nothing else is left. */
static void long_paths_are_written_whole(void **state)
{
    char path[1400], sub[1400];
    uint8_t px[8 * 8 * 3] = {0};
    struct lf_error err = {0};
    int n = snprintf(sub, sizeof sub, "%s/long", dir);
    assert_int_equal(mkdir(sub, 0755), 0);
    while (n < 1000) {
        n += snprintf(sub + n, sizeof sub - (size_t)n, "/%0200d", 7);
        assert_int_equal(mkdir(sub, 0755), 0);
    }
    snprintf(path, sizeof path, "%s/%0*d.png", sub, 1224 - n - 5, 1);
    assert_int_equal(strlen(path), 1224);
    assert_int_equal(lf_image_save(path, 8, 8, px, NULL, 0, &err), LF_OK);
    int w, h;
    uint8_t *got;
    assert_int_equal(lf_image_load(path, &w, &h, &got, &err), LF_OK);
    free(got);
    assert_int_equal(count_files(sub), 1);

    /* Beyond PATH_MAX: an error naming the path, nothing written. */
    size_t big = PATH_MAX + 10;
    char *huge = malloc(big + 1);
    memset(huge, 'a', big);
    memcpy(huge + big - 4, ".png", 5);
    assert_int_equal(lf_image_save(huge, 8, 8, px, NULL, 0, &err), LF_ERR_INVALID);
    assert_non_null(strstr(err.message, "limit"));
    free(huge);
}

/* The extension picks the format written; an unknown one is refused. */
static void format_follows_extension(void **state)
{
    uint8_t px[16 * 8 * 3];
    for (size_t i = 0; i < sizeof px; i++)
        px[i] = (uint8_t)(i * 13);
    static const struct {
        const char *name;
        const char *magic;
        size_t len;
    } cases[] = {{"f.jpg", "\xff\xd8\xff", 3},
                 {"f.JPEG", "\xff\xd8\xff", 3},
                 {"f.bmp", "BM", 2},
                 {"f.png", "\x89PNG", 4}};
    struct lf_error err = {0};
    char path[256], head[4];
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, cases[i].name);
        assert_int_equal(lf_image_save(path, 16, 8, px, NULL, 0, &err), LF_OK);
        FILE *f = fopen(path, "rb");
        assert_non_null(f);
        assert_int_equal(fread(head, 1, cases[i].len, f), cases[i].len);
        fclose(f);
        assert_memory_equal(head, cases[i].magic, cases[i].len);
        int w, h;
        uint8_t *got;
        assert_int_equal(lf_image_load(path, &w, &h, &got, &err), LF_OK);
        assert_int_equal(w, 16);
        assert_int_equal(h, 8);
        free(got);
    }
    assert_int_equal(lf_image_format_of("a.b/c"), LF_IMAGE_UNKNOWN);
    snprintf(path, sizeof path, "%s/f.gif", dir);
    assert_int_equal(lf_image_save(path, 16, 8, px, NULL, 0, &err), LF_ERR_INVALID);
    assert_string_equal(err.path, path);
    assert_non_null(strstr(err.message, ".png, .jpg, .jpeg or .bmp"));
    assert_int_equal(access(path, F_OK), -1);
}

/* The fuzzing seeds (tests/corpus/image): ok-* decode, bad-* are refused
** with a message; the two the fuzzer found are refused before stb_image
** sees them (it wrote out of bounds, or allocated 2 GiB). */
static const char *corpus_dir;

static void seed_corpus(void **state)
{
    DIR *d = opendir(corpus_dir);
    int seen = 0;
    assert_non_null(d);
    for (struct dirent *e; (e = readdir(d));) {
        if (e->d_name[0] == '.') continue;
        char path[1024], text[2048];
        struct lf_error err = {0};
        int w, h;
        uint8_t *px;
        snprintf(path, sizeof path, "%s/%s", corpus_dir, e->d_name);
        enum lf_status st = lf_image_load(path, &w, &h, &px, &err);
        printf("# %s: %s\n", e->d_name, st ? lf_error_text(&err, text, sizeof text) : "ok");
        if (!strncmp(e->d_name, "ok-", 3)) {
            assert_int_equal(st, LF_OK);
            free(px);
        } else {
            assert_int_not_equal(st, LF_OK);
            assert_true(err.message[0] != '\0');
        }
        if (!strcmp(e->d_name, "bad-jpeg-dht-257-codes.jpg"))
            assert_non_null(strstr(err.message, "more than 256 codes"));
        if (!strcmp(e->d_name, "bad-idat-length.png"))
            assert_non_null(strstr(err.message, "runs past the end"));
        seen++;
    }
    closedir(d);
    assert_true(seen >= 10);
}

static int teardown(void **state)
{
    return test_remove_tree(dir);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: test-image-io CORPUS_DIR\n");
        return 1;
    }
    corpus_dir = argv[1];
    if (!mkdtemp(dir)) return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(round_trip_with_text),     cmocka_unit_test(bad_files_are_named_errors),
        cmocka_unit_test(resize_nearest),           cmocka_unit_test(long_paths_are_written_whole),
        cmocka_unit_test(format_follows_extension), cmocka_unit_test(seed_corpus),
    };
    return cmocka_run_group_tests(tests, NULL, teardown);
}
