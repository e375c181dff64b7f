/*
** ops_common.c - what the op fronts (ops_*.c) share: shape text for
** messages, dtype and device checks, output allocation.
*/
#include "ops_impl.h"
#include "interrupt.h"

#include <stdio.h>

const char *lf_op_shape_text(const struct lf_tensor *t, char *buf, size_t size)
{
    if (!t) {
        snprintf(buf, size, "(none)");
        return buf;
    }
    size_t n = (size_t)snprintf(buf, size, "[");
    for (int i = 0; i < t->rank && n < size; i++)
        n += (size_t)snprintf(buf + n, size - n, "%s%lld", i ? ", " : "", (long long)t->shape[i]);
    if (n < size) snprintf(buf + n, size - n, "] %s", lf_dtype_name(t->dtype));
    return buf;
}

enum lf_status lf_op_check_float(const struct lf_tensor *t, const char *op, const char *what,
                                 struct lf_error *err)
{
    if (!t) return lf_error_set(err, LF_ERR_INVALID, "%s: %s is missing", op, what);
    if (t->dtype != LF_DTYPE_F32 && t->dtype != LF_DTYPE_F16)
        return lf_error_set(err, LF_ERR_INVALID, "%s: %s must be f32 or f16, not %s", op, what,
                            lf_dtype_name(t->dtype));
    return LF_OK;
}

enum lf_status lf_op_check_device(const char *op, struct lf_tensor *a, struct lf_tensor *b,
                                  struct lf_error *err)
{
    if (a && b && a->device != b->device)
        return lf_error_set(err, LF_ERR_INVALID,
                            "%s: tensors live on different devices (%u: %s and %u: %s)", op,
                            a->device->info.index, a->device->info.name, b->device->info.index,
                            b->device->info.name);
    return LF_OK;
}

enum lf_status lf_op_output(struct lf_tensor *like, enum lf_dtype dtype, int rank,
                            const int64_t *shape, struct lf_tensor **out, struct lf_error *err)
{
    /* Every op that makes a tensor passes here first: the one place a long
    ** node notices an interruption between ops (interrupt.h). */
    *out = NULL;
    enum lf_status s = lf_interrupt_check("op", err);
    if (s) return s;
    return lf_tensor_create(like->device, dtype, rank, shape, out, err);
}

enum lf_status lf_op_finish(enum lf_status s, struct lf_tensor **out)
{
    if (s) {
        lf_tensor_release(*out);
        *out = NULL;
    }
    return s;
}

void lf_backend_broadcast_strides(const struct lf_tensor *t, const uint32_t shape[4],
                                  uint32_t stride[4])
{
    uint32_t step = 1;
    for (int d = 3; d >= 0; d--) {
        int src = t->rank - (4 - d);
        uint32_t n = src >= 0 ? (uint32_t)t->shape[src] : 1;
        stride[d] = (n == 1 && shape[d] != 1) ? 0 : step;
        step *= n;
    }
}
