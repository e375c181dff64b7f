/*
** bench_attention.c - times lf_op_attention against an OpenBLAS attention
** (per head: S = scale * Q K^T by sgemm, a row softmax, O = S V by sgemm)
** on the same shape in the same run, and prints the ratio.  A benchmark,
** not a test (built only when OpenBLAS is installed); `lcmflow bench ops`
** is the project's general benchmark.
**
** Usage: bench-attention [Lq Lk heads head_dim [f16] [reps]]
** (default: SD 1.5's 512x512 self-attention, 4096 4096 8 40).
*/
#include "lcmflow/ops.h"

#include <cblas.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

/* The baseline: the score matrix of one head at a time (Lq x Lk floats);
** the softmax is vectorised by the compiler (-O3 -ffast-math, libmvec)
** and split over the cores with OpenMP, like the sgemms. */
static void blas_attention(const float *q, const float *k, const float *v, int lq, int lk,
                           int heads, int d, float scale, float *scores, float *out)
{
    int c = heads * d;
    for (int h = 0; h < heads; h++) {
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, lq, lk, d, scale, q + h * d, c,
                    k + h * d, c, 0.0f, scores, lk);
#pragma omp parallel for
        for (int i = 0; i < lq; i++) {
            float *row = scores + (size_t)i * lk, mx = -INFINITY, sum = 0;
            for (int j = 0; j < lk; j++)
                mx = row[j] > mx ? row[j] : mx;
            for (int j = 0; j < lk; j++) {
                row[j] = expf(row[j] - mx);
                sum += row[j];
            }
            float inv = 1.0f / sum;
            for (int j = 0; j < lk; j++)
                row[j] *= inv;
        }
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, lq, d, lk, 1.0f, scores, lk,
                    v + h * d, c, 0.0f, out + h * d, c);
    }
}

static int compare(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
    int lq = argc > 4 ? atoi(argv[1]) : 4096, lk = argc > 4 ? atoi(argv[2]) : 4096;
    int heads = argc > 4 ? atoi(argv[3]) : 8, d = argc > 4 ? atoi(argv[4]) : 40;
    bool f16 = argc > 5 && !strcmp(argv[5], "f16");
    int reps = argc > 6 ? atoi(argv[6]) : 3;
    if (lq < 1 || lk < 1 || heads < 1 || d < 1 || reps < 1 || reps > 64) {
        fprintf(stderr, "usage: %s [Lq Lk heads head_dim [f16|f32] [reps]]\n", argv[0]);
        return 2;
    }
    size_t nq = (size_t)lq * heads * d, nk = (size_t)lk * heads * d;
    float *q = malloc(nq * 4), *k = malloc(nk * 4), *v = malloc(nk * 4);
    float *out = malloc(nq * 4), *got = malloc(nq * 4), *scores = malloc((size_t)lq * lk * 4);
    if (!q || !k || !v || !out || !got || !scores) {
        fprintf(stderr, "out of memory\n");
        return 1;
    }
    srand(1);
    for (size_t i = 0; i < nq; i++)
        q[i] = (float)rand() / RAND_MAX - 0.5f;
    for (size_t i = 0; i < nk; i++) {
        k[i] = (float)rand() / RAND_MAX - 0.5f;
        v[i] = (float)rand() / RAND_MAX - 0.5f;
    }
    struct lf_error err = {0};
    struct lf_device *device;
    char text[1200];
    if (lf_device_create(NULL, &device, &err) != LF_OK) {
        fprintf(stderr, "%s\n", lf_error_text(&err, text, sizeof text));
        return 1;
    }
    enum lf_dtype dtype = f16 ? LF_DTYPE_F16 : LF_DTYPE_F32;
    int64_t qs[3] = {1, lq, (int64_t)heads * d}, ks[3] = {1, lk, (int64_t)heads * d};
    struct lf_tensor *tq, *tk, *tv, *to = NULL;
    if (lf_tensor_from_f32(device, dtype, 3, qs, q, &tq, &err) ||
        lf_tensor_from_f32(device, dtype, 3, ks, k, &tk, &err) ||
        lf_tensor_from_f32(device, dtype, 3, ks, v, &tv, &err)) {
        fprintf(stderr, "%s\n", lf_error_text(&err, text, sizeof text));
        return 1;
    }
    float scale = (float)(1.0 / sqrt((double)d));
    double flop = 4.0 * lq * lk * heads * d;
    double tvk[64], tblas[64];
    /* One untimed run compiles the pipeline; then pairs, so both see the
    ** same machine load. */
    for (int r = -1; r < reps; r++) {
        lf_tensor_release(to);
        double t0 = now();
        if (lf_op_attention(tq, tk, tv, heads, scale, false, &to, &err) ||
            lf_device_sync(device, &err)) {
            fprintf(stderr, "%s\n", lf_error_text(&err, text, sizeof text));
            return 1;
        }
        double t1 = now();
        blas_attention(q, k, v, lq, lk, heads, d, scale, scores, out);
        double t2 = now();
        if (r >= 0) tvk[r] = t1 - t0, tblas[r] = t2 - t1;
    }
    lf_tensor_download_f32(to, got, (int64_t)nq, &err);
    double worst = 0;
    for (size_t i = 0; i < nq; i++)
        worst = fmax(worst, fabs((double)got[i] - out[i]));
    qsort(tvk, (size_t)reps, sizeof *tvk, compare);
    qsort(tblas, (size_t)reps, sizeof *tblas, compare);
    double mv = tvk[reps / 2], mb = tblas[reps / 2];
    const struct lf_device_info *info = lf_device_get_info(device);
    const char *variant = getenv("LCMFLOW_OP_VARIANT");
    printf("attention Lq %d Lk %d heads %d head_dim %d %s on %s (variant %s)\n", lq, lk, heads, d,
           f16 ? "f16" : "f32", info->name, variant ? variant : "default");
    printf("  lcmflow  %8.1f ms  %6.2f GFLOP/s (median of %d)\n", mv * 1e3, flop / mv * 1e-9, reps);
    printf("  openblas %8.1f ms  %6.2f GFLOP/s (2 sgemm + softmax)\n", mb * 1e3, flop / mb * 1e-9);
    printf("  ratio    %8.1f %%   max |diff| %.2g\n", 100 * mb / mv, worst);
    lf_tensor_release(tq), lf_tensor_release(tk), lf_tensor_release(tv), lf_tensor_release(to);
    lf_device_destroy(device);
    free(q), free(k), free(v), free(out), free(got), free(scores);
    return worst < (f16 ? 1e-2 : 1e-3) ? 0 : 1;
}
