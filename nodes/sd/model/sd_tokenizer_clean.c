/*
** sd_tokenizer_clean.c - CLIP's text clean-up before pre-tokenisation:
**   ftfy.fix_text with its default options, as far as it is defined per
**   character: HTML entities ending in ';' (only when the text does not hold
**   both '<' and '>'), Latin ligatures split, full-width forms narrowed,
**   curly quotes straightened, control characters removed, NFC; repeated
**   until nothing changes, as ftfy does;
**   then html.unescape twice, strip, every whitespace run -> one space,
**   strip, and Python's str.lower().
** Not replicated: ftfy's mojibake repair (a heuristic re-decoding of text
** that went through the wrong codec) and the full HTML5 entity table (only
** numeric references and amp/lt/gt/quot/apos/nbsp are decoded).
** "Whitespace" and "lower case" follow Python's definitions, read from
** utf8proc's Unicode tables.
*/
#include "sd_tokenizer_impl.h"

#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

struct cps {
    int32_t *v;
    size_t n, cap;
};

static int push(struct cps *c, int32_t cp)
{
    if (c->n == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 64;
        int32_t *v = realloc(c->v, cap * sizeof *v);
        if (!v) return -1;
        c->v = v;
        c->cap = cap;
    }
    c->v[c->n++] = cp;
    return 0;
}

static int decode(const uint8_t *s, size_t len, struct cps *out, size_t *bad_at)
{
    size_t i = 0;
    out->n = 0;
    while (i < len) {
        int32_t cp;
        utf8proc_ssize_t k = utf8proc_iterate(s + i, (utf8proc_ssize_t)(len - i), &cp);
        if (k <= 0) {
            *bad_at = i;
            return 1;
        }
        if (push(out, cp)) return -1;
        i += (size_t)k;
    }
    return 0;
}

/* UTF-8 of cps; malloc'ed, NUL-terminated. */
static char *encode(const struct cps *c)
{
    uint8_t *s = malloc(c->n * 4 + 1), *p = s;
    if (!s) return NULL;
    for (size_t i = 0; i < c->n; i++)
        p += utf8proc_encode_char(c->v[i], p);
    *p = '\0';
    return (char *)s;
}

/* Pushes the NFKC form of one code point (ligatures, full-width forms). */
static int push_nfkc(struct cps *out, int32_t cp)
{
    int32_t buf[8];
    int last = 0;
    utf8proc_ssize_t n =
        utf8proc_decompose_char(cp, buf, 8, UTF8PROC_DECOMPOSE | UTF8PROC_COMPAT, &last);
    if (n <= 0 || n > 8) return push(out, cp);
    /* Left decomposed: the NFC pass that follows recomposes. */
    for (utf8proc_ssize_t i = 0; i < n; i++)
        if (push(out, buf[i])) return -1;
    return 0;
}

static bool ftfy_control(int32_t c)
{
    return (c <= 0x08) || c == 0x0b || (c >= 0x0e && c <= 0x1f) || c == 0x7f ||
           (c >= 0x206a && c <= 0x206f) || c == 0xfeff || (c >= 0xfff9 && c <= 0xfffc) ||
           (c >= 0x1d173 && c <= 0x1d17a) || (c >= 0xe0000 && c <= 0xe007f);
}

/* ftfy splits only these Latin ligatures (not NFKC's longer list). */
static const char *latin_ligature(int32_t c)
{
    switch (c) {
    case 0x132:
        return "IJ";
    case 0x133:
        return "ij";
    case 0xfb00:
        return "ff";
    case 0xfb01:
        return "fi";
    case 0xfb02:
        return "fl";
    case 0xfb03:
        return "ffi";
    case 0xfb04:
        return "ffl";
    case 0xfb05:
        return "\xc5\xbft"; /* long s + t */
    case 0xfb06:
        return "st";
    default:
        return NULL;
    }
}

static int push_utf8(struct cps *out, const char *s)
{
    size_t len = strlen(s);
    while (len) {
        int32_t cp;
        utf8proc_ssize_t k = utf8proc_iterate((const uint8_t *)s, (utf8proc_ssize_t)len, &cp);
        if (k <= 0 || push(out, cp)) return -1;
        s += k;
        len -= (size_t)k;
    }
    return 0;
}

static int ftfy_chars(const struct cps *in, struct cps *out)
{
    out->n = 0;
    for (size_t i = 0; i < in->n; i++) {
        int32_t c = in->v[i];
        int r;
        if (ftfy_control(c)) continue;
        if (c == 0x2bc || (c >= 0x2018 && c <= 0x201b))
            r = push(out, '\'');
        else if (c >= 0x201c && c <= 0x201f)
            r = push(out, '"');
        else if (c == 0x3000)
            r = push(out, ' ');
        else if (latin_ligature(c))
            r = push_utf8(out, latin_ligature(c));
        else if (c >= 0xff01 && c <= 0xffef)
            r = push_nfkc(out, c);
        else
            r = push(out, c);
        if (r) return -1;
    }
    return 0;
}

/* ---- html.unescape ---- */

