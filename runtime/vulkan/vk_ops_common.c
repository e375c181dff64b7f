/*
** vk_ops_common.c - dispatching the op kernels, and the op profile.
*/
#include "vk_ops.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* {======================================================== op profile
** LCMFLOW_OP_PROFILE=1 runs every dispatch alone (submit and wait) and adds
** its wall time to its shader's line, printed to stderr at exit: where the
** time goes, at the cost of all batching.  For benchmarks, not for use. */

struct op_profile {
    const char *shader; /* static string */
    double ms;
    uint64_t count;
};

static struct op_profile profile[64];
static int profile_state; /* 0 unknown, 1 on, -1 off */

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static void print_profile(void)
{
    double total = 0;
    for (int i = 0; i < 64 && profile[i].shader; i++)
        total += profile[i].ms;
    fprintf(stderr, "op profile (each dispatch run alone):\n");
    for (int i = 0; i < 64 && profile[i].shader; i++)
        fprintf(stderr, "  %-28s %8llu dispatches %10.1f ms %5.1f %%\n", profile[i].shader,
                (unsigned long long)profile[i].count, profile[i].ms,
                total > 0 ? 100.0 * profile[i].ms / total : 0.0);
}

static bool profiling(void)
{
    if (profile_state == 0) {
        const char *v = getenv("LCMFLOW_OP_PROFILE");
        profile_state = v && *v && strcmp(v, "0") ? 1 : -1;
        if (profile_state > 0) atexit(print_profile);
    }
    return profile_state > 0;
}

static void profile_add(const char *shader, double ms)
{
    for (int i = 0; i < 64; i++) {
        if (!profile[i].shader) profile[i].shader = shader;
        if (!strcmp(profile[i].shader, shader)) {
            profile[i].ms += ms;
            profile[i].count++;
            return;
        }
    }
}

/* }======================================================== */

enum lf_status lf_vk_run(struct lf_vk_device *vk, const char *shader, const uint32_t *spec,
                         uint32_t spec_count, const void *push, uint32_t push_size,
                         uint32_t groups_x, uint32_t groups_y, uint32_t groups_z,
                         struct lf_error *err)
{
    VkPipeline pipeline;
    enum lf_status s = lf_vk_pipeline_get(vk, shader, spec, spec_count, &pipeline, err);
    if (s) return s;
    if (!profiling())
        return lf_vk_dispatch(vk, pipeline, push, push_size, groups_x, groups_y, groups_z, err);
    if ((s = lf_vk_flush(vk, err))) return s;
    double t0 = now_ms();
    if ((s = lf_vk_dispatch(vk, pipeline, push, push_size, groups_x, groups_y, groups_z, err)) ||
        (s = lf_vk_flush(vk, err)))
        return s;
    profile_add(shader, now_ms() - t0);
    return LF_OK;
}

enum lf_status lf_vk_run_1d(struct lf_vk_device *device, const char *shader, const void *push,
                            uint32_t push_size, uint64_t invocations, uint32_t local_size,
                            struct lf_error *err)
{
    uint64_t groups = (invocations + local_size - 1) / local_size;
    uint32_t gx = groups < 65535 ? (uint32_t)groups : 65535;
    uint32_t gy = gx ? (uint32_t)((groups + gx - 1) / gx) : 0;
    if (gy > 65535)
        return lf_error_set(err, LF_ERR_UNSUPPORTED, "%s: %llu invocations are too many", shader,
                            (unsigned long long)invocations);
    return lf_vk_run(device, shader, NULL, 0, push, push_size, gx, gy, 1, err);
}

enum lf_status lf_vk_check_row_walks(const char *op, struct lf_tensor *x, int walks,
                                     struct lf_error *err)
{
    char a[96];
    int64_t cols = x->shape[x->rank - 1], most = 8 * (65535 / walks);
    if (cols <= most) return LF_OK;
    return lf_error_set(err, LF_ERR_UNSUPPORTED,
                        "%s: rows of %lld are over the supported %lld (x %s)", op, (long long)cols,
                        (long long)most, lf_op_shape_text(x, a, sizeof a));
}

enum lf_status lf_vk_scratch(struct lf_tensor *like, enum lf_dtype dtype, int64_t count,
                             struct lf_tensor **out, struct lf_error *err)
{
    return lf_tensor_create(like->device, dtype, 1, &count, out, err);
}
