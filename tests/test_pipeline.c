/*
** test_pipeline.c - whole LCM pipelines against the tiny-sd15 references.
**
** pipe_a (txt2img, 4 steps, cfg 1, seed 42) with dtype f32: the prompt
** embedding, every step's latents_in / noise_pred / denoised / noise /
** latents_out, the final latents, the decoded image and the 8-bit image.
** Tolerances (fixture README): latents and denoised 1e-3 + 1e-4*|ref|
** (they reach |x| ~ 56), RNG draws exactly as the generator makes them
** (1e-6: vectorised torch path), 8-bit image within 2 levels everywhere
** and within 1 level on >= 99 % of pixels.  With f16 weights and
** activations, and with bf16 ones (devices that compute bf16: the CPU
** backend): the final image of pipe_a..d at PSNR >= 35 dB against the
** reference.
** The LoRA-free parts of pipe_c (img2img): encoder mean, the encoder sample
** draw, the add-noise draw and the noised start latents, which do not
** depend on the UNet.  CFG with a negative prompt and a non-square latent
** on the base model: deterministic for a seed, the right shape, and CFG
** really changes the result.
*/
#include "test_util.h"
#include "image_io.h"
#include "op_test.h"
#include "sd_checkpoint.h"
#include "sd_clip.h"
#include "sd_image.h"
#include "sd_lora.h"
#include "sd_sample.h"
#include "sd_tokenizer.h"
#include "sd_vae.h"

#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

static char fixtures[512];

struct model {
    struct sd_checkpoint ck;
    struct sd_unet unet;
    struct sd_clip clip;
    struct sd_vae vae;
    struct sd_tokenizer *tok;
};

static void model_load(struct model *m, enum lf_dtype dtype)
{
    char path[700];
    struct lf_error err = {0};
    snprintf(path, sizeof path, "%s/tiny-sd15/model.safetensors", fixtures);
    if (sd_checkpoint_load(op_test_device(), path, dtype, &m->ck, &err) ||
        sd_unet_init(&m->unet, m->ck.unet, &m->ck.arch.unet, &err) ||
        sd_clip_init(&m->clip, m->ck.clip, &m->ck.arch.text, &err) ||
        sd_vae_init(&m->vae, m->ck.vae, &m->ck.arch.vae, &err))
        fail_msg("%s", err.message);
    snprintf(path, sizeof path, "%s/clip", fixtures);
    if (sd_tokenizer_load(path, &m->tok, &err)) fail_msg("%s", err.message);
}

static void model_free(struct model *m)
{
    sd_unet_clear(&m->unet);
    sd_clip_clear(&m->clip);
    sd_vae_clear(&m->vae);
    sd_checkpoint_clear(&m->ck);
    sd_tokenizer_free(m->tok);
}

static struct lf_tensor *encode(struct model *m, const char *text)
{
    int32_t ids[77];
    struct lf_error err = {0};
    struct lf_tensor *out;
    if (sd_tokenizer_encode(m->tok, text, ids, NULL, &err) ||
        sd_clip_encode(&m->clip, ids, 77, &out, &err))
        fail_msg("%s", err.message);
    return out;
}

static struct lf_safetensors *open_ref(const char *name)
{
    return test_safetensors_open("%s/tiny-sd15/ref/%s", fixtures, name);
}

static float *ref(struct lf_safetensors *st, const char *name, size_t *count)
{
    const struct lf_safetensors_tensor *t = lf_safetensors_find(st, name);
    if (!t) fail_msg("reference %s missing", name);
    float *data = malloc((size_t)t->numel * sizeof *data);
    struct lf_error err = {0};
    if (t->st_dtype == LF_ST_DTYPE_U8) {
        for (int64_t i = 0; i < t->numel; i++)
            data[i] = ((const uint8_t *)t->data)[i];
    } else if (lf_safetensors_tensor_to_f32(st, t, data, t->numel, &err)) {
        fail_msg("%s", err.message);
    }
    if (count) *count = (size_t)t->numel;
    return data;
}

