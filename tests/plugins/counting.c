/*
** counting.c - test node types that count their executions, so tests can
** check that the cache runs exactly what it must.  Besides the entry
** point it exports lftest_executions() and lftest_reset() for the tests.
*/
#include "lcmflow/node.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MAX_COUNTED 256

static struct {
    char id[64];
    int count;
} counted[MAX_COUNTED];
static int ncounted, total;

static void count(const char *node_id)
{
    total++;
    for (int i = 0; i < ncounted; i++)
        if (!strcmp(counted[i].id, node_id)) {
            counted[i].count++;
            return;
        }
    if (ncounted < MAX_COUNTED) {
        snprintf(counted[ncounted].id, sizeof counted[ncounted].id, "%s", node_id);
        counted[ncounted++].count = 1;
    }
}

/* Executions of node_id since the last reset; NULL: of all nodes. */
LF_EXPORT int lftest_executions(const char *node_id)
{
    if (!node_id) return total;
    for (int i = 0; i < ncounted; i++)
        if (!strcmp(counted[i].id, node_id)) return counted[i].count;
    return 0;
}

LF_EXPORT void lftest_reset(void)
{
    ncounted = total = 0;
}

static char *dup_string(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d) memcpy(d, s, n);
    return d;
}

static enum lf_status oom(const struct lf_node_call *c, struct lf_error *err)
{
    return c->host->error_set(err, LF_ERR_OUT_OF_MEMORY, "out of memory");
}

/* ---- TestNumber: a constant ---- */

static enum lf_status number_exec(const struct lf_node_call *c, struct lf_error *err)
{
    count(c->node_id);
    c->outputs[0] = (struct lf_value){.type = LF_TYPE_FLOAT, .u.f = c->params[0].u.f};
    return LF_OK;
}

static const struct lf_node_type number_type = {
    .name = "TestNumber",
    .description = "A constant number.",
    .flags = LF_NODE_DETERMINISTIC,
    .outputs = (const struct lf_output_desc[]){{.name = "value", .type = LF_TYPE_FLOAT}, {0}},
    .params = (const struct lf_param_desc[]){{.name = "value", .type = LF_TYPE_FLOAT}, {0}},
    .execute = number_exec,
};

/* ---- TestAdd: a + b (b optional) ---- */

static enum lf_status add_exec(const struct lf_node_call *c, struct lf_error *err)
{
    double b = c->inputs[1].type == LF_TYPE_FLOAT ? c->inputs[1].u.f : 0.0;
    count(c->node_id);
    c->outputs[0] = (struct lf_value){.type = LF_TYPE_FLOAT, .u.f = c->inputs[0].u.f + b};
    return LF_OK;
}

static const struct lf_node_type add_type = {
    .name = "TestAdd",
    .description = "Adds two numbers.",
    .flags = LF_NODE_DETERMINISTIC,
    .inputs =
        (const struct lf_input_desc[]){
            {.name = "a", .type = LF_TYPE_FLOAT},
            {.name = "b", .type = LF_TYPE_FLOAT, .flags = LF_PORT_OPTIONAL},
            {0}},
    .outputs = (const struct lf_output_desc[]){{.name = "sum", .type = LF_TYPE_FLOAT}, {0}},
    .execute = add_exec,
};

/* ---- TestScale: value * factor ---- */

static enum lf_status scale_exec(const struct lf_node_call *c, struct lf_error *err)
{
    count(c->node_id);
    c->outputs[0] =
        (struct lf_value){.type = LF_TYPE_FLOAT, .u.f = c->inputs[0].u.f * c->params[0].u.f};
    return LF_OK;
}

static const struct lf_node_type scale_type = {
    .name = "TestScale",
    .description = "Multiplies a number by a factor.",
    .flags = LF_NODE_DETERMINISTIC,
    .inputs = (const struct lf_input_desc[]){{.name = "value", .type = LF_TYPE_FLOAT}, {0}},
    .outputs = (const struct lf_output_desc[]){{.name = "value", .type = LF_TYPE_FLOAT}, {0}},
    .params = (const struct lf_param_desc[]){{.name = "factor",
                                              .type = LF_TYPE_FLOAT,
                                              .flags = LF_PARAM_HAS_RANGE,
                                              .default_float = 1.0,
                                              .min = -1000,
                                              .max = 1000},
                                             {0}},
    .execute = scale_exec,
};

/* ---- TestPair: two outputs, each depending on one param (like LoraLoader) ---- */

