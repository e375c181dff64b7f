/*
** test_lora.c - LoRA files (sd_lora.h) against the tiny-sd15 fixture: the
** three file layouts and their matched-module counts, the merged-weight
** reference cases (UNet eps with lcm_lora at 1.0, text encoder with
** style_lora_kohya at 0.8), the first step of pipe_b and pipe_d (stacks
** in order, text-encoder LoRA), merged tensors against a host computation
** on every merge path and in f16, the
** older diffusers and peft spellings giving the same weights as the fixture
** files, bit-for-bit re-merging (no drift), that the input weights are never
** modified, the LDM <-> diffusers UNet name mapping, and the errors.
**
** Tolerance for model outputs with dtype f32: |a - b| <= 1e-4 + 1e-4 * |b|
** (the fixture README's single-module bound).
*/
#include "test_util.h"
#include "op_test.h"
#include "sd_checkpoint.h"
#include "sd_clip.h"
#include "sd_lora.h"
#include "sd_synth_lora.h"
#include "sd_unet.h"

#include <json-c/json.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#define ATOL 1e-4
#define RTOL 1e-4

static char fixtures[512];
static char tmpdir[64];

static void path_of(char *out, size_t size, const char *rel)
{
    snprintf(out, size, "%s/tiny-sd15/%s", fixtures, rel);
}

static struct sd_lora *load_lora(const char *rel)
{
    char path[700];
    struct lf_error err = {0};
    struct sd_lora *lora;
    path_of(path, sizeof path, rel);
    if (sd_lora_load(op_test_device(), path, &lora, &err) != LF_OK)
        fail_msg("loading %s: %s", path, err.message);
    return lora;
}

static void load_model(enum lf_dtype dtype, struct sd_checkpoint *ck)
{
    char path[700];
    struct lf_error err = {0};
    path_of(path, sizeof path, "model.safetensors");
    if (sd_checkpoint_load(op_test_device(), path, dtype, ck, &err) != LF_OK)
        fail_msg("loading %s: %s", path, err.message);
}

static struct sd_weights *apply(struct sd_weights *in, enum sd_lora_part part,
                                const struct sd_lora *a, float sa, const struct sd_lora *b,
                                float sb)
{
    const struct sd_lora *loras[2] = {a, b};
    float strengths[2] = {sa, sb};
    struct sd_weights *out;
    struct lf_error err = {0};
    if (sd_lora_apply(in, part, loras, strengths, b ? 2 : 1, &out, &err) != LF_OK)
        fail_msg("sd_lora_apply: %s", err.message);
    return out;
}

static struct lf_safetensors *open_fixture(const char *rel)
{
    return test_safetensors_open("%s/tiny-sd15/%s", fixtures, rel);
}

static float *file_f32(const struct lf_safetensors *st, const char *name, int64_t *numel)
{
    const struct lf_safetensors_tensor *t = lf_safetensors_find(st, name);
    if (!t) fail_msg("tensor %s missing", name);
    float *data = malloc((size_t)t->numel * sizeof *data);
    assert_int_equal(lf_safetensors_tensor_to_f32(st, t, data, t->numel, NULL), LF_OK);
    if (numel) *numel = t->numel;
    return data;
}

/* The raw bytes of a tensor (f16 or f32), for bit-for-bit comparisons. */
static void *download_raw(struct lf_tensor *t)
{
    size_t n = lf_tensor_nbytes(t);
    void *data = malloc(n);
    struct lf_error err = {0};
    if (lf_tensor_download(t, data, n, &err) != LF_OK) fail_msg("%s", err.message);
    return data;
}

/* Item i's tensor, loaded from the file again if a merge took it. */
static struct lf_tensor *item_tensor(const struct sd_weights *w, size_t i)
{
    struct lf_tensor *t;
    struct lf_error err = {0};
    if (sd_weights_get(w, i, &t, &err) != LF_OK) fail_msg("%s", err.message);
    return t;
}

/* Asserts that every tensor of a and b has the same bytes; returns how many
** tensor objects differ between them (shared = same object). */
static size_t assert_same_bits(const struct sd_weights *a, const struct sd_weights *b)
{
    assert_int_equal(a->count, b->count);
    size_t distinct = 0;
    for (size_t i = 0; i < a->count; i++) {
        assert_string_equal(a->items[i].name, b->items[i].name);
        struct lf_tensor *ta = item_tensor(a, i), *tb = item_tensor(b, i);
        if (ta == tb) continue;
        distinct++;
        void *x = download_raw(ta), *y = download_raw(tb);
        assert_int_equal(lf_tensor_nbytes(ta), lf_tensor_nbytes(tb));
        if (memcmp(x, y, lf_tensor_nbytes(ta)) != 0)
            fail_msg("%s differs bitwise", a->items[i].name);
        free(x), free(y);
    }
    return distinct;
}

/* Asserts that every tensor of w holds exactly its checkpoint value: the
** device copies are exact conversions of the file's f16 values. */
static void assert_base_values(const struct sd_weights *w)
{
    for (size_t i = 0; i < w->count; i++) {
        const struct sd_weight *item = &w->items[i];
        int64_t n = item->source->numel;
        float *want = malloc((size_t)n * sizeof *want), *got = malloc((size_t)n * sizeof *got);
        assert_int_equal(lf_safetensors_tensor_to_f32(item->file, item->source, want, n, NULL),
                         LF_OK);
        struct lf_error err = {0};
        assert_int_equal(lf_tensor_download_f32(item_tensor(w, i), got, n, &err), LF_OK);
        if (memcmp(got, want, (size_t)n * sizeof *got) != 0)
            fail_msg("input weight %s was modified", item->name);
        free(want), free(got);
    }
}

/* ---- names ---- */

/* One manifest map (ldm_key_map.<part>): every pair translates both ways
** through the table; returns the pair count. */
static int check_key_map(json_object *map, const char *part, const struct sd_names *names)
{
    json_object *pairs_obj;
    assert_true(json_object_object_get_ex(map, part, &pairs_obj));
    int pairs = 0;
    json_object_object_foreach(pairs_obj, ldm, value)
    {
        const char *diff = json_object_get_string(value);
        char out[256];
        if (!sd_names_to_diffusers(names, ldm, out)) fail_msg("%s has no diffusers name", ldm);
        assert_string_equal(out, diff);
        if (!sd_names_to_ldm(names, diff, out)) fail_msg("%s has no LDM name", diff);
        assert_string_equal(out, ldm);
        pairs++;
    }
    return pairs;
}

