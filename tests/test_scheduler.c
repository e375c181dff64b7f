/*
** test_scheduler.c - the LCM scheduler against ref/scheduler.json and
** ref/scheduler.safetensors, and the sampler's host-side math (noise
** schedule, RNG draw order, add_noise, every step) against the recorded
** pipelines pipe_a..pipe_d, fed with their recorded UNet outputs.
*/
#include "lcmflow/rng.h"
#include "lcmflow/safetensors.h"
#include "sd_scheduler.h"

#include <json-c/json.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

static char root[512];
static struct json_object *sched_json, *manifest;
static bool refs_missing;

static int load_refs(void **state)
{
    const char *env = getenv("LCMFLOW_FIXTURES");
    char path[600];
    snprintf(root, sizeof root, "%s/tiny-sd15", env ? env : "../shared/fixtures");
    snprintf(path, sizeof path, "%s/ref/scheduler.json", root);
    sched_json = json_object_from_file(path);
    snprintf(path, sizeof path, "%s/manifest.json", root);
    manifest = json_object_from_file(path);
    if (!sched_json || !manifest) {
        fprintf(stderr, "%s: fixtures absent (set LCMFLOW_FIXTURES): fixture tests skipped\n",
                root);
        refs_missing = true;
    }
    return 0;
}

static int free_refs(void **state)
{
    json_object_put(sched_json);
    json_object_put(manifest);
    return 0;
}

static struct json_object *get(struct json_object *obj, const char *key)
{
    struct json_object *v = NULL;
    if (!json_object_object_get_ex(obj, key, &v)) fail_msg("reference JSON has no \"%s\"", key);
    return v;
}

/* A list of timesteps in the JSON equals ours. */
static void assert_timesteps(struct json_object *want, const int *got, int n, const char *what)
{
    if ((int)json_object_array_length(want) != n)
        fail_msg("%s: %d timesteps, want %d", what, n, (int)json_object_array_length(want));
    for (int i = 0; i < n; i++)
        if (json_object_get_int(json_object_array_get_idx(want, (size_t)i)) != got[i])
            fail_msg("%s: timestep[%d] = %d, want %d", what, i, got[i],
                     json_object_get_int(json_object_array_get_idx(want, (size_t)i)));
}

static void noise_schedule_matches(void **state)
{
    char path[600];
    struct lf_error err = {0};
    struct lf_safetensors *st;
    struct sd_lcm_scheduler s;
    if (!sched_json) skip();
    assert_int_equal(sd_lcm_scheduler_init(&s, NULL, &err), LF_OK);
    snprintf(path, sizeof path, "%s/ref/scheduler.safetensors", root);
    assert_int_equal(lf_safetensors_open(path, &st, &err), LF_OK);
    const char *names[2] = {"betas", "alphas_cumprod"};
    const float *ours[2] = {s.betas, s.alphas_cumprod};
    for (int k = 0; k < 2; k++) {
        const struct lf_safetensors_tensor *t;
        float want[1000];
        assert_int_equal(lf_safetensors_get(st, names[k], &t, &err), LF_OK);
        assert_int_equal(lf_safetensors_tensor_to_f32(st, t, want, 1000, &err), LF_OK);
        int exact = 0;
        double worst = 0;
        for (int i = 0; i < 1000; i++) {
            double d = fabs((double)ours[k][i] - want[i]) / want[i];
            worst = d > worst ? d : worst;
            exact += ours[k][i] == want[i];
        }
        print_message("%s: %d of 1000 bit-exact, worst relative difference %.3g\n", names[k], exact,
                      worst);
        /* Computed in the reference's float32 order: every value equal. */
        assert_int_equal(exact, 1000);
    }
    lf_safetensors_close(st);
    assert_true(s.final_alpha_cumprod ==
                (float)json_object_get_double(get(sched_json, "final_alpha_cumprod")));
}

