/*
** test_prompt_encode.c - prompt encoding on the tiny-sd15 text encoder
** (f32), each property checked against an independent computation:
**   - weights of 1 everywhere give the plain 77-token encoding bit for bit;
**   - a1111 = plain hidden states x weights, rescaled to the plain mean;
**   - comfy = z_empty + w (z - z_empty) against the empty prompt's encoding;
**   - chunk k of a long prompt = that chunk's text encoded alone; words are
**     not split across chunks; BREAK moves the boundary;
**   - clip_skip 2 = the encoder cut one layer short, through the final norm;
**   - an embedding file made here inserts exactly its vectors.
*/
#include "test_util.h"
#include "op_test.h"
#include "lcmflow/safetensors.h"
#include "sd_checkpoint.h"
#include "sd_conditioning.h"
#include "sd_info.h"

#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#define CTX SD_TOKENIZER_CONTEXT

static char fixtures[512], tmp[] = "/tmp/lcmflow-prompt-XXXXXX";
static struct sd_checkpoint ck;
static struct sd_clip clip;
static struct sd_tokenizer *tok;
static size_t hidden;

/* Today's path: 77 ids from the tokenizer, one encoder pass.  [77 * hidden] */
static float *plain(const char *text)
{
    int32_t ids[CTX];
    struct lf_error err = {0};
    struct lf_tensor *z;
    if (sd_tokenizer_encode(tok, text, ids, NULL, &err) ||
        sd_clip_encode(&clip, ids, CTX, &z, &err))
        fail_msg("plain '%s': %s", text, err.message);
    float *h = op_test_download(z);
    lf_tensor_release(z);
    return h;
}

/* The new path; *chunks receives the chunk count. */
static float *encode(const char *text, enum sd_weighting weighting, int clip_skip,
                     struct sd_embeddings *lib, int *chunks)
{
    struct lf_error err = {0};
    struct sd_prompt p;
    struct sd_prompt_tokens t;
    struct lf_tensor *z;
    enum sd_prompt_syntax syntax =
        weighting == SD_WEIGHTING_NONE ? SD_PROMPT_LITERAL : SD_PROMPT_WEIGHTED;
    if (sd_prompt_parse(text, syntax, &p, &err) || sd_prompt_tokenize(tok, &p, lib, &t, &err) ||
        sd_conditioning_encode(&clip, &t, weighting, clip_skip, NULL, &z, &err))
        fail_msg("encode '%s': %s", text, err.message);
    assert_int_equal(z->rank, 3);
    assert_int_equal(z->shape[1], (int64_t)t.chunks * CTX);
    assert_int_equal(z->shape[2], (int64_t)hidden);
    if (chunks) *chunks = t.chunks;
    float *h = op_test_download(z);
    lf_tensor_release(z);
    sd_prompt_tokens_free(&t);
    sd_prompt_free(&p);
    return h;
}

static void assert_same(const float *a, const float *b, size_t n, const char *what)
{
    if (memcmp(a, b, n * sizeof *a)) fail_msg("%s: not bit-identical", what);
}

static void ones_equal_plain(void **state)
{
    static const char *const prompts[] = {"a photograph of an astronaut riding a horse", "",
                                          "café, 日本, 🐱!", "a (cat:1) ([dog]:1.1) (on:1.0) mat"};
    static const char *const same[] = {"a photograph of an astronaut riding a horse", "",
                                       "café, 日本, 🐱!", "a cat dog on mat"};
    for (int i = 0; i < 4; i++) {
        int chunks;
        float *a = encode(prompts[i], SD_WEIGHTING_A1111, 1, NULL, &chunks);
        float *b = plain(same[i]);
        assert_int_equal(chunks, 1);
        assert_same(a, b, CTX * hidden, prompts[i]);
        free(a), free(b);
    }
    /* weighting none keeps brackets as text: the old behaviour */
    float *a = encode("(cat:1.5) [dog]", SD_WEIGHTING_NONE, 1, NULL, NULL);
    float *b = plain("(cat:1.5) [dog]");
    assert_same(a, b, CTX * hidden, "none");
    free(a), free(b);
}

/* "a (cat:1.5) on a [mat]": positions BOS, a, cat, on, a, mat. */
static const char weighted[] = "a (cat:1.5) on a [mat]";
static const char unweighted[] = "a cat on a mat";
static void weights_of(float w[CTX])
{
    for (int i = 0; i < CTX; i++)
        w[i] = 1.0f;
    w[2] = 1.5f;
    w[5] = (float)(1.0 / 1.1);
}