static enum lf_status pair_exec(const struct lf_node_call *c, struct lf_error *err)
{
    count(c->node_id);
    c->outputs[0] = (struct lf_value){.type = LF_TYPE_INT, .u.i = c->params[0].u.i};
    c->outputs[1] = (struct lf_value){.type = LF_TYPE_INT, .u.i = c->params[1].u.i};
    return LF_OK;
}

static const struct lf_node_type pair_type = {
    .name = "TestPair",
    .description = "Two integers; each output depends only on its own param.",
    .flags = LF_NODE_DETERMINISTIC,
    .outputs = (const struct lf_output_desc[]){{.name = "left",
                                                .type = LF_TYPE_INT,
                                                .depends_on = (const char *const[]){"left", NULL}},
                                               {.name = "right",
                                                .type = LF_TYPE_INT,
                                                .depends_on = (const char *const[]){"right", NULL}},
                                               {0}},
    .params =
        (const struct lf_param_desc[]){{.name = "left", .type = LF_TYPE_INT, .default_int = 1},
                                       {.name = "right", .type = LF_TYPE_INT, .default_int = 2},
                                       {0}},
    .execute = pair_exec,
};

/* ---- TestInc: integer + 1 ---- */

static enum lf_status inc_exec(const struct lf_node_call *c, struct lf_error *err)
{
    count(c->node_id);
    c->outputs[0] = (struct lf_value){.type = LF_TYPE_INT, .u.i = c->inputs[0].u.i + 1};
    return LF_OK;
}

static const struct lf_node_type inc_type = {
    .name = "TestInc",
    .description = "Adds one to an integer.",
    .flags = LF_NODE_DETERMINISTIC,
    .inputs = (const struct lf_input_desc[]){{.name = "value", .type = LF_TYPE_INT}, {0}},
    .outputs = (const struct lf_output_desc[]){{.name = "value", .type = LF_TYPE_INT}, {0}},
    .execute = inc_exec,
};

/* ---- TestReadFile: a file's text and length ---- */

static enum lf_status read_exec(const struct lf_node_call *c, struct lf_error *err)
{
    const char *path = c->params[0].u.s;
    FILE *f = fopen(path, "rb");
    char *text;
    long size;
    count(c->node_id);
    if (!f) return c->host->error_set(err, LF_ERR_IO, "%s: cannot open", path);
    fseek(f, 0, SEEK_END);
    size = ftell(f);
    fseek(f, 0, SEEK_SET);
    if (size < 0 || !(text = malloc((size_t)size + 1))) {
        fclose(f);
        return oom(c, err);
    }
    size = (long)fread(text, 1, (size_t)size, f);
    text[size] = '\0';
    fclose(f);
    c->outputs[0] = (struct lf_value){.type = LF_TYPE_STRING, .u.s = text};
    c->outputs[1] = (struct lf_value){.type = LF_TYPE_INT, .u.i = size};
    return LF_OK;
}

static const struct lf_node_type read_type = {
    .name = "TestReadFile",
    .description = "Reads a text file.",
    .flags = LF_NODE_DETERMINISTIC | LF_NODE_READS_FILES,
    .outputs = (const struct lf_output_desc[]){{.name = "text", .type = LF_TYPE_STRING},
                                               {.name = "length", .type = LF_TYPE_INT},
                                               {0}},
    .params =
        (const struct lf_param_desc[]){
            {.name = "path", .type = LF_TYPE_STRING, .flags = LF_PARAM_REQUIRED | LF_PARAM_PATH},
            {0}},
    .execute = read_exec,
};

/* ---- TestConcat: a + sep + b ---- */

static enum lf_status concat_exec(const struct lf_node_call *c, struct lf_error *err)
{
    const char *a = c->inputs[0].u.s;
    const char *b = c->inputs[1].type == LF_TYPE_STRING ? c->inputs[1].u.s : "";
    const char *sep = c->params[0].u.s;
    size_t n = strlen(a) + strlen(sep) + strlen(b) + 1;
    char *s = malloc(n);
    count(c->node_id);
    if (!s) return oom(c, err);
    snprintf(s, n, "%s%s%s", a, sep, b);
    c->outputs[0] = (struct lf_value){.type = LF_TYPE_STRING, .u.s = s};
    return LF_OK;
}

