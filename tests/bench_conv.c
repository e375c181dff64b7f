/*
** bench_conv.c - times lf_op_conv2d against OpenBLAS sgemm on the same
** GEMM shape, in the same process, alternating (the machine is shared and
** noisy: the ratio is the figure to trust).  A developer's tool, not a test
** and not part of the library.
**
** usage: bench-conv [C O H W K STRIDE [REPEATS]]   (default 320 320 64 64 3 1 3)
** The conv is NCHW, f32 activations, f16 weights, pad K/2, batch 1; the
** GEMM is M = Ho*Wo, N = O, K = C*K*K (im2col), f32, OpenBLAS's threads.
** LCMFLOW_OP_VARIANT picks the conv variant.
*/
#include "lcmflow/ops.h"
#include "vk_ops.h"

#include <cblas.h>
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

static int fail(const struct lf_error *err)
{
    char text[1200];
    fprintf(stderr, "bench-conv: %s\n", lf_error_text(err, text, sizeof text));
    return 1;
}

int main(int argc, char **argv)
{
    long a[7] = {320, 320, 64, 64, 3, 1, 3};
    for (int i = 1; i < argc && i <= 7; i++)
        a[i - 1] = strtol(argv[i], NULL, 10);
    int64_t C = a[0], O = a[1], H = a[2], W = a[3], K = a[4], S = a[5];
    int reps = (int)a[6];
    struct lf_conv2d_params p = {(int)S, (int)K / 2, (int)K / 2, (int)K / 2, (int)K / 2};
    int64_t Ho = (H + 2 * (K / 2) - K) / S + 1, Wo = (W + 2 * (K / 2) - K) / S + 1;
    int64_t M = Ho * Wo, N = O, KK = C * K * K;
    double flop = 2.0 * (double)M * (double)N * (double)KK;

    struct lf_error err = {0};
    struct lf_device *dev = NULL;
    if (lf_device_create(NULL, &dev, &err)) return fail(&err);
    const struct lf_device_info *info = lf_device_get_info(dev);
    int64_t xs[4] = {1, C, H, W}, ws[4] = {O, C, K, K};
    size_t nx = (size_t)(C * H * W), nw = (size_t)(O * C * K * K);
    float *x = malloc(nx * 4), *w = malloc(nw * 4);
    float *am = malloc((size_t)(M * KK) * 4), *bm = malloc((size_t)(KK * N) * 4);
    float *cm = malloc((size_t)(M * N) * 4);
    if (!x || !w || !am || !bm || !cm) return 1;
    for (size_t i = 0; i < nx; i++)
        x[i] = (float)((i * 7919) % 1000) / 1000.0f - 0.5f;
    for (size_t i = 0; i < nw; i++)
        w[i] = (float)((i * 104729) % 1000) / 1000.0f - 0.5f;
    for (int64_t i = 0; i < M * KK; i++)
        am[i] = (float)(i % 997) / 997.0f;
    for (int64_t i = 0; i < KK * N; i++)
        bm[i] = (float)(i % 991) / 991.0f;
    struct lf_tensor *tx, *tw, *ty;
    if (lf_tensor_from_f32(dev, LF_DTYPE_F32, 4, xs, x, &tx, &err) ||
        lf_tensor_from_f32(dev, LF_DTYPE_F16, 4, ws, w, &tw, &err))
        return fail(&err);

    printf("device: %s (%.*s)\n", info->name, (int)strcspn(info->details, "\n"), info->details);
    printf("conv %lldx%lld %lld->%lld at %lldx%lld stride %lld, shader %s; "
           "sgemm M=%lld N=%lld K=%lld; %.2f GFLOP each\n",
           (long long)K, (long long)K, (long long)C, (long long)O, (long long)H, (long long)W,
           (long long)S, lf_vk_conv2d_shader(tx, tw, &p), (long long)M, (long long)N, (long long)KK,
           flop * 1e-9);
    /* Warm-up: pipeline creation and OpenBLAS's thread start. */
    if (lf_op_conv2d(tx, tw, NULL, &p, &ty, &err) || lf_device_sync(dev, &err)) return fail(&err);
    lf_tensor_release(ty);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)M, (int)N, (int)KK, 1.0f, am,
                (int)KK, bm, (int)N, 0.0f, cm, (int)N);
    double best_conv = 1e30, best_blas = 1e30, sum_ratio = 0;
    for (int r = 0; r < reps; r++) {
        double t0 = now();
        if (lf_op_conv2d(tx, tw, NULL, &p, &ty, &err) || lf_device_sync(dev, &err))
            return fail(&err);
        double t1 = now();
        lf_tensor_release(ty);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)M, (int)N, (int)KK, 1.0f, am,
                    (int)KK, bm, (int)N, 0.0f, cm, (int)N);
        double t2 = now();
        double tc = t1 - t0, tb = t2 - t1;
        printf("  run %d: conv %8.2f ms %6.1f GFLOP/s | sgemm %7.2f ms %6.1f GFLOP/s | ratio "
               "%5.1f %%\n",
               r, tc * 1e3, flop / tc * 1e-9, tb * 1e3, flop / tb * 1e-9, 100 * tb / tc);
        if (tc < best_conv) best_conv = tc;
        if (tb < best_blas) best_blas = tb;
        sum_ratio += tb / tc;
    }
    printf("best: conv %.1f GFLOP/s, sgemm %.1f GFLOP/s, ratio of bests %.1f %%, mean ratio "
           "%.1f %%\n",
           flop / best_conv * 1e-9, flop / best_blas * 1e-9, 100 * best_blas / best_conv,
           100 * sum_ratio / reps);
    lf_tensor_release(tx), lf_tensor_release(tw);
    lf_device_destroy(dev);
    free(x), free(w), free(am), free(bm), free(cm);
    return 0;
}
