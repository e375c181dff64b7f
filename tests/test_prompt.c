/* test_prompt.c - the prompt parser against a table of hand-written
** expectations: weights, nesting, escapes, unbalanced brackets, BREAK,
** embeddings, Unicode, empty prompts, the literal syntax, and 10,000-character
** prompts. */
#include "sd_prompt.h"

#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#define T        SD_PROMPT_TEXT
#define B        SD_PROMPT_BREAK
#define E        SD_PROMPT_EMBEDDING
#define MAX_RUNS 6

struct want {
    enum sd_prompt_kind kind;
    const char *text;
    double weight;
};

struct row {
    const char *prompt;
    enum sd_prompt_syntax syntax;
    struct want runs[MAX_RUNS]; /* ends at the first NULL text */
};

#define W   SD_PROMPT_WEIGHTED
#define L   SD_PROMPT_LITERAL
#define R11 1.1
#define S11 (1.0 / 1.1)

static const struct row table[] = {
    {"", W, {{0}}},
    {"a cat", W, {{T, "a cat", 1}}},
    {"(cat)", W, {{T, "cat", R11}}},
    {"((cat))", W, {{T, "cat", 1.21}}},
    {"(((cat)))", W, {{T, "cat", 1.331}}},
    {"[cat]", W, {{T, "cat", S11}}},
    {"[[cat]]", W, {{T, "cat", 1 / 1.21}}},
    {"(cat:1.3)", W, {{T, "cat", 1.3}}},
    {"(cat:0)", W, {{T, "cat", 0}}},
    {"(cat:-0.5)", W, {{T, "cat", -0.5}}},
    {"(cat: 1.5 )", W, {{T, "cat", 1.5}}},
    {"(cat:.5)", W, {{T, "cat", 0.5}}},
    {"a (b:1.5) c", W, {{T, "a ", 1}, {T, "b", 1.5}, {T, " c", 1}}},
    {"((a:1.5) b)", W, {{T, "a", 1.65}, {T, " b", R11}}},
    {"((a) b)", W, {{T, "a", 1.21}, {T, " b", R11}}},
    {"x [(a)]", W, {{T, "x a", 1}}},
    {"(a) (b)", W, {{T, "a", R11}, {T, " ", 1}, {T, "b", R11}}},
    {"(a)(b)", W, {{T, "ab", R11}}},
    {"()", W, {{0}}},
    {"(:1.2)", W, {{0}}},
    {"\\(cat\\)", W, {{T, "(cat)", 1}}},
    {"\\[x\\]", W, {{T, "[x]", 1}}},
    {"a\\\\b", W, {{T, "a\\b", 1}}},
    {"a\\b", W, {{T, "a\\b", 1}}},
    {"(a\\)b)", W, {{T, "a)b", R11}}},
    {"\\((cat)\\)", W, {{T, "(", 1}, {T, "cat", R11}, {T, ")", 1}}},
    {"cat)", W, {{T, "cat)", 1}}},
    {"cat]", W, {{T, "cat]", 1}}},
    {"(cat", W, {{T, "cat", R11}}},
    {"[cat", W, {{T, "cat", S11}}},
    {"a (b", W, {{T, "a ", 1}, {T, "b", R11}}},
    {"cat:1.2)", W, {{T, "cat:1.2)", 1}}},
    {"(cat:abc)", W, {{T, "cat:abc", R11}}},
    {"(a:1.2.3)", W, {{T, "a:1.2.3", R11}}},
    {"(a:1e3)", W, {{T, "a:1e3", R11}}},
    {"(a:1.5", W, {{T, "a:1.5", R11}}},
    {"[a:1.5]", W, {{T, "a:1.5", S11}}},
    {"a BREAK b", W, {{T, "a", 1}, {B, "", 1}, {T, "b", 1}}},
    {"a\nBREAK\tb", W, {{T, "a", 1}, {B, "", 1}, {T, "b", 1}}},
    {"BREAK", W, {{B, "", 1}}},
    {"a BREAK BREAK b", W, {{T, "a", 1}, {B, "", 1}, {B, "", 1}, {T, "b", 1}}},
    {"(a BREAK b:1.5)", W, {{T, "a", 1.5}, {B, "", 1}, {T, "b", 1.5}}},
    {"a BREAKb", W, {{T, "a BREAKb", 1}}},
    {"xBREAK BREAK_", W, {{T, "xBREAK BREAK_", 1}}},
    {"a break b", W, {{T, "a break b", 1}}},
    {"a,BREAK,b", W, {{T, "a,", 1}, {B, "", 1}, {T, ",b", 1}}},
    {"embedding:neg", W, {{E, "neg", 1}}},
    {"a, embedding:neg, b", W, {{T, "a, ", 1}, {E, "neg", 1}, {T, ", b", 1}}},
    {"(embedding:neg:1.2)", W, {{E, "neg", 1.2}}},
    {"[embedding:neg]", W, {{E, "neg", S11}}},
    {"(bad embedding:neg)", W, {{T, "bad ", R11}, {E, "neg", R11}}},
    {"embedding:a.b-c_d.safetensors x", W, {{E, "a.b-c_d.safetensors", 1}, {T, " x", 1}}},
    {"myembedding:neg", W, {{T, "myembedding:neg", 1}}},
    {"embedding:", W, {{T, "embedding:", 1}}},
    {"embedding: x", W, {{T, "embedding: x", 1}}},
    {"\\(embedding:x\\)", W, {{T, "(", 1}, {E, "x", 1}, {T, ")", 1}}},
    {"embedding:a embedding:b", W, {{E, "a", 1}, {T, " ", 1}, {E, "b", 1}}},
    {"café (crème:1.2)", W, {{T, "café ", 1}, {T, "crème", 1.2}}},
    {"日本 (猫)", W, {{T, "日本 ", 1}, {T, "猫", R11}}},
    {"éBREAK ü", W, {{T, "éBREAK ü", 1}}},
    {"猫 BREAK 🐱", W, {{T, "猫", 1}, {B, "", 1}, {T, "🐱", 1}}},
    {"  ", W, {{T, "  ", 1}}},
    {"(cat:1.2) [dog]", L, {{T, "(cat:1.2) [dog]", 1}}},
    {"a\\(b BREAK embedding:x", L, {{T, "a\\(b", 1}, {B, "", 1}, {E, "x", 1}}},
    {"", L, {{0}}},
};

