/*
** plugin_image.c - the image plugin: LoadImage, SaveImage, PreviewImage and
** ContactSheet.
*/
#include "image_io.h"
#include "lcmflow/node.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* ---- LoadImage ---- */

/* Param indices; each table below is indexed by them (designated
** initialisers), and its slot at the *_PARAMS count stays zero: the end. */
enum { LOAD_PATH, LOAD_RESIZE, LOAD_PARAMS };

static enum lf_status load_execute(const struct lf_node_call *c, struct lf_error *err)
{
    const char *path = lf_node_param_string(c, LOAD_PATH);
    struct lf_device *device = lf_node_device(c, err);
    if (!device) return err ? err->code : LF_ERR_NO_DEVICE;
    int w, h;
    uint8_t *px;
    enum lf_status s = lf_image_load(path, &w, &h, &px, err);
    if (s) return s;
    if (w % 8 || h % 8) {
        int nw = w >= 8 ? w / 8 * 8 : 8, nh = h >= 8 ? h / 8 * 8 : 8;
        if (!lf_node_param_bool(c, LOAD_RESIZE)) {
            free(px);
            return lf_error_set_at(err, LF_ERR_INVALID, path, 0, 0,
                                   "image is %dx%d; width and height must be multiples of 8 "
                                   "(set resize: true to scale it to %dx%d)",
                                   w, h, nw, nh);
        }
        uint8_t *resized;
        s = lf_image_resize(px, w, h, nw, nh, &resized, err);
        free(px);
        if (s) return s;
        c->host->log(c->ctx, LF_LOG_INFO, "%s: resized %dx%d to %dx%d (multiples of 8)", path, w, h,
                     nw, nh);
        px = resized, w = nw, h = nh;
    }
    struct lf_tensor *image;
    s = lf_image_from_rgb8(device, px, w, h, &image, err);
    free(px);
    if (!s) lf_node_output_tensor(c, 0, LF_TYPE_IMAGE, image);
    return s;
}

static const struct lf_node_type load_image_type = {
    .name = "LoadImage",
    .description = "Reads a PNG, JPEG or BMP as an image [1, H, W, 3] in [0, 1].",
    .flags = LF_NODE_DETERMINISTIC | LF_NODE_READS_FILES,
    .outputs = (const struct lf_output_desc[]){{"image", LF_TYPE_IMAGE, NULL, NULL}, {0}},
    .params =
        (const struct lf_param_desc[LOAD_PARAMS + 1]){
            [LOAD_PATH] = {.name = "path",
                           .type = LF_TYPE_STRING,
                           .flags = LF_PARAM_REQUIRED | LF_PARAM_PATH,
                           .description = "PNG, JPEG or BMP file (at most 16384 pixels a side)"},
            [LOAD_RESIZE] = {.name = "resize",
                             .type = LF_TYPE_BOOL,
                             .default_bool = false,
                             .description =
                                 "scale down to multiples of 8 instead of refusing other sizes"},
        },
    .execute = load_execute,
};

/* ---- SaveImage ---- */

enum { SAVE_PATH, SAVE_METADATA, SAVE_PARAMS };

/* path for batch item i: "out/cat.png" -> "out/cat_1.png" when batch > 1;
** malloc'd (caller frees), NULL when out of memory. */
static char *item_path(const char *path, int64_t i, int64_t count)
{
    if (count <= 1) return strdup(path);
    const char *dot = strrchr(path, '.'), *slash = strrchr(path, '/');
    if (!dot || (slash && dot < slash)) dot = path + strlen(path);
    size_t size = strlen(path) + 24;
    char *out = malloc(size);
    if (out) snprintf(out, size, "%.*s_%lld%s", (int)(dot - path), path, (long long)i, dot);
    return out;
}

/* Creates the folders above path, as users of ComfyUI's output folder expect. */
static enum lf_status make_parents(const char *path, struct lf_error *err)
{
    char *dir = strdup(path);
    if (!dir) return lf_error_set(err, LF_ERR_OUT_OF_MEMORY, "out of memory");
    for (char *p = dir + 1; *p; p++) {
        if (*p != '/') continue;
        *p = '\0';
        if (mkdir(dir, 0755) != 0 && errno != EEXIST) {
            enum lf_status s = lf_error_set_at(err, LF_ERR_IO, path, 0, 0,
                                               "cannot create folder %s: %s", dir, strerror(errno));
            free(dir);
            return s;
        }
        *p = '/';
    }
    free(dir);
    return LF_OK;
}

