/*
** sd_scheduler.c - LCM timesteps, noise schedule and step (see sd_scheduler.h).
**
** Every quantity is computed in float32 in the reference's order of
** operations (torch tensor ops), so that timesteps are equal and values
** match the reference to the last bit or close to it.
*/
#include "sd_scheduler.h"

#include <json-c/json.h>

#include <math.h>
#include <string.h>

void sd_lcm_config_default(struct sd_lcm_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->num_train_timesteps = 1000;
    cfg->beta_start = 0.00085;
    cfg->beta_end = 0.012;
    cfg->beta_schedule = LF_BETA_SCHEDULE_SCALED_LINEAR;
    cfg->original_steps = 50;
    cfg->timestep_scaling = 10.0f;
    cfg->set_alpha_to_one = false;
}

static bool json_number(struct json_object *v, double *out)
{
    if (!json_object_is_type(v, json_type_int) && !json_object_is_type(v, json_type_double))
        return false;
    *out = json_object_get_double(v);
    return true;
}

enum lf_status sd_lcm_config_load(const char *path, struct sd_lcm_config *cfg, struct lf_error *err)
{
    struct json_object *root = json_object_from_file(path), *v;
    enum lf_status status = LF_OK;
    double num;
    sd_lcm_config_default(cfg);
    if (!root)
        return lf_error_set_at(err, LF_ERR_FORMAT, path, 0, 0, "cannot read the JSON: %s",
                               json_util_get_last_err() ? json_util_get_last_err() : "?");
    if (!json_object_is_type(root, json_type_object)) {
        status = lf_error_set_at(err, LF_ERR_FORMAT, path, 0, 0, "not a JSON object");
        goto done;
    }
    static const struct {
        const char *key;
        int kind; /* 0 int, 1 double, 2 float */
        size_t offset;
    } fields[] = {
        {"num_train_timesteps", 0, offsetof(struct sd_lcm_config, num_train_timesteps)},
        {"original_inference_steps", 0, offsetof(struct sd_lcm_config, original_steps)},
        {"beta_start", 1, offsetof(struct sd_lcm_config, beta_start)},
        {"beta_end", 1, offsetof(struct sd_lcm_config, beta_end)},
        {"timestep_scaling", 2, offsetof(struct sd_lcm_config, timestep_scaling)},
    };
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++) {
        if (!json_object_object_get_ex(root, fields[i].key, &v) ||
            json_object_is_type(v, json_type_null))
            continue;
        if (!json_number(v, &num)) {
            status = lf_error_set_at(err, LF_ERR_FORMAT, path, 0, 0, "\"%s\" is not a number",
                                     fields[i].key);
            goto done;
        }
        char *field = (char *)cfg + fields[i].offset;
        if (fields[i].kind == 0) {
            if (num != floor(num) || num < 1 || num > SD_LCM_MAX_TRAIN_TIMESTEPS) {
                status = lf_error_set_at(err, LF_ERR_FORMAT, path, 0, 0,
                                         "\"%s\" must be an integer in 1..%d", fields[i].key,
                                         SD_LCM_MAX_TRAIN_TIMESTEPS);
                goto done;
            }
            int iv = (int)num;
            memcpy(field, &iv, sizeof iv);
        } else if (fields[i].kind == 1) {
            memcpy(field, &num, sizeof num);
        } else {
            float fv = (float)num;
            memcpy(field, &fv, sizeof fv);
        }
    }
    if (json_object_object_get_ex(root, "set_alpha_to_one", &v) &&
        json_object_is_type(v, json_type_boolean))
        cfg->set_alpha_to_one = json_object_get_boolean(v);
    if (json_object_object_get_ex(root, "beta_schedule", &v)) {
        const char *name = json_object_get_string(v);
        if (strcmp(name, "scaled_linear") == 0) {
            cfg->beta_schedule = LF_BETA_SCHEDULE_SCALED_LINEAR;
        } else if (strcmp(name, "linear") == 0) {
            cfg->beta_schedule = LF_BETA_SCHEDULE_LINEAR;
        } else {
            status = lf_error_set_at(err, LF_ERR_UNSUPPORTED, path, 0, 0,
                                     "beta_schedule \"%s\" is not supported (scaled_linear, "
                                     "linear)",
                                     name);
            goto done;
        }
    }
    if (json_object_object_get_ex(root, "prediction_type", &v) &&
        strcmp(json_object_get_string(v), "epsilon") != 0) {
        status = lf_error_set_at(err, LF_ERR_UNSUPPORTED, path, 0, 0,
                                 "prediction_type \"%s\" is not supported (epsilon)",
                                 json_object_get_string(v));
        goto done;
    }