static void a1111_rescales_to_the_mean(void **state)
{
    float w[CTX];
    weights_of(w);
    float *z = plain(unweighted), *got = encode(weighted, SD_WEIGHTING_A1111, 1, NULL, NULL);
    size_t n = CTX * hidden;
    double before = 0, after = 0;
    for (size_t i = 0; i < n; i++)
        before += z[i];
    double *want = malloc(n * sizeof *want);
    for (size_t i = 0; i < n; i++)
        after += (want[i] = (double)z[i] * w[i / hidden]);
    float *wantf = malloc(n * sizeof *wantf);
    for (size_t i = 0; i < n; i++)
        wantf[i] = (float)(want[i] * before / after);
    op_test_assert_close("a1111", got, wantf, n, 1e-6, 1e-5);
    /* and it is not the unweighted encoding */
    assert_true(fabsf(got[2 * hidden] - z[2 * hidden]) > 1e-3f);
    free(z), free(got), free(want), free(wantf);
}

static void comfy_moves_from_the_empty_prompt(void **state)
{
    float w[CTX];
    weights_of(w);
    float *z = plain(unweighted), *e = plain(""),
          *got = encode(weighted, SD_WEIGHTING_COMFY, 1, NULL, NULL);
    size_t n = CTX * hidden;
    float *want = malloc(n * sizeof *want);
    for (size_t i = 0; i < n; i++)
        want[i] = e[i] + w[i / hidden] * (z[i] - e[i]);
    op_test_assert_close("comfy", got, want, n, 1e-6, 1e-5);
    assert_same(got, z, 2 * hidden, "comfy leaves weight-1 positions alone");
    free(z), free(e), free(got), free(want);
}

/* words[i % 6] x count, space-separated; each word is one token. */
static char *words(int first, int count)
{
    static const char *const w[] = {"red", "cat", "blue", "dog", "green", "tree"};
    char *s = calloc((size_t)count * 8 + 1, 1);
    for (int i = 0; i < count; i++)
        strcat(strcat(s, i ? " " : ""), w[(first + i) % 6]);
    return s;
}

static void chunks_encode_alone(void **state)
{
    char *all = words(0, 100), *head = words(0, 75), *tail = words(75, 25);
    int chunks;
    float *got = encode(all, SD_WEIGHTING_A1111, 1, NULL, &chunks);
    assert_int_equal(chunks, 2);
    float *a = plain(head), *b = plain(tail);
    assert_same(got, a, CTX * hidden, "chunk 0");
    assert_same(got + CTX * hidden, b, CTX * hidden, "chunk 1");
    free(got), free(a), free(b), free(all), free(head), free(tail);

    /* 74 words, then a word of several tokens: it moves whole to chunk 1 */
    int32_t *ids;
    size_t n;
    struct lf_error err = {0};
    const char *longword = "zxqvbnmplk";
    assert_int_equal(sd_tokenizer_encode_untruncated(tok, longword, &ids, &n, &err), LF_OK);
    assert_true(n >= 2);
    free(ids);
    head = words(0, 74);
    char text[1024];
    snprintf(text, sizeof text, "%s %s red", head, longword);
    got = encode(text, SD_WEIGHTING_A1111, 1, NULL, &chunks);
    assert_int_equal(chunks, 2);
    snprintf(text, sizeof text, "%s red", longword);
    a = plain(head), b = plain(text);
    assert_same(got, a, CTX * hidden, "chunk 0 ends before the long word");
    assert_same(got + CTX * hidden, b, CTX * hidden, "chunk 1 starts with it");
    free(got), free(a), free(b), free(head);
}

static void break_moves_the_boundary(void **state)
{
    int chunks;
    float *got = encode("a red cat BREAK a blue dog", SD_WEIGHTING_A1111, 1, NULL, &chunks);
    assert_int_equal(chunks, 2);
    float *a = plain("a red cat"), *b = plain("a blue dog");
    assert_same(got, a, CTX * hidden, "before BREAK");
    assert_same(got + CTX * hidden, b, CTX * hidden, "after BREAK");
    free(got), free(a), free(b);
}

static void clip_skip_two_is_the_penultimate_layer(void **state)
{
    float *skip = encode("a cat", SD_WEIGHTING_A1111, 2, NULL, NULL);
    float *last = encode("a cat", SD_WEIGHTING_A1111, 1, NULL, NULL);
    struct sd_clip cut = clip;
    cut.layers--; /* the same weights, one layer fewer, then the final norm */
    struct sd_clip full = clip;
    clip = cut;
    float *want = plain("a cat");
    clip = full;
    assert_same(skip, want, CTX * hidden, "clip_skip 2");
    assert_true(memcmp(skip, last, CTX * hidden * sizeof *skip) != 0);
    free(skip), free(last), free(want);

    struct lf_tensor *z = NULL;
    struct lf_error err = {0};
    int32_t ids[CTX] = {0};
    assert_int_equal(sd_clip_encode_ex(&clip, ids, NULL, CTX, clip.layers + 1, &z, &err),
                     LF_ERR_INVALID);
    assert_non_null(strstr(err.message, "clip_skip"));
}