/* The name table built from the model's architecture translates every
** UNet and VAE key of the fixture's key map (manifest.json ldm_key_map)
** both ways, and nothing else. */
static void names_round_trip(void **state)
{
    char path[700];
    path_of(path, sizeof path, "manifest.json");
    json_object *root = json_object_from_file(path), *map;
    assert_non_null(root);
    assert_true(json_object_object_get_ex(root, "ldm_key_map", &map));
    struct sd_checkpoint ck;
    struct lf_error err = {0};
    load_model(LF_DTYPE_F32, &ck);
    struct sd_names unet, vae;
    assert_int_equal(sd_names_unet(&ck.arch.unet, &unet, &err), LF_OK);
    assert_int_equal(sd_names_vae(&ck.arch.vae, &vae, &err), LF_OK);
    assert_int_equal(check_key_map(map, "unet", &unet), 686);
    assert_true(check_key_map(map, "vae", &vae) > 200);
    char out[256];
    assert_false(sd_names_to_diffusers(&unet, "input_blocks.3.1.proj_in.weight", out));
    assert_false(sd_names_to_diffusers(&unet, "label_emb.0.0.weight", out));
    assert_false(sd_names_to_diffusers(&unet, "input_blocks.1.0.in_layers.1.weight", out));
    assert_false(sd_names_to_ldm(&unet, "down_blocks.3.attentions.0.proj_in.weight", out));
    sd_names_clear(&unet), sd_names_clear(&vae);
    sd_checkpoint_clear(&ck);
    json_object_put(root);
}

/* ---- files and matching ---- */

static void formats_and_counts(void **state)
{
    struct sd_checkpoint ck;
    load_model(LF_DTYPE_F32, &ck);
    static const struct {
        const char *file;
        enum sd_lora_format format;
        size_t modules, unet, clip, ldm, diffusers;
        float alpha;
        bool has_alpha;
    } cases[] = {
        {"lcm_lora.safetensors", SD_LORA_FORMAT_KOHYA, 278, 278, 0, 0, 278, 4.0f, true},
        {"style_lora_kohya.safetensors", SD_LORA_FORMAT_KOHYA, 216, 192, 24, 192, 0, 2.0f, true},
        {"style_lora_peft.safetensors", SD_LORA_FORMAT_PEFT, 192, 192, 0, 0, 192, 4.0f, false},
    };
    for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
        struct sd_lora *lora = load_lora(cases[c].file);
        assert_int_equal(lora->format, cases[c].format);
        assert_int_equal(lora->count, cases[c].modules);
        assert_int_equal(lora->ignored_count, 0);
        assert_int_equal(lora->min_rank, 4);
        assert_int_equal(lora->max_rank, 4);
        for (size_t i = 0; i < lora->count; i++) {
            assert_true(lora->modules[i].alpha == cases[c].alpha);
            assert_int_equal(lora->modules[i].has_alpha, cases[c].has_alpha);
        }
        struct sd_lora_report rep;
        struct lf_error err = {0};
        if (sd_lora_match(lora, ck.unet, ck.clip, &rep, &err) != LF_OK)
            fail_msg("%s: %s", cases[c].file, err.message);
        printf("  %s: %s, %zu modules: %zu of %zu UNet layers, %zu of %zu text-encoder layers\n",
               cases[c].file, sd_lora_format_name(lora->format), rep.modules, rep.matched_unet,
               rep.unet_targets, rep.matched_clip, rep.clip_targets);
        assert_int_equal(rep.matched_unet, cases[c].unet);
        assert_int_equal(rep.matched_clip, cases[c].clip);
        assert_int_equal(rep.matched_ldm, cases[c].ldm);
        assert_int_equal(rep.matched_diffusers, cases[c].diffusers);
        assert_int_equal(rep.unmatched, 0);
        assert_int_equal(rep.unet_targets, 282); /* 278 + conv_in, conv_out, time_embed.0/2 */
        assert_int_equal(rep.clip_targets, 24);
        char text[1024];
        sd_lora_describe(lora, &rep, text, sizeof text);
        printf("%s", text);
        assert_non_null(strstr(text, sd_lora_format_name(cases[c].format)));
        assert_non_null(strstr(text, "rank 4,"));
        if (c == 0) {
            assert_non_null(strstr(text, "278 modules (278 UNet, 0 text encoder"));
            assert_non_null(strstr(text, "attention 128, feed-forward 32, proj_in/out 32, resnet "
                                         "convs 44, time_emb_proj 22, shortcuts 14, "
                                         "down/up-samplers 6"));
            assert_non_null(strstr(text, "matches 278 of 282 UNet layers (by diffusers"));
        }
        if (c == 1) assert_non_null(strstr(text, "text encoder 24"));
        assert_null(rep.warning);
        sd_lora_report_clear(&rep);
        sd_lora_release(lora);
    }
    sd_checkpoint_clear(&ck);
}

/* ---- the reference cases ---- */

