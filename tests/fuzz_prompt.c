/*
** fuzz_prompt.c - libFuzzer harness for the prompt parser (sd_prompt.c):
** every input (up to its first NUL, as TextEncode passes it) is parsed in
** both syntaxes and the runs are checked against sd_prompt.h's contract:
** no empty text run, neighbouring text runs of equal weight merged, weights
** finite, BREAK at weight 1, embedding names free of the characters that
** end them, no more text out than in, everything at weight 1 in the literal
** syntax, and both syntaxes agreeing on text without brackets or
** backslashes.  Built when meson option `fuzz` is true (clang only); see
** tests/fuzz/README.md.
*/
#include "sd_prompt.h"

#include <float.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool ends_name(char c)
{
    return strchr(" \t\n\r\f\v,()[]:\\", c) != NULL;
}

/* The contract every parse keeps; returns the bytes of text it holds. */
static size_t check(const struct sd_prompt *p, enum sd_prompt_syntax syntax)
{
    size_t bytes = 0;
    if ((p->count == 0) != (p->runs == NULL)) abort();
    for (size_t i = 0; i < p->count; i++) {
        const struct sd_prompt_run *r = &p->runs[i];
        if (!r->text || !isfinite(r->weight) || fabsf(r->weight) > FLT_MAX) abort();
        size_t n = strlen(r->text);
        bytes += n;
        switch (r->kind) {
        case SD_PROMPT_TEXT:
            if (n == 0) abort();
            if (syntax == SD_PROMPT_LITERAL && r->weight != 1.0f) abort();
            if (i > 0 && p->runs[i - 1].kind == SD_PROMPT_TEXT &&
                p->runs[i - 1].weight == r->weight)
                abort(); /* equal neighbours are merged */
            break;
        case SD_PROMPT_BREAK:
            if (n != 0 || r->weight != 1.0f) abort();
            break;
        case SD_PROMPT_EMBEDDING:
            if (n == 0) abort();
            for (size_t k = 0; k < n; k++)
                if (ends_name(r->text[k])) abort();
            if (syntax == SD_PROMPT_LITERAL && r->weight != 1.0f) abort();
            break;
        default:
            abort();
        }
    }
    return bytes;
}

static bool same(const struct sd_prompt *a, const struct sd_prompt *b)
{
    if (a->count != b->count) return false;
    for (size_t i = 0; i < a->count; i++)
        if (a->runs[i].kind != b->runs[i].kind || a->runs[i].weight != b->runs[i].weight ||
            strcmp(a->runs[i].text, b->runs[i].text) != 0)
            return false;
    return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);
    if (!text) return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    size_t len = strlen(text);
    struct sd_prompt weighted, literal;
    struct lf_error err = {0};
    if (sd_prompt_parse(text, SD_PROMPT_WEIGHTED, &weighted, &err) != LF_OK) abort();
    if (sd_prompt_parse(text, SD_PROMPT_LITERAL, &literal, &err) != LF_OK) abort();
    if (check(&weighted, SD_PROMPT_WEIGHTED) > len || check(&literal, SD_PROMPT_LITERAL) > len)
        abort();
    /* Without brackets or backslashes there is nothing to weight. */
    if (!strpbrk(text, "()[]\\") && !same(&weighted, &literal)) abort();
    sd_prompt_free(&weighted);
    sd_prompt_free(&literal);
    if (weighted.runs || weighted.count) abort(); /* freed means zeroed */
    free(text);
    return 0;
}