static const struct lf_node_type concat_type = {
    .name = "TestConcat",
    .description = "Joins two strings.",
    .flags = LF_NODE_DETERMINISTIC,
    .inputs =
        (const struct lf_input_desc[]){
            {.name = "a", .type = LF_TYPE_STRING},
            {.name = "b", .type = LF_TYPE_STRING, .flags = LF_PORT_OPTIONAL},
            {0}},
    .outputs = (const struct lf_output_desc[]){{.name = "text", .type = LF_TYPE_STRING}, {0}},
    .params = (const struct lf_param_desc[]){{.name = "sep", .type = LF_TYPE_STRING}, {0}},
    .execute = concat_exec,
};

/* ---- TestText: a constant string ---- */

static enum lf_status text_exec(const struct lf_node_call *c, struct lf_error *err)
{
    char *s = dup_string(c->params[0].u.s);
    count(c->node_id);
    if (!s) return oom(c, err);
    c->outputs[0] = (struct lf_value){.type = LF_TYPE_STRING, .u.s = s};
    return LF_OK;
}

static const struct lf_node_type text_type = {
    .name = "TestText",
    .description = "A constant string.",
    .flags = LF_NODE_DETERMINISTIC,
    .outputs = (const struct lf_output_desc[]){{.name = "text", .type = LF_TYPE_STRING}, {0}},
    .params = (const struct lf_param_desc[]){{.name = "text", .type = LF_TYPE_STRING}, {0}},
    .execute = text_exec,
};

/* ---- TestBlob / TestBlobSize: a sized model-like object ---- */

struct blob {
    struct lf_object base;
    int64_t kb;
};

static int blobs_alive, alive_at_merge; /* blobs not destroyed; at TestMerged's start */

static void blob_destroy(struct lf_object *o)
{
    blobs_alive--;
    free(o);
}

LF_EXPORT int lftest_blobs_alive_at_merge(void)
{
    return alive_at_merge;
}

static enum lf_status blob_exec(const struct lf_node_call *c, struct lf_error *err)
{
    struct blob *b = calloc(1, sizeof *b);
    count(c->node_id);
    if (!b) return oom(c, err);
    blobs_alive++;
    b->base = (struct lf_object){.refcount = 1,
                                 .nbytes = (uint64_t)c->params[0].u.i * 1024,
                                 .kind = "lftest.blob",
                                 .destroy = blob_destroy};
    b->kb = c->params[0].u.i;
    c->outputs[0] = (struct lf_value){.type = LF_TYPE_UNET, .u.object = &b->base};
    return LF_OK;
}

static const struct lf_node_type blob_type = {
    .name = "TestBlob",
    .description = "A model-like object of a given size (for cache budgets).",
    .flags = LF_NODE_DETERMINISTIC,
    .outputs = (const struct lf_output_desc[]){{.name = "blob", .type = LF_TYPE_UNET}, {0}},
    .params = (const struct lf_param_desc[]){{.name = "kb",
                                              .type = LF_TYPE_INT,
                                              .flags = LF_PARAM_HAS_RANGE,
                                              .default_int = 1,
                                              .min = 0,
                                              .max = 1 << 20},
                                             {.name = "seed", .type = LF_TYPE_INT},
                                             {0}},
    .execute = blob_exec,
};

/* ---- TestMerged: a blob marked LF_NODE_REPLACES (as LoraLoader is) ---- */

static enum lf_status merged_exec(const struct lf_node_call *c, struct lf_error *err)
{
    alive_at_merge = blobs_alive;
    return blob_exec(c, err);
}

static const struct lf_node_type merged_type = {
    .name = "TestMerged",
    .description = "A blob whose earlier results leave the cache before it runs again.",
    .flags = LF_NODE_DETERMINISTIC | LF_NODE_REPLACES,
    .outputs = (const struct lf_output_desc[]){{.name = "blob", .type = LF_TYPE_UNET}, {0}},
    .params = (const struct lf_param_desc[]){{.name = "kb", .type = LF_TYPE_INT, .default_int = 1},
                                             {.name = "seed", .type = LF_TYPE_INT},
                                             {0}},
    .execute = merged_exec,
};

static enum lf_status blob_size_exec(const struct lf_node_call *c, struct lf_error *err)
{
    const struct blob *b = (const struct blob *)c->inputs[0].u.object;
    count(c->node_id);
    c->outputs[0] = (struct lf_value){.type = LF_TYPE_INT, .u.i = b->kb};
    return LF_OK;
}