/* UNet eps with lcm_lora merged at 1.0 (case unet_8x8_t759_lcm_lora); the
** input weights keep their values and untouched tensors are shared. */
static void unet_lcm_lora_matches(void **state)
{
    struct sd_checkpoint ck;
    struct lf_error err = {0};
    load_model(LF_DTYPE_F32, &ck);
    struct sd_lora *lcm = load_lora("lcm_lora.safetensors");
    struct sd_weights *merged = apply(ck.unet, SD_LORA_PART_UNET, lcm, 1.0f, NULL, 0);
    assert_ptr_not_equal(merged, ck.unet);
    size_t fresh = 0;
    for (size_t i = 0; i < merged->count; i++)
        fresh += merged->items[i].tensor != ck.unet->items[i].tensor;
    assert_int_equal(fresh, 278);
    assert_int_equal(ck.unet->refcount, 1); /* shares tensors, not the set */

    struct sd_unet u;
    assert_int_equal(sd_unet_init(&u, merged, &ck.arch.unet, &err), LF_OK);
    struct lf_safetensors *ref = open_fixture("ref/unet.safetensors");
    int64_t n, cn;
    float *sample = file_f32(ref, "unet_8x8_t759_lcm_lora.sample", &n);
    float *ctx = file_f32(ref, "encoder_hidden_states", &cn);
    float *want = file_f32(ref, "unet_8x8_t759_lcm_lora.eps", NULL);
    int64_t xs[4] = {1, 4, 8, 8}, cs[3] = {1, 77, 64};
    struct lf_tensor *x = op_test_tensor(LF_DTYPE_F32, 4, xs, sample);
    struct lf_tensor *c = op_test_tensor(LF_DTYPE_F32, 3, cs, ctx), *eps;
    if (sd_unet_forward(&u, x, 759, c, &eps, &err) != LF_OK) fail_msg("%s", err.message);
    float *got = op_test_download(eps);
    op_test_assert_close("unet_8x8_t759_lcm_lora.eps", got, want, (size_t)n, ATOL, RTOL);
    lf_tensor_release(eps);
    free(got);

    /* Without the LoRA the output is far off: the comparison can fail. */
    struct sd_unet base;
    assert_int_equal(sd_unet_init(&base, ck.unet, &ck.arch.unet, &err), LF_OK);
    if (sd_unet_forward(&base, x, 759, c, &eps, &err) != LF_OK) fail_msg("%s", err.message);
    got = op_test_download(eps);
    double worst;
    assert_true(op_test_compare(got, want, (size_t)n, ATOL, RTOL, &worst) > 10.0);
    free(got);
    lf_tensor_release(eps);
    sd_unet_clear(&base);

    assert_base_values(ck.unet);
    free(sample), free(ctx), free(want);
    lf_tensor_release(x), lf_tensor_release(c);
    lf_safetensors_close(ref);
    sd_unet_clear(&u);
    sd_weights_release(merged);
    sd_lora_release(lcm);
    sd_checkpoint_clear(&ck);
    op_test_check_validation();
}

/* Text encoder with style_lora_kohya at 0.8 (text_encoder_p0_style_kohya_0.8). */
static void text_encoder_style_lora_matches(void **state)
{
    struct sd_checkpoint ck;
    struct lf_error err = {0};
    load_model(LF_DTYPE_F32, &ck);
    struct sd_lora *style = load_lora("style_lora_kohya.safetensors");
    struct sd_weights *merged = apply(ck.clip, SD_LORA_PART_CLIP, style, 0.8f, NULL, 0);
    size_t fresh = 0;
    for (size_t i = 0; i < merged->count; i++)
        fresh += merged->items[i].tensor != ck.clip->items[i].tensor;
    assert_int_equal(fresh, 24);

    struct lf_safetensors *ref = open_fixture("ref/text_encoder.safetensors");
    const struct lf_safetensors_tensor *ids_t = lf_safetensors_find(ref, "lora.input_ids");
    assert_non_null(ids_t);
    int32_t ids[77];
    memcpy(ids, ids_t->data, sizeof ids);
    int64_t n;
    float *want = file_f32(ref, "lora.last_hidden_state", &n);
    struct sd_clip clip;
    assert_int_equal(sd_clip_init(&clip, merged, &ck.arch.text, &err), LF_OK);
    struct lf_tensor *out;
    if (sd_clip_encode(&clip, ids, 77, &out, &err) != LF_OK) fail_msg("%s", err.message);
    float *got = op_test_download(out);
    op_test_assert_close("lora.last_hidden_state", got, want, (size_t)n, ATOL, RTOL);
    free(got);
    lf_tensor_release(out);
    sd_clip_clear(&clip);

    /* The base encoder is far from it (lora_effect_maxabs 1.35). */
    assert_int_equal(sd_clip_init(&clip, ck.clip, &ck.arch.text, &err), LF_OK);
    if (sd_clip_encode(&clip, ids, 77, &out, &err) != LF_OK) fail_msg("%s", err.message);
    got = op_test_download(out);
    double worst;
    assert_true(op_test_compare(got, want, (size_t)n, ATOL, RTOL, &worst) > 10.0);
    free(got);
    lf_tensor_release(out);
    sd_clip_clear(&clip);

    assert_base_values(ck.clip);
    free(want);
    lf_safetensors_close(ref);
    sd_weights_release(merged);
    sd_lora_release(style);
    sd_checkpoint_clear(&ck);
    op_test_check_validation();
}

/* One UNet evaluation on reference inputs, compared with want_key. */
static void unet_step(const struct sd_unet *u, struct lf_safetensors *ref, const char *sample_key,
                      const char *ctx_key, float t, const char *want_key)
{
    struct lf_error err = {0};
    const struct lf_safetensors_tensor *xs = lf_safetensors_find(ref, sample_key);
    assert_non_null(xs);
    int64_t n;
    float *sample = file_f32(ref, sample_key, NULL), *ctx = file_f32(ref, ctx_key, NULL);
    float *want = file_f32(ref, want_key, &n);
    int64_t cs[3] = {1, 77, 64};
    struct lf_tensor *x = op_test_tensor(LF_DTYPE_F32, xs->rank, xs->shape, sample);
    struct lf_tensor *c = op_test_tensor(LF_DTYPE_F32, 3, cs, ctx), *eps;
    if (sd_unet_forward(u, x, t, c, &eps, &err) != LF_OK) fail_msg("%s", err.message);
    float *got = op_test_download(eps);
    op_test_assert_close(want_key, got, want, (size_t)n, ATOL, RTOL);
    free(got), free(sample), free(ctx), free(want);
    lf_tensor_release(x), lf_tensor_release(c), lf_tensor_release(eps);
}

/* Text encoder on a reference's ids, compared with want_key. */
static void clip_step(const struct sd_clip *clip, struct lf_safetensors *ref, const char *ids_key,
                      const char *want_key)
{
    struct lf_error err = {0};
    const struct lf_safetensors_tensor *ids_t = lf_safetensors_find(ref, ids_key);
    assert_non_null(ids_t);
    int32_t ids[77];
    memcpy(ids, ids_t->data, sizeof ids);
    int64_t n;
    float *want = file_f32(ref, want_key, &n);
    struct lf_tensor *out;
    if (sd_clip_encode(clip, ids, 77, &out, &err) != LF_OK) fail_msg("%s", err.message);
    float *got = op_test_download(out);
    op_test_assert_close(want_key, got, want, (size_t)n, ATOL, RTOL);
    free(got), free(want);
    lf_tensor_release(out);
}

