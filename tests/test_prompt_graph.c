/*
** test_prompt_graph.c - prompts through the graph engine on the tiny-sd15
** model: a long negative and a short positive prompt at cfg 2 (different
** chunk counts, padded with the encoded empty prompt) sample to the same
** latents twice; without empty_prompt connected the sampler says what to
** connect; changing one weight in the prompt re-runs that TextEncode and
** what follows, never the loader.
*/
#include "test_util.h"
#include "lcmflow/executor.h"
#include "lcmflow/graph.h"
#include "lcmflow/safetensors.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

static char fixtures[512], tmp[] = "/tmp/lcmflow-promptgraph-XXXXXX";
static struct lf_registry *reg;
static struct lf_session *session;

static const char yaml[] =
    "version: 1\n"
    "nodes:\n"
    "  ckpt:   { type: CheckpointLoader, params: { path: m.safetensors, dtype: f32 } }\n"
    "  pos:    { type: TextEncode, inputs: { clip: ckpt.clip },\n"
    "            params: { text: \"a (cat:1.2) in a hat\" } }\n"
    "  neg:    { type: TextEncode, inputs: { clip: ckpt.clip }, params: { text: \"\" } }\n"
    "  latent: { type: EmptyLatent, params: { width: 64, height: 64 } }\n"
    "  sample: { type: LcmSampler, inputs: { model: ckpt.model, positive: pos.conditioning,\n"
    "                                        negative: neg.conditioning, latent: latent.latent,\n"
    "                                        empty_prompt: pos.empty_prompt },\n"
    "            params: { seed: 3, steps: 2, cfg: 2.0 } }\n"
    "  save:   { type: SaveTensor, inputs: { tensor: sample.latent },\n"
    "            params: { path: out.safetensors } }\n";

static struct lf_graph *graph(const char *text, const char *out)
{
    struct lf_graph *g = test_graph_load(reg, "prompt.yaml", text);
    test_graph_set(g, "ckpt.path=%s/tiny-sd15/model.safetensors", fixtures);
    test_graph_set(g, "ckpt.tokenizer=%s/clip", fixtures);
    test_graph_set(g, "save.path=%s/%s", tmp, out);
    /* 120 words: two chunks against the positive's one */
    char neg[2000] = "";
    for (int i = 0; i < 120; i++)
        strcat(neg, i % 3 == 0 ? "blurry, " : i % 3 == 1 ? "ugly " : "(bad:1.3) ");
    test_graph_set(g, "neg.text=%s", neg);
    return g;
}

static float *latents(const char *name, int64_t *count)
{
    struct lf_error err = {0};
    struct lf_safetensors *st = test_safetensors_open("%s/%s", tmp, name);
    const struct lf_safetensors_tensor *t = lf_safetensors_find(st, "tensor");
    assert_non_null(t);
    float *v = malloc((size_t)t->numel * sizeof *v);
    assert_int_equal(lf_safetensors_tensor_to_f32(st, t, v, t->numel, &err), LF_OK);
    *count = t->numel;
    lf_safetensors_close(st);
    return v;
}

static void long_negative_short_positive(void **state)
{
    struct lf_error err = {0};
    struct lf_run *r;
    char text[1600];
    struct lf_graph *g = graph(yaml, "one.safetensors");
    if (lf_session_run(session, g, &r, &err))
        fail_msg("%s", lf_error_text(&err, text, sizeof text));
    lf_run_destroy(r);
    lf_session_cache_clear(session);
    test_graph_set(g, "save.path=%s/two.safetensors", tmp);
    if (lf_session_run(session, g, &r, &err))
        fail_msg("%s", lf_error_text(&err, text, sizeof text));
    lf_run_destroy(r);
    int64_t n1, n2;
    float *a = latents("one.safetensors", &n1), *b = latents("two.safetensors", &n2);
    assert_int_equal(n1, 4 * 8 * 8);
    assert_int_equal(n1, n2);
    assert_memory_equal(a, b, (size_t)n1 * sizeof *a);
    free(a), free(b);

    /* One weight changes: that encoder, the sampler and the save run. */
    test_graph_set(g, "pos.text=a (cat:1.3) in a hat");
    test_graph_set(g, "save.path=%s/three.safetensors", tmp);
    if (lf_session_run(session, g, &r, &err))
        fail_msg("%s", lf_error_text(&err, text, sizeof text));
    for (size_t i = 0; i < lf_graph_node_count(g); i++) {
        const char *id = lf_run_node_id(r, i) ? lf_run_node_id(r, i) : "?";
        bool should_run = !strcmp(id, "pos") || !strcmp(id, "sample") || !strcmp(id, "save");
        printf("  weight change: %-6s %s\n", id,
               lf_run_node_state(r, i) == LF_NODE_RAN ? "ran" : "cached");
        assert_int_equal(lf_run_node_state(r, i), should_run ? LF_NODE_RAN : LF_NODE_CACHED);
    }
    lf_run_destroy(r);
    lf_graph_destroy(g);
}

static void unpadded_lengths_name_the_fix(void **state)
{
    char text[sizeof yaml];
    snprintf(text, sizeof text, "%s", yaml);
    char *from = strstr(text, "empty_prompt: pos.empty_prompt");
    assert_non_null(from);
    char *at = from;
    while (*at != ',')
        at--; /* back to the comma before it */
    char *rest = strstr(from, " }");
    memmove(at, rest, strlen(rest) + 1);
    struct lf_graph *g = graph(text, "never.safetensors");
    struct lf_error err = {0};
    struct lf_run *r = NULL;
    char msg[1600];
    assert_int_not_equal(lf_session_run(session, g, &r, &err), LF_OK);
    lf_error_text(&err, msg, sizeof msg);
    printf("  %s\n", msg);
    assert_non_null(strstr(msg, "empty_prompt"));
    lf_run_destroy(r);
    lf_graph_destroy(g);
}

int main(void)
{
    if (!test_fixtures_find(fixtures, sizeof fixtures, "tiny-sd15/model.safetensors")) return 77;
    if (!test_engine_open(tmp, &reg, &session)) return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(long_negative_short_positive),
        cmocka_unit_test(unpadded_lengths_name_the_fix),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    if (test_engine_close(tmp, reg, session) && !rc) rc = 1;
    return rc;
}
