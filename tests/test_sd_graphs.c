/*
** test_sd_graphs.c - the model nodes through the graph engine, as users run
** them: CheckpointLoader -> TextEncode -> SaveTensor writes the reference
** embedding; the txt2img graph with pipe_a's settings writes the reference
** image (within the pipeline tolerances) with the graph in its metadata;
** a re-run with only the seed changed recomputes exactly the sampler, the
** decoder and the save; img2img from the sketch runs and is deterministic.
*/
#include "test_util.h"
#include "image_io.h"
#include "lcmflow/executor.h"
#include "lcmflow/graph.h"
#include "lcmflow/safetensors.h"

#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

static char fixtures[512], tmp[] = "/tmp/lcmflow-sdgraphs-XXXXXX";
static struct lf_registry *reg;
static struct lf_session *session;

static struct lf_graph *load(const char *yaml)
{
    return test_graph_load(reg, "test.yaml", yaml);
}

static struct lf_run *run(struct lf_graph *g)
{
    return test_graph_run(session, g);
}

/* Compares the PNG `got` (in tmp) with the fixture PNG `want`: same size,
** within 2 levels everywhere and within 1 level on >= 99 % of the values
** (the pipeline tolerance). */
static void assert_png_close(const char *label, const char *got, const char *want)
{
    char path[700];
    int w, h, rw, rh;
    uint8_t *a, *b;
    struct lf_error err = {0};
    snprintf(path, sizeof path, "%s/%s", tmp, got);
    assert_int_equal(lf_image_load(path, &w, &h, &a, &err), LF_OK);
    snprintf(path, sizeof path, "%s/%s", fixtures, want);
    assert_int_equal(lf_image_load(path, &rw, &rh, &b, &err), LF_OK);
    assert_int_equal(w, rw);
    assert_int_equal(h, rh);
    int worst = 0, beyond = 0;
    for (int i = 0; i < w * h * 3; i++) {
        int d = abs(a[i] - b[i]);
        worst = d > worst ? d : worst;
        beyond += d > 1;
    }
    printf("  %s: worst %d levels\n", label, worst);
    assert_true(worst <= 2 && beyond * 100 <= w * h * 3);
    free(a), free(b);
}

static const char embed_yaml[] =
    "version: 1\n"
    "nodes:\n"
    "  ckpt: { type: CheckpointLoader, params: { path: model.safetensors, dtype: f32 } }\n"
    "  pos:  { type: TextEncode, inputs: { clip: ckpt.clip }, params: { text: x } }\n"
    "  save: { type: SaveTensor, inputs: { tensor: pos.conditioning }, params: { path: e.st } }\n";

/* The largest |got - want| / (atol + rtol * |want|) between the tensor a
** SaveTensor wrote to tmp/saved and the tensor name of the fixture file
** ref (same count of values). */
static double saved_error(const char *saved, const char *ref_file, const char *name, double atol,
                          double rtol)
{
    char path[700];
    struct lf_error err = {0};
    struct lf_safetensors *got, *ref;
    snprintf(path, sizeof path, "%s/%s", tmp, saved);
    assert_int_equal(lf_safetensors_open(path, &got, &err), LF_OK);
    snprintf(path, sizeof path, "%s/%s", fixtures, ref_file);
    assert_int_equal(lf_safetensors_open(path, &ref, &err), LF_OK);
    const struct lf_safetensors_tensor *a = lf_safetensors_find(got, "tensor");
    const struct lf_safetensors_tensor *b = lf_safetensors_find(ref, name);
    assert_non_null(a);
    assert_non_null(b);
    assert_int_equal(a->numel, b->numel);
    float *x = malloc((size_t)a->numel * 4), *y = malloc((size_t)b->numel * 4);
    assert_non_null(x);
    assert_non_null(y);
    assert_int_equal(lf_safetensors_tensor_to_f32(got, a, x, a->numel, &err), LF_OK);
    assert_int_equal(lf_safetensors_tensor_to_f32(ref, b, y, b->numel, &err), LF_OK);
    double worst = 0;
    for (int64_t i = 0; i < a->numel; i++)
        worst = fmax(worst, fabs(x[i] - y[i]) / (atol + rtol * fabs(y[i])));
    free(x), free(y);
    lf_safetensors_close(got), lf_safetensors_close(ref);
    return worst;
}