/* Stacks in the pipelines' order: pipe_b (lcm_lora 1.0 + style_lora_kohya 0.8
** incl. its text-encoder part; CFG, so both prompt embeddings and both eps
** halves) and pipe_d (style_lora_peft 0.6 + lcm_lora 1.0, 8x12 latent), the
** first step of each. */
static void stacks_match_pipelines(void **state)
{
    struct sd_checkpoint ck;
    struct lf_error err = {0};
    load_model(LF_DTYPE_F32, &ck);
    struct sd_lora *lcm = load_lora("lcm_lora.safetensors");
    struct sd_lora *kohya = load_lora("style_lora_kohya.safetensors");
    struct sd_lora *peft = load_lora("style_lora_peft.safetensors");

    struct lf_safetensors *ref = open_fixture("ref/pipe_b.safetensors");
    struct sd_weights *clip_w = apply(ck.clip, SD_LORA_PART_CLIP, lcm, 1.0f, kohya, 0.8f);
    struct sd_clip clip;
    assert_int_equal(sd_clip_init(&clip, clip_w, &ck.arch.text, &err), LF_OK);
    clip_step(&clip, ref, "input_ids", "prompt_embeds");
    clip_step(&clip, ref, "negative_input_ids", "negative_prompt_embeds");
    sd_clip_clear(&clip);
    sd_weights_release(clip_w);
    struct sd_weights *unet_w = apply(ck.unet, SD_LORA_PART_UNET, lcm, 1.0f, kohya, 0.8f);
    struct sd_unet u;
    assert_int_equal(sd_unet_init(&u, unet_w, &ck.arch.unet, &err), LF_OK);
    unet_step(&u, ref, "step0.latents_in", "prompt_embeds", 999, "step0.noise_pred_text");
    unet_step(&u, ref, "step0.latents_in", "negative_prompt_embeds", 999,
              "step0.noise_pred_uncond");
    sd_unet_clear(&u);
    sd_weights_release(unet_w);
    lf_safetensors_close(ref);

    ref = open_fixture("ref/pipe_d.safetensors");
    unet_w = apply(ck.unet, SD_LORA_PART_UNET, peft, 0.6f, lcm, 1.0f);
    assert_int_equal(sd_unet_init(&u, unet_w, &ck.arch.unet, &err), LF_OK);
    unet_step(&u, ref, "step0.latents_in", "prompt_embeds", 999, "step0.noise_pred");
    sd_unet_clear(&u);
    sd_weights_release(unet_w);
    lf_safetensors_close(ref);

    sd_lora_release(peft), sd_lora_release(kohya), sd_lora_release(lcm);
    sd_checkpoint_clear(&ck);
    op_test_check_validation();
}

/* Two linear and one 1x1-conv tensor merged from the peft file at 0.6,
** against W + 0.6 * (B @ A) computed here from the files (scale 1: no alpha). */
static void peft_merge_case(const char *how, enum lf_dtype dtype)
{
    struct sd_checkpoint ck;
    load_model(dtype, &ck);
    struct sd_lora *peft = load_lora("style_lora_peft.safetensors");
    printf("  merge path %s, %s weights\n", how, lf_dtype_name(dtype));
    setenv("LCMFLOW_LORA_MERGE", how, 1);
    struct sd_weights *merged = apply(ck.unet, SD_LORA_PART_UNET, peft, 0.6f, NULL, 0);
    unsetenv("LCMFLOW_LORA_MERGE");
    struct lf_safetensors *model = open_fixture("model.safetensors");
    struct lf_safetensors *file = open_fixture("style_lora_peft.safetensors");
    static const char *const layers[][2] = {
        {"output_blocks.4.1.transformer_blocks.0.attn2.to_k",
         "up_blocks.1.attentions.1.transformer_blocks.0.attn2.to_k"},
        {"input_blocks.7.1.proj_in", "down_blocks.2.attentions.0.proj_in"},
        {"middle_block.1.transformer_blocks.0.ff.net.0.proj",
         "mid_block.attentions.0.transformer_blocks.0.ff.net.0.proj"},
    };
    for (size_t l = 0; l < sizeof layers / sizeof *layers; l++) {
        char name[300];
        int64_t nw, na, nb;
        snprintf(name, sizeof name, "model.diffusion_model.%s.weight", layers[l][0]);
        float *w = file_f32(model, name, &nw);
        snprintf(name, sizeof name, "unet.%s.lora_A.weight", layers[l][1]);
        float *a = file_f32(file, name, &na);
        snprintf(name, sizeof name, "unet.%s.lora_B.weight", layers[l][1]);
        float *b = file_f32(file, name, &nb);
        int64_t r = 4, rows = nb / r, cols = na / r;
        assert_int_equal(rows * cols, nw);
        for (int64_t i = 0; i < rows; i++)
            for (int64_t k = 0; k < cols; k++) {
                float acc = 0.0f;
                for (int64_t j = 0; j < r; j++)
                    acc += b[i * r + j] * a[j * cols + k];
                w[i * cols + k] += 0.6f * acc;
            }
        snprintf(name, sizeof name, "%s.weight", layers[l][0]);
        struct lf_tensor *t = sd_weights_tensor(merged, name);
        assert_non_null(t);
        assert_ptr_not_equal(t, sd_weights_tensor(ck.unet, name));
        float *got = op_test_download(t);
        /* f16: the f32 result rounded once (half an f16 ulp: 2^-11 relative). */
        if (dtype == LF_DTYPE_F16)
            op_test_assert_close(name, got, w, (size_t)nw, 1e-7, 5e-4);
        else
            op_test_assert_close(name, got, w, (size_t)nw, 1e-6, 1e-6);
        free(got), free(w), free(a), free(b);
    }
    lf_safetensors_close(model);
    lf_safetensors_close(file);
    sd_weights_release(merged);
    sd_lora_release(peft);
    sd_checkpoint_clear(&ck);
    op_test_check_validation();
}

/* Every merge path: OpenBLAS on CPU devices (where it loads), GEMM + add
** on the device, lf_op_lora_merge. */
static void peft_merge_matches_host(void **state)
{
    static const char *const paths[3] = {"host", "gemm", "op"};
    for (int i = 0; i < 3; i++) {
        peft_merge_case(paths[i], LF_DTYPE_F32);
        peft_merge_case(paths[i], LF_DTYPE_F16);
    }
}

/* ---- no drift ---- */

