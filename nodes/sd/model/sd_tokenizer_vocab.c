/*
** sd_tokenizer_vocab.c - reads a CLIP BPE vocabulary in either layout:
**   - Hugging Face: vocab.json (token -> id) + merges.txt ("#version" header
**     line, then one merge "a b" a line, rank = line index - 1);
**   - openai: bpe_simple_vocab_16e6.txt.gz (a header line, then merges); the
**     vocabulary is implied: the 256 byte symbols, the same with "</w>", one
**     token per merge (the halves joined), <|startoftext|>, <|endoftext|>.
** Both keep only the first 49152 - 256 - 2 merges, as CLIP does.
*/
#include "sd_tokenizer_impl.h"
#include "lcmflow/file.h"

#include <errno.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#define MAX_MERGES     (49152 - 256 - 2)
#define MAX_FILE_BYTES ((size_t)256 << 20) /* after decompression */
#define MAX_TOKEN_ID   (1 << 20)           /* CLIP has 49408; this bounds allocations */
#define MAX_TOKEN_LEN  1024
#define BOS_TEXT       "<|startoftext|>"
#define EOS_TEXT       "<|endoftext|>"
#define EOW            "</w>"

void lf_tok_byte_table(uint32_t byte_cp[256], uint8_t byte_order[256])
{
    int n = 0, extra = 0;
    /* Printable Latin-1 bytes stand for themselves, in byte order... */
    for (int b = 0; b < 256; b++)
        if ((b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || b >= 0xae) {
            byte_cp[b] = (uint32_t)b;
            byte_order[n++] = (uint8_t)b;
        }
    /* ...the rest (controls, space, 0x7f-0xa0, soft hyphen) move past U+00FF. */
    for (int b = 0; b < 256; b++)
        if (!((b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || b >= 0xae)) {
            byte_cp[b] = 256u + (uint32_t)extra++;
            byte_order[n++] = (uint8_t)b;
        }
}

/* UTF-8 of a code point below U+0800 (all the byte table needs). */
static size_t utf8_small(uint32_t cp, char *out)
{
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    out[0] = (char)(0xc0 | (cp >> 6));
    out[1] = (char)(0x80 | (cp & 0x3f));
    return 2;
}

/* Reads a whole file, gunzipping it if it is gzipped (zlib passes plain files
** through).  *data is malloc'ed and NUL-terminated. */
static enum lf_status read_all(const char *path, char **data, size_t *len, struct lf_error *err)
{
    int fd = lf_open_regular(path, "vocabulary", err);
    if (fd < 0) return err ? err->code : LF_ERR_IO;
    gzFile f = gzdopen(fd, "rb");
    size_t cap = 1 << 20, n = 0;
    char *buf;
    int errnum = Z_OK;
    if (!f) {
        close(fd);
        return lf_error_set(err, LF_ERR_OUT_OF_MEMORY, "%s: out of memory", path);
    }
    buf = malloc(cap + 1);
    for (;;) {
        int got;
        if (!buf) {
            gzclose(f);
            return lf_error_set(err, LF_ERR_OUT_OF_MEMORY, "%s: out of memory", path);
        }
        if (n == cap) {
            char *bigger;
            if (cap >= MAX_FILE_BYTES) {
                free(buf);
                gzclose(f);
                return lf_error_set(err, LF_ERR_FORMAT, "%s: larger than %zu MiB, not a vocabulary",
                                    path, MAX_FILE_BYTES >> 20);
            }
            cap *= 2;
            bigger = realloc(buf, cap + 1);
            if (!bigger) free(buf);
            buf = bigger;
            continue;
        }
        got = gzread(f, buf + n, (unsigned)(cap - n < (1u << 30) ? cap - n : (1u << 30)));
        if (got <= 0) break;
        n += (size_t)got;
    }
    const char *msg = gzerror(f, &errnum);
    if (errnum != Z_OK && errnum != Z_STREAM_END) {
        enum lf_status st =
            lf_error_set(err, errnum == Z_ERRNO ? LF_ERR_IO : LF_ERR_FORMAT, "%s: cannot read: %s",
                         path, errnum == Z_ERRNO ? strerror(errno) : msg);
        free(buf);
        gzclose(f);
        return st;
    }
    gzclose(f);
    buf[n] = '\0';
    *data = buf;
    *len = n;
    return LF_OK;
}

/* One merge line, split in place. */
struct merge_line {
    const char *a, *b;
    size_t a_len, b_len;
    int line;
};

/* Splits text into merge lines.  The first line is a header (skipped);
** empty lines are skipped; at most MAX_MERGES merges are kept. */
static enum lf_status split_merges(const char *path, char *text, size_t len, bool header,
                                   struct merge_line **out, size_t *count, struct lf_error *err)
{
    struct merge_line *m = malloc(MAX_MERGES * sizeof *m);
    size_t n = 0;
    int line = 0;
    char *p = text, *end = text + len;
    if (!m) return lf_error_set(err, LF_ERR_OUT_OF_MEMORY, "%s: out of memory", path);
    while (p < end && n < MAX_MERGES) {
        char *nl = memchr(p, '\n', (size_t)(end - p));
        char *eol = nl ? nl : end;
        char *sp;
        line++;
        if (eol > p && eol[-1] == '\r') eol--;
        if ((line == 1 && header) || eol == p) goto next;
        sp = memchr(p, ' ', (size_t)(eol - p));
        if (!sp || sp == p || sp + 1 == eol || memchr(sp + 1, ' ', (size_t)(eol - sp - 1)) ||
            (size_t)(eol - p) > MAX_TOKEN_LEN) {
            free(m);
            return lf_error_set_at(err, LF_ERR_FORMAT, path, line, 0,
                                   "expected a merge 'a b' (two symbols, one space)");
        }
        m[n++] = (struct merge_line){p, sp + 1, (size_t)(sp - p), (size_t)(eol - sp - 1), line};
    next:
        p = nl ? nl + 1 : end;
    }
    *out = m;
    *count = n;
    return LF_OK;
}

static enum lf_status oom(const char *path, struct lf_error *err)
{
    return lf_error_set(err, LF_ERR_OUT_OF_MEMORY, "%s: out of memory", path);
}

static long find_id(const struct sd_tokenizer *tok, const char *s, size_t len)
{
    long e = lf_tok_strmap_find(&tok->vocab, s, len);
    return e < 0 ? -1 : (long)tok->vocab.entries[e].value;
}

/* Turns merge lines into the pair table; every symbol and every joined
** result must be in the vocabulary (CLIP would fail on them later). */
static enum lf_status resolve_merges(struct sd_tokenizer *tok, const char *path,
                                     const struct merge_line *m, size_t n, struct lf_error *err)
{
    char joined[2 * MAX_TOKEN_LEN];
    for (size_t i = 0; i < n; i++) {
        long a = find_id(tok, m[i].a, m[i].a_len), b = find_id(tok, m[i].b, m[i].b_len), ab;
        memcpy(joined, m[i].a, m[i].a_len);
        memcpy(joined + m[i].a_len, m[i].b, m[i].b_len);
        ab = find_id(tok, joined, m[i].a_len + m[i].b_len);
        if (a < 0 || b < 0 || ab < 0) {
            const char *what = a < 0 ? m[i].a : b < 0 ? m[i].b : joined;
            int what_len = (int)(a < 0 ? m[i].a_len : b < 0 ? m[i].b_len : m[i].a_len + m[i].b_len);
            return lf_error_set_at(err, LF_ERR_FORMAT, path, m[i].line, 0,
                                   "merge symbol '%.*s' is not in the vocabulary", what_len, what);
        }
        if (lf_tok_pairmap_put(&tok->merges, (int32_t)a, (int32_t)b, (uint32_t)i, (int32_t)ab))
            return oom(path, err);
    }
    tok->n_merges = n;
    return LF_OK;
}

/* id -> vocabulary entry, then the special tokens and the byte symbols. */
static enum lf_status index_vocab(struct sd_tokenizer *tok, const char *path, struct lf_error *err)
{
    uint32_t byte_cp[256];
    uint8_t order[256];
    long bos, eos;
    tok->n_ids = 0;
    for (size_t i = 0; i < tok->vocab.count; i++)
        if (tok->vocab.entries[i].value + 1 > tok->n_ids)
            tok->n_ids = (size_t)tok->vocab.entries[i].value + 1;
    tok->id_entry = malloc((tok->n_ids ? tok->n_ids : 1) * sizeof *tok->id_entry);
    if (!tok->id_entry) return oom(path, err);
    for (size_t i = 0; i < tok->n_ids; i++)
        tok->id_entry[i] = -1;
    for (size_t i = 0; i < tok->vocab.count; i++)
        tok->id_entry[tok->vocab.entries[i].value] = (long)i;

    bos = find_id(tok, BOS_TEXT, strlen(BOS_TEXT));
    eos = find_id(tok, EOS_TEXT, strlen(EOS_TEXT));
    if (bos < 0 || eos < 0)
        return lf_error_set(err, LF_ERR_FORMAT, "%s: the vocabulary has no '%s' token", path,
                            bos < 0 ? BOS_TEXT : EOS_TEXT);
    tok->bos = (int32_t)bos;
    tok->eos = (int32_t)eos;

    lf_tok_byte_table(byte_cp, order);
    for (int b = 0; b < 256; b++) {
        char s[8];
        size_t n = utf8_small(byte_cp[b], s);
        long plain = find_id(tok, s, n), eow;
        memcpy(s + n, EOW, 4);
        eow = find_id(tok, s, n + 4);
        if (plain < 0 || eow < 0)
            return lf_error_set(err, LF_ERR_FORMAT,
                                "%s: the vocabulary has no token '%.*s' for byte 0x%02x", path,
                                (int)(plain < 0 ? n : n + 4), s, b);
        tok->byte_id[b] = (int32_t)plain;
        tok->byte_eow_id[b] = (int32_t)eow;
    }
    return LF_OK;
}

static enum lf_status parse_vocab_json(struct sd_tokenizer *tok, const char *path, const char *text,
                                       size_t len, struct lf_error *err)
{
    struct json_tokener *jt = json_tokener_new();
    struct json_object *root;
    enum json_tokener_error jerr;
    enum lf_status st = LF_OK;
    if (!jt) return oom(path, err);
    root = json_tokener_parse_ex(jt, text, (int)len);
    jerr = json_tokener_get_error(jt);
    if (jerr != json_tokener_success || !root) {
        /* json_tokener_continue: the text ended inside a value. */
        st = lf_error_set(err, LF_ERR_FORMAT, "%s: not valid JSON (byte %zu): %s", path,
                          json_tokener_get_parse_end(jt),
                          jerr == json_tokener_continue ? "unexpected end of file"
                                                        : json_tokener_error_desc(jerr));
        goto done;
    }
    for (size_t i = json_tokener_get_parse_end(jt); i < len; i++)
        if (!strchr(" \t\r\n", text[i])) {
            st = lf_error_set(err, LF_ERR_FORMAT, "%s: not valid JSON (byte %zu): trailing data",
                              path, i);
            goto done;
        }
    if (!json_object_is_type(root, json_type_object)) {
        st = lf_error_set(err, LF_ERR_FORMAT,
                          "%s: expected a JSON object mapping tokens to ids, found %s", path,
                          json_type_to_name(json_object_get_type(root)));
        goto done;
    }
    struct json_object_iterator it = json_object_iter_begin(root);
    struct json_object_iterator end = json_object_iter_end(root);
    for (; !json_object_iter_equal(&it, &end); json_object_iter_next(&it)) {
        const char *key = json_object_iter_peek_name(&it);
        struct json_object *v = json_object_iter_peek_value(&it);
        int64_t id;
        if (!json_object_is_type(v, json_type_int) || (id = json_object_get_int64(v)) < 0 ||
            id >= MAX_TOKEN_ID) {
            st = lf_error_set(err, LF_ERR_FORMAT,
                              "%s: token '%s' has id %s; expected an integer 0..%d", path, key,
                              json_object_to_json_string(v), MAX_TOKEN_ID - 1);
            goto done;
        }
        if (lf_tok_strmap_put(&tok->vocab, key, strlen(key), (uint64_t)id, NULL)) {
            st = oom(path, err);
            goto done;
        }
    }
    if (!tok->vocab.count)
        st = lf_error_set(err, LF_ERR_FORMAT, "%s: the vocabulary is empty", path);
done:
    json_object_put(root);
    json_tokener_free(jt);
    return st;
}

enum lf_status lf_tok_load_hf(struct sd_tokenizer *tok, const char *vocab_path,
                              const char *merges_path, struct lf_error *err)
{
    char *text = NULL;
    size_t len;
    struct merge_line *m = NULL;
    size_t n = 0;
    enum lf_status st = read_all(vocab_path, &text, &len, err);
    if (st == LF_OK) st = parse_vocab_json(tok, vocab_path, text, len, err);
    free(text);
    text = NULL;
    if (st == LF_OK) st = index_vocab(tok, vocab_path, err);
    if (st == LF_OK) st = read_all(merges_path, &text, &len, err);
    if (st == LF_OK)
        st = split_merges(merges_path, text, len, len > 0 && text[0] == '#', &m, &n, err);
    if (st == LF_OK) st = resolve_merges(tok, merges_path, m, n, err);
    free(m);
    free(text);
    return st;
}

/* The openai layout's vocabulary, in CLIP's order. */
static enum lf_status build_openai_vocab(struct sd_tokenizer *tok, const char *path,
                                         const struct merge_line *m, size_t n, struct lf_error *err)
{
    uint32_t byte_cp[256];
    uint8_t order[256];
    char s[2 * MAX_TOKEN_LEN];
    uint64_t id = 0;
    lf_tok_byte_table(byte_cp, order);
    for (int eow = 0; eow < 2; eow++)
        for (int i = 0; i < 256; i++) {
            size_t len = utf8_small(byte_cp[order[i]], s);
            if (eow) {
                memcpy(s + len, EOW, 4);
                len += 4;
            }
            if (lf_tok_strmap_put(&tok->vocab, s, len, id++, NULL)) return oom(path, err);
        }
    for (size_t i = 0; i < n; i++) {
        memcpy(s, m[i].a, m[i].a_len);
        memcpy(s + m[i].a_len, m[i].b, m[i].b_len);
        if (lf_tok_strmap_put(&tok->vocab, s, m[i].a_len + m[i].b_len, id++, NULL))
            return oom(path, err);
    }
    if (lf_tok_strmap_put(&tok->vocab, BOS_TEXT, strlen(BOS_TEXT), id++, NULL) ||
        lf_tok_strmap_put(&tok->vocab, EOS_TEXT, strlen(EOS_TEXT), id++, NULL))
        return oom(path, err);
    return LF_OK;
}

enum lf_status lf_tok_load_openai(struct sd_tokenizer *tok, const char *bpe_path,
                                  struct lf_error *err)
{
    char *text = NULL;
    size_t len;
    struct merge_line *m = NULL;
    size_t n = 0;
    enum lf_status st = read_all(bpe_path, &text, &len, err);
    if (st == LF_OK) st = split_merges(bpe_path, text, len, true, &m, &n, err);
    if (st == LF_OK && n == 0)
        st = lf_error_set(err, LF_ERR_FORMAT, "%s: no merges (is this a CLIP BPE file?)", bpe_path);
    if (st == LF_OK) st = build_openai_vocab(tok, bpe_path, m, n, err);
    if (st == LF_OK) st = index_vocab(tok, bpe_path, err);
    if (st == LF_OK) st = resolve_merges(tok, bpe_path, m, n, err);
    free(m);
    free(text);
    return st;
}