static void check_close(struct lf_safetensors *st, const char *name, const float *got, size_t count,
                        double atol, double rtol)
{
    size_t n;
    float *want = ref(st, name, &n);
    assert_int_equal(n, count);
    op_test_assert_close(name, got, want, n, atol, rtol);
    free(want);
}

struct trace_ref {
    struct lf_safetensors *st;
    int steps_seen;
    bool check_steps;
    float *start;
    size_t count;
};

static void on_start(void *user, const float *latents, size_t count)
{
    struct trace_ref *t = user;
    t->start = malloc(count * sizeof *latents);
    memcpy(t->start, latents, count * sizeof *latents);
    t->count = count;
}

static void on_step(void *user, int index, int total, int timestep, const float *latents_in,
                    const float *noise_pred, const float *denoised, const float *noise,
                    const float *latents_out, size_t count)
{
    struct trace_ref *t = user;
    t->steps_seen++;
    if (!t->check_steps) return;
    char name[64];
    snprintf(name, sizeof name, "step%d.latents_in", index);
    check_close(t->st, name, latents_in, count, 1e-3, 1e-4);
    snprintf(name, sizeof name, "step%d.noise_pred", index);
    check_close(t->st, name, noise_pred, count, 1e-4, 1e-4);
    snprintf(name, sizeof name, "step%d.denoised", index);
    check_close(t->st, name, denoised, count, 1e-3, 1e-4);
    if (noise) {
        snprintf(name, sizeof name, "step%d.noise", index);
        check_close(t->st, name, noise, count, 1e-6, 0);
    } else {
        snprintf(name, sizeof name, "step%d.noise", index);
        assert_null(lf_safetensors_find(t->st, name));
    }
    snprintf(name, sizeof name, "step%d.latents_out", index);
    check_close(t->st, name, latents_out, count, 1e-3, 1e-4);
}

static uint8_t *run_txt2img(struct model *m, const char *prompt, const char *negative,
                            uint64_t seed, int steps, float cfg, int64_t h, int64_t w,
                            struct trace_ref *tr, struct lf_tensor **final_latents)
{
    struct lf_error err = {0};
    struct lf_tensor *pos = encode(m, prompt), *neg = negative ? encode(m, negative) : NULL;
    int64_t shape[4] = {1, 4, h / 8, w / 8};
    float *zeros = calloc((size_t)(4 * h * w / 64), sizeof *zeros);
    struct lf_tensor *latent = op_test_tensor(LF_DTYPE_F32, 4, shape, zeros), *out, *decoded, *img;
    free(zeros);
    struct sd_sample_params p = {seed, steps, cfg, 1.0f, 50};
    struct sd_sample_trace trace = {on_step, on_start, NULL, tr};
    if (sd_lcm_sample(&m->unet, pos, neg, latent, NULL, &p, tr ? &trace : NULL, &out, &err))
        fail_msg("%s", err.message);
    uint8_t *pixels;
    if (sd_vae_decode(&m->vae, out, NULL, NULL, &decoded, &err) ||
        sd_image_from_decoded(decoded, &img, &err) || lf_image_to_rgb8(img, 0, &pixels, &err))
        fail_msg("%s", err.message);
    if (tr && tr->check_steps) {
        float *got = op_test_download(decoded);
        check_close(tr->st, "decoded", got, (size_t)lf_tensor_numel(decoded), 1e-3, 0);
        free(got);
    }
    if (final_latents) *final_latents = lf_tensor_retain(out);
    lf_tensor_release(pos), lf_tensor_release(neg), lf_tensor_release(latent);
    lf_tensor_release(out), lf_tensor_release(decoded), lf_tensor_release(img);
    return pixels;
}

