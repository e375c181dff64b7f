/*
** sd_prompt.c - the prompt parser (see sd_prompt.h).
**
** Three passes: scan the text into pieces of literal text with weights
** (brackets multiply the weights of the pieces they enclose), merge
** neighbouring pieces of equal weight, then split each merged text at BREAK
** and embedding:NAME.
*/
#include "sd_prompt.h"

#include <float.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define ROUND_FACTOR  1.1
#define SQUARE_FACTOR (1.0 / 1.1)

#define EMBEDDING_PREFIX "embedding:"
#define BREAK_WORD       "BREAK"

struct piece {
    size_t start, len; /* bytes in the scanner's buffer */
    double weight;
};

struct scanner {
    char *buf; /* literal text of every piece, back to back */
    size_t buf_len;
    struct piece *pieces;
    size_t count, cap;
    size_t *round, *square; /* open brackets: index of the first piece inside */
    size_t n_round, n_square;
    bool oom;
};

static void add_text(struct scanner *s, const char *p, size_t n)
{
    if (n == 0 || s->oom) return;
    if (s->count == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 16;
        struct piece *grown = realloc(s->pieces, cap * sizeof *grown);
        if (!grown) {
            s->oom = true;
            return;
        }
        s->pieces = grown, s->cap = cap;
    }
    memcpy(s->buf + s->buf_len, p, n);
    s->pieces[s->count++] = (struct piece){s->buf_len, n, 1.0};
    s->buf_len += n;
}

/* Weights stay within float range, so deep nesting saturates instead of
** reaching infinity (and 0 * infinity). */
static void multiply_from(struct scanner *s, size_t first, double factor)
{
    for (size_t i = first; i < s->count; i++) {
        double w = s->pieces[i].weight * factor;
        s->pieces[i].weight = w > FLT_MAX ? FLT_MAX : w < -FLT_MAX ? -FLT_MAX : w;
    }
}

/* At p (just after ':'): white space, a number of [+-.0-9], white space and
** ')'.  Returns the length consumed including the ')', or 0. */
static size_t weight_suffix(const char *p, double *value)
{
    size_t i = 0;
    while (p[i] == ' ' || p[i] == '\t' || p[i] == '\n' || p[i] == '\r')
        i++;
    size_t num = i;
    while (p[i] == '+' || p[i] == '-' || p[i] == '.' || (p[i] >= '0' && p[i] <= '9'))
        i++;
    if (i == num) return 0;
    char text[64];
    size_t n = i - num;
    if (n >= sizeof text) return 0;
    memcpy(text, p + num, n);
    text[n] = '\0';
    char *end;
    *value = strtod(text, &end);
    if (*end || end == text) return 0;
    while (p[i] == ' ' || p[i] == '\t' || p[i] == '\n' || p[i] == '\r')
        i++;
    return p[i] == ')' ? i + 1 : 0;
}

static bool special(char c)
{
    return c == '\\' || c == '(' || c == ')' || c == '[' || c == ']' || c == ':';
}

/* One syntax element at text[i]; returns the bytes consumed. */
static size_t scan_one(struct scanner *s, const char *text, size_t i)
{
    const char *p = text + i;
    double w;
    size_t n;
    switch (*p) {
    case '\\':
        if (p[1] && special(p[1]) && p[1] != ':') {
            add_text(s, p + 1, 1);
            return 2;
        }
        add_text(s, p, 1);
        return 1;
    case '(':
        s->round[s->n_round++] = s->count;
        return 1;
    case '[':
        s->square[s->n_square++] = s->count;
        return 1;
    case ':':
        if (s->n_round && (n = weight_suffix(p + 1, &w)) > 0) {
            multiply_from(s, s->round[--s->n_round], w);
            return n + 1;
        }
        add_text(s, p, 1);
        return 1;
    case ')':
        if (s->n_round)
            multiply_from(s, s->round[--s->n_round], ROUND_FACTOR);
        else
            add_text(s, p, 1);
        return 1;
    case ']':
        if (s->n_square)
            multiply_from(s, s->square[--s->n_square], SQUARE_FACTOR);
        else
            add_text(s, p, 1);
        return 1;
    default:
        for (n = 0; p[n] && !special(p[n]); n++) {
        }
        add_text(s, p, n);
        return n;
    }
}

static void scan(struct scanner *s, const char *text, size_t len, enum sd_prompt_syntax syntax)
{
    if (syntax == SD_PROMPT_LITERAL) {
        add_text(s, text, len);
        return;
    }
    for (size_t i = 0; i < len && !s->oom;)
        i += scan_one(s, text, i);
    /* Brackets still open weight everything after them (AUTOMATIC1111). */
    while (s->n_round)
        multiply_from(s, s->round[--s->n_round], ROUND_FACTOR);
    while (s->n_square)
        multiply_from(s, s->square[--s->n_square], SQUARE_FACTOR);
}

/* ---- splitting merged text at BREAK and embedding:NAME ---- */