/* ---- embeddings ---- */

static void write_embedding(const char *name, const char *tensor, int rank, const int64_t *shape,
                            const float *data)
{
    struct lf_safetensors_writer *w;
    struct lf_error err = {0};
    char path[700];
    int64_t n = 1;
    for (int i = 0; i < rank; i++)
        n *= shape[i];
    snprintf(path, sizeof path, "%s/%s", tmp, name);
    if (lf_safetensors_writer_create(&w, &err) ||
        lf_safetensors_writer_add(w, tensor, LF_ST_DTYPE_F32, rank, shape, data,
                                  (size_t)n * sizeof *data, &err) ||
        lf_safetensors_writer_write(w, path, &err))
        fail_msg("writing %s: %s", path, err.message);
    lf_safetensors_writer_free(w);
}

/* The token-embedding rows of the tokens of word. */
static float *rows_of(const char *word, size_t *count)
{
    int32_t *ids;
    struct lf_error err = {0};
    assert_int_equal(sd_tokenizer_encode_untruncated(tok, word, &ids, count, &err), LF_OK);
    const struct sd_weight *t =
        sd_weights_find(ck.clip, "text_model.embeddings.token_embedding.weight");
    float *table = malloc((size_t)t->source->numel * sizeof *table);
    assert_int_equal(
        lf_safetensors_tensor_to_f32(t->file, t->source, table, t->source->numel, &err), LF_OK);
    float *rows = malloc(*count * hidden * sizeof *rows);
    for (size_t i = 0; i < *count; i++)
        memcpy(rows + i * hidden, table + (size_t)ids[i] * hidden, hidden * sizeof *rows);
    free(table), free(ids);
    return rows;
}

static void embeddings_insert_their_vectors(void **state)
{
    struct sd_embeddings lib = {.dirs = {tmp, NULL}, .width = (int)hidden};
    size_t n;
    /* both layouts, holding the rows of "astronaut horse": the same as the words */
    float *rows = rows_of("astronaut horse", &n);
    int64_t shape[2] = {(int64_t)n, (int64_t)hidden};
    write_embedding("words.safetensors", "emb_params", 2, shape, rows);
    float *got = encode("a embedding:words", SD_WEIGHTING_A1111, 1, &lib, NULL);
    float *want = plain("a astronaut horse");
    assert_same(got, want, CTX * hidden, "A1111-layout embedding = its words");
    free(got), free(want), free(rows);
    rows = rows_of("horse", &n);
    int64_t one = (int64_t)hidden;
    write_embedding("one.safetensors", "<horse>", 1, &one, rows);
    got = encode("a embedding:one.safetensors", SD_WEIGHTING_A1111, 1, &lib, NULL);
    want = plain("a horse");
    assert_same(got, want, CTX * hidden, "diffusers-layout embedding = its word");
    free(got), free(want), free(rows);

    /* random vectors: positions before the insertion keep their values
    ** (to rounding: the attention kernel's blocking sees the later keys),
    ** the inserted ones (and, the attention being causal, those after)
    ** change */
    float random[3 * 64];
    assert_true(hidden <= 64);
    op_test_random(random, 3 * hidden, -1, 1, 7);
    int64_t shape3[2] = {3, (int64_t)hidden};
    write_embedding("rnd.safetensors", "emb_params", 2, shape3, random);
    got = encode("a red embedding:rnd cat", SD_WEIGHTING_A1111, 1, &lib, NULL);
    want = plain("a red x y z cat");
    op_test_assert_close("before the embedding", got, want, 3 * hidden, 1e-5, 1e-5);
    for (int p = 3; p < 6; p++) {
        double diff = 0;
        for (size_t j = 0; j < hidden; j++)
            diff = fmax(diff, fabs(got[p * hidden + j] - want[p * hidden + j]));
        assert_true(diff > 1e-2);
    }
    free(got), free(want);

    /* the weight follows the brackets: exactly the inserted positions */
    struct sd_prompt p;
    struct sd_prompt_tokens t;
    struct lf_error err = {0};
    assert_int_equal(sd_prompt_parse("a (embedding:rnd:1.5) cat", SD_PROMPT_WEIGHTED, &p, &err),
                     LF_OK);
    assert_int_equal(sd_prompt_tokenize(tok, &p, &lib, &t, &err), LF_OK);
    for (int i = 0; i < CTX; i++) {
        bool inserted = i >= 2 && i <= 4;
        assert_true((t.vectors[i] != NULL) == inserted);
        assert_true(t.weights[i] == (inserted ? 1.5f : 1.0f));
    }
    assert_memory_equal(t.vectors[3], random + hidden, hidden * sizeof(float));
    sd_prompt_tokens_free(&t);
    sd_prompt_free(&p);
    sd_embeddings_clear(&lib);
}