static void pipe_a_f32_matches_step_by_step(void **state)
{
    struct model m;
    model_load(&m, LF_DTYPE_F32);
    struct trace_ref tr = {.st = open_ref("pipe_a.safetensors"), .check_steps = true};
    /* the prompt embedding first */
    struct lf_tensor *pos = encode(&m, "a photograph of an astronaut riding a horse");
    float *got = op_test_download(pos);
    check_close(tr.st, "prompt_embeds", got, (size_t)lf_tensor_numel(pos), 1e-4, 1e-4);
    free(got);
    lf_tensor_release(pos);

    struct lf_tensor *final;
    uint8_t *pixels = run_txt2img(&m, "a photograph of an astronaut riding a horse", NULL, 42, 4,
                                  1.0f, 64, 64, &tr, &final);
    assert_int_equal(tr.steps_seen, 4);
    check_close(tr.st, "init_noise", tr.start, tr.count, 1e-6, 0);
    got = op_test_download(final);
    check_close(tr.st, "final_latents", got, tr.count, 1e-3, 1e-4);
    free(got);
    size_t n;
    float *want = ref(tr.st, "image_uint8", &n);
    assert_int_equal(n, 64 * 64 * 3);
    int worst = 0;
    size_t differ = 0, beyond_one = 0;
    for (size_t i = 0; i < n; i++) {
        int d = abs((int)pixels[i] - (int)want[i]);
        worst = d > worst ? d : worst;
        differ += d >= 1;
        beyond_one += d > 1;
    }
    printf("  pipe_a f32 image: worst %d levels, %zu of %zu values differ\n", worst, differ, n);
    assert_true(worst <= 2);
    assert_true(beyond_one * 100 <= n); /* within 1 level on >= 99 % */
    free(want), free(pixels), free(tr.start);
    lf_tensor_release(final);
    lf_safetensors_close(tr.st);
    model_free(&m);
    op_test_check_validation();
}

/* Skips unless the device holds and computes dtype. */
static void skip_unless(enum lf_dtype dtype)
{
    if (dtype == LF_DTYPE_F16 && !lf_device_supports_f16(op_test_device())) skip();
    if (dtype == LF_DTYPE_BF16 && !lf_device_has(op_test_device(), LF_DEVICE_CAP_BF16)) skip();
}

static double image_psnr(struct lf_safetensors *st, const uint8_t *pixels)
{
    size_t n;
    float *want = ref(st, "image_uint8", &n);
    double se = 0;
    for (size_t i = 0; i < n; i++)
        se += ((double)pixels[i] - want[i]) * ((double)pixels[i] - want[i]);
    free(want);
    return se > 0 ? 10.0 * log10(255.0 * 255.0 / (se / (double)n)) : INFINITY;
}

static void pipe_a_psnr(enum lf_dtype weights, enum lf_dtype act)
{
    skip_unless(weights);
    struct model m;
    model_load(&m, weights);
    m.unet.act_dtype = m.clip.act_dtype = m.vae.act_dtype = act;
    struct lf_safetensors *st = open_ref("pipe_a.safetensors");
    uint8_t *pixels = run_txt2img(&m, "a photograph of an astronaut riding a horse", NULL, 42, 4,
                                  1.0f, 64, 64, NULL, NULL);
    double psnr = image_psnr(st, pixels);
    printf("  pipe_a %s weights, %s activations: PSNR %.2f dB\n", lf_dtype_name(weights),
           lf_dtype_name(act), psnr);
    assert_true(psnr >= 35.0);
    free(pixels);
    lf_safetensors_close(st);
    model_free(&m);
    op_test_check_validation();
}

/* f16 weights and activations (dtype f16, and auto on GPUs). */
static void pipe_a_f16_psnr(void **state)
{
    pipe_a_psnr(LF_DTYPE_F16, LF_DTYPE_F16);
}

/* f16 weights with f32 activations (dtype auto on lavapipe). */
static void pipe_a_f16_weights_psnr(void **state)
{
    pipe_a_psnr(LF_DTYPE_F16, LF_DTYPE_F32);
}