/* Save paths must name a format lf_image_save writes: refused before anything runs. */
static enum lf_status check_save_path(const char *path, struct lf_error *err)
{
    if (lf_image_format_of(path) != LF_IMAGE_UNKNOWN) return LF_OK;
    return lf_error_set(err, LF_ERR_INVALID,
                        "path '%s' must end in .png, .jpg, .jpeg or .bmp (the format written)",
                        path);
}

static enum lf_status save_execute(const struct lf_node_call *c, struct lf_error *err)
{
    struct lf_tensor *image = lf_node_input_tensor(c, 0);
    if (image->rank != 4 || image->shape[3] != 3)
        return lf_error_set(err, LF_ERR_INVALID, "image must be [B, H, W, 3]");
    struct lf_image_text text[3];
    size_t ntext = 0;
    text[ntext++] = (struct lf_image_text){"Software", "lcmflow"};
    const char *yaml = NULL;
    if (lf_node_param_bool(c, SAVE_METADATA) &&
        c->host->struct_size > offsetof(struct lf_host_api, graph_yaml) && c->host->graph_yaml &&
        (yaml = c->host->graph_yaml(c->ctx))) {
        text[ntext++] = (struct lf_image_text){"lcmflow.graph", yaml};
        text[ntext++] = (struct lf_image_text){"lcmflow.node", c->node_id};
    }
    enum lf_status s = LF_OK;
    for (int64_t i = 0; s == LF_OK && i < image->shape[0]; i++) {
        uint8_t *px;
        char *path = item_path(lf_node_param_string(c, SAVE_PATH), i, image->shape[0]);
        if (!path) return lf_error_set(err, LF_ERR_OUT_OF_MEMORY, "out of memory");
        if ((s = make_parents(path, err)) == LF_OK &&
            (s = lf_image_to_rgb8(image, i, &px, err)) == LF_OK) {
            s = lf_image_save(path, (int)image->shape[2], (int)image->shape[1], px, text, ntext,
                              err);
            free(px);
        }
        if (s == LF_OK) c->host->log(c->ctx, LF_LOG_INFO, "wrote %s", path);
        free(path);
    }
    return s;
}

static enum lf_status save_validate(const struct lf_node_type *type, const struct lf_value *params,
                                    struct lf_error *err)
{
    (void)type;
    return check_save_path(params[SAVE_PATH].u.s, err);
}

static const struct lf_node_type save_image_type = {
    .name = "SaveImage",
    .description = "Writes an image (atomically) as PNG, with the graph in text chunks, or as "
                   "JPEG or BMP, by the path's extension.",
    .flags = LF_NODE_SIDE_EFFECT,
    .inputs = (const struct lf_input_desc[]){{"image", LF_TYPE_IMAGE, 0, NULL}, {0}},
    .params =
        (const struct lf_param_desc[SAVE_PARAMS + 1]){
            [SAVE_PATH] = {.name = "path",
                           .type = LF_TYPE_STRING,
                           .flags = LF_PARAM_REQUIRED | LF_PARAM_PATH,
                           .description =
                               "output .png, .jpg/.jpeg or .bmp (batch items get _0, _1, "
                               "... before the extension)"},
            [SAVE_METADATA] = {.name = "metadata",
                               .type = LF_TYPE_BOOL,
                               .default_bool = true,
                               .description = "embed the graph and its params in PNG text chunks"},
        },
    .validate = save_validate,
    .execute = save_execute,
};

/* ---- PreviewImage ---- */

/* Hands its input on as the run's output "preview.image": the caller (the
** server, Lua's r:output, `lcmflow run`'s listing) takes it from the run; no
** file is written.  Never cached: it costs one reference. */
static enum lf_status preview_execute(const struct lf_node_call *c, struct lf_error *err)
{
    struct lf_tensor *image = lf_node_input_tensor(c, 0);
    if (image->rank != 4 || image->shape[3] != 3)
        return lf_error_set(err, LF_ERR_INVALID, "image must be [B, H, W, 3]");
    lf_node_output_tensor(c, 0, LF_TYPE_IMAGE, lf_tensor_retain(image));
    return LF_OK;
}

static const struct lf_node_type preview_image_type = {
    .name = "PreviewImage",
    .description = "A sink that hands its image to the caller (API, Lua) without writing a file.",
    .inputs = (const struct lf_input_desc[]){{"image", LF_TYPE_IMAGE, 0, NULL}, {0}},
    .outputs =
        (const struct lf_output_desc[]){
            {"image", LF_TYPE_IMAGE, NULL, "the input, for the caller to take from the run"}, {0}},
    .execute = preview_execute,
};

