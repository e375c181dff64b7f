/*
** sd_tokenizer.c - the CLIP BPE tokenizer: loading by path, pre-tokenisation
** with CLIP's pattern (PCRE2, UTF + UCP), byte-level BPE with a per-word
** cache, and SD 1.5's 77-token framing.  Vocabulary files are read by
** tokenizer_vocab.c, the text is cleaned by tokenizer_clean.c.
*/
#include "sd_diffusers.h"
#include "sd_tokenizer_impl.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define BOS_TEXT "<|startoftext|>"
#define EOS_TEXT "<|endoftext|>"

/* openai CLIP's pattern.  Python's `regex` applies it with IGNORECASE to
** lower-cased text; PCRE2_CASELESS keeps the literal alternatives in step. */
static const char clip_pattern[] = "<\\|startoftext\\|>|<\\|endoftext\\|>|'s|'t|'re|'ve|'m|'ll|'d|"
                                   "[\\p{L}]+|[\\p{N}]|[^\\s\\p{L}\\p{N}]+";

/* Words longer than this are not cached (they are rare and would crowd
** the cache); the cache is emptied when it holds too much. */
#define CACHE_WORD_MAX  256
#define CACHE_MAX_WORDS 65536
#define CACHE_MAX_IDS   (1u << 20)

static bool is_dir(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

static bool exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

/* dir + "/" + name; malloc'ed. */
static char *join(const char *dir, size_t dir_len, const char *name)
{
    size_t n = dir_len + 1 + strlen(name) + 1;
    char *s = malloc(n);
    if (s) snprintf(s, n, "%.*s/%s", (int)dir_len, dir, name);
    return s;
}

/* The file `name` in the folder of file; malloc'ed. */
static char *sibling(const char *file, const char *name)
{
    const char *slash = strrchr(file, '/');
    return slash ? join(file, (size_t)(slash - file), name) : strdup(name);
}

static bool ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && !strcmp(s + n - k, suffix);
}

static const char *base_name(const char *path)
{
    const char *slash = strrchr(path, '/');
    return slash ? slash + 1 : path;
}

/* Picks the layout from the path and reads it into tok. */
static enum lf_status load_files(struct sd_tokenizer *tok, const char *path, struct lf_error *err)
{
    char *vocab = NULL, *merges = NULL;
    enum lf_status st;
    if (!exists(path))
        return lf_error_set(err, LF_ERR_NOT_FOUND, "%s: tokenizer vocabulary not found: %s", path,
                            strerror(errno));
    if (is_dir(path)) {
        size_t n = strlen(path);
        vocab = join(path, n, "vocab.json");
        merges = join(path, n, "merges.txt");
        if (vocab && merges && !exists(vocab)) {
            char *gz = join(path, n, "bpe_simple_vocab_16e6.txt.gz");
            free(vocab);
            free(merges);
            vocab = merges = NULL;
            if (gz && exists(gz)) {
                st = lf_tok_load_openai(tok, gz, err);
                free(gz);
                return st;
            }
            free(gz);
            return lf_error_set(err, LF_ERR_NOT_FOUND,
                                "%s: folder has neither vocab.json + merges.txt nor "
                                "bpe_simple_vocab_16e6.txt.gz",
                                path);
        }
    } else if (!strcmp(base_name(path), "merges.txt")) {
        vocab = sibling(path, "vocab.json");
        merges = strdup(path);
    } else if (ends_with(path, ".json")) {
        vocab = strdup(path);
        merges = sibling(path, "merges.txt");
    } else {
        return lf_tok_load_openai(tok, path, err);
    }
    if (!vocab || !merges)
        st = lf_error_set(err, LF_ERR_OUT_OF_MEMORY, "%s: out of memory", path);
    else
        st = lf_tok_load_hf(tok, vocab, merges, err);
    free(vocab);
    free(merges);
    return st;
}