/* bf16 weights and activations (dtype bf16, and auto on CPUs with native
** bf16). */
static void pipe_a_bf16_psnr(void **state)
{
    pipe_a_psnr(LF_DTYPE_BF16, LF_DTYPE_BF16);
}

/* img2img on the base model: the start latents depend only on the VAE
** encoder and the RNG order (encoder sample, then add-noise), which pipe_c
** records; its UNet steps use the LCM-LoRA and belong to the LoRA tests. */
static void img2img_start_matches_pipe_c(void **state)
{
    struct model m;
    model_load(&m, LF_DTYPE_F32);
    struct lf_safetensors *st = open_ref("pipe_c.safetensors");
    struct lf_error err = {0};
    size_t n;
    float *image = ref(st, "image_in", &n);
    int64_t shape[4] = {1, 3, 64, 64};
    struct lf_tensor *x = op_test_tensor(LF_DTYPE_F32, 4, shape, image), *mean, *std;
    if (sd_vae_encode(&m.vae, x, &mean, &std, &err)) fail_msg("%s", err.message);
    float *got = op_test_download(mean);
    check_close(st, "vae_enc_mean", got, (size_t)lf_tensor_numel(mean), 1e-4, 1e-4);
    free(got);
    struct lf_tensor *lat, *lat_std;
    assert_int_equal(lf_op_scale(mean, SD_VAE_SCALING, 0, &lat, &err), LF_OK);
    assert_int_equal(lf_op_scale(std, SD_VAE_SCALING, 0, &lat_std, &err), LF_OK);
    struct lf_tensor *pos =
        encode(&m, "a red house with a yellow sun, colorful children's drawing");
    struct sd_sample_params p = {123, 4, 1.0f, 0.5f, 50};
    struct trace_ref tr = {.st = st};
    struct sd_sample_trace trace = {on_step, on_start, NULL, &tr};
    struct lf_tensor *out;
    if (sd_lcm_sample(&m.unet, pos, NULL, lat, lat_std, &p, &trace, &out, &err))
        fail_msg("%s", err.message);
    assert_int_equal(tr.steps_seen, 2); /* strength 0.5 of 4 steps: 499, 259 */
    check_close(st, "init_noised_latents", tr.start, tr.count, 1e-4, 1e-4);
    free(tr.start), free(image);
    lf_tensor_release(x), lf_tensor_release(mean), lf_tensor_release(std);
    lf_tensor_release(lat), lf_tensor_release(lat_std), lf_tensor_release(pos);
    lf_tensor_release(out);
    lf_safetensors_close(st);
    model_free(&m);
    op_test_check_validation();
}

static void cfg_and_non_square_are_deterministic(void **state)
{
    struct model m;
    model_load(&m, LF_DTYPE_F32);
    struct lf_tensor *l1, *l2, *l3;
    uint8_t *a = run_txt2img(&m, "a fox", "blurry", 7, 2, 1.5f, 64, 96, NULL, &l1);
    uint8_t *b = run_txt2img(&m, "a fox", "blurry", 7, 2, 1.5f, 64, 96, NULL, &l2);
    uint8_t *c = run_txt2img(&m, "a fox", "blurry", 7, 2, 1.0f, 64, 96, NULL, &l3);
    assert_int_equal(l1->shape[2], 8);
    assert_int_equal(l1->shape[3], 12);
    assert_memory_equal(a, b, 64 * 96 * 3);
    float *x1 = op_test_download(l1), *x3 = op_test_download(l3);
    double diff = 0;
    for (int i = 0; i < 4 * 8 * 12; i++)
        diff += fabs(x1[i] - x3[i]);
    assert_true(diff > 1e-3); /* guidance changed the result */
    struct lf_error err = {0};
    struct lf_tensor *pos = encode(&m, "a fox"), *out;
    struct sd_sample_params p = {7, 2, 1.5f, 1.0f, 50};
    assert_int_equal(sd_lcm_sample(&m.unet, pos, NULL, l1, NULL, &p, NULL, &out, &err),
                     LF_ERR_INVALID);
    assert_non_null(strstr(err.message, "negative"));
    free(a), free(b), free(c), free(x1), free(x3);
    lf_tensor_release(l1), lf_tensor_release(l2), lf_tensor_release(l3), lf_tensor_release(pos);
    model_free(&m);
    op_test_check_validation();
}

