/*
** test_sd_arch.c - the synthetic-checkpoint architecture lists exactly the
** tensors (names and shapes) of a real SD 1.5 checkpoint: checked against
** the tiny-sd15 fixture, whose key set is SD 1.5's, and the sd15 preset's
** parameter count against SD 1.5's published 1.07 billion.
*/
#include "lcmflow/safetensors.h"
#include "sd_arch.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

struct walk {
    struct lf_safetensors *st;
    int count, missing, wrong_shape;
    int64_t params;
};

static void visit(const struct sd_arch_tensor *t, void *user)
{
    struct walk *w = user;
    w->count++;
    int64_t n = 1;
    for (int i = 0; i < t->rank; i++)
        n *= t->shape[i];
    w->params += n;
    if (!w->st) return;
    const struct lf_safetensors_tensor *f = lf_safetensors_find(w->st, t->name);
    if (!f) {
        printf("  not in the fixture: %s\n", t->name);
        w->missing++;
        return;
    }
    bool same = f->rank == t->rank;
    for (int i = 0; same && i < t->rank; i++)
        same = f->shape[i] == t->shape[i];
    if (!same) {
        printf("  shape differs: %s\n", t->name);
        w->wrong_shape++;
    }
}

static void tiny_matches_fixture_keys(void **state)
{
    const char *dir = getenv("LCMFLOW_FIXTURES");
    char path[600];
    snprintf(path, sizeof path, "%s/tiny-sd15/model.safetensors", dir ? dir : "../shared/fixtures");
    struct lf_error err = {0};
    struct walk w = {0};
    if (lf_safetensors_open(path, &w.st, &err) != LF_OK) {
        printf("fixture absent (%s): skipped\n", err.message);
        skip();
    }
    struct sd_arch arch = sd_arch_tiny;
    arch.text.vocab = 49408; /* the fixture carries the real vocabulary's size */
    sd_arch_each(&arch, visit, &w);
    assert_int_equal(w.missing, 0);
    assert_int_equal(w.wrong_shape, 0);
    assert_int_equal(w.count, (int)lf_safetensors_count(w.st));
    lf_safetensors_close(w.st);
}

static void sd15_has_the_published_size(void **state)
{
    struct walk w = {0};
    sd_arch_each(&sd_arch_sd15, visit, &w);
    printf("  sd15 preset: %d tensors, %lld parameters\n", w.count, (long long)w.params);
    assert_int_equal(w.count, 1130); /* the fixture's 1002 plus 8 more text layers of 16 */
    assert_true(w.params > 1060000000 && w.params < 1070000000);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(tiny_matches_fixture_keys),
        cmocka_unit_test(sd15_has_the_published_size),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
