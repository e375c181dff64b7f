/*
** node.h - helpers for node implementations: typed access to a call's params
** and inputs (by declaration index), its outputs, the device and the
** interruption flag.  Header-only: a plugin needs nothing else linked.
*/
#ifndef LCMFLOW_NODE_H
#define LCMFLOW_NODE_H

#include "lcmflow/plugin.h"
#include "lcmflow/tensor.h"

/* Params and inputs by declaration index (the node's own enum). */
static inline int64_t lf_node_param_int(const struct lf_node_call *c, int i)
{
    return c->params[i].u.i;
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

/* Host progress and interruption, safe with hosts older than the call. */
static inline bool lf_node_interrupted(const struct lf_node_call *c)
{
    return c->host->interrupted && c->host->interrupted(c->ctx);
}

#endif
