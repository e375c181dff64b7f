/*
** sd_synth_taesd.c - a random-weight TAESD for SD 1.5 (see sd_synth.h), so
** tests and benchmarks have a 4-channel tiny decoder without a download.
*/
#include "sd_synth.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#define WIDTH 64 /* TAESD's channels between its first and last conv */

/* The sequential layers of TAESD's reference code: C a conv with bias, c
** one without (stride 2 in the encoder, after a nearest upsample in the
** decoder), B a residual block, - a layer without weights (the decoder's
** clamp, ReLU and upsamples). */
static const char encoder_plan[] = "CBcBBBcBBBcBBBC";
static const char decoder_plan[] = "-C-BBB-cBBB-cBBB-cBC";

static void conv(struct sd_synth_writer *w, const char *part, int index, const char *member,
                 int64_t in, int64_t out, bool bias, float bias_fill, int64_t *params)
{
    char name[96];
    int64_t shape[4] = {out, in, 3, 3};
    float bound = 1.0f / sqrtf((float)(in * 9));
    snprintf(name, sizeof name, "%s.%d.%sweight", part, index, member);
    *params += sd_synth_add(w, name, LF_DTYPE_F16, 4, shape, bound, 0.0f);
    if (!bias) return;
    snprintf(name, sizeof name, "%s.%d.%sbias", part, index, member);
    *params += sd_synth_add(w, name, LF_DTYPE_F16, 1, shape, bias_fill ? 0.0f : bound, bias_fill);
}

static void part(struct sd_synth_writer *w, const char *name, const char *plan, int64_t in,
                 int64_t out, int64_t *params)
{
    int last = (int)strlen(plan) - 1;
    while (plan[last] == '-')
        last--;
    for (int i = 0; plan[i]; i++) {
        bool first = i == (int)strspn(plan, "-");
        int64_t cin = first ? in : WIDTH, cout = i == last ? out : WIDTH;
        if (plan[i] == 'C' || plan[i] == 'c')
            /* the decoder's last bias: images about 0.5, not clamped at 0 */
            conv(w, name, i, "", cin, cout, plan[i] == 'C', i == last && out == 3 ? 0.5f : 0.0f,
                 params);
        else if (plan[i] == 'B')
            for (int k = 0; k < 3; k++) {
                char member[16];
                snprintf(member, sizeof member, "conv.%d.", 2 * k);
                conv(w, name, i, member, WIDTH, WIDTH, true, 0.0f, params);
            }
    }
}

enum lf_status sd_synth_taesd(int latent_channels, uint64_t seed, const char *path, int64_t *params,
                              struct lf_error *err)
{
    struct sd_synth_writer w;
    int64_t n = 0;
    if (latent_channels < 1 || latent_channels > 256)
        return lf_error_set(err, LF_ERR_INVALID, "TAESD latent channels %d: want 1..256",
                            latent_channels);
    if (!sd_synth_writer_init(&w, seed, err)) {
        part(&w, "taesd_encoder", encoder_plan, 3, latent_channels, &n);
        part(&w, "taesd_decoder", decoder_plan, latent_channels, 3, &n);
    }
    if (!w.status)
        w.status = lf_safetensors_writer_set_metadata(w.writer, "lcmflow.synthetic",
                                                      "random weights, TAESD layout", err);
    if (params) *params = n;
    return sd_synth_writer_finish(&w, path);
}