static void txt2img_timesteps_match(void **state)
{
    struct lf_error err = {0};
    struct sd_lcm_scheduler s;
    if (!sched_json) skip();
    assert_int_equal(sd_lcm_scheduler_init(&s, NULL, &err), LF_OK);
    for (int n = 1; n <= 8; n++) {
        char key[8], what[32];
        snprintf(key, sizeof key, "%d", n);
        snprintf(what, sizeof what, "txt2img %d steps", n);
        assert_int_equal(sd_lcm_scheduler_set_timesteps(&s, n, 1.0, &err), LF_OK);
        assert_timesteps(get(get(sched_json, "txt2img"), key), s.timesteps, s.count, what);
    }
    /* Beyond the references: 50 steps walk the whole origin schedule. */
    assert_int_equal(sd_lcm_scheduler_set_timesteps(&s, 50, 1.0, &err), LF_OK);
    assert_int_equal(s.timesteps[0], 999);
    assert_int_equal(s.timesteps[49], 19);
    assert_int_equal(sd_lcm_scheduler_set_timesteps(&s, 51, 1.0, &err), LF_ERR_INVALID);
    assert_int_equal(sd_lcm_scheduler_set_timesteps(&s, 0, 1.0, &err), LF_ERR_INVALID);
}

static void img2img_timesteps_match(void **state)
{
    struct lf_error err = {0};
    struct sd_lcm_scheduler s;
    int out[8];
    if (!sched_json) skip();
    assert_int_equal(sd_lcm_scheduler_init(&s, NULL, &err), LF_OK);
    int cases = 0;
    json_object_object_foreach(get(sched_json, "sd_img2img"), key, want)
    {
        double strength = strtod(key, NULL);
        char what[64];
        snprintf(what, sizeof what, "sd img2img strength %s", key);
        assert_int_equal(sd_lcm_scheduler_set_timesteps(&s, 4, strength, &err), LF_OK);
        assert_timesteps(want, s.timesteps, s.count, what);
        cases++;
    }
    json_object_object_foreach(get(sched_json, "scheduler_strength"), key2, want2)
    {
        double strength = strtod(key2, NULL);
        char what[64];
        snprintf(what, sizeof what, "LCM strength %s", key2);
        assert_int_equal(sd_lcm_timesteps(&s.config, 4, strength, out, &err), LF_OK);
        assert_timesteps(want2, out, 4, what);
        cases++;
    }
    assert_int_equal(cases, 6);
    /* denoise 0.2 of 4 steps leaves none. */
    assert_int_equal(sd_lcm_scheduler_set_timesteps(&s, 4, 0.2, &err), LF_ERR_INVALID);
    assert_non_null(strstr(err.message, "no step"));
}

static void scalings_match(void **state)
{
    struct lf_error err = {0};
    struct sd_lcm_scheduler s;
    if (!sched_json) skip();
    assert_int_equal(sd_lcm_scheduler_init(&s, NULL, &err), LF_OK);
    int n = 0;
    json_object_object_foreach(get(sched_json, "scalings"), key, want)
    {
        int t = atoi(key);
        float c_skip, c_out;
        sd_lcm_boundary_scalings(10.0f, t, &c_skip, &c_out);
        float a = (float)json_object_get_double(get(want, "alpha_prod_t"));
        float ws = (float)json_object_get_double(get(want, "c_skip"));
        float wo = (float)json_object_get_double(get(want, "c_out"));
        if (s.alphas_cumprod[t] != a || c_skip != ws || c_out != wo)
            fail_msg("t=%d: alpha %.9g c_skip %.9g c_out %.9g, want %.9g %.9g %.9g", t,
                     s.alphas_cumprod[t], c_skip, c_out, a, ws, wo);
        n++;
    }
    assert_int_equal(n, 22);
}

static void config_loads(void **state)
{
    char path[600];
    struct lf_error err = {0};
    struct sd_lcm_config cfg, def;
    if (!sched_json) skip();
    snprintf(path, sizeof path, "%s/diffusers/scheduler/scheduler_config.json", root);
    assert_int_equal(sd_lcm_config_load(path, &cfg, &err), LF_OK);
    sd_lcm_config_default(&def);
    assert_int_equal(cfg.num_train_timesteps, def.num_train_timesteps);
    assert_int_equal(cfg.original_steps, def.original_steps);
    assert_true(cfg.beta_start == def.beta_start && cfg.beta_end == def.beta_end);
    assert_true(cfg.timestep_scaling == def.timestep_scaling);
    assert_int_equal(cfg.beta_schedule, LF_BETA_SCHEDULE_SCALED_LINEAR);
    assert_false(cfg.set_alpha_to_one);
    snprintf(path, sizeof path, "%s/manifest.json.absent", root);
    assert_int_equal(sd_lcm_config_load(path, &cfg, &err), LF_ERR_FORMAT);
    assert_string_equal(err.path, path);
}

