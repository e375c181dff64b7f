/*
** cli_bench.c - `lcmflow bench <what>`: timings of the compute ops.
**
** `lcmflow bench ops` times, through the public ops.h interface, the op
** shapes of one SD 1.5 UNet step and of the VAE decoder at 512x512, and
** prints time, GFLOP/s (or GB/s) and the device.  Where OpenBLAS is
** installed it is loaded at run time with dlopen (the library never links
** it) and the same GEMM shapes - convolutions as their im2col GEMMs, M = H*W,
** N = Cout, K = 9*Cin, attention as its two GEMMs per head - are timed in the
** same run, interleaved with the device runs, so that the ratio is fair on a
** shared, noisy machine.  An op that returns an error prints
** "not available: <message>" and the bench goes on.
*/
#include "cli.h"
#include "lcmflow/ops.h"

#include <dlfcn.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* {======================================================== OpenBLAS */

/* cblas enum values, fixed by the CBLAS standard. */
#define CBLAS_ROW_MAJOR 101
#define CBLAS_NO_TRANS  111
#define CBLAS_TRANS     112

typedef void (*sgemm_fn)(int order, int trans_a, int trans_b, int m, int n, int k, float alpha,
                         const float *a, int lda, const float *b, int ldb, float beta, float *c,
                         int ldc);

struct blas {
    void *handle;
    sgemm_fn sgemm;
    const char *config;
    int threads;
};

static void blas_open(struct blas *b)
{
    memset(b, 0, sizeof *b);
    b->handle = dlopen("libopenblas.so.0", RTLD_NOW | RTLD_LOCAL);
    if (!b->handle) return;
    /* POSIX allows converting dlsym's object pointer to a function pointer;
    ** the memcpy keeps -Wpedantic quiet about it. */
    void *sym = dlsym(b->handle, "cblas_sgemm");
    if (!sym) {
        dlclose(b->handle);
        b->handle = NULL;
        return;
    }
    memcpy(&b->sgemm, &sym, sizeof sym);
    char *(*config)(void) = NULL;
    int (*threads)(void) = NULL;
    if ((sym = dlsym(b->handle, "openblas_get_config"))) memcpy(&config, &sym, sizeof sym);
    if ((sym = dlsym(b->handle, "openblas_get_num_threads"))) memcpy(&threads, &sym, sizeof sym);
    b->config = config ? config() : "OpenBLAS";
    b->threads = threads ? threads() : 0;
}

/* }======================================================== */

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static void fill_random(float *x, size_t n, uint32_t seed)
{
    uint32_t s = seed * 2654435761u + 1;
    for (size_t i = 0; i < n; i++) {
        s = s * 1664525u + 1013904223u;
        x[i] = (float)(s >> 8) * (2.0f / 16777216.0f) - 1.0f;
    }
}

/* A tensor of random values in [-1, 1); NULL (and a message in err) on failure. */
static struct lf_tensor *random_tensor(struct lf_device *dev, enum lf_dtype dtype, int rank,
                                       const int64_t *shape, uint32_t seed, struct lf_error *err)
{
    int64_t n = 1;
    for (int i = 0; i < rank; i++)
        n *= shape[i];
    float *x = malloc((size_t)n * sizeof *x);
    if (!x) {
        lf_error_set(err, LF_ERR_OUT_OF_MEMORY, "out of host memory for a %lld-element input",
                     (long long)n);
        return NULL;
    }
    fill_random(x, (size_t)n, seed);
    struct lf_tensor *t = NULL;
    lf_tensor_from_f32(dev, dtype, rank, shape, x, &t, err);
    free(x);
    return t;
}

/* {======================================================== cases */

enum bench_kind {
    BENCH_LINEAR,
    BENCH_CONV3X3,
    BENCH_ATTENTION,
    BENCH_GROUP_NORM_SILU,
};

struct bench_case {
    const char *name;
    enum bench_kind kind;
    /* linear: m rows, n outputs, k inputs.  conv: c = cin = cout, h = w.
    ** attention: m queries, k keys, heads, head dim.  group norm: c, h. */
    int64_t m, n, k;
    int64_t c, h, heads, dim;
};