static void text_embedding_graph_writes_reference(void **state)
{
    struct lf_graph *g = load(embed_yaml);
    test_graph_set(g, "ckpt.path=%s/tiny-sd15/model.safetensors", fixtures);
    test_graph_set(g, "ckpt.tokenizer=%s/clip", fixtures);
    test_graph_set(g, "pos.text=a photograph of an astronaut riding a horse");
    test_graph_set(g, "save.path=%s/embed.safetensors", tmp);
    lf_run_destroy(run(g));

    double worst = saved_error("embed.safetensors", "tiny-sd15/ref/text_encoder.safetensors",
                               "p0.last_hidden_state", 1e-4, 1e-4);
    printf("  embedding through the graph: %.2f of tolerance\n", worst);
    assert_true(worst <= 1.0);
    lf_graph_destroy(g);
}

static char *graph_text;

static void on_text(const char *key, const char *value, void *user)
{
    if (!strcmp(key, "lcmflow.graph")) graph_text = strdup(value);
}

/* graphs/NAME.yaml as shipped, on the tiny model. */
static struct lf_graph *shipped_graph(const char *name)
{
    char path[700], text[1600];
    struct lf_error err = {0};
    struct lf_graph *g;
    snprintf(path, sizeof path, "%s/../graphs/%s.yaml", SOURCE_DIR, name);
    if (lf_graph_load(reg, path, &g, &err)) fail_msg("%s", lf_error_text(&err, text, sizeof text));
    test_graph_set(g, "ckpt.path=%s/tiny-sd15/model.safetensors", fixtures);
    test_graph_set(g, "ckpt.tokenizer=%s/clip", fixtures);
    return g;
}

static struct lf_graph *txt2img(void)
{
    struct lf_graph *g = shipped_graph("txt2img");
    test_graph_set(g, "ckpt.dtype=f32");
    test_graph_set(g, "empty.width=64");
    test_graph_set(g, "empty.height=64");
    test_graph_set(g, "save.path=%s/a.png", tmp);
    return g;
}

static void txt2img_graph_reproduces_pipe_a_and_caches(void **state)
{
    struct lf_graph *g = txt2img();
    struct lf_run *r = run(g);
    lf_run_destroy(r);

    assert_png_close("txt2img graph vs pipe_a.png", "a.png", "tiny-sd15/ref/pipe_a.png");

    char path[700];
    struct lf_error err = {0};
    /* The image names what made it. */
    snprintf(path, sizeof path, "%s/a.png", tmp);
    assert_int_equal(lf_image_read_png_text(path, on_text, NULL, &err), LF_OK);
    assert_non_null(graph_text);
    assert_non_null(strstr(graph_text, "seed: 42"));
    assert_non_null(strstr(graph_text, "type: LcmSampler"));
    free(graph_text);

    /* Only the seed changes: sampler, decoder and save run; nothing else. */
    test_graph_set(g, "sample.seed=7");
    r = run(g);
    for (size_t i = 0; i < lf_graph_node_count(g); i++) {
        const char *id = lf_run_node_id(r, i) ? lf_run_node_id(r, i) : "?";
        enum lf_node_state st = lf_run_node_state(r, i);
        bool should_run = !strcmp(id, "sample") || !strcmp(id, "decode") || !strcmp(id, "save");
        printf("  seed change: %-6s %s\n", id, st == LF_NODE_RAN ? "ran" : "cached");
        assert_int_equal(st, should_run ? LF_NODE_RAN : LF_NODE_CACHED);
    }
    lf_run_destroy(r);
    lf_graph_destroy(g);
}

