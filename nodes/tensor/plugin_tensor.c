/*
** plugin_tensor.c - the tensor plugin: LoadTensor and SaveTensor, tensors
** in .safetensors files (SaveTensor writes f32, atomically).
*/
#include "lcmflow/safetensors.h"
#include "lcmflow/node.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* Param indices; each table below is indexed by them (designated
** initialisers), and its slot at the *_PARAMS count stays zero: the end. */
enum { LOAD_PATH, LOAD_NAME, LOAD_AS, LOAD_PARAMS };

static const char *const kinds[] = {"tensor", "latent", "conditioning", "image", NULL};
static const enum lf_value_type kind_types[] = {LF_TYPE_TENSOR, LF_TYPE_LATENT,
                                                LF_TYPE_CONDITIONING, LF_TYPE_IMAGE};

static int kind_index(const char *as)
{
    for (int i = 0; kinds[i]; i++)
        if (!strcmp(kinds[i], as)) return i;
    return -1;
}

static enum lf_status load_validate(const struct lf_node_type *type, const struct lf_value *params,
                                    struct lf_error *err)
{
    const char *as = params[LOAD_AS].u.s ? params[LOAD_AS].u.s : "";
    if (kind_index(as) < 0)
        return lf_error_set(err, LF_ERR_INVALID,
                            "as must be tensor, latent, conditioning or image, not '%s'", as);
    return LF_OK;
}

static enum lf_status load_execute(const struct lf_node_call *c, struct lf_error *err)
{
    struct lf_device *device = lf_node_device(c, err);
    if (!device) return err ? err->code : LF_ERR_NO_DEVICE;
    const char *path = lf_node_param_string(c, LOAD_PATH),
               *name = lf_node_param_string(c, LOAD_NAME);
    struct lf_safetensors *st;
    enum lf_status s = lf_safetensors_open(path, &st, err);
    if (s) return s;
    const struct lf_safetensors_tensor *t;
    s = lf_safetensors_get(st, name, &t, err);
    float *data = NULL;
    if (!s && (t->rank < 1 || t->rank > LF_TENSOR_MAX_RANK))
        s = lf_error_set_at(err, LF_ERR_UNSUPPORTED, path, 0, 0,
                            "tensor '%s' has rank %d (1 to %d supported)", name, t->rank,
                            LF_TENSOR_MAX_RANK);
    if (!s && !(data = malloc((size_t)t->numel * sizeof *data)))
        s = lf_error_set(err, LF_ERR_OUT_OF_MEMORY, "out of memory");
    if (!s) s = lf_safetensors_tensor_to_f32(st, t, data, t->numel, err);
    struct lf_tensor *out = NULL;
    if (!s) s = lf_tensor_from_f32(device, LF_DTYPE_F32, t->rank, t->shape, data, &out, err);
    free(data);
    lf_safetensors_close(st);
    if (!s)
        lf_node_output_tensor(c, 0, kind_types[kind_index(lf_node_param_string(c, LOAD_AS))], out);
    return s;
}

static const struct lf_node_type load_tensor_type = {
    .name = "LoadTensor",
    .description = "Reads one float tensor from a .safetensors file (as f32).",
    .flags = LF_NODE_DETERMINISTIC | LF_NODE_READS_FILES,
    .outputs = (const struct lf_output_desc[]){{"tensor", LF_TYPE_TENSOR, NULL, NULL}, {0}},
    .params =
        (const struct lf_param_desc[LOAD_PARAMS + 1]){
            [LOAD_PATH] = {.name = "path",
                           .type = LF_TYPE_STRING,
                           .flags = LF_PARAM_REQUIRED | LF_PARAM_PATH,
                           .description = ".safetensors file"},
            [LOAD_NAME] = {.name = "name",
                           .type = LF_TYPE_STRING,
                           .default_string = "tensor",
                           .description = "the tensor's name in the file"},
            [LOAD_AS] = {.name = "as",
                         .type = LF_TYPE_STRING,
                         .default_string = "tensor",
                         .description = "value type: tensor, latent, conditioning or image"},
        },
    .execute = load_execute,
    .validate = load_validate,
};

enum { SAVE_PATH, SAVE_NAME, SAVE_PARAMS };

static enum lf_status save_execute(const struct lf_node_call *c, struct lf_error *err)
{
    struct lf_tensor *t = lf_node_input_tensor(c, 0);
    const char *path = lf_node_param_string(c, SAVE_PATH);
    int64_t n = lf_tensor_numel(t);
    float *data = NULL;
    enum lf_status s = lf_tensor_download_f32_alloc(t, &data, err);
    struct lf_safetensors_writer *w = NULL;
    if (!s) s = lf_safetensors_writer_create(&w, err);
    if (!s)
        s = lf_safetensors_writer_add(w, lf_node_param_string(c, SAVE_NAME), LF_ST_DTYPE_F32,
                                      t->rank, t->shape, data, (size_t)n * sizeof *data, err);
    if (!s) s = lf_safetensors_writer_write(w, path, err);
    if (!s) c->host->log(c->ctx, LF_LOG_INFO, "wrote %s", path); /* as SaveImage says */
    lf_safetensors_writer_free(w);
    free(data);
    return s;
}

static const struct lf_node_type save_tensor_type = {
    .name = "SaveTensor",
    .description = "Writes a tensor-valued output as f32 to a .safetensors file.",
    .flags = LF_NODE_SIDE_EFFECT,
    .inputs = (const struct lf_input_desc[]){{"tensor", LF_TYPE_TENSOR, 0, NULL}, {0}},
    .params =
        (const struct lf_param_desc[SAVE_PARAMS + 1]){
            [SAVE_PATH] = {.name = "path",
                           .type = LF_TYPE_STRING,
                           .flags = LF_PARAM_REQUIRED | LF_PARAM_PATH,
                           .description = "output .safetensors file"},
            [SAVE_NAME] = {.name = "name",
                           .type = LF_TYPE_STRING,
                           .default_string = "tensor",
                           .description = "the tensor's name in the file"},
        },
    .execute = save_execute,
};

static const struct lf_node_type *const types[] = {&load_tensor_type, &save_tensor_type, NULL};

LF_PLUGIN_DEFINE("tensor", "0.1.0", types)