static const struct lf_node_type blob_size_type = {
    .name = "TestBlobSize",
    .description = "The size of a blob in KiB.",
    .flags = LF_NODE_DETERMINISTIC,
    .inputs = (const struct lf_input_desc[]){{.name = "blob", .type = LF_TYPE_UNET}, {0}},
    .outputs = (const struct lf_output_desc[]){{.name = "kb", .type = LF_TYPE_INT}, {0}},
    .execute = blob_size_exec,
};

/* ---- TestWrite: writes text to a file (side effect) ---- */

static enum lf_status write_exec(const struct lf_node_call *c, struct lf_error *err)
{
    const char *path = c->params[0].u.s;
    size_t n = strlen(path) + 16;
    char *tmp = malloc(n);
    FILE *f;
    count(c->node_id);
    if (!tmp) return oom(c, err);
    /* Temporary name, then rename: an interrupted run leaves no half file. */
    snprintf(tmp, n, "%s.tmp%ld", path, (long)getpid());
    if (!(f = fopen(tmp, "wb"))) {
        free(tmp);
        return c->host->error_set(err, LF_ERR_IO, "%s: cannot write", path);
    }
    fputs(c->inputs[0].u.s, f);
    if (fclose(f) != 0 || rename(tmp, path) != 0) {
        remove(tmp);
        free(tmp);
        return c->host->error_set(err, LF_ERR_IO, "%s: cannot write", path);
    }
    free(tmp);
    return LF_OK;
}

static const struct lf_node_type write_type = {
    .name = "TestWrite",
    .description = "Writes text to a file.",
    .flags = LF_NODE_SIDE_EFFECT,
    .inputs = (const struct lf_input_desc[]){{.name = "text", .type = LF_TYPE_STRING}, {0}},
    .params =
        (const struct lf_param_desc[]){
            {.name = "path", .type = LF_TYPE_STRING, .flags = LF_PARAM_REQUIRED | LF_PARAM_PATH},
            {0}},
    .execute = write_exec,
};

/* ---- TestSteps: reports steps, honours interruption ---- */

static enum lf_status steps_exec(const struct lf_node_call *c, struct lf_error *err)
{
    int steps = (int)c->params[0].u.i;
    count(c->node_id);
    for (int i = 1; i <= steps; i++) {
        if (c->host->interrupted(c->ctx))
            return c->host->error_set(err, LF_ERR_INTERRUPTED, "interrupted at step %d", i);
        if (c->params[1].u.i > 0)
            nanosleep(&(struct timespec){.tv_nsec = c->params[1].u.i * 1000000L}, NULL);
        c->host->progress(c->ctx, i, steps);
    }
    c->outputs[0] = (struct lf_value){.type = LF_TYPE_INT, .u.i = steps};
    return LF_OK;
}

static const struct lf_node_type steps_type = {
    .name = "TestSteps",
    .description = "Counts steps, reporting progress.",
    .flags = LF_NODE_DETERMINISTIC,
    .inputs =
        (const struct lf_input_desc[]){
            {.name = "after", .type = LF_TYPE_INT, .flags = LF_PORT_OPTIONAL}, {0}},
    .outputs = (const struct lf_output_desc[]){{.name = "value", .type = LF_TYPE_INT}, {0}},
    .params = (const struct lf_param_desc[]){{.name = "steps",
                                              .type = LF_TYPE_INT,
                                              .flags = LF_PARAM_HAS_RANGE,
                                              .default_int = 3,
                                              .min = 1,
                                              .max = 1000},
                                             {.name = "delay_ms",
                                              .type = LF_TYPE_INT,
                                              .flags = LF_PARAM_HAS_RANGE,
                                              .min = 0,
                                              .max = 999},
                                             {0}},
    .execute = steps_exec,
};

/* ---- TestNoise: a sampler stand-in: a number from a seed, in steps ---- */

static enum lf_status noise_exec(const struct lf_node_call *c, struct lf_error *err)
{
    const struct blob *b = (const struct blob *)c->inputs[0].u.object;
    uint64_t x = (uint64_t)c->params[0].u.i * 6364136223846793005ull + (uint64_t)b->kb;
    int steps = (int)c->params[1].u.i;
    count(c->node_id);
    for (int i = 1; i <= steps; i++) {
        if (c->host->interrupted(c->ctx))
            return c->host->error_set(err, LF_ERR_INTERRUPTED, "interrupted at step %d", i);
        x = x * 6364136223846793005ull + 1442695040888963407ull;
        c->host->progress(c->ctx, i, steps);
    }
    c->outputs[0] =
        (struct lf_value){.type = LF_TYPE_FLOAT, .u.f = (double)(x >> 11) / 9007199254740992.0};
    return LF_OK;
}