static void sketch2img_graph_is_deterministic(void **state)
{
    char path[700];
    struct lf_error err = {0};
    struct lf_graph *g = shipped_graph("sketch2img");
    test_graph_set(g, "sketch.path=%s/tiny-sd15/ref/pipe_c_sketch.png", fixtures);
    test_graph_set(g, "save.path=%s/c1.png", tmp);
    lf_run_destroy(run(g));
    lf_session_cache_clear(session);
    test_graph_set(g, "save.path=%s/c2.png", tmp);
    lf_run_destroy(run(g));
    int w1, h1, w2, h2;
    uint8_t *a, *b;
    snprintf(path, sizeof path, "%s/c1.png", tmp);
    assert_int_equal(lf_image_load(path, &w1, &h1, &a, &err), LF_OK);
    snprintf(path, sizeof path, "%s/c2.png", tmp);
    assert_int_equal(lf_image_load(path, &w2, &h2, &b, &err), LF_OK);
    assert_int_equal(w1, 64);
    assert_memory_equal(a, b, (size_t)(w1 * h1 * 3));
    free(a), free(b);
    lf_graph_destroy(g);
}

/* Runs g with progress lines captured; *reads: how many LoRA files the
** LoraLoaders read (each read logs "read LoRA file"). */
static struct lf_run *run_counting_reads(struct lf_graph *g, int *reads)
{
    char *text = NULL;
    size_t size = 0;
    FILE *mem = open_memstream(&text, &size);
    assert_non_null(mem);
    lf_session_set_progress(session, LF_PROGRESS_LINES, mem);
    struct lf_run *r = run(g);
    lf_session_set_progress(session, LF_PROGRESS_NONE, stderr);
    fclose(mem);
    *reads = 0;
    for (const char *p = text; (p = strstr(p, "read LoRA file")); p++)
        ++*reads;
    free(text);
    return r;
}

/* pipe_b through the multi-LoRA graph: the reference image, and a strength
** change re-runs that LoraLoader and what follows, not the checkpoint and,
** with strength_clip set, not the text encoders. */
static void multi_lora_graph_reproduces_pipe_b(void **state)
{
    struct lf_graph *g = shipped_graph("multi_lora");
    test_graph_set(g, "ckpt.dtype=f32");
    test_graph_set(g, "lcm.path=%s/tiny-sd15/lcm_lora.safetensors", fixtures);
    test_graph_set(g, "style.path=%s/tiny-sd15/style_lora_kohya.safetensors", fixtures);
    test_graph_set(g, "empty.width=64");
    test_graph_set(g, "empty.height=64");
    test_graph_set(g, "save.path=%s/b.png", tmp);
    int reads;
    lf_run_destroy(run_counting_reads(g, &reads));
    assert_int_equal(reads, 2);
    assert_png_close("multi-LoRA graph vs pipe_b.png", "b.png", "tiny-sd15/ref/pipe_b.png");

    /* A strength change merges again from the host-cached LoRA: the file
    ** is neither read, parsed nor uploaded again. */
    test_graph_set(g, "style.strength_model=0.5");
    struct lf_run *r = run_counting_reads(g, &reads);
    assert_int_equal(reads, 0);
    for (size_t i = 0; i < lf_graph_node_count(g); i++) {
        const char *id = lf_run_node_id(r, i) ? lf_run_node_id(r, i) : "?";
        bool should_run = !strcmp(id, "style") || !strcmp(id, "sample") || !strcmp(id, "decode") ||
                          !strcmp(id, "save");
        printf("  strength change: %-6s %s\n", id,
               lf_run_node_state(r, i) == LF_NODE_RAN ? "ran" : "cached");
        assert_int_equal(lf_run_node_state(r, i), should_run ? LF_NODE_RAN : LF_NODE_CACHED);
    }
    lf_run_destroy(r);
    lf_graph_destroy(g);

    /* The plain txt2img graph shares the cached checkpoint with the LoRA
    ** graph: it must still give pipe_a's image (no LoRA leaked into it). */
    struct lf_graph *a = txt2img();
    test_graph_set(a, "save.path=%s/a2.png", tmp);
    lf_run_destroy(run(a));
    assert_png_close("txt2img after the LoRA graph, same session", "a2.png",
                     "tiny-sd15/ref/pipe_a.png");
    lf_graph_destroy(a);
}

static uint64_t seed_of_png(const char *name)
{
    char path[700], text[1600];
    struct lf_error err = {0};
    struct lf_graph *g;
    snprintf(path, sizeof path, "%s/%s", tmp, name);
    graph_text = NULL;
    assert_int_equal(lf_image_read_png_text(path, on_text, NULL, &err), LF_OK);
    assert_non_null(graph_text);
    if (lf_graph_load_string(reg, "embedded.yaml", graph_text, strlen(graph_text), &g, &err))
        fail_msg("%s", lf_error_text(&err, text, sizeof text));
    uint64_t seed = lf_graph_param(g, "sample", "seed")->u.ui;
    free(graph_text);
    lf_graph_destroy(g);
    return seed;
}