static int32_t cp1252_c1(int32_t n)
{
    static const uint16_t map[32] = {0x20ac, 0x81,   0x201a, 0x192,  0x201e, 0x2026, 0x2020, 0x2021,
                                     0x2c6,  0x2030, 0x160,  0x2039, 0x152,  0x8d,   0x17d,  0x8f,
                                     0x90,   0x2018, 0x2019, 0x201c, 0x201d, 0x2022, 0x2013, 0x2014,
                                     0x2dc,  0x2122, 0x161,  0x203a, 0x153,  0x9d,   0x17e,  0x178};
    return map[n - 0x80];
}

/* Python's html: code points a numeric reference may not produce (dropped). */
static bool invalid_ref(int64_t n)
{
    return (n >= 0x1 && n <= 0x8) || n == 0xb || (n >= 0xe && n <= 0x1f) ||
           (n >= 0x7f && n <= 0x9f) || (n >= 0xfdd0 && n <= 0xfdef) || (n & 0xfffe) == 0xfffe;
}

struct entity {
    const char *name;
    int32_t cp;
    bool legacy; /* also valid without ';' */
};

static const struct entity entities[] = {
    {"amp", '&', true},  {"lt", '<', true},     {"gt", '>', true},
    {"quot", '"', true}, {"apos", '\'', false}, {"nbsp", 0xa0, true},
};

/* Decodes the reference at in->v[i] == '&'; returns the code units consumed
** (0: not a reference) and pushes its replacement.  strict: ftfy's rule,
** only references that end in ';'; otherwise Python's html.unescape rules. */
static size_t unescape_one(const struct cps *in, size_t i, struct cps *out, bool strict, int *fail)
{
    size_t j = i + 1;
    if (j < in->n && in->v[j] == '#') {
        bool hex = j + 1 < in->n && (in->v[j + 1] == 'x' || in->v[j + 1] == 'X');
        int64_t n = 0;
        size_t digits = 0;
        j += hex ? 2 : 1;
        for (; j < in->n; j++, digits++) {
            int32_t c = in->v[j];
            int d = (c >= '0' && c <= '9')          ? c - '0'
                    : hex && (c >= 'a' && c <= 'f') ? c - 'a' + 10
                    : hex && (c >= 'A' && c <= 'F') ? c - 'A' + 10
                                                    : -1;
            if (d < 0) break;
            if (n <= 0x10ffff) n = n * (hex ? 16 : 10) + d;
        }
        if (!digits) return 0;
        if (j < in->n && in->v[j] == ';') j++;
        if (n == 0)
            *fail = push(out, 0xfffd);
        else if (n == 0x0d)
            *fail = push(out, '\r');
        else if (n >= 0x80 && n <= 0x9f)
            *fail = push(out, cp1252_c1((int32_t)n));
        else if ((n >= 0xd800 && n <= 0xdfff) || n > 0x10ffff)
            *fail = push(out, 0xfffd);
        else if (!invalid_ref(n))
            *fail = push(out, (int32_t)n);
        return j - i;
    }
    for (size_t e = 0; e < sizeof entities / sizeof entities[0]; e++) {
        size_t len = strlen(entities[e].name), k;
        for (k = 0; k < len && j + k < in->n && in->v[j + k] == entities[e].name[k]; k++)
            ;
        if (k < len) continue;
        if (j + len < in->n && in->v[j + len] == ';') {
            *fail = push(out, entities[e].cp);
            return len + 2;
        }
        /* Without ';' only legacy names count, as a prefix of whatever
        ** follows ("&ampx" -> "&x"); none of ours is a prefix of another. */
        if (entities[e].legacy && !strict) {
            *fail = push(out, entities[e].cp);
            return len + 1;
        }
    }
    return 0;
}

static int html_unescape(const struct cps *in, struct cps *out, bool strict)
{
    out->n = 0;
    for (size_t i = 0; i < in->n;) {
        int fail = 0;
        size_t used = in->v[i] == '&' ? unescape_one(in, i, out, strict, &fail) : 0;
        if (fail) return -1;
        if (used) {
            i += used;
            continue;
        }
        if (push(out, in->v[i++])) return -1;
    }
    return 0;
}

/* ---- whitespace and case, as Python's str.isspace() / str.lower() ---- */

static bool py_space(int32_t c)
{
    const utf8proc_property_t *p;
    if (c < 0x80) return (c >= 0x09 && c <= 0x0d) || (c >= 0x1c && c <= 0x20);
    p = utf8proc_get_property(c);
    return p->category == UTF8PROC_CATEGORY_ZS || p->bidi_class == UTF8PROC_BIDI_CLASS_WS ||
           p->bidi_class == UTF8PROC_BIDI_CLASS_B || p->bidi_class == UTF8PROC_BIDI_CLASS_S;
}

static int collapse_space(const struct cps *in, struct cps *out)
{
    bool pending = false;
    out->n = 0;
    for (size_t i = 0; i < in->n; i++) {
        if (py_space(in->v[i])) {
            pending = out->n > 0; /* leading space is stripped */
            continue;
        }
        if ((pending && push(out, ' ')) || push(out, in->v[i])) return -1;
        pending = false;
    }
    return 0;
}

