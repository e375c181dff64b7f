/*
** name_index.c - a hash index from names to positions (see graph-impl.h):
** open addressing with linear probing, FNV-1a hashes, at most half full.
*/
#include "graph-impl.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static uint64_t hash_name(const char *s)
{
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

static struct lf_name_slot *probe(const struct lf_name_index *ix, const char *name)
{
    size_t mask = ix->cap - 1, i = (size_t)hash_name(name) & mask;
    while (ix->slots[i].name && strcmp(ix->slots[i].name, name))
        i = (i + 1) & mask;
    return &ix->slots[i];
}

static enum lf_status grow(struct lf_name_index *ix, struct lf_error *err)
{
    struct lf_name_index bigger = {.cap = ix->cap ? ix->cap * 2 : 16, .count = ix->count};
    if (!(bigger.slots = calloc(bigger.cap, sizeof *bigger.slots)))
        return lf_error_set(err, LF_ERR_OUT_OF_MEMORY, "out of memory");
    for (size_t i = 0; i < ix->cap; i++)
        if (ix->slots[i].name) *probe(&bigger, ix->slots[i].name) = ix->slots[i];
    free(ix->slots);
    *ix = bigger;
    return LF_OK;
}

enum lf_status lf_name_index_add(struct lf_name_index *ix, const char *name, size_t value,
                                 struct lf_error *err)
{
    if (2 * (ix->count + 1) > ix->cap) {
        enum lf_status st = grow(ix, err);
        if (st) return st;
    }
    struct lf_name_slot *slot = probe(ix, name);
    if (slot->name) return LF_OK; /* the first position stays */
    ix->count++;
    slot->name = name;
    slot->value = value;
    return LF_OK;
}

long lf_name_index_find(const struct lf_name_index *ix, const char *name)
{
    if (!ix->cap) return -1;
    const struct lf_name_slot *slot = probe(ix, name);
    return slot->name ? (long)slot->value : -1;
}

void lf_name_index_clear(struct lf_name_index *ix)
{
    free(ix->slots);
    memset(ix, 0, sizeof *ix);
}