/* A seed above 2^63 (ComfyUI accepts up to 2^64-1) reaches the generator
** whole: torch.manual_seed keeps its low 32 bits, so 2^64-2 draws the
** noise of 2^32-2 (a seed clamped to int64 or passed through a double
** would not); and the PNG's embedded graph gives the seed back exactly. */
static void big_seed_reaches_the_generator_and_the_png(void **state)
{
    struct lf_graph *g = txt2img();
    test_graph_set(g, "sample.seed=18446744073709551614");
    test_graph_set(g, "save.path=%s/big.png", tmp);
    lf_run_destroy(run(g));
    assert_true(seed_of_png("big.png") == UINT64_MAX - 1);
    test_graph_set(g, "sample.seed=4294967294");
    test_graph_set(g, "save.path=%s/low.png", tmp);
    lf_run_destroy(run(g));
    assert_true(seed_of_png("low.png") == 4294967294u);
    test_graph_set(g, "sample.seed=4294967295");
    test_graph_set(g, "save.path=%s/other.png", tmp);
    lf_run_destroy(run(g));

    char path[700];
    int w, h;
    uint8_t *big, *low, *other;
    struct lf_error err = {0};
    snprintf(path, sizeof path, "%s/big.png", tmp);
    assert_int_equal(lf_image_load(path, &w, &h, &big, &err), LF_OK);
    snprintf(path, sizeof path, "%s/low.png", tmp);
    assert_int_equal(lf_image_load(path, &w, &h, &low, &err), LF_OK);
    snprintf(path, sizeof path, "%s/other.png", tmp);
    assert_int_equal(lf_image_load(path, &w, &h, &other, &err), LF_OK);
    assert_memory_equal(big, low, (size_t)(w * h * 3));
    assert_memory_not_equal(big, other, (size_t)(w * h * 3));
    free(big), free(low), free(other);
    lf_graph_destroy(g);
}

/* strength_clip left out of the graph follows strength_model (also after
** --set); written, it stays its own. */
static void strength_clip_follows_strength_model(void **state)
{
    struct lf_graph *g =
        load("version: 1\n"
             "nodes:\n"
             "  ckpt: { type: CheckpointLoader, params: { path: m.safetensors } }\n"
             "  a: { type: LoraLoader, inputs: { model: ckpt.model, clip: ckpt.clip },\n"
             "       params: { path: l.safetensors, strength_model: 0.3 } }\n"
             "  b: { type: LoraLoader, inputs: { model: a.model, clip: a.clip },\n"
             "       params: { path: l.safetensors, strength_model: 0.3, "
             "strength_clip: 0.9 } }\n");
    assert_true(lf_graph_param(g, "a", "strength_clip")->u.f == 0.3);
    assert_true(lf_graph_param(g, "b", "strength_clip")->u.f == 0.9);
    test_graph_set(g, "a.strength_model=0.7");
    test_graph_set(g, "b.strength_model=0.7");
    assert_true(lf_graph_param(g, "a", "strength_clip")->u.f == 0.7);
    assert_true(lf_graph_param(g, "b", "strength_clip")->u.f == 0.9);
    lf_graph_destroy(g);
}