done:
    json_object_put(root);
    return status;
}

/*
** torch.linspace(start, end, n, dtype=float32) as its AVX2 CPU kernel
** computes it: blocks of 8, each starting at start + step * i (first half)
** or end - step * (n - 1 - i) (second half) evaluated with one rounding
** (the kernel is built with FMA contraction), then counting up by step in
** float inside the block.  This reproduces the reference betas bit for bit;
** a plain per-element formula is off by an ulp in about a quarter of them.
*/
static void linspace_f32(double start_d, double end_d, int n, float *out)
{
    float start = (float)start_d, end = (float)end_d;
    if (n == 1) {
        out[0] = start;
        return;
    }
    float step = (end - start) / (float)(n - 1);
    int halfway = n / 2;
    for (int i = 0; i < n; i += 8) {
        float base =
            i < halfway ? fmaf(step, (float)i, start) : fmaf(-step, (float)(n - i - 1), end);
        for (int k = 0; k < 8 && i + k < n; k++)
            out[i + k] = base + (float)k * step;
    }
}

enum lf_status sd_lcm_scheduler_init(struct sd_lcm_scheduler *s, const struct sd_lcm_config *cfg,
                                     struct lf_error *err)
{
    memset(s, 0, sizeof *s);
    if (cfg)
        s->config = *cfg;
    else
        sd_lcm_config_default(&s->config);
    const struct sd_lcm_config *c = &s->config;
    int n = c->num_train_timesteps;
    if (n < 1 || n > SD_LCM_MAX_TRAIN_TIMESTEPS || c->original_steps < 1 || c->original_steps > n ||
        !(c->beta_start >= 0) || !(c->beta_end < 1))
        return lf_error_set(err, LF_ERR_INVALID,
                            "LCM scheduler: bad configuration (%d train timesteps, %d original "
                            "steps, betas %g..%g)",
                            n, c->original_steps, c->beta_start, c->beta_end);
    if (c->beta_schedule == LF_BETA_SCHEDULE_SCALED_LINEAR) {
        linspace_f32(sqrt(c->beta_start), sqrt(c->beta_end), n, s->betas);
        for (int i = 0; i < n; i++)
            s->betas[i] = s->betas[i] * s->betas[i];
    } else {
        linspace_f32(c->beta_start, c->beta_end, n, s->betas);
    }
    /* torch.cumprod accumulates float input in double on the CPU. */
    double acc = 1.0;
    for (int i = 0; i < n; i++) {
        float alpha = 1.0f - s->betas[i];
        acc *= (double)alpha;
        s->alphas_cumprod[i] = (float)acc;
    }
    s->final_alpha_cumprod = c->set_alpha_to_one ? 1.0f : s->alphas_cumprod[0];
    s->count = 0; /* no schedule until sd_lcm_scheduler_set_timesteps */
    return LF_OK;
}

enum lf_status sd_lcm_timesteps(const struct sd_lcm_config *cfg, int steps, double lcm_strength,
                                int *out, struct lf_error *err)
{
    int k = cfg->num_train_timesteps / cfg->original_steps;
    /* Python's int(original_steps * strength): truncation of the double. */
    double origin_d = (double)cfg->original_steps * lcm_strength;
    if (!(lcm_strength > 0 && lcm_strength <= 1))
        return lf_error_set(err, LF_ERR_INVALID, "LCM scheduler: strength %g is not in (0, 1]",
                            lcm_strength);
    int origin = (int)origin_d;
    if (steps < 1 || steps > cfg->original_steps || origin / steps < 1)
        return lf_error_set(err, LF_ERR_INVALID,
                            "LCM scheduler: %d steps do not fit a schedule of %d original steps "
                            "(x strength %g)",
                            steps, cfg->original_steps, lcm_strength);
    /* origin schedule k*i - 1 (i = 1..origin) reversed, sampled at
    ** floor(linspace(0, origin, steps, endpoint=False)) = floor(i * (origin/steps)). */
    double step = (double)origin / (double)steps;
    for (int i = 0; i < steps; i++) {
        int idx = (int)floor((double)i * step);
        out[i] = k * (origin - idx) - 1;
    }
    return LF_OK;
}

