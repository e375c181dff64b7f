/*
** test_image_io.c - PNGs round-trip with their text chunks; missing,
** truncated and non-image files are clear errors naming the file; nothing
** is left behind under a temporary name.
*/
#include "image_io.h"

#include <dirent.h>
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
    assert_int_equal(lf_image_save_png(path, w, h, px, text, 2, &err), LF_OK);
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
        if (e->d_name[0] != '.') files++;
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
    assert_int_equal(lf_image_save_png(full, 64, 64, img, NULL, 0, &err), LF_OK);
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

    /* Writing into a folder that does not exist fails cleanly. */
    snprintf(path, sizeof path, "%s/no/such/dir/x.png", dir);
    assert_int_equal(lf_image_save_png(path, 64, 64, img, NULL, 0, &err), LF_ERR_IO);
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

static int teardown(void **state)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    return system(cmd) == 0 ? 0 : -1;
}

int main(void)
{
    if (!mkdtemp(dir)) return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(round_trip_with_text),
        cmocka_unit_test(bad_files_are_named_errors),
        cmocka_unit_test(resize_nearest),
    };
    return cmocka_run_group_tests(tests, NULL, teardown);
}