/* TaesdLoader's vae through VaeEncode and VaeDecode (the TAEF2 fixture):
** the latent and the decoded image match the reference round trip. */
static void taesd_round_trip_graph(void **state)
{
    struct lf_graph *g = load(
        "version: 1\n"
        "nodes:\n"
        "  taesd: { type: TaesdLoader, params: { decoder: d, encoder: e, dtype: f32 } }\n"
        "  img:   { type: LoadImage, params: { path: i.png } }\n"
        "  enc:   { type: VaeEncode, inputs: { vae: taesd.vae, image: img.image } }\n"
        "  dec:   { type: VaeDecode, inputs: { vae: taesd.vae, latent: enc.latent } }\n"
        "  save:  { type: SaveImage, inputs: { image: dec.image }, params: { path: o.png } }\n"
        "  lat:   { type: SaveTensor, inputs: { tensor: enc.latent }, params: { path: l.st } }\n");
    test_graph_set(g, "taesd.decoder=%s/taesd/taef2_decoder.safetensors", fixtures);
    test_graph_set(g, "taesd.encoder=%s/taesd/taef2_encoder.safetensors", fixtures);
    test_graph_set(g, "img.path=%s/taesd/astronaut.png", fixtures);
    test_graph_set(g, "save.path=%s/astronaut.png", tmp);
    test_graph_set(g, "lat.path=%s/astronaut.safetensors", tmp);
    lf_run_destroy(run(g));

    double worst =
        saved_error("astronaut.safetensors", "taesd/astronaut_ref.safetensors", "latent", 1.0, 0.0);
    printf("  TAESD latent through the graph: max |err| %.3g\n", worst);
    assert_true(worst <= 1e-3);

    assert_png_close("TAESD decoded image", "astronaut.png", "taesd/astronaut_decoded.png");
    lf_graph_destroy(g);
}

static void bad_inputs_are_clear_errors(void **state)
{
    struct lf_graph *g = load(embed_yaml);
    struct lf_error err = {0};
    struct lf_run *r = NULL;
    char text[1600];
    test_graph_set(g, "ckpt.path=%s/no-such-model.safetensors", tmp);
    test_graph_set(g, "save.path=%s/never.safetensors", tmp);
    assert_int_not_equal(lf_session_run(session, g, &r, &err), LF_OK);
    lf_error_text(&err, text, sizeof text);
    printf("  %s\n", text);
    assert_non_null(strstr(text, "no-such-model.safetensors"));
    assert_int_equal(access("never.safetensors", F_OK), -1);
    lf_graph_destroy(g);

    g = load(embed_yaml);
    assert_int_not_equal(lf_graph_set(g, "ckpt.path=model.ckpt", &err), LF_OK);
    lf_error_text(&err, text, sizeof text);
    assert_non_null(strstr(text, "pickle"));
    lf_graph_destroy(g);

    /* A vocabulary of another size than the token embedding (issue 13: a
    ** synthetic one encoded a real model's prompts, exit 0): an openai
    ** merges file of one merge is 515 tokens; the model has 49408 rows. */
    char vocab[700];
    snprintf(vocab, sizeof vocab, "%s/small-bpe.txt", tmp);
    FILE *f = fopen(vocab, "w");
    assert_non_null(f);
    fputs("#version: 0.2\nc a\n", f);
    assert_int_equal(fclose(f), 0);
    g = load(embed_yaml);
    test_graph_set(g, "ckpt.path=%s/tiny-sd15/model.safetensors", fixtures);
    test_graph_set(g, "ckpt.tokenizer=%s", vocab);
    test_graph_set(g, "save.path=%s/never.safetensors", tmp);
    r = NULL;
    assert_int_not_equal(lf_session_run(session, g, &r, &err), LF_OK);
    lf_error_text(&err, text, sizeof text);
    printf("  %s\n", text);
    assert_non_null(strstr(text, "small-bpe.txt"));
    assert_non_null(strstr(text, "515 tokens"));
    assert_non_null(strstr(text, "49408 rows"));
    lf_graph_destroy(g);
}

int main(void)
{
    if (!test_fixtures_find(fixtures, sizeof fixtures, "tiny-sd15/model.safetensors")) return 77;
    if (!test_engine_open(tmp, &reg, &session)) return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(text_embedding_graph_writes_reference),
        cmocka_unit_test(txt2img_graph_reproduces_pipe_a_and_caches),
        cmocka_unit_test(sketch2img_graph_is_deterministic),
        cmocka_unit_test(multi_lora_graph_reproduces_pipe_b),
        cmocka_unit_test(strength_clip_follows_strength_model),
        cmocka_unit_test(big_seed_reaches_the_generator_and_the_png),
        cmocka_unit_test(taesd_round_trip_graph),
        cmocka_unit_test(bad_inputs_are_clear_errors),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    if (test_engine_close(tmp, reg, session) && !rc) rc = 1;
    return rc;
}