enum lf_status sd_tokenizer_load(const char *path, struct sd_tokenizer **out, struct lf_error *err)
{
    struct sd_tokenizer *tok;
    enum lf_status st;
    int code;
    PCRE2_SIZE at;
    *out = NULL;
    if (!path || !*path)
        return lf_error_set(err, LF_ERR_INVALID, "tokenizer: no vocabulary path given");
    tok = calloc(1, sizeof *tok);
    if (!tok || !(tok->path = strdup(path))) {
        free(tok);
        return lf_error_set(err, LF_ERR_OUT_OF_MEMORY, "%s: out of memory", path);
    }
    if (pthread_mutex_init(&tok->cache_lock, NULL)) {
        free(tok->path);
        free(tok);
        return lf_error_set(err, LF_ERR_OUT_OF_MEMORY, "%s: cannot create a mutex", path);
    }
    st = load_files(tok, path, err);
    if (st != LF_OK) goto fail;
    tok->pattern = pcre2_compile((PCRE2_SPTR)clip_pattern, PCRE2_ZERO_TERMINATED,
                                 PCRE2_UTF | PCRE2_UCP | PCRE2_CASELESS, &code, &at, NULL);
    if (!tok->pattern) {
        PCRE2_UCHAR msg[256];
        pcre2_get_error_message(code, msg, sizeof msg);
        st = lf_error_set(err, LF_ERR_UNSUPPORTED,
                          "tokenizer: PCRE2 cannot compile CLIP's pattern (is it built with "
                          "Unicode support?): %s",
                          (const char *)msg);
        goto fail;
    }
    *out = tok;
    return LF_OK;
fail:
    sd_tokenizer_free(tok);
    return st;
}

void sd_tokenizer_free(struct sd_tokenizer *tok)
{
    if (!tok) return;
    pcre2_code_free(tok->pattern);
    lf_tok_strmap_free(&tok->vocab);
    lf_tok_pairmap_free(&tok->merges);
    lf_tok_strmap_free(&tok->cache);
    free(tok->cache_ids);
    free(tok->id_entry);
    free(tok->path);
    pthread_mutex_destroy(&tok->cache_lock);
    free(tok);
}

/* ---- lookup order ---- */

/* Appends "; " + text to the list of places looked at. */
#if defined(__GNUC__)
__attribute__((format(printf, 3, 4)))
#endif
static void
note(char *list, size_t size, const char *fmt, ...)
{
    size_t n = strlen(list);
    va_list ap;
    if (n + 3 >= size) return;
    if (n) n += (size_t)snprintf(list + n, size - n, "; ");
    va_start(ap, fmt);
    vsnprintf(list + n, size - n, fmt, ap);
    va_end(ap);
}

static bool has_vocab(const char *dir)
{
    size_t n = strlen(dir);
    char *a = join(dir, n, "vocab.json"), *b = join(dir, n, "bpe_simple_vocab_16e6.txt.gz");
    bool found = (a && exists(a)) || (b && exists(b));
    free(a);
    free(b);
    return found;
}

static enum lf_status found(const char *candidate, char *path, size_t size, struct lf_error *err)
{
    if (strlen(candidate) >= size)
        return lf_error_set(err, LF_ERR_INVALID, "%s: tokenizer path too long", candidate);
    memcpy(path, candidate, strlen(candidate) + 1);
    return LF_OK;
}

enum lf_status sd_tokenizer_locate(const char *checkpoint, const char *param, char *path,
                                   size_t size, struct lf_error *err)
{
    char looked[768] = "";
    const char *env = getenv(SD_TOKENIZER_ENV);
    if (checkpoint && *checkpoint) {
        char *dir = NULL, own[4096];
        if (!is_dir(checkpoint) && exists(checkpoint) &&
            sd_own_tokenizer_dir(checkpoint, own, sizeof own)) {
            if (has_vocab(own)) return found(own, path, size, err);
            note(looked, sizeof looked, "%s (the checkpoint's own vocabulary folder: none)", own);
        }
        if (is_dir(checkpoint))
            dir = join(checkpoint, strlen(checkpoint), SD_DIFFUSERS_TOKENIZER);
        else if (exists(checkpoint))
            dir = sibling(checkpoint, SD_DIFFUSERS_TOKENIZER);
        if (dir && has_vocab(dir)) {
            enum lf_status st = found(dir, path, size, err);
            free(dir);
            return st;
        }
        if (dir)
            note(looked, sizeof looked, "%s (the checkpoint's tokenizer folder: %s)", dir,
                 is_dir(dir) ? "no vocab.json or bpe_simple_vocab_16e6.txt.gz" : "absent");
        else
            note(looked, sizeof looked, "checkpoint %s (does not exist)", checkpoint);
        free(dir);
    }
    if (param && *param) {
        if (exists(param)) return found(param, path, size, err);
        note(looked, sizeof looked, "tokenizer param '%s' (no such file or folder)", param);
    } else {
        note(looked, sizeof looked, "the tokenizer param (not set)");
    }
    if (env && *env) {
        if (exists(env)) return found(env, path, size, err);
        note(looked, sizeof looked, SD_TOKENIZER_ENV "='%s' (no such file or folder)", env);
    } else {
        note(looked, sizeof looked, SD_TOKENIZER_ENV " (not set)");
    }
    return lf_error_set(err, LF_ERR_NOT_FOUND,
                        "no CLIP tokenizer vocabulary found; looked at: %s. Point the "
                        "CheckpointLoader's tokenizer param or " SD_TOKENIZER_ENV
                        " at a folder with vocab.json + merges.txt, a vocab.json, or "
                        "bpe_simple_vocab_16e6.txt.gz",
                        looked);
}