static const struct bench_case cases[] = {
    {"gemm 4096x320x320 (linear)", BENCH_LINEAR, 4096, 320, 320, 0, 0, 0, 0},
    {"gemm 4096x1280x320 (linear)", BENCH_LINEAR, 4096, 1280, 320, 0, 0, 0, 0},
    {"gemm 1024x2560x640 (linear)", BENCH_LINEAR, 1024, 2560, 640, 0, 0, 0, 0},
    {"conv3x3 320->320 64x64", BENCH_CONV3X3, 0, 0, 0, 320, 64, 0, 0},
    {"conv3x3 128->128 512x512", BENCH_CONV3X3, 0, 0, 0, 128, 512, 0, 0},
    {"self-attention 4096 x 8 x 40", BENCH_ATTENTION, 4096, 0, 4096, 0, 0, 8, 40},
    {"cross-attention 4096x77 x 8 x 40", BENCH_ATTENTION, 4096, 0, 77, 0, 0, 8, 40},
    {"group norm+SiLU 320 @ 64x64", BENCH_GROUP_NORM_SILU, 0, 0, 0, 320, 64, 0, 0},
};

/* The inputs of one case on the device, and the host matrices of its
** OpenBLAS counterpart. */
struct bench_run {
    const struct bench_case *bc;
    struct lf_tensor *in[4];
    double flop;  /* per run; 0 for memory-bound ops */
    double bytes; /* per run, for memory-bound ops */
    /* OpenBLAS: C[m, n] = A[m, k] @ op(B), repeated `times` times. */
    int bm, bn, bk, times;
    bool b_trans;
    float *ba, *bb, *bc_;
};

static void run_free(struct bench_run *r)
{
    for (int i = 0; i < 4; i++)
        lf_tensor_release(r->in[i]);
    free(r->ba), free(r->bb), free(r->bc_);
    memset(r, 0, sizeof *r);
}

static enum lf_status run_setup(struct lf_device *dev, const struct bench_case *bc,
                                enum lf_dtype act, enum lf_dtype wdt, struct bench_run *r,
                                struct lf_error *err)
{
    memset(r, 0, sizeof *r);
    r->bc = bc;
    switch (bc->kind) {
    case BENCH_LINEAR: {
        int64_t x[2] = {bc->m, bc->k}, w[2] = {bc->n, bc->k}, b[1] = {bc->n};
        r->in[0] = random_tensor(dev, act, 2, x, 1, err);
        r->in[1] = r->in[0] ? random_tensor(dev, wdt, 2, w, 2, err) : NULL;
        r->in[2] = r->in[1] ? random_tensor(dev, wdt, 1, b, 3, err) : NULL;
        if (!r->in[2]) return LF_ERR_OUT_OF_MEMORY;
        r->flop = 2.0 * (double)bc->m * (double)bc->n * (double)bc->k;
        r->bm = (int)bc->m, r->bn = (int)bc->n, r->bk = (int)bc->k, r->times = 1;
        r->b_trans = true;
        break;
    }
    case BENCH_CONV3X3: {
        int64_t x[4] = {1, bc->c, bc->h, bc->h}, w[4] = {bc->c, bc->c, 3, 3}, b[1] = {bc->c};
        r->in[0] = random_tensor(dev, act, 4, x, 1, err);
        r->in[1] = r->in[0] ? random_tensor(dev, wdt, 4, w, 2, err) : NULL;
        r->in[2] = r->in[1] ? random_tensor(dev, wdt, 1, b, 3, err) : NULL;
        if (!r->in[2]) return LF_ERR_OUT_OF_MEMORY;
        r->flop = 2.0 * (double)(bc->h * bc->h) * (double)bc->c * (double)(9 * bc->c);
        r->bm = (int)(bc->h * bc->h), r->bn = (int)bc->c, r->bk = (int)(9 * bc->c);
        r->times = 1;
        r->b_trans = true;
        break;
    }
    case BENCH_ATTENTION: {
        int64_t q[3] = {1, bc->m, bc->heads * bc->dim}, kv[3] = {1, bc->k, bc->heads * bc->dim};
        r->in[0] = random_tensor(dev, act, 3, q, 1, err);
        r->in[1] = r->in[0] ? random_tensor(dev, act, 3, kv, 2, err) : NULL;
        r->in[2] = r->in[1] ? random_tensor(dev, act, 3, kv, 3, err) : NULL;
        if (!r->in[2]) return LF_ERR_OUT_OF_MEMORY;
        /* Scores and values: two GEMMs per head (the softmax not counted). */
        r->flop = 4.0 * (double)bc->heads * (double)bc->m * (double)bc->k * (double)bc->dim;
        break;
    }
    case BENCH_GROUP_NORM_SILU: {
        int64_t x[4] = {1, bc->c, bc->h, bc->h}, g[1] = {bc->c};
        r->in[0] = random_tensor(dev, act, 4, x, 1, err);
        r->in[1] = r->in[0] ? random_tensor(dev, wdt, 1, g, 2, err) : NULL;
        r->in[2] = r->in[1] ? random_tensor(dev, wdt, 1, g, 3, err) : NULL;
        if (!r->in[2]) return LF_ERR_OUT_OF_MEMORY;
        /* Read once, written once (a second read for the statistics is not counted). */
        r->bytes = 2.0 * (double)(bc->c * bc->h * bc->h) * (double)lf_dtype_size(act);
        break;
    }
    }
    return LF_OK;
}

