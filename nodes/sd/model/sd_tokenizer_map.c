/*
** sd_tokenizer_map.c - the two open-addressing hash tables the tokenizer needs:
** vocabulary strings -> ids (also the per-word cache) and merge pairs ->
** (rank, merged id).  Loading 49408 tokens and 48894 merges must be fast, so
** no linear scans anywhere.
*/
#include "sd_tokenizer_impl.h"

#include <stdlib.h>
#include <string.h>

static uint64_t hash_bytes(const char *s, size_t len)
{
    /* FNV-1a, then a final mix so the low bits (the slot index) are good. */
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < len; i++) {
        h ^= (unsigned char)s[i];
        h *= 1099511628211ull;
    }
    h ^= h >> 32;
    h *= 0xd6e8feb86659fd93ull;
    h ^= h >> 32;
    return h;
}

static int strmap_grow_slots(struct lf_tok_strmap *m)
{
    size_t cap = m->slot_cap ? m->slot_cap * 2 : 1024;
    uint32_t *slots = calloc(cap, sizeof *slots);
    if (!slots) return -1;
    for (size_t i = 0; i < m->count; i++) {
        size_t s = m->entries[i].hash & (cap - 1);
        while (slots[s])
            s = (s + 1) & (cap - 1);
        slots[s] = (uint32_t)(i + 1);
    }
    free(m->slots);
    m->slots = slots;
    m->slot_cap = cap;
    return 0;
}

static long strmap_lookup(const struct lf_tok_strmap *m, const char *key, size_t len, uint64_t h,
                          size_t *slot)
{
    size_t s = h & (m->slot_cap - 1);
    for (; m->slots[s]; s = (s + 1) & (m->slot_cap - 1)) {
        const struct lf_tok_strmap_entry *e = &m->entries[m->slots[s] - 1];
        if (e->hash == h && e->key_len == len && !memcmp(m->arena + e->key_off, key, len)) break;
    }
    *slot = s;
    return m->slots[s] ? (long)m->slots[s] - 1 : -1;
}

int lf_tok_strmap_put(struct lf_tok_strmap *m, const char *key, size_t len, uint64_t value,
                      size_t *index)
{
    uint64_t h = hash_bytes(key, len);
    size_t slot;
    long found;
    if (len > UINT32_MAX || m->count >= UINT32_MAX - 1) return -1;
    /* Keep the load factor under 1/2. */
    if ((m->count + 1) * 2 > m->slot_cap && strmap_grow_slots(m)) return -1;
    found = strmap_lookup(m, key, len, h, &slot);
    if (found >= 0) {
        m->entries[found].value = value;
        if (index) *index = (size_t)found;
        return 0;
    }
    if (m->count == m->entry_cap) {
        size_t cap = m->entry_cap ? m->entry_cap * 2 : 512;
        struct lf_tok_strmap_entry *e = realloc(m->entries, cap * sizeof *e);
        if (!e) return -1;
        m->entries = e;
        m->entry_cap = cap;
    }
    if (m->arena_len + len + 1 > m->arena_cap) {
        size_t cap = m->arena_cap ? m->arena_cap : 4096;
        while (cap < m->arena_len + len + 1)
            cap *= 2;
        char *a = realloc(m->arena, cap);
        if (!a) return -1;
        m->arena = a;
        m->arena_cap = cap;
    }
    memcpy(m->arena + m->arena_len, key, len);
    m->arena[m->arena_len + len] = '\0';
    m->entries[m->count] = (struct lf_tok_strmap_entry){
        .hash = h, .key_off = m->arena_len, .key_len = (uint32_t)len, .value = value};
    m->arena_len += len + 1;
    m->slots[slot] = (uint32_t)(m->count + 1);
    if (index) *index = m->count;
    m->count++;
    return 0;
}

long lf_tok_strmap_find(const struct lf_tok_strmap *m, const char *key, size_t len)
{
    size_t slot;
    if (!m->count) return -1;
    return strmap_lookup(m, key, len, hash_bytes(key, len), &slot);
}

const char *lf_tok_strmap_key(const struct lf_tok_strmap *m, size_t index)
{
    return m->arena + m->entries[index].key_off;
}

void lf_tok_strmap_reset(struct lf_tok_strmap *m)
{
    if (m->slots) memset(m->slots, 0, m->slot_cap * sizeof *m->slots);
    m->count = 0;
    m->arena_len = 0;
}

void lf_tok_strmap_free(struct lf_tok_strmap *m)
{
    free(m->slots);
    free(m->entries);
    free(m->arena);
    memset(m, 0, sizeof *m);
}

/* ---- pairs ---- */

#define PAIR_EMPTY UINT64_MAX

static uint64_t pair_key(int32_t a, int32_t b)
{
    return (uint64_t)(uint32_t)a << 32 | (uint32_t)b;
}

static size_t pair_slot(uint64_t key, size_t cap)
{
    key ^= key >> 29;
    key *= 0xbf58476d1ce4e5b9ull;
    key ^= key >> 32;
    return key & (cap - 1);
}

static int pairmap_grow(struct lf_tok_pairmap *m)
{
    size_t cap = m->cap ? m->cap * 2 : 1024;
    uint64_t *keys = malloc(cap * sizeof *keys);
    uint64_t *values = malloc(cap * sizeof *values);
    if (!keys || !values) {
        free(keys);
        free(values);
        return -1;
    }
    memset(keys, 0xff, cap * sizeof *keys);
    for (size_t i = 0; i < m->cap; i++) {
        if (m->keys[i] == PAIR_EMPTY) continue;
        size_t s = pair_slot(m->keys[i], cap);
        while (keys[s] != PAIR_EMPTY)
            s = (s + 1) & (cap - 1);
        keys[s] = m->keys[i];
        values[s] = m->values[i];
    }
    free(m->keys);
    free(m->values);
    m->keys = keys;
    m->values = values;
    m->cap = cap;
    return 0;
}

int lf_tok_pairmap_put(struct lf_tok_pairmap *m, int32_t a, int32_t b, uint32_t rank,
                       int32_t merged)
{
    uint64_t key = pair_key(a, b);
    size_t s;
    if ((m->count + 1) * 2 > m->cap && pairmap_grow(m)) return -1;
    s = pair_slot(key, m->cap);
    while (m->keys[s] != PAIR_EMPTY && m->keys[s] != key)
        s = (s + 1) & (m->cap - 1);
    if (m->keys[s] == PAIR_EMPTY) m->count++;
    m->keys[s] = key;
    m->values[s] = (uint64_t)rank << 32 | (uint32_t)merged;
    return 0;
}

bool lf_tok_pairmap_get(const struct lf_tok_pairmap *m, int32_t a, int32_t b, uint32_t *rank,
                        int32_t *merged)
{
    uint64_t key = pair_key(a, b);
    if (!m->count) return false;
    for (size_t s = pair_slot(key, m->cap); m->keys[s] != PAIR_EMPTY; s = (s + 1) & (m->cap - 1))
        if (m->keys[s] == key) {
            *rank = (uint32_t)(m->values[s] >> 32);
            *merged = (int32_t)(uint32_t)m->values[s];
            return true;
        }
    return false;
}

void lf_tok_pairmap_free(struct lf_tok_pairmap *m)
{
    free(m->keys);
    free(m->values);
    memset(m, 0, sizeof *m);
}