/* A strength change re-merges from the input: merging at 0.3, then (a new
** call) at 0.7 gives bit-for-bit the weights of 0.7 directly; a chain of
** single-LoRA calls equals one call with the stack (f32 weights); with f16
** weights re-merging is as exact. */
static void strength_changes_do_not_drift(void **state)
{
    struct sd_lora *lcm = load_lora("lcm_lora.safetensors");
    struct sd_lora *style = load_lora("style_lora_kohya.safetensors");
    enum lf_dtype dtypes[2] = {LF_DTYPE_F32, LF_DTYPE_F16};
    static const char *const paths[2] = {"host", "gemm"};
    for (int d = 0; d < 4; d++) {
        setenv("LCMFLOW_LORA_MERGE", paths[d / 2], 1);
        struct sd_checkpoint ck;
        load_model(dtypes[d % 2], &ck);
        /* The chain lcm -> style as two LoraLoader nodes. */
        struct sd_weights *first = apply(ck.unet, SD_LORA_PART_UNET, lcm, 1.0f, NULL, 0);
        struct sd_weights *at03 = apply(first, SD_LORA_PART_UNET, style, 0.3f, NULL, 0);
        struct sd_weights *at07 = apply(first, SD_LORA_PART_UNET, style, 0.7f, NULL, 0);
        struct sd_weights *again = apply(first, SD_LORA_PART_UNET, style, 0.7f, NULL, 0);
        assert_int_equal(assert_same_bits(at07, again), 192);
        /* 0.3 and 0.7 really differ. */
        const char *probe = "input_blocks.1.1.transformer_blocks.0.attn1.to_q.weight";
        void *x = download_raw(sd_weights_tensor(at03, probe));
        void *y = download_raw(sd_weights_tensor(at07, probe));
        assert_true(memcmp(x, y, lf_tensor_nbytes(sd_weights_tensor(at07, probe))) != 0);
        free(x), free(y);
        if (dtypes[d % 2] == LF_DTYPE_F32) {
            struct sd_weights *stacked = apply(ck.unet, SD_LORA_PART_UNET, lcm, 1.0f, style, 0.7f);
            assert_int_equal(assert_same_bits(at07, stacked), 278);
            sd_weights_release(stacked);
        }
        /* Merging never touched its inputs. */
        assert_base_values(ck.unet);
        struct sd_weights *first_again = apply(ck.unet, SD_LORA_PART_UNET, lcm, 1.0f, NULL, 0);
        assert_int_equal(assert_same_bits(first, first_again), 278);
        sd_weights_release(first_again);
        sd_weights_release(again);
        sd_weights_release(at07);
        sd_weights_release(at03);
        sd_weights_release(first);
        sd_checkpoint_clear(&ck);
    }
    unsetenv("LCMFLOW_LORA_MERGE");
    sd_lora_release(style);
    sd_lora_release(lcm);
    op_test_check_validation();
}

/* How many of w's items a merge took (held by the merged weights alone). */
static size_t dropped(const struct sd_weights *w)
{
    size_t n = 0;
    for (size_t i = 0; i < w->count; i++)
        n += w->items[i].tensor == NULL;
    return n;
}

/* The LoraLoader pattern on the CPU backend's two precisions (and f32 on
** the others), held once (the default; LCMFLOW_LORA_KEEP_BASE=0 says so
** too): the first merge takes the base's touched
** layers over, a strength change while the first result is still held (a
** cached output) and one after it was released both give bit for bit the
** weights of a fresh apply at that strength on a fresh load, the first
** result never changes, and the base reads back as the file's values.
** With LCMFLOW_LORA_KEEP_BASE=1 the base keeps its layers, and the result
** is the same. */
static void strength_change_equals_fresh_apply(void **state)
{
    struct sd_lora *lcm = load_lora("lcm_lora.safetensors");
    const char *probe = "input_blocks.1.1.transformer_blocks.0.attn1.to_q.weight";
    const char *probe_conv = "input_blocks.1.0.in_layers.2.weight";
    enum lf_dtype dtypes[2] = {LF_DTYPE_F32, LF_DTYPE_BF16};
    for (int d = 0; d < 2; d++) {
        const struct lf_device_info *info = lf_device_get_info(op_test_device());
        if (dtypes[d] == LF_DTYPE_BF16 && !(info->caps & LF_DEVICE_CAP_BF16)) continue;
        printf("  %s weights\n", lf_dtype_name(dtypes[d]));
        struct sd_checkpoint ck, fresh;
        load_model(dtypes[d], &ck);
        setenv("LCMFLOW_LORA_KEEP_BASE", "0", 1);
        struct sd_weights *a = apply(ck.unet, SD_LORA_PART_UNET, lcm, 0.3f, NULL, 0);
        assert_int_equal(dropped(ck.unet), 278); /* each touched layer held once */
        void *a_bits = download_raw(sd_weights_tensor(a, probe));
        void *a_conv = download_raw(sd_weights_tensor(a, probe_conv));
        struct sd_weights *b = apply(ck.unet, SD_LORA_PART_UNET, lcm, 0.7f, NULL, 0);
        /* a is still held: its values stay those of 0.3 */
        void *x = download_raw(sd_weights_tensor(a, probe));
        assert_memory_equal(x, a_bits, lf_tensor_nbytes(sd_weights_tensor(a, probe)));
        free(x);
        x = download_raw(sd_weights_tensor(a, probe_conv));
        assert_memory_equal(x, a_conv, lf_tensor_nbytes(sd_weights_tensor(a, probe_conv)));
        free(x);
        sd_weights_release(a);
        struct sd_weights *c = apply(ck.unet, SD_LORA_PART_UNET, lcm, 0.7f, NULL, 0);

        load_model(dtypes[d], &fresh);
        struct sd_weights *want = apply(fresh.unet, SD_LORA_PART_UNET, lcm, 0.7f, NULL, 0);
        assert_int_equal(assert_same_bits(b, want), want->count); /* untouched: two loads */
        assert_int_equal(assert_same_bits(c, want), want->count);
        /* 0.3 and 0.7 differ, so the comparisons can fail */
        x = download_raw(sd_weights_tensor(want, probe));
        assert_true(memcmp(x, a_bits, lf_tensor_nbytes(sd_weights_tensor(want, probe))) != 0);
        free(x), free(a_bits), free(a_conv);
        sd_weights_release(b);
        sd_weights_release(c);
        /* The base loads its taken layers from the file again: the values of
        ** a fresh load (every item of both is read back). */
        assert_int_equal(assert_same_bits(ck.unet, fresh.unet), ck.unet->count);
        assert_int_equal(dropped(ck.unet), 0);
        /* Kept on request: the base keeps its layers, same result */
        setenv("LCMFLOW_LORA_KEEP_BASE", "1", 1);
        struct sd_weights *kept = apply(ck.unet, SD_LORA_PART_UNET, lcm, 0.7f, NULL, 0);
        assert_int_equal(dropped(ck.unet), 0);
        assert_int_equal(assert_same_bits(kept, want), want->count);
        sd_weights_release(kept);
        /* The default holds them once */
        unsetenv("LCMFLOW_LORA_KEEP_BASE");
        struct sd_weights *held = apply(ck.unet, SD_LORA_PART_UNET, lcm, 0.7f, NULL, 0);
        assert_int_equal(dropped(ck.unet), 278);
        assert_int_equal(assert_same_bits(held, want), want->count);
        sd_weights_release(held);
        sd_weights_release(want);
        sd_checkpoint_clear(&fresh);
        sd_checkpoint_clear(&ck);
    }
    sd_lora_release(lcm);
    op_test_check_validation();
}