/* Host matrices for OpenBLAS, made only when the device op ran.  Attention
** is timed as its GEMMs: per head S = Q K^T (m x k x dim), then S V. */
static bool blas_setup(struct bench_run *r)
{
    const struct bench_case *bc = r->bc;
    if (bc->kind == BENCH_ATTENTION) {
        r->bm = (int)bc->m, r->bn = (int)bc->k, r->bk = (int)bc->dim;
        r->times = (int)bc->heads;
    }
    if (!r->bm) return false;
    size_t na = (size_t)r->bm * (size_t)r->bk, nb = (size_t)r->bk * (size_t)r->bn;
    size_t nc = (size_t)r->bm * (size_t)r->bn;
    r->ba = malloc(na * sizeof(float));
    r->bb = malloc(nb * sizeof(float));
    r->bc_ = malloc(nc * sizeof(float));
    if (!r->ba || !r->bb || !r->bc_) return false;
    fill_random(r->ba, na, 11);
    fill_random(r->bb, nb, 12);
    fill_random(r->bc_, nc, 13);
    return true;
}

static void blas_run(const struct blas *b, const struct bench_run *r)
{
    for (int t = 0; t < r->times; t++) {
        if (r->bc->kind == BENCH_ATTENTION) {
            /* S[m, k] = Q[m, dim] K[k, dim]^T; O[m, dim] = S[m, k] V[k, dim]
            ** (the same buffers serve as V and O: only the time matters). */
            b->sgemm(CBLAS_ROW_MAJOR, CBLAS_NO_TRANS, CBLAS_TRANS, r->bm, r->bn, r->bk, 1.0f, r->ba,
                     r->bk, r->bb, r->bk, 0.0f, r->bc_, r->bn);
            b->sgemm(CBLAS_ROW_MAJOR, CBLAS_NO_TRANS, CBLAS_NO_TRANS, r->bm, r->bk, r->bn, 1.0f,
                     r->bc_, r->bn, r->bb, r->bk, 0.0f, r->ba, r->bk);
        } else {
            b->sgemm(CBLAS_ROW_MAJOR, CBLAS_NO_TRANS, r->b_trans ? CBLAS_TRANS : CBLAS_NO_TRANS,
                     r->bm, r->bn, r->bk, 1.0f, r->ba, r->bk, r->bb, r->b_trans ? r->bk : r->bn,
                     0.0f, r->bc_, r->bn);
        }
    }
}