static const struct lf_node_type noise_type = {
    .name = "TestNoise",
    .description = "A sampler stand-in: a number in [0, 1) from a model and a seed.",
    .flags = LF_NODE_DETERMINISTIC,
    .inputs =
        (const struct lf_input_desc[]){
            {.name = "model", .type = LF_TYPE_UNET},
            {.name = "text", .type = LF_TYPE_STRING, .flags = LF_PORT_OPTIONAL},
            {0}},
    .outputs = (const struct lf_output_desc[]){{.name = "value", .type = LF_TYPE_FLOAT}, {0}},
    .params = (const struct lf_param_desc[]){{.name = "seed", .type = LF_TYPE_INT},
                                             {.name = "steps",
                                              .type = LF_TYPE_INT,
                                              .flags = LF_PARAM_HAS_RANGE,
                                              .default_int = 4,
                                              .min = 1,
                                              .max = 1000},
                                             {0}},
    .execute = noise_exec,
};

/* ---- TestClock: not deterministic ---- */

static enum lf_status clock_exec(const struct lf_node_call *c, struct lf_error *err)
{
    count(c->node_id);
    c->outputs[0] = (struct lf_value){.type = LF_TYPE_INT, .u.i = lftest_executions(NULL)};
    return LF_OK;
}

static const struct lf_node_type clock_type = {
    .name = "TestClock",
    .description = "A value that changes every run (not deterministic).",
    .outputs = (const struct lf_output_desc[]){{.name = "value", .type = LF_TYPE_INT}, {0}},
    .execute = clock_exec,
};

/* ---- TestFail, TestBadOutput: misbehaving nodes ---- */

static enum lf_status fail_exec(const struct lf_node_call *c, struct lf_error *err)
{
    count(c->node_id);
    return c->host->error_set(err, LF_ERR_INVALID, "deliberate failure");
}

static const struct lf_node_type fail_type = {
    .name = "TestFail",
    .description = "Always fails.",
    .flags = LF_NODE_DETERMINISTIC,
    .inputs =
        (const struct lf_input_desc[]){
            {.name = "value", .type = LF_TYPE_FLOAT, .flags = LF_PORT_OPTIONAL}, {0}},
    .outputs = (const struct lf_output_desc[]){{.name = "value", .type = LF_TYPE_FLOAT}, {0}},
    .execute = fail_exec,
};

static enum lf_status bad_output_exec(const struct lf_node_call *c, struct lf_error *err)
{
    count(c->node_id);
    c->outputs[0] = (struct lf_value){.type = LF_TYPE_INT, .u.i = 1};
    return LF_OK;
}

static const struct lf_node_type bad_output_type = {
    .name = "TestBadOutput",
    .description = "Returns an INT where it declares a FLOAT.",
    .flags = LF_NODE_DETERMINISTIC,
    .outputs = (const struct lf_output_desc[]){{.name = "value", .type = LF_TYPE_FLOAT}, {0}},
    .execute = bad_output_exec,
};

/* ---- TestGrid: a param validated beyond its range ---- */

static enum lf_status grid_validate(const struct lf_node_type *t, const struct lf_value *params,
                                    struct lf_error *err)
{
    (void)t;
    if (params[0].u.i % 8 != 0) {
        if (err) {
            err->code = LF_ERR_INVALID;
            snprintf(err->message, sizeof err->message, "width %lld is not a multiple of 8",
                     (long long)params[0].u.i);
        }
        return LF_ERR_INVALID;
    }
    return LF_OK;
}

static enum lf_status grid_exec(const struct lf_node_call *c, struct lf_error *err)
{
    count(c->node_id);
    c->outputs[0] = (struct lf_value){.type = LF_TYPE_INT, .u.i = c->params[0].u.i / 8};
    return LF_OK;
}

static const struct lf_node_type grid_type = {
    .name = "TestGrid",
    .description = "Checks that width is a multiple of 8.",
    .flags = LF_NODE_DETERMINISTIC,
    .outputs = (const struct lf_output_desc[]){{.name = "cells", .type = LF_TYPE_INT}, {0}},
    .params =
        (const struct lf_param_desc[]){
            {.name = "width", .type = LF_TYPE_INT, .default_int = 64},
            {.name = "enabled", .type = LF_TYPE_BOOL, .default_bool = true},
            {0}},
    .execute = grid_exec,
    .validate = grid_validate,
};