/* {======== pipelines */

struct pipe {
    struct lf_safetensors *st;
    double worst; /* relative to 1 + |ref| */
};

static float *load(struct pipe *p, const char *name, size_t *count)
{
    const struct lf_safetensors_tensor *t;
    struct lf_error err = {0};
    if (lf_safetensors_get(p->st, name, &t, &err) != LF_OK) fail_msg("%s", err.message);
    float *v = malloc((size_t)t->numel * sizeof *v);
    assert_int_equal(lf_safetensors_tensor_to_f32(p->st, t, v, t->numel, &err), LF_OK);
    if (count) *count = (size_t)t->numel;
    return v;
}

/* ours vs the recorded tensor: |a - b| <= 1e-6 * (1 + |b|), recording the worst. */
static void check(struct pipe *p, const char *name, const float *ours, size_t n)
{
    size_t m;
    float *want = load(p, name, &m);
    assert_int_equal(m, n);
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)ours[i] - want[i]) / (1.0 + fabs(want[i]));
        if (d > p->worst) p->worst = d;
        if (d > 1e-6) fail_msg("%s[%zu] = %.9g, want %.9g", name, i, ours[i], want[i]);
    }
    free(want);
}

static void run_pipeline(struct json_object *c)
{
    const char *id = json_object_get_string(get(c, "id"));
    struct json_object *params = get(c, "params");
    char path[600];
    struct lf_error err = {0};
    struct pipe p = {0};
    snprintf(path, sizeof path, "%s/%s", root, json_object_get_string(get(c, "file")));
    assert_int_equal(lf_safetensors_open(path, &p.st, &err), LF_OK);

    struct sd_lcm_scheduler s;
    struct lf_rng rng;
    int steps = json_object_get_int(get(params, "num_inference_steps"));
    bool img2img = strcmp(json_object_get_string(get(c, "kind")), "img2img") == 0;
    double denoise = img2img ? json_object_get_double(get(params, "strength")) : 1.0;
    assert_int_equal(sd_lcm_scheduler_init(&s, NULL, &err), LF_OK);
    assert_int_equal(sd_lcm_scheduler_set_timesteps(&s, steps, denoise, &err), LF_OK);
    assert_timesteps(get(c, "timesteps"), s.timesteps, s.count, id);
    lf_rng_init(&rng, (uint64_t)json_object_get_int64(get(params, "seed")));

    size_t n;
    float *latents = load(&p, "step0.latents_in", &n);
    float *noise = malloc(n * sizeof *noise), *x = malloc(n * sizeof *x);
    float *denoised = malloc(n * sizeof *denoised);
    if (img2img) {
        /* Draw 1: the VAE posterior's sample; draw 2: add_noise's noise. */
        lf_rng_randn(&rng, noise, n);
        check(&p, "vae_enc_sample_noise", noise, n);
        lf_rng_randn(&rng, noise, n);
        check(&p, "add_noise_noise", noise, n);
        float *init = load(&p, "init_latents", NULL);
        assert_int_equal(sd_lcm_scheduler_add_noise(&s, s.timesteps[0], init, noise, x, n, &err),
                         LF_OK);
        check(&p, "init_noised_latents", x, n);
        free(init);
    } else {
        lf_rng_randn(&rng, x, n);
        check(&p, "init_noise", x, n);
    }
    check(&p, "step0.latents_in", x, n);

    struct json_object *jsteps = get(c, "steps");
    assert_int_equal((int)json_object_array_length(jsteps), s.count);
    for (int i = 0; i < s.count; i++) {
        struct json_object *js = json_object_array_get_idx(jsteps, (size_t)i);
        struct sd_lcm_step info;
        char name[64];
        assert_int_equal(sd_lcm_scheduler_step_info(&s, i, &info, &err), LF_OK);
        assert_int_equal(info.t, json_object_get_int(get(js, "t")));
        assert_int_equal(info.prev_t, json_object_get_int(get(js, "prev_t")));
        assert_int_equal(info.is_final, !json_object_get_boolean(get(js, "noise_drawn")));
        assert_true(info.alpha_prod_t == (float)json_object_get_double(get(js, "alpha_prod_t")));
        assert_true(info.alpha_prod_t_prev ==
                    (float)json_object_get_double(get(js, "alpha_prod_t_prev")));
        assert_true(info.c_skip == (float)json_object_get_double(get(js, "c_skip")));
        assert_true(info.c_out == (float)json_object_get_double(get(js, "c_out")));

        /* Feed the recorded latents so each step is checked on its own. */
        snprintf(name, sizeof name, "step%d.latents_in", i);
        float *in = load(&p, name, NULL);
        snprintf(name, sizeof name, "step%d.noise_pred", i);
        float *eps = load(&p, name, NULL);
        if (!info.is_final) {
            lf_rng_randn(&rng, noise, n);
            snprintf(name, sizeof name, "step%d.noise", i);
            check(&p, name, noise, n);
        }
        assert_int_equal(sd_lcm_scheduler_step(&s, i, eps, in, info.is_final ? NULL : noise,
                                               denoised, x, n, &err),
                         LF_OK);
        snprintf(name, sizeof name, "step%d.denoised", i);
        check(&p, name, denoised, n);
        snprintf(name, sizeof name, "step%d.latents_out", i);
        check(&p, name, x, n);
        free(in);
        free(eps);
    }
    check(&p, "final_latents", x, n);
    print_message("%s: %d steps, worst difference %.3g x (1 + |ref|)\n", id, s.count, p.worst);
    free(latents);
    free(noise);
    free(x);
    free(denoised);
    lf_safetensors_close(p.st);
}