/* One run of the op on the device, waited for. */
static enum lf_status device_run(struct lf_device *dev, const struct bench_run *r,
                                 struct lf_error *err)
{
    const struct bench_case *bc = r->bc;
    struct lf_tensor *out = NULL;
    enum lf_status s = LF_OK;
    switch (bc->kind) {
    case BENCH_LINEAR:
        s = lf_op_linear(r->in[0], r->in[1], r->in[2], &out, err);
        break;
    case BENCH_CONV3X3: {
        struct lf_conv2d_params p = {
            .stride = 1, .pad_top = 1, .pad_bottom = 1, .pad_left = 1, .pad_right = 1};
        s = lf_op_conv2d(r->in[0], r->in[1], r->in[2], &p, &out, err);
        break;
    }
    case BENCH_ATTENTION:
        s = lf_op_attention(r->in[0], r->in[1], r->in[2], (int)bc->heads,
                            1.0f / sqrtf((float)bc->dim), false, &out, err);
        break;
    case BENCH_GROUP_NORM_SILU:
        s = lf_op_group_norm(r->in[0], r->in[1], r->in[2], 32, 1e-5f, true, &out, err);
        break;
    }
    if (s == LF_OK) s = lf_device_sync(dev, err);
    lf_tensor_release(out);
    return s;
}

/* }======================================================== */

static void print_rate(const struct bench_run *r, double seconds)
{
    if (r->flop > 0)
        printf(" %8.1f GFLOP/s", r->flop / seconds * 1e-9);
    else
        printf(" %8.1f GB/s   ", r->bytes / seconds * 1e-9);
}

static void bench_one(struct lf_device *dev, const struct blas *blas, const struct bench_case *bc,
                      enum lf_dtype act, enum lf_dtype wdt, int repeat, double *times)
{
    char label[80], text[1200];
    snprintf(label, sizeof label, "%s %s%s", bc->name, lf_dtype_name(act),
             wdt != act ? "/f16w" : "");
    printf("%-46s", label);
    fflush(stdout);
    struct lf_error err = {0};
    struct bench_run r;
    if (run_setup(dev, bc, act, wdt, &r, &err) != LF_OK ||
        device_run(dev, &r, &err) != LF_OK) { /* warm-up: pipelines, memory */
        printf(" not available: %s\n", lf_error_text(&err, text, sizeof text));
        run_free(&r);
        return;
    }
    bool with_blas = blas->sgemm && blas_setup(&r);
    if (with_blas) blas_run(blas, &r);
    double *dt = times, *bt = times + repeat, *pair = times + 2 * repeat;
    for (int i = 0; i < repeat; i++) {
        double t0 = now_s();
        if (device_run(dev, &r, &err) != LF_OK) {
            printf(" failed: %s\n", lf_error_text(&err, text, sizeof text));
            run_free(&r);
            return;
        }
        dt[i] = now_s() - t0;
        if (with_blas) {
            t0 = now_s();
            blas_run(blas, &r);
            bt[i] = now_s() - t0;
            pair[i] = bt[i] / dt[i];
        }
    }
    qsort(dt, (size_t)repeat, sizeof *dt, cmp_double);
    printf(" %9.2f %9.2f", dt[0] * 1e3, dt[repeat / 2] * 1e3);
    print_rate(&r, dt[0]);
    if (with_blas) {
        qsort(bt, (size_t)repeat, sizeof *bt, cmp_double);
        printf(" %9.2f", bt[0] * 1e3);
        print_rate(&r, bt[0]);
        /* Each OpenBLAS run follows a device run: the ratio within a pair
        ** sees one machine load, so the median of the pairs is steadier
        ** than a ratio of best times taken at different moments. */
        qsort(pair, (size_t)repeat, sizeof *pair, cmp_double);
        printf(" %6.1f %%", 100.0 * pair[repeat / 2]);
    }
    printf("\n");
    run_free(&r);
}