enum lf_status sd_lcm_scheduler_set_timesteps(struct sd_lcm_scheduler *s, int steps, double denoise,
                                              struct lf_error *err)
{
    int full[SD_LCM_MAX_TRAIN_TIMESTEPS];
    if (!(denoise > 0 && denoise <= 1))
        return lf_error_set(err, LF_ERR_INVALID, "LCM scheduler: denoise %g is not in (0, 1]",
                            denoise);
    if (steps < 1 || steps > s->config.original_steps)
        return lf_error_set(err, LF_ERR_INVALID,
                            "LCM scheduler: steps must be 1..%d (original_steps), not %d",
                            s->config.original_steps, steps);
    enum lf_status status = sd_lcm_timesteps(&s->config, steps, 1.0, full, err);
    if (status != LF_OK) return status;
    /* StableDiffusionImg2ImgPipeline.get_timesteps */
    int keep = (int)((double)steps * denoise);
    if (keep > steps) keep = steps;
    if (keep < 1)
        return lf_error_set(err, LF_ERR_INVALID,
                            "LCM scheduler: denoise %g leaves no step of %d (needs >= %g)", denoise,
                            steps, 1.0 / steps);
    s->count = keep;
    memcpy(s->timesteps, full + (steps - keep), (size_t)keep * sizeof *full);
    return LF_OK;
}

void sd_lcm_boundary_scalings(float timestep_scaling, int t, float *c_skip, float *c_out)
{
    const float sigma2 = 0.5f * 0.5f;
    float s = (float)t * timestep_scaling;
    float s2 = s * s;
    *c_skip = sigma2 / (s2 + sigma2);
    *c_out = s / sqrtf(s2 + sigma2);
}

bool sd_lcm_scheduler_is_final(const struct sd_lcm_scheduler *s, int index)
{
    return index >= s->count - 1;
}

static bool valid_t(const struct sd_lcm_scheduler *s, int t)
{
    return t >= 0 && t < s->config.num_train_timesteps;
}

enum lf_status sd_lcm_scheduler_step_info(const struct sd_lcm_scheduler *s, int index,
                                          struct sd_lcm_step *out, struct lf_error *err)
{
    if (index < 0 || index >= s->count)
        return lf_error_set(err, LF_ERR_INVALID, "LCM scheduler: step %d of %d", index, s->count);
    out->t = s->timesteps[index];
    out->is_final = index == s->count - 1;
    out->prev_t = out->is_final ? out->t : s->timesteps[index + 1];
    out->alpha_prod_t = s->alphas_cumprod[out->t];
    out->alpha_prod_t_prev =
        out->prev_t >= 0 ? s->alphas_cumprod[out->prev_t] : s->final_alpha_cumprod;
    sd_lcm_boundary_scalings(s->config.timestep_scaling, out->t, &out->c_skip, &out->c_out);
    return LF_OK;
}

enum lf_status sd_lcm_scheduler_step(const struct sd_lcm_scheduler *s, int index,
                                     const float *model_output, const float *sample,
                                     const float *noise, float *denoised, float *prev_sample,
                                     size_t count, struct lf_error *err)
{
    struct sd_lcm_step st;
    enum lf_status status = sd_lcm_scheduler_step_info(s, index, &st, err);
    if (status != LF_OK) return status;
    if (!st.is_final && !noise)
        return lf_error_set(err, LF_ERR_INVALID,
                            "LCM scheduler: step %d (t=%d) is not the last and needs noise", index,
                            st.t);
    float sqrt_a = sqrtf(st.alpha_prod_t), sqrt_b = sqrtf(1.0f - st.alpha_prod_t);
    float sqrt_a_prev = sqrtf(st.alpha_prod_t_prev);
    float sqrt_b_prev = sqrtf(1.0f - st.alpha_prod_t_prev);
    for (size_t i = 0; i < count; i++) {
        /* One rounding per tensor op, as torch evaluates it. */
        float x = sample[i];
        float scaled_eps = sqrt_b * model_output[i];
        float x0 = (x - scaled_eps) / sqrt_a;
        float a = st.c_out * x0;
        float b = st.c_skip * x;
        float d = a + b;
        if (denoised) denoised[i] = d;
        if (st.is_final) {
            prev_sample[i] = d;
        } else {
            float p = sqrt_a_prev * d;
            float q = sqrt_b_prev * noise[i];
            prev_sample[i] = p + q;
        }
    }
    return LF_OK;
}

enum lf_status sd_lcm_scheduler_add_noise(const struct sd_lcm_scheduler *s, int t,
                                          const float *original, const float *noise, float *out,
                                          size_t count, struct lf_error *err)
{
    if (!valid_t(s, t))
        return lf_error_set(err, LF_ERR_INVALID, "LCM scheduler: timestep %d out of range", t);
    float sqrt_a = sqrtf(s->alphas_cumprod[t]);
    float sqrt_b = sqrtf(1.0f - s->alphas_cumprod[t]);
    for (size_t i = 0; i < count; i++) {
        float p = sqrt_a * original[i];
        float q = sqrt_b * noise[i];
        out[i] = p + q;
    }
    return LF_OK;
}
