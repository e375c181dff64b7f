/*
** bench_lora.c - times LoRA merging on a full-size model: loading the LoRA
** file (parse + upload), applying it (sd_lora_apply, waited for), and
** changing its strength (a second apply from the same base, as a
** LoraLoader node re-runs from its cached input).  Run by lora.sh.
**
**     bench-lora CHECKPOINT LORA [f16|f32]
*/
#include "lcmflow/device.h"
#include "lcmflow/ops.h"
#include "sd_checkpoint.h"
#include "sd_lora.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int fail(const char *what, const struct lf_error *err)
{
    char text[1200];
    fprintf(stderr, "bench-lora: %s: %s\n", what, lf_error_text(err, text, sizeof text));
    return 1;
}

/* One apply at strength, waited for; returns seconds or a negative value. */
static double timed_apply(struct lf_device *dev, struct sd_weights *base, struct sd_lora *lora,
                          float strength, struct sd_weights **out, struct lf_error *err)
{
    const struct sd_lora *stack[1] = {lora};
    double t0 = now();
    if (sd_lora_apply(base, SD_LORA_PART_UNET, stack, &strength, 1, out, err) != LF_OK ||
        lf_device_sync(dev, err) != LF_OK)
        return -1.0;
    return now() - t0;
}

/* bench-lora --shape N K R [f16|f32]: one weight [N, K], the merge op
** against GEMM + add, for tuning. */
static int shape_bench(struct lf_device *dev, int64_t n, int64_t k, int64_t r, enum lf_dtype dtype)
{
    struct lf_error err = {0};
    int64_t ws[2] = {n, k}, us[2] = {n, r}, ds[2] = {r, k};
    struct lf_tensor *w, *up, *down;
    float *host = calloc((size_t)(n * k), sizeof *host);
    for (int64_t i = 0; i < n * k; i++)
        host[i] = (float)(i % 17) * 0.01f;
    if (lf_tensor_from_f32(dev, dtype, 2, ws, host, &w, &err) ||
        lf_tensor_from_f32(dev, LF_DTYPE_F32, 2, us, host, &up, &err) ||
        lf_tensor_from_f32(dev, LF_DTYPE_F32, 2, ds, host, &down, &err) ||
        lf_device_sync(dev, &err))
        return fail("setup", &err);
    for (int rep = 0; rep < 3; rep++) {
        struct lf_tensor *acc, *res, *delta, *ups, *sum;
        double t0 = now();
        if (lf_tensor_create(dev, LF_DTYPE_F32, 2, ws, &acc, &err) || lf_op_copy(acc, w, &err) ||
            lf_device_sync(dev, &err))
            return fail("copy", &err);
        double t1 = now();
        if (lf_op_lora_merge(acc, up, down, 0.5f, &err) || lf_device_sync(dev, &err))
            return fail("merge", &err);
        double t2 = now();
        if (lf_tensor_create(dev, dtype, 2, ws, &res, &err) || lf_op_copy(res, acc, &err) ||
            lf_device_sync(dev, &err))
            return fail("copy", &err);
        double t3 = now();
        if (lf_op_scale(up, 0.5f, 0.0f, &ups, &err) ||
            lf_op_gemm(ups, down, NULL, false, false, &delta, &err) || lf_device_sync(dev, &err))
            return fail("gemm", &err);
        double t4 = now();
        if (lf_op_binary(w, delta, LF_BINARY_ADD, &sum, &err) || lf_device_sync(dev, &err))
            return fail("add", &err);
        double t5 = now();
        printf("[%lld, %lld] r %lld: copy %.3f merge %.3f store %.3f | gemm %.3f add %.3f s\n",
               (long long)n, (long long)k, (long long)r, t1 - t0, t2 - t1, t3 - t2, t4 - t3,
               t5 - t4);
        lf_tensor_release(acc), lf_tensor_release(res), lf_tensor_release(delta);
        lf_tensor_release(ups), lf_tensor_release(sum);
    }
    lf_tensor_release(w), lf_tensor_release(up), lf_tensor_release(down);
    free(host);
    return 0;
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (argc >= 5 && !strcmp(argv[1], "--shape")) {
        struct lf_device_options o = {.index = -1};
        struct lf_device *d = NULL;
        struct lf_error e = {0};
        if (lf_device_create(&o, &d, &e) != LF_OK) return fail("device", &e);
        int rc = shape_bench(d, atoll(argv[2]), atoll(argv[3]), atoll(argv[4]),
                             argc > 5 && !strcmp(argv[5], "f32") ? LF_DTYPE_F32 : LF_DTYPE_F16);
        lf_device_destroy(d);
        return rc;
    }
    if (argc < 3) {
        fprintf(stderr, "usage: bench-lora CHECKPOINT LORA [f16|f32]\n");
        return 2;
    }
    enum lf_dtype dtype = argc > 3 && !strcmp(argv[3], "f32") ? LF_DTYPE_F32 : LF_DTYPE_F16;
    struct lf_device_options opt = {.index = -1};
    struct lf_device *dev = NULL;
    struct lf_error err = {0};
    if (lf_device_create(&opt, &dev, &err) != LF_OK) return fail("device", &err);
    const struct lf_device_info *info = lf_device_get_info(dev);
    printf("device: %s (%s)\n", info->name, lf_device_type_name(info->type));

    struct sd_checkpoint ck;
    double t0 = now();
    if (sd_checkpoint_load(dev, argv[1], dtype, &ck, &err) != LF_OK)
        return fail("checkpoint", &err);
    if (lf_device_sync(dev, &err) != LF_OK) return fail("sync", &err);
    printf("checkpoint load (%s weights): %.2f s\n", lf_dtype_name(dtype), now() - t0);

    struct sd_lora *lora;
    t0 = now();
    if (sd_lora_load(dev, argv[2], &lora, &err) != LF_OK) return fail("LoRA", &err);
    if (lf_device_sync(dev, &err) != LF_OK) return fail("sync", &err);
    double t_load = now() - t0;
    struct sd_lora_report rep;
    t0 = now();
    if (sd_lora_match(lora, ck.unet, ck.clip, &rep, &err) != LF_OK) return fail("match", &err);
    double t_match = now() - t0;
    printf("LoRA: %s, %zu modules, rank %lld..%lld, %lld parameters; matched %zu of %zu UNet "
           "layers\n",
           sd_lora_format_name(lora->format), lora->count, (long long)lora->min_rank,
           (long long)lora->max_rank, (long long)lora->params, rep.matched_unet, rep.unet_targets);
    sd_lora_report_clear(&rep);
    printf("LoRA file load + upload: %.2f s; matching: %.3f s\n", t_load, t_match);

    struct sd_weights *first, *second;
    double t_apply = timed_apply(dev, ck.unet, lora, 1.0f, &first, &err);
    if (t_apply < 0) return fail("apply", &err);
    printf("apply at strength 1.0: %.2f s\n", t_apply);
    /* The node keeps its previous output until the new one replaces it. */
    double t_change = timed_apply(dev, ck.unet, lora, 0.5f, &second, &err);
    if (t_change < 0) return fail("apply", &err);
    printf("change strength to 0.5 (re-merge from the base): %.2f s\n", t_change);
    struct lf_device_memory_stats mem;
    lf_device_memory_stats(dev, &mem);
    printf("device memory peak: %.2f GiB\n", (double)mem.peak_in_use / (1024.0 * 1024 * 1024));

    sd_weights_release(first);
    sd_weights_release(second);
    sd_lora_release(lora);
    sd_checkpoint_clear(&ck);
    lf_device_destroy(dev);
    return 0;
}