/* Nothing to merge: the input comes back (same object, one more reference). */
static void untouched_part_returns_input(void **state)
{
    struct sd_checkpoint ck;
    load_model(LF_DTYPE_F32, &ck);
    struct sd_lora *lcm = load_lora("lcm_lora.safetensors");
    struct sd_weights *w = apply(ck.clip, SD_LORA_PART_CLIP, lcm, 1.0f, NULL, 0);
    assert_ptr_equal(w, ck.clip);
    assert_int_equal(ck.clip->refcount, 2);
    sd_weights_release(w);
    w = apply(ck.unet, SD_LORA_PART_UNET, lcm, 0.0f, NULL, 0);
    assert_ptr_equal(w, ck.unet);
    sd_weights_release(w);
    /* Negative strengths are merges like any other. */
    w = apply(ck.unet, SD_LORA_PART_UNET, lcm, -0.5f, NULL, 0);
    assert_ptr_not_equal(w, ck.unet);
    sd_weights_release(w);
    sd_lora_release(lcm);
    sd_checkpoint_clear(&ck);
}

/* ---- other spellings of the same LoRA ---- */

/* Rewrites a fixture LoRA with renamed keys (rename returns false to drop a
** key); the tensor bytes are unchanged. */
typedef bool (*renamer)(const char *key, char *out);

static void rewrite(const char *rel, renamer rename, const char *out_path)
{
    struct lf_safetensors *st = open_fixture(rel);
    struct lf_safetensors_writer *w;
    struct lf_error err = {0};
    assert_int_equal(lf_safetensors_writer_create(&w, &err), LF_OK);
    for (size_t i = 0; i < lf_safetensors_count(st); i++) {
        const struct lf_safetensors_tensor *t = lf_safetensors_tensor_at(st, i);
        char name[400];
        if (!rename(t->name, name)) continue;
        if (lf_safetensors_writer_add(w, name, t->st_dtype, t->rank, t->shape, t->data, t->nbytes,
                                      &err) != LF_OK)
            fail_msg("%s", err.message);
    }
    if (lf_safetensors_writer_write(w, out_path, &err) != LF_OK) fail_msg("%s", err.message);
    lf_safetensors_writer_free(w);
    lf_safetensors_close(st);
}

static bool replace_suffix(const char *key, const char *from, const char *to, char *out)
{
    size_t n = strlen(key), m = strlen(from);
    if (n < m || strcmp(key + n - m, from) != 0) return false;
    snprintf(out, 400, "%.*s%s", (int)(n - m), key, to);
    return true;
}

/* peft lora_A/lora_B -> the older diffusers lora.down/lora.up. */
static bool peft_to_diffusers(const char *key, char *out)
{
    return replace_suffix(key, ".lora_A.weight", ".lora.down.weight", out) ||
           replace_suffix(key, ".lora_B.weight", ".lora.up.weight", out);
}

/* peft attention layers -> the attention-processor spelling
** (attn1.processor.to_q_lora.down.weight); other layers keep lora.down. */
static bool peft_to_processor(const char *key, char *out)
{
    static const char *const proj[] = {"to_q", "to_k", "to_v", "to_out.0"};
    char base[400];
    if (!peft_to_diffusers(key, base)) return false;
    const char *role = strstr(base, ".lora.") + 6; /* "down.weight" / "up.weight" */
    for (size_t i = 0; i < 4; i++) {
        char needle[32];
        snprintf(needle, sizeof needle, ".%s.lora.", proj[i]);
        char *at = strstr(base, needle);
        if (!at) continue;
        int k = (int)(at - base);
        snprintf(out, 400, "%.*s.processor.%s_lora.%s", k, base, i == 3 ? "to_out" : proj[i], role);
        return true;
    }
    snprintf(out, 400, "%s", base);
    return true;
}

/* kohya (LDM paths) -> peft spelling with LDM paths and alpha kept. */
static bool kohya_to_peft(const char *key, char *out)
{
    char module[400];
    const char *prefix;
    if (!strncmp(key, "lora_unet_", 10))
        prefix = "unet.";
    else if (!strncmp(key, "lora_te_", 8))
        prefix = "text_encoder.";
    else
        return false;
    if (replace_suffix(key, ".lora_down.weight", ".lora_A.weight", module) ||
        replace_suffix(key, ".lora_up.weight", ".lora_B.weight", module) ||
        replace_suffix(key, ".alpha", ".alpha", module)) {
        /* Dots are fine in the module path: the lookup converts them. */
        snprintf(out, 400, "%s%s", prefix, module + (prefix[0] == 'u' ? 10 : 8));
        return true;
    }
    return false;
}

