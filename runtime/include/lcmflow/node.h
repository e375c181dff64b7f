/*
** node.h - helpers for node implementations: typed access to a call's params
** and inputs (by declaration index), its outputs, the device and the
** interruption flag.  Header-only: a plugin needs nothing else linked.
*/
#ifndef LCMFLOW_NODE_H
#define LCMFLOW_NODE_H

#include "lcmflow/plugin.h"
#include "lcmflow/tensor.h"

#include <stddef.h>
#include <string.h>

/* Params and inputs by declaration index (the node's own enum). */
static inline int64_t lf_node_param_int(const struct lf_node_call *c, int i)
{
    return c->params[i].u.i;
}
/* An LF_PARAM_UNSIGNED INT param (ABI 1.2): the full 0 .. 2^64-1. */
static inline uint64_t lf_node_param_uint(const struct lf_node_call *c, int i)
{
    return c->params[i].u.ui;
}
static inline double lf_node_param_float(const struct lf_node_call *c, int i)
{
    return c->params[i].u.f;
}
static inline const char *lf_node_param_string(const struct lf_node_call *c, int i)
{
    return c->params[i].u.s ? c->params[i].u.s : "";
}
static inline bool lf_node_param_bool(const struct lf_node_call *c, int i)
{
    return c->params[i].u.b;
}
/* The tensor of input i, or NULL when the optional input is unconnected. */
static inline struct lf_tensor *lf_node_input_tensor(const struct lf_node_call *c, int i)
{
    return c->inputs[i].type == LF_TYPE_NONE ? NULL : c->inputs[i].u.tensor;
}

/* Sets output i to a tensor (the output takes the reference). */
static inline void lf_node_output_tensor(const struct lf_node_call *c, int i,
                                         enum lf_value_type type, struct lf_tensor *t)
{
    c->outputs[i].type = type;
    c->outputs[i].u.tensor = t;
}
static inline void lf_node_output_object(const struct lf_node_call *c, int i,
                                         enum lf_value_type type, struct lf_object *o)
{
    c->outputs[i].type = type;
    c->outputs[i].u.object = o;
}

/* The shared device (NULL with err set). */
static inline struct lf_device *lf_node_device(const struct lf_node_call *c, struct lf_error *err)
{
    return c->host->get_device(c->ctx, err);
}

/* Whether the host table has member (one appended after ABI 1.0): its
** struct_size covers it and it is set.  LF_HOST_HAS(c->host, cache_get). */
#define LF_HOST_HAS(host, member)                                                                  \
    ((host)->struct_size >= offsetof(struct lf_host_api, member) + sizeof((host)->member) &&       \
     (host)->member != NULL)

/* FNV-1a 64 for keys (the executor's cache keys and keys of the host's
** cache_put): start from LF_HASH_INIT, fold in bytes. */
#define LF_HASH_INIT 0xcbf29ce484222325ull
static inline uint64_t lf_hash_bytes(uint64_t h, const void *data, size_t n)
{
    const unsigned char *p = (const unsigned char *)data;
    for (size_t i = 0; i < n; i++) {
        h ^= p[i];
        h *= 0x100000001b3ull;
    }
    return h;
}
/* v in little-endian byte order, so keys agree across machines. */
static inline uint64_t lf_hash_u64(uint64_t h, uint64_t v)
{
    unsigned char b[8];
    for (int i = 0; i < 8; i++)
        b[i] = (unsigned char)(v >> (8 * i));
    return lf_hash_bytes(h, b, 8);
}
/* The length first, so ("ab", "c") and ("a", "bc") differ.  NULL hashes as "". */
static inline uint64_t lf_hash_str(uint64_t h, const char *s)
{
    size_t n = s ? strlen(s) : 0;
    return lf_hash_bytes(lf_hash_u64(h, n), s ? s : "", n);
}

/* Host progress and interruption, safe with hosts older than the call. */
static inline bool lf_node_interrupted(const struct lf_node_call *c)
{
    return c->host->interrupted && c->host->interrupted(c->ctx);
}

#endif