static bool word_char(unsigned char c)
{
    return c >= 0x80 || c == '_' || (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
           (c >= 'A' && c <= 'Z');
}

static bool space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

static bool name_end(char c)
{
    return !c || space(c) || c == ',' || c == '(' || c == ')' || c == '[' || c == ']' || c == ':' ||
           c == '\\';
}

static bool emit(struct sd_prompt *out, enum sd_prompt_kind kind, const char *text, size_t n,
                 float weight)
{
    if (kind == SD_PROMPT_TEXT && n == 0) return true;
    if (kind == SD_PROMPT_TEXT && out->count && out->runs[out->count - 1].kind == SD_PROMPT_TEXT &&
        out->runs[out->count - 1].weight == weight) {
        struct sd_prompt_run *r = &out->runs[out->count - 1];
        size_t have = strlen(r->text);
        char *grown = realloc(r->text, have + n + 1);
        if (!grown) return false;
        memcpy(grown + have, text, n);
        grown[have + n] = '\0';
        r->text = grown;
        return true;
    }
    struct sd_prompt_run *runs = realloc(out->runs, (out->count + 1) * sizeof *runs);
    if (!runs) return false;
    out->runs = runs;
    char *copy = malloc(n + 1);
    if (!copy) return false;
    memcpy(copy, text, n);
    copy[n] = '\0';
    out->runs[out->count++] = (struct sd_prompt_run){kind, copy, weight};
    return true;
}

/* Length of an embedding reference at t[i] (prefix + name), or 0. */
static size_t embedding_at(const char *t, size_t i, size_t len)
{
    size_t plen = sizeof EMBEDDING_PREFIX - 1;
    if (len - i <= plen || memcmp(t + i, EMBEDDING_PREFIX, plen) ||
        (i > 0 && word_char((unsigned char)t[i - 1])))
        return 0;
    size_t n = i + plen;
    while (n < len && !name_end(t[n]))
        n++;
    return n > i + plen ? n - i : 0;
}

static bool break_at(const char *t, size_t i, size_t len)
{
    size_t blen = sizeof BREAK_WORD - 1;
    return len - i >= blen && !memcmp(t + i, BREAK_WORD, blen) &&
           (i == 0 || !word_char((unsigned char)t[i - 1])) &&
           (i + blen == len || !word_char((unsigned char)t[i + blen]));
}

static bool split(struct sd_prompt *out, const char *t, size_t len, float weight)
{
    size_t start = 0;
    for (size_t i = 0; i < len;) {
        size_t e = embedding_at(t, i, len);
        if (e) {
            size_t plen = sizeof EMBEDDING_PREFIX - 1;
            if (!emit(out, SD_PROMPT_TEXT, t + start, i - start, weight) ||
                !emit(out, SD_PROMPT_EMBEDDING, t + i + plen, e - plen, weight))
                return false;
            start = i = i + e;
        } else if (break_at(t, i, len)) {
            size_t before = i, after = i + sizeof BREAK_WORD - 1;
            while (before > start && space(t[before - 1]))
                before--;
            while (after < len && space(t[after]))
                after++;
            if (!emit(out, SD_PROMPT_TEXT, t + start, before - start, weight) ||
                !emit(out, SD_PROMPT_BREAK, "", 0, 1.0f))
                return false;
            start = i = after;
        } else {
            i++;
        }
    }
    return emit(out, SD_PROMPT_TEXT, t + start, len - start, weight);
}

enum lf_status sd_prompt_parse(const char *text, enum sd_prompt_syntax syntax,
                               struct sd_prompt *out, struct lf_error *err)
{
    memset(out, 0, sizeof *out);
    size_t len = strlen(text);
    struct scanner s = {0};
    s.buf = malloc(len + 1);
    s.round = malloc((len + 1) * sizeof *s.round);
    s.square = malloc((len + 1) * sizeof *s.square);
    bool ok = s.buf && s.round && s.square;
    if (ok) scan(&s, text, len, syntax);
    ok = ok && !s.oom;
    /* Merge neighbours of equal weight, then split each merged text. */
    for (size_t i = 0; ok && i < s.count;) {
        size_t j = i + 1, merged = s.pieces[i].len;
        while (j < s.count && s.pieces[j].weight == s.pieces[i].weight)
            merged += s.pieces[j++].len;
        /* pieces are contiguous in buf, so the merged text is one span */
        ok = split(out, s.buf + s.pieces[i].start, merged, (float)s.pieces[i].weight);
        i = j;
    }
    free(s.buf), free(s.pieces), free(s.round), free(s.square);
    if (!ok) {
        sd_prompt_free(out);
        return lf_error_set(err, LF_ERR_OUT_OF_MEMORY, "prompt: out of memory");
    }
    return LF_OK;
}

void sd_prompt_free(struct sd_prompt *prompt)
{
    for (size_t i = 0; i < prompt->count; i++)
        free(prompt->runs[i].text);
    free(prompt->runs);
    memset(prompt, 0, sizeof *prompt);
}