/* Merges LoRA files (fixture names) into m's UNet and text encoder, one
** after the other as the reference does, and re-initialises the models. */
static void apply_loras(struct model *m, const char *const *files, const float *strengths, int n)
{
    struct lf_error err = {0};
    for (int i = 0; i < n; i++) {
        char path[700];
        snprintf(path, sizeof path, "%s/tiny-sd15/%s", fixtures, files[i]);
        struct sd_lora *lora;
        struct sd_weights *u, *c;
        const struct sd_lora *stack[1];
        if (sd_lora_load(op_test_device(), path, &lora, &err)) fail_msg("%s", err.message);
        stack[0] = lora;
        if (sd_lora_apply(m->ck.unet, SD_LORA_PART_UNET, stack, &strengths[i], 1, &u, &err) ||
            sd_lora_apply(m->ck.clip, SD_LORA_PART_CLIP, stack, &strengths[i], 1, &c, &err))
            fail_msg("%s", err.message);
        sd_lora_release(lora);
        sd_weights_release(m->ck.unet), sd_weights_release(m->ck.clip);
        m->ck.unet = u, m->ck.clip = c;
    }
    sd_unet_clear(&m->unet);
    sd_clip_clear(&m->clip);
    if (sd_unet_init(&m->unet, m->ck.unet, &m->ck.arch.unet, &err) ||
        sd_clip_init(&m->clip, m->ck.clip, &m->ck.arch.text, &err))
        fail_msg("%s", err.message);
}

static void check_image(struct lf_safetensors *st, const char *label, const uint8_t *pixels)
{
    size_t n;
    float *want = ref(st, "image_uint8", &n);
    int worst = 0;
    size_t beyond = 0;
    for (size_t i = 0; i < n; i++) {
        int d = abs((int)pixels[i] - (int)want[i]);
        worst = d > worst ? d : worst;
        beyond += d > 1;
    }
    printf("  %s image: worst %d levels\n", label, worst);
    assert_true(worst <= 2);
    assert_true(beyond * 100 <= n);
    free(want);
}

/* pipe_b: LCM-LoRA + kohya style LoRA (with its text-encoder part at 0.8),
** cfg 1.5 with a negative prompt, seed 7: every step. */
static void pipe_b_lora_cfg_matches(void **state)
{
    struct model m;
    model_load(&m, LF_DTYPE_F32);
    static const char *const files[] = {"lcm_lora.safetensors", "style_lora_kohya.safetensors"};
    static const float strengths[] = {1.0f, 0.8f};
    apply_loras(&m, files, strengths, 2);
    struct trace_ref tr = {.st = open_ref("pipe_b.safetensors"), .check_steps = true};
    uint8_t *px = run_txt2img(&m, "a watercolor painting of a fox in the snow",
                              "blurry, low quality", 7, 4, 1.5f, 64, 64, &tr, NULL);
    assert_int_equal(tr.steps_seen, 4);
    check_image(tr.st, "pipe_b", px);
    free(px), free(tr.start);
    lf_safetensors_close(tr.st);
    model_free(&m);
    op_test_check_validation();
}

