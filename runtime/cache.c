/*
** cache.c - the value cache: a hash table of values (node outputs) and of
** plugin objects (the host's cache_put) by 64-bit key, kept in one
** least-recently-used order and trimmed to one byte budget.
*/
#include "executor-impl.h"

#include <stdlib.h>
#include <string.h>

#define BUCKETS 1024 /* a graph run stores tens to hundreds of values */

struct entry {
    uint64_t key;
    struct lf_value value;    /* a node output, or */
    struct lf_object *object; /* a plugin's object (value is NONE then) */
    uint64_t owner;           /* lf_cache_put's; 0: none */
    size_t bytes;
    struct entry *chain;         /* next in bucket */
    struct entry *newer, *older; /* LRU list */
};

struct lf_cache {
    struct entry *buckets[BUCKETS];
    struct entry *newest, *oldest;
    size_t budget, bytes, count;
};

enum lf_status lf_cache_create(size_t budget, struct lf_cache **out, struct lf_error *err)
{
    *out = calloc(1, sizeof **out);
    if (!*out) return lf_error_set(err, LF_ERR_OUT_OF_MEMORY, "out of memory creating the cache");
    (*out)->budget = budget;
    return LF_OK;
}

static struct entry **slot_of(struct lf_cache *c, uint64_t key)
{
    struct entry **p = &c->buckets[key % BUCKETS];
    while (*p && (*p)->key != key)
        p = &(*p)->chain;
    return p;
}

static void unlink_lru(struct lf_cache *c, struct entry *e)
{
    if (e->newer)
        e->newer->older = e->older;
    else
        c->newest = e->older;
    if (e->older)
        e->older->newer = e->newer;
    else
        c->oldest = e->newer;
    e->newer = e->older = NULL;
}

static void push_newest(struct lf_cache *c, struct entry *e)
{
    e->older = c->newest;
    e->newer = NULL;
    if (c->newest) c->newest->newer = e;
    c->newest = e;
    if (!c->oldest) c->oldest = e;
}

static void remove_entry(struct lf_cache *c, struct entry *e)
{
    struct entry **p = slot_of(c, e->key);
    *p = e->chain;
    unlink_lru(c, e);
    c->bytes -= e->bytes;
    c->count--;
    lf_value_clear(&e->value);
    lf_object_release(e->object);
    free(e);
}

static void trim(struct lf_cache *c)
{
    while (c->bytes > c->budget && c->oldest)
        remove_entry(c, c->oldest);
}

/* The entry under key, marked most recently used; NULL when absent. */
static struct entry *touch(struct lf_cache *c, uint64_t key)
{
    struct entry *e = *slot_of(c, key);
    if (!e) return NULL;
    unlink_lru(c, e);
    push_newest(c, e);
    return e;
}

bool lf_cache_get(struct lf_cache *c, uint64_t key, struct lf_value *out)
{
    struct entry *e = touch(c, key);
    return e && !e->object && lf_value_copy(out, &e->value, NULL) == LF_OK;
}

struct lf_object *lf_cache_get_object(struct lf_cache *c, uint64_t key)
{
    struct entry *e = touch(c, key);
    return e ? lf_object_retain(e->object) : NULL;
}

/* A new, empty entry of bytes under key (replacing any), or NULL when it
** cannot be stored. */
static struct entry *insert(struct lf_cache *c, uint64_t key, size_t bytes)
{
    struct entry **p = slot_of(c, key), *e;
    if (*p) remove_entry(c, *p);
    if (bytes > c->budget || !(e = calloc(1, sizeof *e))) return NULL;
    e->key = key;
    e->bytes = bytes;
    *slot_of(c, key) = e;
    push_newest(c, e);
    c->bytes += bytes;
    c->count++;
    return e;
}

void lf_cache_put(struct lf_cache *c, uint64_t key, uint64_t owner, const struct lf_value *v)
{
    struct entry *e = insert(c, key, lf_value_nbytes(v));
    if (e) e->owner = owner;
    if (e && lf_value_copy(&e->value, v, NULL) != LF_OK) remove_entry(c, e);
    trim(c);
}

void lf_cache_drop_owner(struct lf_cache *c, uint64_t owner, uint64_t key)
{
    for (struct entry *e = c->oldest, *next; e && owner; e = next) {
        next = e->newer;
        if (e->owner == owner && e->key != key) remove_entry(c, e);
    }
}

bool lf_cache_put_object(struct lf_cache *c, uint64_t key, struct lf_object *object)
{
    struct entry *e = insert(c, key, sizeof *object + (size_t)object->nbytes);
    if (!e) return false;
    e->object = lf_object_retain(object);
    trim(c); /* e is the newest and fits the budget: it stays */
    return true;
}

void lf_cache_set_budget(struct lf_cache *c, size_t budget)
{
    c->budget = budget;
    trim(c);
}

void lf_cache_stats(const struct lf_cache *c, size_t *count, size_t *bytes)
{
    if (count) *count = c->count;
    if (bytes) *bytes = c->bytes;
}

void lf_cache_clear(struct lf_cache *c)
{
    while (c->oldest)
        remove_entry(c, c->oldest);
}

void lf_cache_destroy(struct lf_cache *c)
{
    if (!c) return;
    lf_cache_clear(c);
    free(c);
}