static void spellings_give_same_weights(void **state)
{
    struct sd_checkpoint ck;
    load_model(LF_DTYPE_F32, &ck);
    char diff_path[128], proc_path[128], peft_path[128];
    snprintf(diff_path, sizeof diff_path, "%s/diffusers.safetensors", tmpdir);
    snprintf(proc_path, sizeof proc_path, "%s/processor.safetensors", tmpdir);
    snprintf(peft_path, sizeof peft_path, "%s/peft_te.safetensors", tmpdir);
    rewrite("style_lora_peft.safetensors", peft_to_diffusers, diff_path);
    rewrite("style_lora_peft.safetensors", peft_to_processor, proc_path);
    rewrite("style_lora_kohya.safetensors", kohya_to_peft, peft_path);

    struct sd_lora *peft = load_lora("style_lora_peft.safetensors");
    struct sd_lora *kohya = load_lora("style_lora_kohya.safetensors");
    struct sd_lora *diff, *proc, *peft_te;
    struct lf_error err = {0};
    assert_int_equal(sd_lora_load(op_test_device(), diff_path, &diff, &err), LF_OK);
    assert_int_equal(sd_lora_load(op_test_device(), proc_path, &proc, &err), LF_OK);
    assert_int_equal(sd_lora_load(op_test_device(), peft_path, &peft_te, &err), LF_OK);
    assert_int_equal(diff->format, SD_LORA_FORMAT_DIFFUSERS);
    assert_int_equal(proc->format, SD_LORA_FORMAT_DIFFUSERS);
    assert_int_equal(peft_te->format, SD_LORA_FORMAT_PEFT);
    assert_int_equal(proc->count, 192);

    struct sd_weights *want = apply(ck.unet, SD_LORA_PART_UNET, peft, 0.6f, NULL, 0);
    struct sd_weights *got = apply(ck.unet, SD_LORA_PART_UNET, diff, 0.6f, NULL, 0);
    assert_int_equal(assert_same_bits(want, got), 192);
    sd_weights_release(got);
    got = apply(ck.unet, SD_LORA_PART_UNET, proc, 0.6f, NULL, 0);
    assert_int_equal(assert_same_bits(want, got), 192);
    sd_weights_release(got);
    sd_weights_release(want);

    enum sd_lora_part parts[2] = {SD_LORA_PART_UNET, SD_LORA_PART_CLIP};
    struct sd_weights *ins[2] = {ck.unet, ck.clip};
    size_t touched[2] = {192, 24};
    for (int p = 0; p < 2; p++) {
        want = apply(ins[p], parts[p], kohya, 0.8f, NULL, 0);
        got = apply(ins[p], parts[p], peft_te, 0.8f, NULL, 0);
        assert_int_equal(assert_same_bits(want, got), touched[p]);
        sd_weights_release(got);
        sd_weights_release(want);
    }
    sd_lora_release(peft_te), sd_lora_release(proc), sd_lora_release(diff);
    sd_lora_release(kohya), sd_lora_release(peft);
    remove(diff_path), remove(proc_path), remove(peft_path);
    sd_checkpoint_clear(&ck);
    op_test_check_validation();
}

/* synth-lora's layout is the fixture LCM-LoRA's: same modules, same shapes. */
static void synth_lora_has_lcm_layout(void **state)
{
    char path[128];
    struct lf_error err = {0};
    int modules;
    int64_t params;
    snprintf(path, sizeof path, "%s/synth.safetensors", tmpdir);
    assert_int_equal(sd_synth_lora(&sd_arch_tiny, 4, 4.0f, 1, path, &modules, &params, &err),
                     LF_OK);
    assert_int_equal(modules, 278);
    struct sd_lora *synth, *lcm = load_lora("lcm_lora.safetensors");
    assert_int_equal(sd_lora_load(NULL, path, &synth, &err), LF_OK);
    assert_int_equal(synth->count, lcm->count);
    assert_int_equal(synth->params, params);
    assert_int_equal(lcm->params, params);
    for (size_t i = 0; i < lcm->count; i++) {
        const struct sd_lora_module *a = &synth->modules[i], *b = &lcm->modules[i];
        assert_string_equal(a->name, b->name);
        assert_int_equal(a->down_rank, b->down_rank);
        assert_memory_equal(a->down_shape, b->down_shape, (size_t)b->down_rank * sizeof(int64_t));
        assert_memory_equal(a->up_shape, b->up_shape, (size_t)b->up_rank * sizeof(int64_t));
        assert_true(a->has_alpha && a->alpha == 4.0f);
    }
    sd_lora_release(synth);
    sd_lora_release(lcm);
    remove(path);
}

/* ---- errors ---- */

struct fake {
    const char *name;
    int rank;
    int64_t shape[4];
};

/* Writes a LoRA file of zero-filled f16 tensors. */
static void write_fake(const char *path, const struct fake *t, size_t n)
{
    struct lf_safetensors_writer *w;
    struct lf_error err = {0};
    static uint16_t zeros[64 * 64 * 9];
    assert_int_equal(lf_safetensors_writer_create(&w, &err), LF_OK);
    for (size_t i = 0; i < n; i++) {
        int64_t numel = 1;
        for (int d = 0; d < t[i].rank; d++)
            numel *= t[i].shape[d];
        assert_true(numel <= (int64_t)(sizeof zeros / 2));
        if (lf_safetensors_writer_add(w, t[i].name, LF_ST_DTYPE_F16, t[i].rank, t[i].shape, zeros,
                                      (size_t)numel * 2, &err) != LF_OK)
            fail_msg("%s", err.message);
    }
    if (lf_safetensors_writer_write(w, path, &err) != LF_OK) fail_msg("%s", err.message);
    lf_safetensors_writer_free(w);
}

static enum lf_status load_fake(const struct fake *t, size_t n, struct sd_lora **out,
                                struct lf_error *err)
{
    char path[128];
    snprintf(path, sizeof path, "%s/fake.safetensors", tmpdir);
    write_fake(path, t, n);
    enum lf_status s = sd_lora_load(op_test_device(), path, out, err);
    remove(path);
    return s;
}