/* pipe_d: 96x64 (latent 8x12), peft style LoRA 0.6 then LCM-LoRA, 2 steps. */
static void pipe_d_non_square_peft_matches(void **state)
{
    struct model m;
    model_load(&m, LF_DTYPE_F32);
    static const char *const files[] = {"style_lora_peft.safetensors", "lcm_lora.safetensors"};
    static const float strengths[] = {0.6f, 1.0f};
    apply_loras(&m, files, strengths, 2);
    struct trace_ref tr = {.st = open_ref("pipe_d.safetensors"), .check_steps = true};
    uint8_t *px = run_txt2img(&m, "a wide landscape with mountains and a lake", NULL, 1, 2, 1.0f,
                              64, 96, &tr, NULL);
    assert_int_equal(tr.steps_seen, 2);
    check_image(tr.st, "pipe_d", px);
    free(px), free(tr.start);
    lf_safetensors_close(tr.st);
    model_free(&m);
    op_test_check_validation();
}

/* pipe_c: img2img from the sketch at strength 0.5 with the LCM-LoRA: RNG
** order encoder sample, add-noise, step noise; in f32 every step and the
** image, in lower precisions the image's PSNR. */
static void pipe_c_run(enum lf_dtype dtype)
{
    skip_unless(dtype);
    struct model m;
    model_load(&m, dtype);
    static const char *const files[] = {"lcm_lora.safetensors"};
    static const float strengths[] = {1.0f};
    apply_loras(&m, files, strengths, 1);
    struct lf_safetensors *st = open_ref("pipe_c.safetensors");
    struct lf_error err = {0};
    size_t n;
    float *image = ref(st, "image_in", &n);
    int64_t shape[4] = {1, 3, 64, 64};
    struct lf_tensor *x = op_test_tensor(LF_DTYPE_F32, 4, shape, image), *mean, *std, *lat,
                     *lat_std, *out, *decoded, *img;
    if (sd_vae_encode(&m.vae, x, &mean, &std, &err) ||
        lf_op_scale(mean, SD_VAE_SCALING, 0, &lat, &err) ||
        lf_op_scale(std, SD_VAE_SCALING, 0, &lat_std, &err))
        fail_msg("%s", err.message);
    struct lf_tensor *pos =
        encode(&m, "a red house with a yellow sun, colorful children's drawing");
    struct sd_sample_params p = {123, 4, 1.0f, 0.5f, 50};
    struct trace_ref tr = {.st = st, .check_steps = dtype == LF_DTYPE_F32};
    struct sd_sample_trace trace = {on_step, on_start, NULL, &tr};
    if (sd_lcm_sample(&m.unet, pos, NULL, lat, lat_std, &p, &trace, &out, &err))
        fail_msg("%s", err.message);
    assert_int_equal(tr.steps_seen, 2);
    uint8_t *px;
    if (sd_vae_decode(&m.vae, out, NULL, NULL, &decoded, &err) ||
        sd_image_from_decoded(decoded, &img, &err) || lf_image_to_rgb8(img, 0, &px, &err))
        fail_msg("%s", err.message);
    if (dtype == LF_DTYPE_F32) {
        check_image(st, "pipe_c", px);
    } else {
        double psnr = image_psnr(st, px);
        printf("  pipe_c %s: PSNR %.2f dB\n", lf_dtype_name(dtype), psnr);
        assert_true(psnr >= 35.0);
    }
    free(px), free(tr.start), free(image);
    lf_tensor_release(x), lf_tensor_release(mean), lf_tensor_release(std);
    lf_tensor_release(lat), lf_tensor_release(lat_std), lf_tensor_release(pos);
    lf_tensor_release(out), lf_tensor_release(decoded), lf_tensor_release(img);
    lf_safetensors_close(st);
    model_free(&m);
    op_test_check_validation();
}

static void pipe_c_img2img_lora_matches(void **state)
{
    pipe_c_run(LF_DTYPE_F32);
}

static void pipe_c_bf16_psnr(void **state)
{
    pipe_c_run(LF_DTYPE_BF16);
}

static int polls;

static bool stop_on_third_poll(void *user)
{
    return ++polls >= 3;
}