/* ---- ContactSheet ---- */

enum { SHEET_IMAGES, SHEET_COLUMNS, SHEET_PATH, SHEET_PARAMS };

/* Tiles PNG files (a comma-separated list) into one PNG, row by row; each
** cell is as large as the largest image; gaps are black. */
static enum lf_status sheet_execute(const struct lf_node_call *c, struct lf_error *err)
{
    const char *list = lf_node_param_string(c, SHEET_IMAGES);
    int columns = (int)lf_node_param_int(c, SHEET_COLUMNS);
    enum { MAX_CELLS = 256 };
    uint8_t *px[MAX_CELLS];
    int w[MAX_CELLS], h[MAX_CELLS], n = 0, cw = 0, ch = 0;
    enum lf_status s = LF_OK;
    for (const char *p = list; *p && s == LF_OK;) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        if (n == MAX_CELLS) {
            s = lf_error_set(err, LF_ERR_INVALID, "images: at most %d", MAX_CELLS);
            break;
        }
        char *path = strndup(p, len);
        if (!path) {
            s = lf_error_set(err, LF_ERR_OUT_OF_MEMORY, "out of memory");
            break;
        }
        if (len && (s = lf_image_load(path, &w[n], &h[n], &px[n], err)) == LF_OK) {
            cw = w[n] > cw ? w[n] : cw;
            ch = h[n] > ch ? h[n] : ch;
            n++;
        }
        free(path);
        p += len + (comma ? 1 : 0);
    }
    if (s == LF_OK && n == 0) s = lf_error_set(err, LF_ERR_INVALID, "images: no file given");
    uint8_t *sheet = NULL;
    int cols = n < columns ? n : columns, rows = n ? (n + columns - 1) / columns : 0;
    if (s == LF_OK && !(sheet = calloc((size_t)cols * cw * (size_t)rows * ch * 3, 1)))
        s = lf_error_set(err, LF_ERR_OUT_OF_MEMORY, "out of memory");
    for (int i = 0; s == LF_OK && i < n; i++) {
        int x0 = (i % columns) * cw, y0 = (i / columns) * ch;
        for (int y = 0; y < h[i]; y++)
            memcpy(sheet + (((size_t)(y0 + y) * cols * cw) + (size_t)x0) * 3,
                   px[i] + (size_t)y * w[i] * 3, (size_t)w[i] * 3);
    }
    if (s == LF_OK && (s = make_parents(lf_node_param_string(c, SHEET_PATH), err)) == LF_OK)
        s = lf_image_save(lf_node_param_string(c, SHEET_PATH), cols * cw, rows * ch, sheet, NULL, 0,
                          err);
    if (s == LF_OK)
        c->host->log(c->ctx, LF_LOG_INFO, "wrote %s", lf_node_param_string(c, SHEET_PATH));
    for (int i = 0; i < n; i++)
        free(px[i]);
    free(sheet);
    return s;
}

static enum lf_status sheet_validate(const struct lf_node_type *type, const struct lf_value *params,
                                     struct lf_error *err)
{
    (void)type;
    return check_save_path(params[SHEET_PATH].u.s, err);
}

static const struct lf_node_type contact_sheet_type = {
    .name = "ContactSheet",
    .description = "Tiles PNG files into one PNG (a grid of results).",
    .flags = LF_NODE_SIDE_EFFECT,
    .params =
        (const struct lf_param_desc[SHEET_PARAMS + 1]){
            [SHEET_IMAGES] = {.name = "images",
                              .type = LF_TYPE_STRING,
                              .flags = LF_PARAM_REQUIRED,
                              .description = "comma-separated PNG paths, row by row"},
            [SHEET_COLUMNS] = {.name = "columns",
                               .type = LF_TYPE_INT,
                               .flags = LF_PARAM_HAS_RANGE,
                               .default_int = 4,
                               .min = 1,
                               .max = 256,
                               .description = "cells per row"},
            [SHEET_PATH] = {.name = "path",
                            .type = LF_TYPE_STRING,
                            .flags = LF_PARAM_REQUIRED | LF_PARAM_PATH,
                            .description = "output PNG"},
        },
    .validate = sheet_validate,
    .execute = sheet_execute,
};

static const struct lf_node_type *const types[] = {&load_image_type, &save_image_type,
                                                   &preview_image_type, &contact_sheet_type, NULL};

LF_PLUGIN_DEFINE("image", "0.1.0", types)