enum lf_status sd_tokenizer_find(const char *checkpoint, const char *param,
                                 struct sd_tokenizer **out, struct lf_error *err)
{
    char path[4096];
    enum lf_status st = sd_tokenizer_locate(checkpoint, param, path, sizeof path, err);
    *out = NULL;
    return st == LF_OK ? sd_tokenizer_load(path, out, err) : st;
}

/* ---- encoding ---- */

struct ids {
    int32_t *v;
    size_t n, cap;
};

static int ids_reserve(struct ids *d, size_t more)
{
    if (d->n + more > d->cap) {
        size_t cap = d->cap ? d->cap : 64;
        while (cap < d->n + more)
            cap *= 2;
        int32_t *v = realloc(d->v, cap * sizeof *v);
        if (!v) return -1;
        d->v = v;
        d->cap = cap;
    }
    return 0;
}

/* CLIP's bpe(): start from one symbol per byte (the last one marked as the
** end of the word), then repeatedly merge every occurrence, left to right,
** of the adjacent pair with the lowest merge rank.  Appends to out. */
static int bpe_word(const struct sd_tokenizer *tok, const unsigned char *w, size_t n,
                    struct ids *out)
{
    size_t len = n;
    int32_t *sym;
    if (ids_reserve(out, n)) return -1;
    sym = out->v + out->n; /* work in place at the end of out */
    for (size_t i = 0; i < n; i++)
        sym[i] = i + 1 < n ? tok->byte_id[w[i]] : tok->byte_eow_id[w[i]];
    while (len > 1) {
        uint32_t best = UINT32_MAX, rank;
        int32_t a = 0, b = 0, merged = 0, m;
        size_t k = 0;
        for (size_t i = 0; i + 1 < len; i++)
            if (lf_tok_pairmap_get(&tok->merges, sym[i], sym[i + 1], &rank, &m) && rank < best) {
                best = rank;
                a = sym[i];
                b = sym[i + 1];
                merged = m;
            }
        if (best == UINT32_MAX) break;
        for (size_t i = 0; i < len;) {
            if (i + 1 < len && sym[i] == a && sym[i + 1] == b) {
                sym[k++] = merged;
                i += 2;
            } else {
                sym[k++] = sym[i++];
            }
        }
        len = k;
    }
    out->n += len;
    return 0;
}

/* One pre-tokenised piece -> ids, through the cache. */
static int encode_piece(struct sd_tokenizer *tok, const char *p, size_t n, struct ids *out)
{
    long e;
    int r = 0;
    if (n == strlen(BOS_TEXT) && !memcmp(p, BOS_TEXT, n)) {
        if (ids_reserve(out, 1)) return -1;
        out->v[out->n++] = tok->bos;
        return 0;
    }
    if (n == strlen(EOS_TEXT) && !memcmp(p, EOS_TEXT, n)) {
        if (ids_reserve(out, 1)) return -1;
        out->v[out->n++] = tok->eos;
        return 0;
    }
    if (n > CACHE_WORD_MAX) return bpe_word(tok, (const unsigned char *)p, n, out);

    pthread_mutex_lock(&tok->cache_lock);
    e = lf_tok_strmap_find(&tok->cache, p, n);
    if (e >= 0) {
        uint64_t v = tok->cache.entries[e].value;
        size_t off = (size_t)(v >> 24), count = (size_t)(v & 0xffffff);
        if ((r = ids_reserve(out, count)) == 0) {
            memcpy(out->v + out->n, tok->cache_ids + off, count * sizeof(int32_t));
            out->n += count;
        }
        pthread_mutex_unlock(&tok->cache_lock);
        return r;
    }
    size_t start = out->n;
    r = bpe_word(tok, (const unsigned char *)p, n, out);
    size_t count = out->n - start;
    if (r == 0) {
        if (tok->cache.count >= CACHE_MAX_WORDS || tok->cache_len + count > CACHE_MAX_IDS) {
            lf_tok_strmap_reset(&tok->cache);
            tok->cache_len = 0;
        }
        if (tok->cache_len + count > tok->cache_cap) {
            size_t cap = tok->cache_cap ? tok->cache_cap * 2 : 4096;
            int32_t *v = realloc(tok->cache_ids, cap * sizeof *v);
            if (!v) goto done; /* the cache is optional */
            tok->cache_ids = v;
            tok->cache_cap = cap;
        }
        if (lf_tok_strmap_put(&tok->cache, p, n, (uint64_t)tok->cache_len << 24 | count, NULL) ==
            0) {
            memcpy(tok->cache_ids + tok->cache_len, out->v + start, count * sizeof(int32_t));
            tok->cache_len += count;
        }
    }
done:
    pthread_mutex_unlock(&tok->cache_lock);
    return r;
}

