/*
** cpu_kern_attn.c - flash-style attention on the CPU; compiled once per
** instruction set (cpu_kern_isa.h).
**
** First every block of TK keys of every (batch, head) is packed once into
** the caller's scratch: transposed into Kt [D][TK] and the values into
** Vs [TK][Dp] (Dp = head dim rounded up to 16, zero-padded), so the query
** tiles share them instead of each packing all keys again.  Then a work item
** is one (batch, head, tile of TQ query rows): its queries (times scale)
** are packed into Qs [TQ][Dp], and per key block the scores
** S = Qs Kt [TQ][TK] come from a 4 x 64 register-blocked kernel, an online
** softmax turns them into P with the running max m and sum l per row, and
** O [TQ][Dp] += P Vs from a 4 x 64 kernel.  Memory per thread: a few
** tiles, never Lq x Lk.  bf16 inputs are widened while packed and the
** output rounded as it is stored, so the math is f32's either way.  The
** micro-kernels use GCC vector types of 16 floats: one AVX-512 register,
** two AVX2 ones, four SSE ones.
*/
#include "cpu_kern_isa.h"
#include "cpu_math.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define TQ LF_CPU_ATTN_TQ
#define TK LF_CPU_ATTN_TK

typedef float v16 __attribute__((vector_size(64)));

static inline v16 load16(const float *p)
{
    v16 v;
    memcpy(&v, p, sizeof v);
    return v;
}

static inline void store16(float *p, v16 v)
{
    memcpy(p, &v, sizeof v);
}

/* s[r][0..TK) = sum_d qs[r][d] kt[d][0..TK) for 4 rows. */
static inline void qk_4x64(const float *qs, int64_t dp, const float *kt, int64_t d_count, float *s)
{
    v16 acc[4][4];
    for (int r = 0; r < 4; r++)
        for (int c = 0; c < 4; c++)
            acc[r][c] = (v16){0};
    for (int64_t d = 0; d < d_count; d++) {
        v16 k0 = load16(kt + d * TK), k1 = load16(kt + d * TK + 16);
        v16 k2 = load16(kt + d * TK + 32), k3 = load16(kt + d * TK + 48);
        for (int r = 0; r < 4; r++) {
            float qv = qs[r * dp + d];
            acc[r][0] += qv * k0;
            acc[r][1] += qv * k1;
            acc[r][2] += qv * k2;
            acc[r][3] += qv * k3;
        }
    }
    for (int r = 0; r < 4; r++)
        for (int c = 0; c < 4; c++)
            store16(s + r * TK + 16 * c, acc[r][c]);
}

/* o[r][0..16 nv) += sum_j p[r][j] vs[j][0..16 nv) for 4 rows; nv <= 4,
** a constant after inlining. */
static inline void pv_4xn(const float *p, const float *vs, int64_t dp, int64_t nk, float *o, int nv)
{
    v16 acc[4][4];
    for (int r = 0; r < 4; r++)
        for (int c = 0; c < nv; c++)
            acc[r][c] = load16(o + r * dp + 16 * c);
    for (int64_t j = 0; j < nk; j++) {
        v16 v[4];
        for (int c = 0; c < nv; c++)
            v[c] = load16(vs + j * dp + 16 * c);
        for (int r = 0; r < 4; r++) {
            float pr = p[r * TK + j];
            for (int c = 0; c < nv; c++)
                acc[r][c] += pr * v[c];
        }
    }
    for (int r = 0; r < 4; r++)
        for (int c = 0; c < nv; c++)
            store16(o + r * dp + 16 * c, acc[r][c]);
}

static void pv_4rows(const float *p, const float *vs, int64_t dp, int64_t nk, float *o)
{
    int64_t dc = 0;
    for (; dc + 64 <= dp; dc += 64)
        pv_4xn(p, vs + dc, dp, nk, o + dc, 4);
    switch ((dp - dc) / 16) {
    case 3:
        pv_4xn(p, vs + dc, dp, nk, o + dc, 3);
        break;
    case 2:
        pv_4xn(p, vs + dc, dp, nk, o + dc, 2);
        break;
    case 1:
        pv_4xn(p, vs + dc, dp, nk, o + dc, 1);
        break;
    default:
        break;
    }
}

struct attn_scratch {
    float *qs, *s, *o, *m, *l;
};

static bool scratch_alloc(struct attn_scratch *w, int64_t dp)
{
    size_t floats = (size_t)(TQ * dp + TQ * TK + TQ * dp + 2 * TQ);
    float *base = aligned_alloc(64, (floats * sizeof(float) + 63) / 64 * 64);
    if (!base) return false;
    w->qs = base;
    w->s = w->qs + TQ * dp;
    w->o = w->s + TQ * TK;
    w->m = w->o + TQ * dp;
    w->l = w->m + TQ;
    return true;
}

/* count values of row `row` of x (f32 or bf16), from column col, into f32. */
static inline void load_row(const struct lf_cpu_attention *a, const void *x, int64_t row,
                            int64_t col, int64_t count, float *out)
{
    int64_t at = row * a->heads * a->head_dim + col;
    if (a->bf16)
        bf16_load((const uint16_t *)x + at, out, count);
    else
        memcpy(out, (const float *)x + at, (size_t)count * sizeof(float));
}

static int64_t key_blocks(const struct lf_cpu_attention *a)
{
    return (a->lk + TK - 1) / TK;
}

/* Keys and values of block blk of (b, h), in tile form. */
static float *packed_block(const struct lf_cpu_attention *a, int64_t b, int64_t h, int64_t blk,
                           int64_t dp)
{
    return a->pack + ((b * a->heads + h) * key_blocks(a) + blk) * 2 * dp * TK;
}

