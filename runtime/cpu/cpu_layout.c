/*
** cpu_layout.c - the memory-bound kernels compiled once: broadcast shapes,
** concat, nearest resize, permute, timestep embedding, fill.
*/
#include "cpu_kernels.h"

#include <math.h>
#include <string.h>

void lf_cpu_broadcast_init(int ra, const int64_t *sa, int rb, const int64_t *sb,
                           struct lf_cpu_broadcast *bc)
{
    int64_t da[4], db[4];
    for (int i = 0; i < 4; i++) {
        int ia = i - (4 - ra), ib = i - (4 - rb);
        da[i] = ia >= 0 ? sa[ia] : 1;
        db[i] = ib >= 0 ? sb[ib] : 1;
    }
    /* Merge neighbouring dims that broadcast the same way, keeping 4. */
    int64_t shape[4], ka[4], kb[4]; /* ka/kb: 1 when the operand spans the dim */
    int n = 0;
    for (int i = 0; i < 4; i++) {
        int64_t s = da[i] > db[i] ? da[i] : db[i];
        if (s == 1) continue;
        int64_t fa = da[i] == s, fb = db[i] == s;
        if (n > 0 && ka[n - 1] == fa && kb[n - 1] == fb) {
            shape[n - 1] *= s;
        } else {
            shape[n] = s, ka[n] = fa, kb[n] = fb;
            n++;
        }
    }
    /* Right-align into 4 dims, then strides. */
    for (int i = 0; i < 4; i++) {
        int j = i - (4 - n);
        bc->shape[i] = j >= 0 ? shape[j] : 1;
        int64_t fa = j >= 0 ? ka[j] : 0, fb = j >= 0 ? kb[j] : 0;
        bc->a_stride[i] = fa, bc->b_stride[i] = fb;
    }
    int64_t ra_s = 1, rb_s = 1;
    for (int i = 3; i >= 0; i--) {
        int64_t s = bc->shape[i];
        bc->a_stride[i] = bc->a_stride[i] ? ra_s : 0;
        bc->b_stride[i] = bc->b_stride[i] ? rb_s : 0;
        if (bc->a_stride[i]) ra_s *= s;
        if (bc->b_stride[i]) rb_s *= s;
    }
}

void lf_cpu_concat(const void *a, const void *b, void *y, int64_t outer, int64_t na, int64_t nb,
                   int64_t inner, size_t esize)
{
    size_t ra = (size_t)(na * inner) * esize, rb = (size_t)(nb * inner) * esize;
#pragma omp parallel for if (outer > 1 && (ra + rb) * (size_t)outer > (1u << 20))
    for (int64_t o = 0; o < outer; o++) {
        char *dst = (char *)y + (size_t)o * (ra + rb);
        memcpy(dst, (const char *)a + (size_t)o * ra, ra);
        memcpy(dst + ra, (const char *)b + (size_t)o * rb, rb);
    }
}

void lf_cpu_resize_nearest(const void *x, void *y, int64_t planes, int64_t h, int64_t w, int64_t oh,
                           int64_t ow, size_t esize)
{
#pragma omp parallel for if (planes * oh * ow > (1 << 16)) schedule(static)
    for (int64_t p = 0; p < planes * oh; p++) {
        int64_t plane = p / oh, oy = p % oh, sy = oy * h / oh;
        const char *src = (const char *)x + (size_t)((plane * h + sy) * w) * esize;
        char *dst = (char *)y + (size_t)(p * ow) * esize;
        if (esize == 4) {
            const float *s4 = (const float *)src;
            float *d4 = (float *)dst;
            for (int64_t ox = 0; ox < ow; ox++)
                d4[ox] = s4[ox * w / ow];
        } else {
            for (int64_t ox = 0; ox < ow; ox++)
                memcpy(dst + (size_t)ox * esize, src + (size_t)(ox * w / ow) * esize, esize);
        }
    }
}

void lf_cpu_permute(const void *x, void *y, int rank, const int64_t *shape, const int *perm,
                    size_t esize)
{
    int64_t xs[4] = {1, 1, 1, 1}, os[4] = {1, 1, 1, 1}, st[4] = {0, 0, 0, 0};
    int64_t stride = 1;
    for (int i = rank - 1; i >= 0; i--) {
        xs[i] = stride;
        stride *= shape[i];
    }
    /* Output dim i (padded to 4 at the left) reads x with stride st[i]. */
    for (int i = 0; i < rank; i++) {
        os[4 - rank + i] = shape[perm[i]];
        st[4 - rank + i] = xs[perm[i]];
    }
    int64_t rows = os[0] * os[1] * os[2];
#pragma omp parallel for if (rows * os[3] > (1 << 16)) schedule(static)
    for (int64_t r = 0; r < rows; r++) {
        int64_t i2 = r % os[2], i1 = r / os[2] % os[1], i0 = r / (os[1] * os[2]);
        int64_t base = i0 * st[0] + i1 * st[1] + i2 * st[2];
        char *dst = (char *)y + (size_t)(r * os[3]) * esize;
        if (esize == 4) {
            const float *s4 = (const float *)x + base;
            float *d4 = (float *)dst;
            for (int64_t j = 0; j < os[3]; j++)
                d4[j] = s4[j * st[3]];
        } else {
            for (int64_t j = 0; j < os[3]; j++)
                memcpy(dst + (size_t)j * esize,
                       (const char *)x + (size_t)(base + j * st[3]) * esize, esize);
        }
    }
}

void lf_cpu_timestep_embedding(const float *t, float *y, int64_t batch, int dim,
                               bool flip_sin_to_cos, float shift, float max_period)
{
    int half = dim / 2;
    for (int64_t b = 0; b < batch; b++) {
        float *row = y + b * dim;
        for (int i = 0; i < half; i++) {
            float freq = expf(-logf(max_period) * (float)i / ((float)half - shift));
            float arg = t[b] * freq;
            float s = sinf(arg), c = cosf(arg);
            row[i] = flip_sin_to_cos ? c : s;
            row[half + i] = flip_sin_to_cos ? s : c;
        }
        if (dim % 2) row[dim - 1] = 0;
    }
}

void lf_cpu_fill(float *x, int64_t n, float value)
{
#pragma omp parallel for if (n > (1 << 18)) schedule(static)
    for (int64_t i = 0; i < n; i++)
        x[i] = value;
}