static int bench_ops(int argc, char **argv)
{
    int repeat = 5, device_index;
    const char *device_choice = NULL;
    bool f32 = true;
    const char *only = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--repeat") && i + 1 < argc)
            repeat = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--device") && i + 1 < argc)
            device_choice = argv[++i];
        else if (!strcmp(argv[i], "--no-f32"))
            f32 = false;
        else if (!strcmp(argv[i], "--only") && i + 1 < argc)
            only = argv[++i];
        else {
            fprintf(stderr, "lcmflow bench ops: unknown option '%s'\n", argv[i]);
            return 2;
        }
    }
    if (repeat < 1 || repeat > 1000) {
        fprintf(stderr, "lcmflow bench ops: --repeat must be 1..1000\n");
        return 2;
    }
    if (!lf_cli_device_choice("bench ops", device_choice, &device_index)) return 2;
    struct lf_device_options opt = {.index = device_index};
    struct lf_device *dev = NULL;
    struct lf_error err = {0};
    char text[1200];
    if (lf_device_create(&opt, &dev, &err) != LF_OK) {
        fprintf(stderr, "lcmflow bench ops: %s\n", lf_error_text(&err, text, sizeof text));
        return 1;
    }
    const struct lf_device_info *info = lf_device_get_info(dev);
    /* The details' first line names the driver. */
    printf("device:   %s (%s), %.*s\n", info->name, lf_device_type_name(info->type),
           (int)strcspn(info->details, "\n"), info->details);
    struct blas blas;
    blas_open(&blas);
    if (blas.sgemm)
        printf("OpenBLAS: %s, %d threads (libopenblas.so.0, same shapes, same run)\n", blas.config,
               blas.threads);
    else
        printf("OpenBLAS: not found (libopenblas.so.0): no comparison\n");
    printf("timing:   best and median of %d runs after one warm-up; rates from the best runs;\n"
           "          ratio = OpenBLAS time / device time, median over the %d pairs of runs\n\n",
           repeat, repeat);
    printf("%-46s %9s %9s %15s %9s %15s %8s\n", "op (activations/weights)", "best ms", "med ms",
           "device", "BLAS ms", "OpenBLAS", "ratio");
    double *times = malloc(3 * (size_t)repeat * sizeof *times);
    bool f16 = lf_device_supports_f16(dev);
    for (size_t c = 0; times && c < sizeof cases / sizeof *cases; c++) {
        const struct bench_case *bc = &cases[c];
        if (only && !strstr(bc->name, only)) continue;
        bool weights = bc->kind != BENCH_ATTENTION;
        if (f16 && weights) bench_one(dev, &blas, bc, LF_DTYPE_F32, LF_DTYPE_F16, repeat, times);
        if (!weights || !f16 || (f32 && bc->kind == BENCH_LINEAR))
            bench_one(dev, &blas, bc, LF_DTYPE_F32, LF_DTYPE_F32, repeat, times);
    }
    free(times);
    lf_device_destroy(dev);
    if (blas.handle) dlclose(blas.handle);
    return 0;
}

static const struct lf_cli_command benches[] = {
    {"ops", "time the op shapes of one SD 1.5 UNet step and the VAE decoder", bench_ops},
    {"sd15", "time a full-size SD 1.5 txt2img by stage, with peak memory", lf_cli_bench_sd15},
    {"peak", "measure the CPU's fp32 FMA peak (all threads, then one)", lf_cli_bench_peak},
    {NULL, NULL, NULL},
};

static void bench_usage(FILE *f)
{
    fprintf(f, "usage: lcmflow bench <what> [options]\n\n");
    for (const struct lf_cli_command *c = benches; c->name; c++)
        fprintf(f, "  %-8s %s\n", c->name, c->summary);
    fprintf(f, "\nlcmflow bench ops [--repeat N] [--device N|NAME] [--no-f32] [--only TEXT]\n"
               "  f16 weights with f32 activations (the usual setting), and all-f32 GEMMs\n"
               "  unless --no-f32; OpenBLAS, when installed, runs the same shapes in the\n"
               "  same run (convolutions as im2col GEMMs, attention as its two GEMMs).\n"
               "  --only TEXT runs the cases whose name contains TEXT (e.g. 'gemm').\n");
}

int lf_cli_bench(int argc, char **argv)
{
    if (argc < 2) {
        bench_usage(stderr);
        return 2;
    }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        bench_usage(stdout);
        return 0;
    }
    for (const struct lf_cli_command *c = benches; c->name; c++)
        if (!strcmp(argv[1], c->name)) return c->run(argc - 1, argv + 1);
    fprintf(stderr, "lcmflow bench: unknown benchmark '%s'\n", argv[1]);
    bench_usage(stderr);
    return 2;
}
