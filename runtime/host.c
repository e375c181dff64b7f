/*
** host.c - the lf_host_api table plugins receive: log, progress,
** interruption, errors and the shared device.
*/
#include "executor-impl.h"
#include "lcmflow/registry.h"
#include "lcmflow/device.h"
#include "lcmflow/device_select.h"

#include <stdarg.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

static void host_log(struct lf_host_ctx *ctx, enum lf_log_level level, const char *fmt, ...)
{
    static const char *const names[] = {"error", "warning", "info", "debug"};
    char text[1024];
    size_t len = 0;
    va_list ap;
    if (level == LF_LOG_DEBUG && !getenv("LCMFLOW_DEBUG")) return;
    if (ctx && ctx->node_id) len = (size_t)snprintf(text, sizeof text, "%s: ", ctx->node_id);
    if (len < sizeof text && (unsigned)level <= LF_LOG_DEBUG)
        len += (size_t)snprintf(text + len, sizeof text - len, "%s: ", names[level]);
    va_start(ap, fmt);
    if (len < sizeof text) vsnprintf(text + len, sizeof text - len, fmt, ap);
    va_end(ap);
    /* Quiet sessions still show errors and warnings. */
    if (ctx && ctx->session &&
        (ctx->session->progress.mode != LF_PROGRESS_NONE || level <= LF_LOG_WARNING))
        lf_progress_message(&ctx->session->progress, text);
    else if (!ctx || level <= LF_LOG_WARNING)
        fprintf(stderr, "%s\n", text);
}

static void host_progress(struct lf_host_ctx *ctx, int step, int total)
{
    if (!ctx || !ctx->session) return;
    lf_progress_step(&ctx->session->progress, step, total);
    if (ctx->session->observer.step)
        ctx->session->observer.step(ctx->session->observer.user, ctx->node_id, step, total);
}

static void host_latent_preview(struct lf_host_ctx *ctx, int step, int total, const float *latent,
                                const int64_t shape[4])
{
    const struct lf_session_observer *o = ctx && ctx->session ? &ctx->session->observer : NULL;
    if (o && o->latent && latent && shape)
        o->latent(o->user, ctx->node_id, step, total, latent, shape);
}

static void host_image_preview(struct lf_host_ctx *ctx, int step, int total,
                               struct lf_tensor *image)
{
    const struct lf_session_observer *o = ctx && ctx->session ? &ctx->session->observer : NULL;
    if (o && o->image && image) o->image(o->user, ctx->node_id, step, total, image);
}

static bool host_interrupted(struct lf_host_ctx *ctx)
{
    return ctx && ctx->session && atomic_load(&ctx->session->interrupted);
}

static enum lf_status host_error_set(struct lf_error *err, enum lf_status code, const char *fmt,
                                     ...)
{
    if (err) {
        va_list ap;
        lf_error_clear(err);
        err->code = code;
        va_start(ap, fmt);
        vsnprintf(err->message, sizeof err->message, fmt, ap);
        va_end(ap);
    }
    return code;
}

static struct lf_device *host_get_device(struct lf_host_ctx *ctx, struct lf_error *err)
{
    struct lf_session *s = ctx ? ctx->session : NULL;
    if (!s) {
        lf_error_set(err, LF_ERR_NO_DEVICE, "no session to hold a device");
        return NULL;
    }
    if (!s->device) {
        struct lf_device_options opts = {.index = -1};
        if (lf_device_select(NULL, &opts.index, err) != LF_OK ||
            lf_device_create(&opts, &s->device, err) != LF_OK)
            return NULL;
    }
    return s->device;
}

static const char *host_graph_yaml(struct lf_host_ctx *ctx)
{
    if (!ctx || !ctx->graph) return NULL;
    if (!ctx->graph_yaml && lf_graph_to_yaml(ctx->graph, &ctx->graph_yaml, NULL) != LF_OK)
        return NULL;
    return ctx->graph_yaml;
}

static struct lf_object *host_cache_get(struct lf_host_ctx *ctx, uint64_t key)
{
    if (!ctx || !ctx->session || !ctx->plugin) return NULL;
    return lf_cache_get_object(ctx->session->cache, lf_host_cache_key(ctx->plugin->name, key));
}

static bool host_cache_put(struct lf_host_ctx *ctx, uint64_t key, struct lf_object *object)
{
    if (!ctx || !ctx->session || !ctx->plugin || !object) return false;
    return lf_cache_put_object(ctx->session->cache, lf_host_cache_key(ctx->plugin->name, key),
                               object);
}

static const struct lf_host_api host_api = {
    .abi_version = LF_PLUGIN_ABI_VERSION,
    .struct_size = sizeof(struct lf_host_api),
    .log = host_log,
    .progress = host_progress,
    .interrupted = host_interrupted,
    .error_set = host_error_set,
    .get_device = host_get_device,
    .graph_yaml = host_graph_yaml,
    .cache_get = host_cache_get,
    .cache_put = host_cache_put,
    .latent_preview = host_latent_preview,
    .image_preview = host_image_preview,
};

const struct lf_host_api *lf_host_api_get(void)
{
    return &host_api;
}
