/*
** test_synth.c - synthetic checkpoints are deterministic for a seed, differ
** across seeds, hold SD 1.5's tensor set, and come with a vocabulary the
** tokenizer loads; the synthetic TAESD has the reference layer plan.
*/
#include "test_util.h"
#include "lcmflow/safetensors.h"
#include "sd_tokenizer.h"
#include "sd_synth.h"
#include "sd_taesd.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

static char *slurp(const char *path, size_t *size)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    *size = (size_t)ftell(f);
    fseek(f, 0, SEEK_SET);
    char *data = malloc(*size);
    assert_int_equal(fread(data, 1, *size, f), *size);
    fclose(f);
    return data;
}

/* A synthesizer under test: writes path from seed (params may be NULL). */
typedef enum lf_status (*synth_fn)(uint64_t seed, const char *path, int64_t *params,
                                   struct lf_error *err);

/* In a new folder (dir, a mkdtemp template), files[0] and files[1] written
** with seed and files[2] with seed + 1: the same seed must give the same
** bytes, another seed as many other bytes.  *size: files[0]'s size. */
static void check_seeds(char *dir, synth_fn synth, uint64_t seed, char files[3][128],
                        int64_t *params, size_t *size)
{
    struct lf_error err = {0};
    char *data[3];
    size_t n[3];
    assert_non_null(mkdtemp(dir));
    for (int i = 0; i < 3; i++) {
        snprintf(files[i], 128, "%s/%c.safetensors", dir, 'a' + i);
        assert_int_equal(synth(seed + (i == 2), files[i], i ? NULL : params, &err), LF_OK);
        data[i] = slurp(files[i], &n[i]);
    }
    assert_int_equal(n[0], n[1]);
    assert_memory_equal(data[0], data[1], n[0]);
    assert_int_equal(n[0], n[2]);
    assert_true(memcmp(data[0], data[2], n[0]) != 0);
    for (int i = 0; i < 3; i++)
        free(data[i]);
    *size = n[0];
}

static enum lf_status synth_tiny(uint64_t seed, const char *path, int64_t *params,
                                 struct lf_error *err)
{
    return sd_synth_checkpoint(&sd_arch_tiny, seed, LF_DTYPE_F16, path, params, err);
}

static enum lf_status synth_taesd4(uint64_t seed, const char *path, int64_t *params,
                                   struct lf_error *err)
{
    return sd_synth_taesd(4, seed, path, params, err);
}

static void deterministic_per_seed(void **state)
{
    char dir[] = "/tmp/lcmflow-synth-XXXXXX", files[3][128];
    const char *a = files[0];
    struct lf_error err = {0};
    int64_t params;
    size_t na;
    check_seeds(dir, synth_tiny, 7, files, &params, &na);
    assert_int_equal((size_t)params * 2 < na, 1);

    struct lf_safetensors *st;
    assert_int_equal(lf_safetensors_open(a, &st, &err), LF_OK);
    assert_int_equal(lf_safetensors_count(st), 1002);
    const struct lf_safetensors_tensor *t =
        lf_safetensors_find(st, "model.diffusion_model.input_blocks.0.0.weight");
    assert_non_null(t);
    assert_int_equal(t->shape[0], 32);
    lf_safetensors_close(st);
    test_remove_tree(dir);
}

static void vocabulary_loads(void **state)
{
    char dir[] = "/tmp/lcmflow-vocab-XXXXXX";
    assert_non_null(mkdtemp(dir));
    struct lf_error err = {0};
    assert_int_equal(sd_synth_vocab(dir, 1024, &err), LF_OK);
    struct sd_tokenizer *tok;
    if (sd_tokenizer_load(dir, &tok, &err) != LF_OK) fail_msg("%s", err.message);
    /* Exactly the rows of the token embedding it goes with (issue 13: 731). */
    assert_int_equal(sd_tokenizer_vocab_size(tok), 1024);
    int32_t ids[77];
    bool truncated;
    assert_int_equal(sd_tokenizer_encode(tok, "a photo of a cat", ids, &truncated, &err), LF_OK);
    assert_int_equal(ids[0], sd_tokenizer_bos(tok));
    /* "a" "photo" "of" "a" "cat": whole words, each one token. */
    assert_int_equal(ids[6], sd_tokenizer_eos(tok));
    assert_int_equal(ids[1], ids[4]);
    for (int i = 0; i < 77; i++)
        assert_true(ids[i] >= 0 && ids[i] < 1024);
    sd_tokenizer_free(tok);
    test_remove_tree(dir);
}

/* TAESD for SD 1.5 (taesd.py): encoder conv, 1 + 3 + 3 + 3 blocks between
** three stride-2 convs, conv to 4; decoder conv from 4, 3 + 3 + 3 + 1
** blocks between three upsampling convs, conv to 3.  Both parts read as
** TaesdLoader reads them. */
static void taesd_layout(void **state)
{
    char dir[] = "/tmp/lcmflow-taesd-XXXXXX", files[3][128];
    const char *a = files[0];
    struct lf_error err = {0};
    int64_t params = 0;
    size_t na;
    check_seeds(dir, synth_taesd4, 3, files, &params, &na);
    assert_int_equal(sd_synth_taesd(0, 4, files[2], NULL, &err), LF_ERR_INVALID);

    struct lf_safetensors *st;
    struct sd_taesd_file_info info;
    assert_int_equal(lf_safetensors_open(a, &st, &err), LF_OK);
    assert_true(sd_taesd_inspect(st, &info));
    assert_true(info.encoder && info.decoder);
    assert_int_equal(info.encoder_latent, 4);
    assert_int_equal(info.decoder_latent, 4);
    assert_int_equal(info.encoder_blocks, 10);
    assert_int_equal(info.decoder_blocks, 10);
    assert_int_equal(info.encoder_pool + info.decoder_pool, 0);
    assert_int_equal(info.encoder_params + info.decoder_params, params);
    /* strides and upsamples are read from the convs without bias */
    assert_non_null(lf_safetensors_find(st, "taesd_encoder.2.weight"));
    assert_null(lf_safetensors_find(st, "taesd_encoder.2.bias"));
    assert_non_null(lf_safetensors_find(st, "taesd_decoder.7.weight"));
    assert_null(lf_safetensors_find(st, "taesd_decoder.7.bias"));
    const struct lf_safetensors_tensor *t = lf_safetensors_find(st, "taesd_decoder.19.weight");
    assert_non_null(t);
    assert_int_equal(t->shape[0], 3);
    lf_safetensors_close(st);
    test_remove_tree(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(deterministic_per_seed),
        cmocka_unit_test(vocabulary_loads),
        cmocka_unit_test(taesd_layout),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
