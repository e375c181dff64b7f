/*
** sd_tokenizer_impl.h - the tokenizer's internals, shared by sd_tokenizer.c (encoding),
** sd_tokenizer_vocab.c (loading), sd_tokenizer_clean.c (text clean-up) and
** sd_tokenizer_map.c (hash tables).  Not a public header.
*/
#ifndef LCMFLOW_SD_TOKENIZER_IMPL_H
#define LCMFLOW_SD_TOKENIZER_IMPL_H

#include "sd_tokenizer.h"

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

/* ---- string -> u64 hash map; keys are copied into the map's own arena ---- */

struct lf_tok_strmap_entry {
    uint64_t hash;
    size_t key_off;
    uint32_t key_len;
    uint64_t value;
};

struct lf_tok_strmap {
    uint32_t *slots; /* 0 = empty, else entry index + 1 */
    size_t slot_cap; /* power of two */
    struct lf_tok_strmap_entry *entries;
    size_t count, entry_cap;
    char *arena; /* keys, each followed by a NUL */
    size_t arena_len, arena_cap;
};

/* Inserts or overwrites (a later duplicate wins, like a Python dict built from
** a list).  *index (may be NULL) receives the entry index.  0 ok, -1 no memory. */
int lf_tok_strmap_put(struct lf_tok_strmap *m, const char *key, size_t len, uint64_t value,
                      size_t *index);
/* Returns the entry index or -1 when absent. */
long lf_tok_strmap_find(const struct lf_tok_strmap *m, const char *key, size_t len);
/* The NUL-terminated key of entry index; borrowed until the next put or free. */
const char *lf_tok_strmap_key(const struct lf_tok_strmap *m, size_t index);
void lf_tok_strmap_reset(struct lf_tok_strmap *m); /* empties, keeps memory */
void lf_tok_strmap_free(struct lf_tok_strmap *m);

/* ---- (id, id) -> (rank, merged id) map for BPE merges ---- */

struct lf_tok_pairmap {
    uint64_t *keys; /* UINT64_MAX = empty */
    uint64_t *values;
    size_t cap, count; /* cap a power of two */
};

int lf_tok_pairmap_put(struct lf_tok_pairmap *m, int32_t a, int32_t b, uint32_t rank,
                       int32_t merged);
/* true and rank/merged filled when (a, b) is a merge. */
bool lf_tok_pairmap_get(const struct lf_tok_pairmap *m, int32_t a, int32_t b, uint32_t *rank,
                        int32_t *merged);
void lf_tok_pairmap_free(struct lf_tok_pairmap *m);

/* ---- the tokenizer ---- */

struct sd_tokenizer {
    char *path;
    struct lf_tok_strmap vocab; /* vocabulary string -> id */
    long *id_entry;             /* id -> vocab entry index, -1 for gaps */
    size_t n_ids;               /* largest id + 1 */
    struct lf_tok_pairmap merges;
    size_t n_merges;
    int32_t byte_id[256];     /* the symbol of each byte inside a word */
    int32_t byte_eow_id[256]; /* the same symbol ending a word ("x</w>") */
    int32_t bos, eos;
    pcre2_code *pattern; /* CLIP's pre-tokenisation pattern; shared read-only */

    /* Per-word BPE cache: word bytes -> (offset << 24 | count) into cache_ids. */
    pthread_mutex_t cache_lock;
    struct lf_tok_strmap cache;
    int32_t *cache_ids;
    size_t cache_len, cache_cap;
};

/* The GPT-2/CLIP byte -> code point table (printable Latin-1 bytes keep
** their code point, the others move to U+0100...), and its order: the
** first 256 vocabulary entries list the bytes in byte_order[]. */
void lf_tok_byte_table(uint32_t byte_cp[256], uint8_t byte_order[256]);

/* Loads the vocabulary into tok (zeroed, path set) from the given files;
** merges_path is NULL for the openai layout, where vocab_path is the .gz. */
enum lf_status lf_tok_load_hf(struct sd_tokenizer *tok, const char *vocab_path,
                              const char *merges_path, struct lf_error *err);
enum lf_status lf_tok_load_openai(struct sd_tokenizer *tok, const char *bpe_path,
                                  struct lf_error *err);

/* CLIP's text clean-up: the ftfy subset, HTML entities (twice), whitespace
** stripped and collapsed to single spaces, Python-style lower-casing.
** *out is malloc'ed (caller frees with free()).  LF_ERR_INVALID on bad UTF-8. */
enum lf_status lf_tok_clean_text(const char *text, char **out, struct lf_error *err);

#endif