/* An interruption reaches into a UNet evaluation (between its blocks), so
** Ctrl-C does not wait for a whole step. */
static void sampling_stops_mid_step(void **state)
{
    struct model m;
    model_load(&m, LF_DTYPE_F32);
    struct lf_error err = {0};
    struct lf_tensor *pos = encode(&m, "a fox"), *out = NULL;
    int64_t shape[4] = {1, 4, 8, 8};
    float zeros[256] = {0};
    struct lf_tensor *latent = op_test_tensor(LF_DTYPE_F32, 4, shape, zeros);
    struct sd_sample_params p = {1, 4, 1.0f, 1.0f, 50};
    struct sd_sample_trace trace = {.interrupted = stop_on_third_poll};
    polls = 0;
    assert_int_equal(sd_lcm_sample(&m.unet, pos, NULL, latent, NULL, &p, &trace, &out, &err),
                     LF_ERR_INTERRUPTED);
    assert_null(out);
    assert_int_equal(polls, 3); /* the first poll is before step 1, the others inside it */
    lf_tensor_release(pos), lf_tensor_release(latent);
    model_free(&m);
}

/* The LoRA txt2img cases (pipe_b, pipe_d) in dtype weights and
** activations: PSNR >= 35 dB. */
static void lora_cases_psnr(enum lf_dtype dtype)
{
    skip_unless(dtype);
    static const char *const b_files[] = {"lcm_lora.safetensors", "style_lora_kohya.safetensors"};
    static const float b_strengths[] = {1.0f, 0.8f};
    static const char *const d_files[] = {"style_lora_peft.safetensors", "lcm_lora.safetensors"};
    static const float d_strengths[] = {0.6f, 1.0f};
    for (int c = 0; c < 2; c++) {
        struct model m;
        model_load(&m, dtype);
        apply_loras(&m, c ? d_files : b_files, c ? d_strengths : b_strengths, 2);
        struct lf_safetensors *st = open_ref(c ? "pipe_d.safetensors" : "pipe_b.safetensors");
        uint8_t *px = c ? run_txt2img(&m, "a wide landscape with mountains and a lake", NULL, 1, 2,
                                      1.0f, 64, 96, NULL, NULL)
                        : run_txt2img(&m, "a watercolor painting of a fox in the snow",
                                      "blurry, low quality", 7, 4, 1.5f, 64, 64, NULL, NULL);
        double psnr = image_psnr(st, px);
        printf("  %s %s: PSNR %.2f dB\n", c ? "pipe_d" : "pipe_b", lf_dtype_name(dtype), psnr);
        assert_true(psnr >= 35.0);
        free(px);
        lf_safetensors_close(st);
        model_free(&m);
    }
    op_test_check_validation();
}

static void lora_cases_f16_psnr(void **state)
{
    lora_cases_psnr(LF_DTYPE_F16);
}

static void lora_cases_bf16_psnr(void **state)
{
    lora_cases_psnr(LF_DTYPE_BF16);
}

int main(void)
{
    if (!test_fixtures_find(fixtures, sizeof fixtures, "tiny-sd15/ref/pipe_a.safetensors"))
        return 77;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(pipe_a_f32_matches_step_by_step),
        cmocka_unit_test(pipe_a_f16_psnr),
        cmocka_unit_test(pipe_a_f16_weights_psnr),
        cmocka_unit_test(img2img_start_matches_pipe_c),
        cmocka_unit_test(cfg_and_non_square_are_deterministic),
        cmocka_unit_test(pipe_b_lora_cfg_matches),
        cmocka_unit_test(pipe_c_img2img_lora_matches),
        cmocka_unit_test(pipe_d_non_square_peft_matches),
        cmocka_unit_test(lora_cases_f16_psnr),
        cmocka_unit_test(pipe_a_bf16_psnr),
        cmocka_unit_test(lora_cases_bf16_psnr),
        cmocka_unit_test(pipe_c_bf16_psnr),
        cmocka_unit_test(sampling_stops_mid_step),
    };
    return op_test_finish(cmocka_run_group_tests(tests, NULL, NULL));
}
