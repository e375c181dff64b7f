/*
** test_synth.c - synthetic checkpoints are deterministic for a seed, differ
** across seeds, hold SD 1.5's tensor set, and come with a vocabulary the
** tokenizer loads; the synthetic TAESD has the reference layer plan.
*/
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

static void deterministic_per_seed(void **state)
{
    char dir[] = "/tmp/lcmflow-synth-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char a[128], b[128], c[128];
    snprintf(a, sizeof a, "%s/a.safetensors", dir);
    snprintf(b, sizeof b, "%s/b.safetensors", dir);
    snprintf(c, sizeof c, "%s/c.safetensors", dir);
    struct lf_error err = {0};
    int64_t params;
    assert_int_equal(sd_synth_checkpoint(&sd_arch_tiny, 7, LF_DTYPE_F16, a, &params, &err), LF_OK);
    assert_int_equal(sd_synth_checkpoint(&sd_arch_tiny, 7, LF_DTYPE_F16, b, NULL, &err), LF_OK);
    assert_int_equal(sd_synth_checkpoint(&sd_arch_tiny, 8, LF_DTYPE_F16, c, NULL, &err), LF_OK);
    size_t na, nb, nc;
    char *da = slurp(a, &na), *db = slurp(b, &nb), *dc = slurp(c, &nc);
    assert_int_equal(na, nb);
    assert_memory_equal(da, db, na);
    assert_int_equal(na, nc);
    assert_true(memcmp(da, dc, na) != 0);
    assert_int_equal((size_t)params * 2 < na, 1);

    struct lf_safetensors *st;
    assert_int_equal(lf_safetensors_open(a, &st, &err), LF_OK);
    assert_int_equal(lf_safetensors_count(st), 1002);
    const struct lf_safetensors_tensor *t =
        lf_safetensors_find(st, "model.diffusion_model.input_blocks.0.0.weight");
    assert_non_null(t);
    assert_int_equal(t->shape[0], 32);
    lf_safetensors_close(st);
    free(da), free(db), free(dc);
    remove(a), remove(b), remove(c);
    rmdir(dir);
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
    char path[128];
    snprintf(path, sizeof path, "%s/vocab.json", dir);
    remove(path);
    snprintf(path, sizeof path, "%s/merges.txt", dir);
    remove(path);
    rmdir(dir);
}

/* TAESD for SD 1.5 (taesd.py): encoder conv, 1 + 3 + 3 + 3 blocks between
** three stride-2 convs, conv to 4; decoder conv from 4, 3 + 3 + 3 + 1
** blocks between three upsampling convs, conv to 3.  Both parts read as
** TaesdLoader reads them. */
static void taesd_layout(void **state)
{
    char dir[] = "/tmp/lcmflow-taesd-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char a[128], b[128], c[128];
    snprintf(a, sizeof a, "%s/a.safetensors", dir);
    snprintf(b, sizeof b, "%s/b.safetensors", dir);
    snprintf(c, sizeof c, "%s/c.safetensors", dir);
    struct lf_error err = {0};
    int64_t params = 0;
    assert_int_equal(sd_synth_taesd(4, 3, a, &params, &err), LF_OK);
    assert_int_equal(sd_synth_taesd(4, 3, b, NULL, &err), LF_OK);
    assert_int_equal(sd_synth_taesd(4, 4, c, NULL, &err), LF_OK);
    assert_int_equal(sd_synth_taesd(0, 4, c, NULL, &err), LF_ERR_INVALID);
    size_t na, nb, nc;
    char *da = slurp(a, &na), *db = slurp(b, &nb), *dc = slurp(c, &nc);
    assert_int_equal(na, nb);
    assert_memory_equal(da, db, na);
    assert_int_equal(na, nc);
    assert_true(memcmp(da, dc, na) != 0);

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
    free(da), free(db), free(dc);
    remove(a), remove(b), remove(c);
    rmdir(dir);
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