static bool cased(int32_t c)
{
    utf8proc_category_t cat = utf8proc_category(c);
    return cat == UTF8PROC_CATEGORY_LU || cat == UTF8PROC_CATEGORY_LL ||
           cat == UTF8PROC_CATEGORY_LT || utf8proc_tolower(c) != c || utf8proc_toupper(c) != c;
}

static bool case_ignorable(int32_t c)
{
    switch (utf8proc_category(c)) {
    case UTF8PROC_CATEGORY_MN:
    case UTF8PROC_CATEGORY_ME:
    case UTF8PROC_CATEGORY_CF:
    case UTF8PROC_CATEGORY_LM:
    case UTF8PROC_CATEGORY_SK:
        return true;
    default:
        break;
    }
    /* Word_Break MidLetter / MidNumLet / Single_Quote. */
    return c == '\'' || c == '.' || c == ':' || c == 0xb7 || c == 0x387 || c == 0x55f ||
           c == 0x5f4 || c == 0x2018 || c == 0x2019 || c == 0x2024 || c == 0x2027 || c == 0xfe13 ||
           c == 0xfe52 || c == 0xfe55 || c == 0xff07 || c == 0xff0e || c == 0xff1a;
}

/* Python lower-cases a capital sigma to final sigma when it ends a word:
** a cased letter before it and none after (skipping case-ignorables). */
static bool final_sigma(const struct cps *in, size_t i)
{
    size_t j = i;
    while (j > 0 && case_ignorable(in->v[j - 1]))
        j--;
    if (j == 0 || !cased(in->v[j - 1])) return false;
    for (j = i + 1; j < in->n && case_ignorable(in->v[j]); j++)
        ;
    return j == in->n || !cased(in->v[j]);
}

static int lower(const struct cps *in, struct cps *out)
{
    out->n = 0;
    for (size_t i = 0; i < in->n; i++) {
        int32_t c = in->v[i];
        int r;
        if (c == 0x130) /* the one unconditional multi-character lower case */
            r = push(out, 'i') || push(out, 0x307);
        else if (c == 0x3a3)
            r = push(out, final_sigma(in, i) ? 0x3c2 : 0x3c3);
        else
            r = push(out, utf8proc_tolower(c));
        if (r) return -1;
    }
    return 0;
}

static void swap(struct cps *a, struct cps *b)
{
    struct cps t = *a;
    *a = *b;
    *b = t;
}

/* NFC of a, in place (b is scratch).  a holds valid code points, so only
** memory can fail. */
static int nfc(struct cps *a)
{
    char *s = encode(a);
    uint8_t *n = NULL;
    size_t bad;
    int r = -1;
    if (s && utf8proc_map((const uint8_t *)s, 0, &n,
                          UTF8PROC_NULLTERM | UTF8PROC_STABLE | UTF8PROC_COMPOSE) >= 0)
        r = decode(n, strlen((char *)n), a, &bad) ? -1 : 0;
    free(s);
    free(n);
    return r;
}

/* ftfy.fix_text: its steps in its order, repeated until the text stops
** changing (ftfy's own loop; bounded here). */
static int ftfy(struct cps *a, struct cps *b, struct cps *prev)
{
    bool lt = false, gt = false;
    for (size_t i = 0; i < a->n; i++) {
        lt |= a->v[i] == '<';
        gt |= a->v[i] == '>';
    }
    /* Text with both angle brackets may be HTML: ftfy leaves its entities. */
    bool entities = !(lt && gt);
    for (int round = 0; round < 8; round++) {
        prev->n = 0;
        for (size_t i = 0; i < a->n; i++)
            if (push(prev, a->v[i])) return -1;
        if (entities) {
            if (html_unescape(a, b, true)) return -1;
            swap(a, b);
        }
        if (ftfy_chars(a, b)) return -1;
        swap(a, b);
        if (nfc(a)) return -1;
        if (a->n == prev->n && (!a->n || !memcmp(a->v, prev->v, a->n * sizeof *a->v))) break;
    }
    return 0;
}

enum lf_status lf_tok_clean_text(const char *text, char **out, struct lf_error *err)
{
    struct cps a = {0}, b = {0}, c = {0};
    size_t bad = 0;
    char *s = NULL;
    int r = decode((const uint8_t *)text, strlen(text), &a, &bad);
    if (r > 0) {
        free(a.v);
        return lf_error_set(err, LF_ERR_INVALID, "text is not valid UTF-8 (byte %zu)", bad);
    }
    /* CLIP: ftfy, html.unescape(html.unescape(.)), whitespace, lower(). */
    if (r || ftfy(&a, &b, &c) || html_unescape(&a, &b, false) || html_unescape(&b, &a, false) ||
        collapse_space(&a, &b) || lower(&b, &a) || !(s = encode(&a))) {
        free(a.v);
        free(b.v);
        free(c.v);
        return lf_error_set(err, LF_ERR_OUT_OF_MEMORY, "tokenizer: out of memory");
    }
    free(a.v);
    free(b.v);
    free(c.v);
    *out = s;
    return LF_OK;
}