static void embedding_errors(void **state)
{
    struct sd_embeddings lib = {.dirs = {tmp, NULL}, .width = (int)hidden};
    struct lf_error err = {0};
    const struct sd_embedding *e;
    float v[32] = {0};
    int64_t shape[2] = {1, 32};
    write_embedding("narrow.safetensors", "emb_params", 2, shape, v);
    assert_int_equal(sd_embeddings_find(&lib, "narrow", &e, &err), LF_ERR_INVALID);
    printf("  %s: %s\n", err.path, err.message);
    assert_non_null(strstr(err.path, "narrow.safetensors"));
    assert_non_null(strstr(err.message, "width 32"));
    char want[64];
    snprintf(want, sizeof want, "width is %zu", hidden);
    assert_non_null(strstr(err.message, want));

    assert_int_equal(sd_embeddings_find(&lib, "missing", &e, &err), LF_ERR_NOT_FOUND);
    printf("  %s\n", err.message);
    assert_non_null(strstr(err.message, "embedding:missing"));
    assert_non_null(strstr(err.message, "narrow")); /* the ones found are listed */

    char path[700];
    snprintf(path, sizeof path, "%s/pickled.pt", tmp);
    FILE *f = fopen(path, "w");
    fputs("not really", f);
    fclose(f);
    assert_int_equal(sd_embeddings_find(&lib, "pickled", &e, &err), LF_ERR_UNSUPPORTED);
    assert_non_null(strstr(err.message, "pickle"));
    sd_embeddings_clear(&lib);
}

/* `lcmflow info` on embedding files: layout, vectors and width. */
static void info_describes_embeddings(void **state)
{
    float v[4 * 768] = {0};
    int64_t shape[2] = {4, 768}, one = 768;
    write_embedding("a1111.safetensors", "emb_params", 2, shape, v);
    write_embedding("diffusers.safetensors", "<cat-toy>", 1, &one, v);
    struct sd_info info;
    struct lf_error err = {0};
    char path[700];
    snprintf(path, sizeof path, "%s/a1111.safetensors", tmp);
    assert_int_equal(sd_info_inspect(path, &info, &err), LF_OK);
    printf("  %s\n", info.what);
    assert_int_equal(info.kind, SD_INFO_EMBEDDING);
    assert_int_equal(info.embedding.vectors, 4);
    assert_int_equal(info.embedding.width, 768);
    assert_non_null(strstr(info.what, "SD 1.5"));
    snprintf(path, sizeof path, "%s/diffusers.safetensors", tmp);
    assert_int_equal(sd_info_inspect(path, &info, &err), LF_OK);
    printf("  %s\n", info.what);
    assert_int_equal(info.kind, SD_INFO_EMBEDDING);
    assert_int_equal(info.embedding.vectors, 1);
    assert_string_equal(info.embedding.tensor, "<cat-toy>");
}

static int setup(void **state)
{
    char path[700];
    struct lf_error err = {0};
    snprintf(path, sizeof path, "%s/tiny-sd15/model.safetensors", fixtures);
    if (sd_checkpoint_load(op_test_device(), path, LF_DTYPE_F32, &ck, &err) ||
        sd_clip_init(&clip, ck.clip, &ck.arch.text, &err))
        return fprintf(stderr, "%s\n", err.message), -1;
    snprintf(path, sizeof path, "%s/clip", fixtures);
    if (sd_tokenizer_load(path, &tok, &err)) return fprintf(stderr, "%s\n", err.message), -1;
    hidden = (size_t)clip.hidden;
    return mkdtemp(tmp) ? 0 : -1;
}

static int teardown(void **state)
{
    sd_clip_clear(&clip);
    sd_checkpoint_clear(&ck);
    sd_tokenizer_free(tok);
    return test_remove_tree(tmp);
}

int main(void)
{
    if (!test_fixtures_find(fixtures, sizeof fixtures, "tiny-sd15/model.safetensors")) return 77;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(ones_equal_plain),
        cmocka_unit_test(a1111_rescales_to_the_mean),
        cmocka_unit_test(comfy_moves_from_the_empty_prompt),
        cmocka_unit_test(chunks_encode_alone),
        cmocka_unit_test(break_moves_the_boundary),
        cmocka_unit_test(clip_skip_two_is_the_penultimate_layer),
        cmocka_unit_test(embeddings_insert_their_vectors),
        cmocka_unit_test(embedding_errors),
        cmocka_unit_test(info_describes_embeddings),
    };
    return op_test_finish(cmocka_run_group_tests(tests, setup, teardown));
}