static enum lf_status encode_all(struct sd_tokenizer *tok, const char *text, struct ids *out,
                                 struct lf_error *err)
{
    char *clean = NULL;
    pcre2_match_data *md = NULL;
    enum lf_status st = lf_tok_clean_text(text, &clean, err);
    size_t len, off = 0;
    if (st != LF_OK) return st;
    len = strlen(clean);
    md = pcre2_match_data_create_from_pattern(tok->pattern, NULL);
    if (!md) goto oom;
    while (off < len) {
        int rc = pcre2_match(tok->pattern, (PCRE2_SPTR)clean, len, off, 0, md, NULL);
        PCRE2_SIZE *ov;
        if (rc == PCRE2_ERROR_NOMATCH) break;
        if (rc < 0) {
            PCRE2_UCHAR msg[256];
            pcre2_get_error_message(rc, msg, sizeof msg);
            st = lf_error_set(err, LF_ERR_INVALID, "tokenizer: matching the text failed: %s",
                              (const char *)msg);
            goto done;
        }
        ov = pcre2_get_ovector_pointer(md);
        if (ov[1] <= ov[0]) break; /* no alternative matches empty; guard against looping */
        if (encode_piece(tok, clean + ov[0], ov[1] - ov[0], out)) goto oom;
        off = ov[1];
    }
    goto done;
oom:
    st = lf_error_set(err, LF_ERR_OUT_OF_MEMORY, "tokenizer: out of memory");
done:
    pcre2_match_data_free(md);
    free(clean);
    return st;
}

enum lf_status sd_tokenizer_encode_untruncated(struct sd_tokenizer *tok, const char *text,
                                               int32_t **ids, size_t *count, struct lf_error *err)
{
    struct ids d = {0};
    enum lf_status st = encode_all(tok, text ? text : "", &d, err);
    if (st != LF_OK) {
        free(d.v);
        d.v = NULL;
        d.n = 0;
    } else if (!d.n) {
        free(d.v);
        d.v = NULL;
    }
    *ids = d.v;
    *count = d.n;
    return st;
}

enum lf_status sd_tokenizer_encode(struct sd_tokenizer *tok, const char *text,
                                   int32_t ids[SD_TOKENIZER_CONTEXT], bool *truncated,
                                   struct lf_error *err)
{
    struct ids d = {0};
    enum lf_status st = encode_all(tok, text ? text : "", &d, err);
    const size_t room = SD_TOKENIZER_CONTEXT - 2;
    size_t keep = d.n < room ? d.n : room;
    if (st != LF_OK) {
        free(d.v);
        return st;
    }
    ids[0] = tok->bos;
    if (keep) memcpy(ids + 1, d.v, keep * sizeof *ids);
    for (size_t i = 1 + keep; i < SD_TOKENIZER_CONTEXT; i++)
        ids[i] = tok->eos; /* EOS, then SD 1.5's padding, which is EOS too */
    if (truncated) *truncated = d.n > room;
    free(d.v);
    return LF_OK;
}

/* ---- facts ---- */

size_t sd_tokenizer_vocab_size(const struct sd_tokenizer *tok)
{
    return tok->n_ids;
}

size_t sd_tokenizer_merge_count(const struct sd_tokenizer *tok)
{
    return tok->n_merges;
}

int32_t sd_tokenizer_bos(const struct sd_tokenizer *tok)
{
    return tok->bos;
}

int32_t sd_tokenizer_eos(const struct sd_tokenizer *tok)
{
    return tok->eos;
}

const char *sd_tokenizer_token(const struct sd_tokenizer *tok, int32_t id)
{
    if (id < 0 || (size_t)id >= tok->n_ids || tok->id_entry[id] < 0) return NULL;
    return lf_tok_strmap_key(&tok->vocab, (size_t)tok->id_entry[id]);
}

const char *sd_tokenizer_path(const struct sd_tokenizer *tok)
{
    return tok->path;
}