static void pack_block(const struct lf_cpu_attention *a, int64_t b, int64_t h, int64_t blk,
                       int64_t dp)
{
    int64_t d_count = a->head_dim, k0 = blk * TK, nk = a->lk - k0 < TK ? a->lk - k0 : TK;
    float *kt = packed_block(a, b, h, blk, dp), *vs = kt + dp * TK;
    memset(kt, 0, (size_t)(2 * dp * TK) * sizeof(float));
    for (int64_t j = 0; j < nk; j++) {
        int64_t at = (b * a->lk + k0 + j) * a->heads * d_count + h * d_count;
        for (int64_t d = 0; d < d_count; d++) /* transposed: one value at a time */
            kt[d * TK + j] = a->bf16 ? lf_bf16_value((const uint16_t *)a->k + at + d)
                                     : ((const float *)a->k)[at + d];
        load_row(a, a->v, b * a->lk + k0 + j, h * d_count, d_count, vs + j * dp);
    }
}

/* Online softmax of one row of scores: keys nk.. and (causal) keys after
** query qi are masked; rescales the row of o by the change of max. */
static void softmax_update(float *s, float *o, int64_t dp, float *m, float *l, int64_t nk,
                           int64_t k0, int64_t qi, bool causal)
{
    int64_t valid = nk;
    if (causal && qi - k0 + 1 < valid) valid = qi - k0 + 1 > 0 ? qi - k0 + 1 : 0;
    float mx = *m;
    for (int64_t j = 0; j < valid; j++)
        mx = s[j] > mx ? s[j] : mx;
    if (valid == 0 || mx == -INFINITY) {
        memset(s, 0, TK * sizeof *s);
        return;
    }
    float alpha = lf_cpu_exp(*m - mx), sum = 0;
#pragma omp simd reduction(+ : sum)
    for (int64_t j = 0; j < TK; j++) {
        float e = lf_cpu_exp(s[j] - mx);
        s[j] = j < valid ? e : 0.0f;
        sum += s[j];
    }
    *l = *l * alpha + sum;
    *m = mx;
    if (alpha != 1.0f) {
#pragma omp simd
        for (int64_t d = 0; d < dp; d++)
            o[d] *= alpha;
    }
}

static void attention_tile(const struct lf_cpu_attention *a, struct attn_scratch *w, int64_t b,
                           int64_t h, int64_t q0, int64_t q_end)
{
    int64_t d_count = a->head_dim, dp = (d_count + 15) / 16 * 16, ld = a->heads * d_count;
    int64_t nq = q_end - q0 < TQ ? q_end - q0 : TQ;
    memset(w->qs, 0, (size_t)(TQ * dp) * sizeof(float));
    memset(w->o, 0, (size_t)(TQ * dp) * sizeof(float));
    for (int64_t r = 0; r < nq; r++) {
        float *qs = w->qs + r * dp;
        load_row(a, a->q, b * a->lq + q0 + r, h * d_count, d_count, qs);
        for (int64_t d = 0; d < d_count; d++)
            qs[d] *= a->scale;
        w->m[r] = -INFINITY;
        w->l[r] = 0;
    }
    int64_t k_end = a->lk;
    if (a->causal && q0 + nq < k_end) k_end = q0 + nq;
    for (int64_t k0 = 0; k0 < k_end; k0 += TK) {
        int64_t nk = k_end - k0 < TK ? k_end - k0 : TK;
        const float *kt = packed_block(a, b, h, k0 / TK, dp), *vs = kt + dp * TK;
        for (int64_t r = 0; r < nq; r += 4)
            qk_4x64(w->qs + r * dp, dp, kt, d_count, w->s + r * TK);
        for (int64_t r = 0; r < nq; r++)
            softmax_update(w->s + r * TK, w->o + r * dp, dp, w->m + r, w->l + r, nk, k0, q0 + r,
                           a->causal);
        for (int64_t r = 0; r < nq; r += 4)
            pv_4rows(w->s + r * TK, vs, dp, nk, w->o + r * dp);
    }
    for (int64_t r = 0; r < nq; r++) {
        float *o = w->o + r * dp, inv = w->l[r] > 0 ? 1.0f / w->l[r] : 0.0f;
        for (int64_t d = 0; d < d_count; d++)
            o[d] *= inv;
        int64_t at = (b * a->lq + q0 + r) * ld + h * d_count;
        if (a->bf16)
            bf16_store(o, (uint16_t *)a->y + at, d_count);
        else
            memcpy((float *)a->y + at, o, (size_t)d_count * sizeof(float));
    }
}

bool LF_ISA_FN(lf_cpu_attention)(const struct lf_cpu_attention *a)
{
    int64_t q_begin = a->q_begin, q_end = a->q_end > 0 ? a->q_end : a->lq;
    int64_t tiles = (q_end - q_begin + TQ - 1) / TQ, items = a->batch * a->heads * tiles;
    int64_t dp = (a->head_dim + 15) / 16 * 16, blocks = key_blocks(a);
    bool ok = true;
    if (!a->packed) {
#pragma omp parallel for schedule(static)
        for (int64_t it = 0; it < a->batch * a->heads * blocks; it++)
            pack_block(a, it / (a->heads * blocks), it / blocks % a->heads, it % blocks, dp);
    }
#pragma omp parallel
    {
        struct attn_scratch w = {0};
        bool mine = scratch_alloc(&w, dp);
        if (!mine) {
#pragma omp atomic write
            ok = false;
        }
#pragma omp for schedule(dynamic)
        for (int64_t it = 0; it < items; it++) {
            if (!mine) continue;
            int64_t tile = it % tiles, h = it / tiles % a->heads, b = it / (tiles * a->heads);
            attention_tile(a, &w, b, h, q_begin + tile * TQ, q_end);
        }
        if (mine) free(w.qs);
    }
    return ok;
}