/* ---- ABI 1.2: TestSeed (64-bit INT params), TestCacheUser (host cache) ---- */

static enum lf_status seed_exec(const struct lf_node_call *c, struct lf_error *err)
{
    count(c->node_id);
    c->outputs[0] = (struct lf_value){.type = LF_TYPE_INT, .u.i = c->params[0].u.i};
    return LF_OK;
}

static const struct lf_node_type seed_type = {
    .name = "TestSeed",
    .description = "Outputs its unsigned seed's bits; exact 64-bit ranges.",
    .flags = LF_NODE_DETERMINISTIC,
    .outputs = (const struct lf_output_desc[]){{.name = "bits", .type = LF_TYPE_INT}, {0}},
    .params =
        (const struct lf_param_desc[]){
            {.name = "seed", .type = LF_TYPE_INT, .flags = LF_PARAM_UNSIGNED},
            {.name = "offset",
             .type = LF_TYPE_INT,
             .flags = LF_PARAM_HAS_RANGE | LF_PARAM_INT_RANGE,
             .min_int = INT64_MIN + 1,
             .max_int = INT64_MAX - 1},
            {.name = "high",
             .type = LF_TYPE_INT,
             .flags = LF_PARAM_UNSIGNED | LF_PARAM_HAS_RANGE | LF_PARAM_INT_RANGE,
             .default_int = (int64_t)UINT64_C(9223372036854775808),
             .min_int = (int64_t)UINT64_C(9223372036854775808),
             .max_int = (int64_t)UINT64_C(18446744073709551614)},
            {0}},
    .execute = seed_exec,
};

static int objects_made, objects_alive, purges;

LF_EXPORT int lftest_objects_made(void)
{
    return objects_made;
}

LF_EXPORT int lftest_objects_alive(void)
{
    return objects_alive;
}

LF_EXPORT int lftest_purges(void)
{
    return purges;
}

static void purge(void)
{
    purges++;
}

static void cached_destroy(struct lf_object *o)
{
    objects_alive--;
    free(o);
}

/* An object of kb KiB under key: from the host cache, or made (and put). */
static enum lf_status cache_user_exec(const struct lf_node_call *c, struct lf_error *err)
{
    uint64_t key = (uint64_t)c->params[0].u.i;
    struct lf_object *o = c->host->cache_get(c->ctx, key);
    bool hit = o != NULL;
    count(c->node_id);
    if (!o) {
        if (!(o = calloc(1, sizeof *o))) return oom(c, err);
        *o = (struct lf_object){.refcount = 1,
                                .nbytes = (uint64_t)c->params[1].u.i * 1024,
                                .kind = "lftest.cached",
                                .destroy = cached_destroy};
        objects_made++, objects_alive++;
        c->host->cache_put(c->ctx, key, o);
    }
    lf_object_release(o);
    c->outputs[0] = (struct lf_value){.type = LF_TYPE_INT, .u.i = hit};
    return LF_OK;
}

static const struct lf_node_type cache_user_type = {
    .name = "TestCacheUser",
    .description = "Keeps an object in the host cache; outputs 1 on a hit.",
    .outputs = (const struct lf_output_desc[]){{.name = "hit", .type = LF_TYPE_INT}, {0}},
    .params = (const struct lf_param_desc[]){{.name = "key", .type = LF_TYPE_INT},
                                             {.name = "kb", .type = LF_TYPE_INT, .default_int = 1},
                                             {0}},
    .execute = cache_user_exec,
};

static const struct lf_node_type *const types[] = {
    &number_type, &add_type,    &scale_type, &pair_type,       &inc_type,
    &read_type,   &concat_type, &text_type,  &blob_type,       &blob_size_type,
    &write_type,  &steps_type,  &clock_type, &fail_type,       &bad_output_type,
    &grid_type,   &noise_type,  &seed_type,  &cache_user_type, &merged_type,
    NULL,
};

static const struct lf_plugin_desc desc = {
    .abi_version = LF_PLUGIN_ABI_VERSION,
    .struct_size = sizeof desc,
    .name = "lftest_counting",
    .version = "1.0.0",
    .node_types = types,
    .purge = purge,
};

/* TestCacheUser needs an ABI 1.2 host. */
LF_EXPORT const struct lf_plugin_desc *lcmflow_plugin_entry(const struct lf_host_api *host)
{
    return LF_HOST_HAS(host, cache_put) ? &desc : NULL;
}