static void pipelines_match(void **state)
{
    if (!manifest) skip();
    struct json_object *cases = get(manifest, "cases");
    int n = 0;
    for (size_t i = 0; i < json_object_array_length(cases); i++) {
        struct json_object *c = json_object_array_get_idx(cases, i);
        const char *kind = json_object_get_string(get(c, "kind"));
        if (strcmp(kind, "txt2img") == 0 || strcmp(kind, "img2img") == 0) {
            run_pipeline(c);
            n++;
        }
    }
    assert_int_equal(n, 4);
}

/* }======== */

static void step_refuses_misuse(void **state)
{
    struct lf_error err = {0};
    struct sd_lcm_scheduler s;
    float v[4] = {0};
    assert_int_equal(sd_lcm_scheduler_init(&s, NULL, &err), LF_OK);
    assert_int_equal(s.count, 0); /* no schedule yet: no step */
    assert_int_equal(sd_lcm_scheduler_step(&s, 0, v, v, v, NULL, v, 4, &err), LF_ERR_INVALID);
    assert_int_equal(sd_lcm_scheduler_set_timesteps(&s, 2, 1.0, &err), LF_OK);
    assert_false(sd_lcm_scheduler_is_final(&s, 0));
    assert_true(sd_lcm_scheduler_is_final(&s, 1));
    assert_int_equal(sd_lcm_scheduler_step(&s, 0, v, v, NULL, NULL, v, 4, &err), LF_ERR_INVALID);
    assert_int_equal(sd_lcm_scheduler_step(&s, 2, v, v, v, NULL, v, 4, &err), LF_ERR_INVALID);
    assert_int_equal(sd_lcm_scheduler_step(&s, 1, v, v, NULL, NULL, v, 4, &err), LF_OK);
    assert_int_equal(sd_lcm_scheduler_add_noise(&s, 1000, v, v, v, 4, &err), LF_ERR_INVALID);
    struct sd_lcm_config bad;
    sd_lcm_config_default(&bad);
    bad.original_steps = 2000;
    assert_int_equal(sd_lcm_scheduler_init(&s, &bad, &err), LF_ERR_INVALID);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(noise_schedule_matches),
        cmocka_unit_test(txt2img_timesteps_match),
        cmocka_unit_test(img2img_timesteps_match),
        cmocka_unit_test(scalings_match),
        cmocka_unit_test(config_loads),
        cmocka_unit_test(pipelines_match),
        cmocka_unit_test(step_refuses_misuse),
    };
    int failed = cmocka_run_group_tests(tests, load_refs, free_refs);
    /* Without the fixtures most checks were skipped: tell meson (77). */
    return failed ? failed : refs_missing ? 77 : 0;
}