static void check_row(const struct row *r)
{
    struct sd_prompt p;
    struct lf_error err = {0};
    if (sd_prompt_parse(r->prompt, r->syntax, &p, &err) != LF_OK)
        fail_msg("'%s': %s", r->prompt, err.message);
    size_t n = 0;
    while (n < MAX_RUNS && r->runs[n].text)
        n++;
    if (p.count != n) {
        for (size_t i = 0; i < p.count; i++)
            printf("  got run %zu: kind %d '%s' %g\n", i, p.runs[i].kind, p.runs[i].text,
                   p.runs[i].weight);
        fail_msg("'%s': %zu runs, expected %zu", r->prompt, p.count, n);
    }
    for (size_t i = 0; i < n; i++) {
        const struct sd_prompt_run *got = &p.runs[i];
        const struct want *w = &r->runs[i];
        if (got->kind != w->kind || strcmp(got->text, w->text) ||
            fabs(got->weight - w->weight) > 1e-6 * fmax(1.0, fabs(w->weight)))
            fail_msg("'%s' run %zu: got kind %d '%s' %.9g, expected kind %d '%s' %.9g", r->prompt,
                     i, got->kind, got->text, got->weight, w->kind, w->text, w->weight);
    }
    sd_prompt_free(&p);
}

static void table_rows(void **state)
{
    size_t rows = sizeof table / sizeof *table;
    assert_true(rows >= 40);
    for (size_t i = 0; i < rows; i++)
        check_row(&table[i]);
    printf("# %zu prompts\n", rows);
}

static char *repeat(const char *unit, size_t total)
{
    size_t n = strlen(unit);
    char *s = malloc(total + 1);
    for (size_t i = 0; i < total; i++)
        s[i] = unit[i % n];
    s[total] = '\0';
    return s;
}

/* 10,000 characters: plain text is one run, deep nesting neither crashes nor
** loses text, and many small weighted groups each get their weight. */
static void long_prompts(void **state)
{
    struct lf_error err = {0};
    struct sd_prompt p;

    char *plain = repeat("a cat, ", 10000);
    assert_int_equal(sd_prompt_parse(plain, SD_PROMPT_WEIGHTED, &p, &err), LF_OK);
    assert_int_equal(p.count, 1);
    assert_string_equal(p.runs[0].text, plain);
    sd_prompt_free(&p);
    free(plain);

    char *open = repeat("(", 10000);
    assert_int_equal(sd_prompt_parse(open, SD_PROMPT_WEIGHTED, &p, &err), LF_OK);
    assert_int_equal(p.count, 0);
    sd_prompt_free(&p);
    free(open);

    /* 4,999 '(' then "a" then ')' x 5,000: one unbalanced ')' stays text */
    char *deep = malloc(10001);
    memset(deep, '(', 4999);
    deep[4999] = 'a';
    memset(deep + 5000, ')', 5000);
    deep[10000] = '\0';
    assert_int_equal(sd_prompt_parse(deep, SD_PROMPT_WEIGHTED, &p, &err), LF_OK);
    assert_int_equal(p.count, 2);
    assert_string_equal(p.runs[0].text, "a");
    assert_true(p.runs[0].weight == FLT_MAX); /* 1.1^4999 saturates */
    assert_string_equal(p.runs[1].text, ")");
    assert_true(p.runs[1].weight == 1.0f);
    sd_prompt_free(&p);
    /* ... and a zero weight around it stays 0, not NaN */
    deep[9999] = '\0';
    char *zero = malloc(10010);
    snprintf(zero, 10010, "(%s:0)", deep);
    assert_int_equal(sd_prompt_parse(zero, SD_PROMPT_WEIGHTED, &p, &err), LF_OK);
    assert_int_equal(p.count, 1);
    assert_true(p.runs[0].weight == 0.0f);
    sd_prompt_free(&p);
    free(zero);
    free(deep);

    char *groups = repeat("(x:1.5) y BREAK ", 10000);
    assert_int_equal(sd_prompt_parse(groups, SD_PROMPT_WEIGHTED, &p, &err), LF_OK);
    size_t x = 0, y = 0, breaks = 0;
    for (size_t i = 0; i < p.count; i++) {
        if (p.runs[i].kind == SD_PROMPT_BREAK) breaks++;
        if (!strcmp(p.runs[i].text, "x") && p.runs[i].weight == 1.5f) x++;
        if (p.runs[i].kind == SD_PROMPT_TEXT && p.runs[i].weight == 1.0f) y++;
    }
    /* 625 whole units of 16 characters */
    assert_int_equal(x, 625);
    assert_int_equal(breaks, 625);
    assert_int_equal(y, 625);
    sd_prompt_free(&p);
    free(groups);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(table_rows),
        cmocka_unit_test(long_prompts),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