static void errors_name_the_key(void **state)
{
    struct lf_error err = {0};
    struct sd_lora *lora;
    char path[700];

    /* A checkpoint is no LoRA file. */
    path_of(path, sizeof path, "model.safetensors");
    assert_int_equal(sd_lora_load(op_test_device(), path, &lora, &err), LF_ERR_FORMAT);
    assert_null(lora);
    assert_non_null(strstr(err.message, "not a LoRA file"));

    /* Rank mismatch between down and up. */
    const struct fake mismatch[] = {
        {"lora_unet_input_blocks_1_1_proj_in.lora_down.weight", 4, {4, 32, 1, 1}},
        {"lora_unet_input_blocks_1_1_proj_in.lora_up.weight", 4, {32, 3, 1, 1}},
    };
    assert_int_equal(load_fake(mismatch, 2, &lora, &err), LF_ERR_FORMAT);
    assert_non_null(strstr(err.message, "rank mismatch"));
    assert_non_null(strstr(err.message, "lora_unet_input_blocks_1_1_proj_in.lora_up.weight"));

    /* A down weight without its up weight. */
    assert_int_equal(load_fake(mismatch, 1, &lora, &err), LF_ERR_FORMAT);
    assert_non_null(strstr(err.message, "lora_unet_input_blocks_1_1_proj_in"));
    assert_non_null(strstr(err.message, "no up weight"));

    struct sd_checkpoint ck;
    load_model(LF_DTYPE_F32, &ck);
    struct sd_lora_report rep;

    /* Keys that match nothing (an SDXL-style LoRA). */
    const struct fake nothing[] = {
        {"lora_unet_input_blocks_4_1_transformer_blocks_9_attn1_to_q.lora_down.weight", 2, {4, 64}},
        {"lora_unet_input_blocks_4_1_transformer_blocks_9_attn1_to_q.lora_up.weight", 2, {64, 4}},
        {"lora_te2_text_model_encoder_layers_0_mlp_fc1.lora_down.weight", 2, {4, 64}},
        {"lora_te2_text_model_encoder_layers_0_mlp_fc1.lora_up.weight", 2, {256, 4}},
    };
    assert_int_equal(load_fake(nothing, 4, &lora, &err), LF_OK);
    assert_int_equal(sd_lora_match(lora, ck.unet, ck.clip, &rep, &err), LF_ERR_NOT_FOUND);
    assert_non_null(strstr(err.message, "transformer_blocks_9_attn1_to_q"));
    struct sd_weights *w = (struct sd_weights *)1;
    const struct sd_lora *stack[1] = {lora};
    float one = 1.0f;
    assert_int_equal(sd_lora_apply(ck.unet, SD_LORA_PART_UNET, stack, &one, 1, &w, &err),
                     LF_ERR_NOT_FOUND);
    assert_null(w);
    assert_non_null(strstr(err.message, "transformer_blocks_9_attn1_to_q"));
    sd_lora_release(lora);

    /* A shape that does not fit its layer (input_blocks.1.1.proj_in is 32x32). */
    const struct fake wrong[] = {
        {"lora_unet_input_blocks_1_1_proj_in.lora_down.weight", 4, {4, 48, 1, 1}},
        {"lora_unet_input_blocks_1_1_proj_in.lora_up.weight", 4, {48, 4, 1, 1}},
    };
    assert_int_equal(load_fake(wrong, 2, &lora, &err), LF_OK);
    assert_int_equal(sd_lora_match(lora, ck.unet, ck.clip, &rep, &err), LF_ERR_FORMAT);
    assert_non_null(strstr(err.message, "lora_unet_input_blocks_1_1_proj_in"));
    assert_non_null(strstr(err.message, "does not fit"));
    stack[0] = lora;
    assert_int_equal(sd_lora_apply(ck.unet, SD_LORA_PART_UNET, stack, &one, 1, &w, &err),
                     LF_ERR_FORMAT);
    sd_lora_release(lora);

    /* Some keys match, seven do not: a warning with the first five and a count. */
    struct fake partial[16] = {
        {"lora_unet_input_blocks_1_1_proj_in.lora_down.weight", 4, {4, 32, 1, 1}},
        {"lora_unet_input_blocks_1_1_proj_in.lora_up.weight", 4, {32, 4, 1, 1}},
        {"lora_unet_input_blocks_1_1_proj_in.alpha", 0, {0}},
    };
    char names[6][80];
    for (int i = 0; i < 6; i++) {
        snprintf(names[i], sizeof names[i], "lora_unet_nowhere_%d.lora_down.weight", i);
        partial[3 + 2 * i] = (struct fake){names[i], 2, {4, 8}};
        snprintf(names[i] + 40, 40, "lora_unet_nowhere_%d.lora_up.weight", i);
        partial[4 + 2 * i] = (struct fake){names[i] + 40, 2, {8, 4}};
    }
    partial[15] = (struct fake){"some_embedding", 2, {2, 8}};
    assert_int_equal(load_fake(partial, 16, &lora, &err), LF_OK);
    assert_int_equal(lora->ignored_count, 1);
    assert_int_equal(sd_lora_match(lora, ck.unet, ck.clip, &rep, &err), LF_OK);
    assert_int_equal(rep.matched_unet, 1);
    assert_int_equal(rep.matched_ldm, 1);
    assert_int_equal(rep.unmatched, 7);
    assert_non_null(rep.warning);
    printf("  warning: %s\n", rep.warning);
    assert_non_null(strstr(rep.warning, "7 LoRA keys match nothing"));
    assert_non_null(strstr(rep.warning, "lora_unet_nowhere_0.lora_down.weight"));
    assert_non_null(strstr(rep.warning, "(and 2 more)"));
    sd_lora_report_clear(&rep);
    stack[0] = lora;
    assert_int_equal(sd_lora_apply(ck.unet, SD_LORA_PART_UNET, stack, &one, 1, &w, &err), LF_OK);
    assert_ptr_not_equal(w, ck.unet);
    sd_weights_release(w);
    sd_lora_release(lora);

    /* A file loaded without a device can be inspected, not applied. */
    path_of(path, sizeof path, "lcm_lora.safetensors");
    assert_int_equal(sd_lora_load(NULL, path, &lora, &err), LF_OK);
    assert_int_equal(lora->count, 278);
    assert_null(lora->modules[0].up);
    stack[0] = lora;
    assert_int_equal(sd_lora_apply(ck.unet, SD_LORA_PART_UNET, stack, &one, 1, &w, &err),
                     LF_ERR_INVALID);
    sd_lora_release(lora);
    assert_base_values(ck.unet);
    sd_checkpoint_clear(&ck);
}

int main(void)
{
    if (!test_fixtures_find(fixtures, sizeof fixtures, "tiny-sd15/lcm_lora.safetensors")) return 77;
    snprintf(tmpdir, sizeof tmpdir, "/tmp/lcmflow-test-lora-XXXXXX");
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return 1;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(names_round_trip),
        cmocka_unit_test(formats_and_counts),
        cmocka_unit_test(unet_lcm_lora_matches),
        cmocka_unit_test(text_encoder_style_lora_matches),
        cmocka_unit_test(stacks_match_pipelines),
        cmocka_unit_test(peft_merge_matches_host),
        cmocka_unit_test(strength_changes_do_not_drift),
        cmocka_unit_test(strength_change_equals_fresh_apply),
        cmocka_unit_test(untouched_part_returns_input),
        cmocka_unit_test(spellings_give_same_weights),
        cmocka_unit_test(synth_lora_has_lcm_layout),
        cmocka_unit_test(errors_name_the_key),
    };
    int failed = op_test_finish(cmocka_run_group_tests(tests, NULL, NULL));
    rmdir(tmpdir);
    return failed;
}
