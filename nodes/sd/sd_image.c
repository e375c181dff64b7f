/*
** sd_image.c - VAE pixels <-> IMAGE values <-> 8-bit RGB (see sd_image.h).
*/
#include "sd_image.h"

#include <math.h>
#include <stdlib.h>

uint8_t sd_image_quantize(float v)
{
    v = v < 0.0f ? 0.0f : v > 1.0f ? 1.0f : v;
    return (uint8_t)nearbyintf(v * 255.0f); /* default rounding: half to even */
}

static float *download(struct lf_tensor *t, struct lf_error *err, enum lf_status *s)
{
    int64_t n = lf_tensor_numel(t);
    float *data = malloc((size_t)(n ? n : 1) * sizeof *data);
    if (!data) {
        *s = lf_error_set(err, LF_ERR_OUT_OF_MEMORY, "out of host memory");
        return NULL;
    }
    if ((*s = lf_tensor_download_f32(t, data, n, err))) {
        free(data);
        return NULL;
    }
    return data;
}

enum lf_status sd_image_from_decoded(struct lf_tensor *decoded, struct lf_tensor **image,
                                     struct lf_error *err)
{
    *image = NULL;
    if (decoded->rank != 4 || decoded->shape[1] != 3)
        return lf_error_set(err, LF_ERR_INVALID, "decoded image must be [B, 3, H, W]");
    enum lf_status s;
    float *src = download(decoded, err, &s);
    if (!src) return s;
    int64_t b = decoded->shape[0], h = decoded->shape[2], w = decoded->shape[3];
    float *dst = malloc((size_t)(b * h * w * 3) * sizeof *dst);
    if (!dst) {
        free(src);
        return lf_error_set(err, LF_ERR_OUT_OF_MEMORY, "out of host memory");
    }
    for (int64_t i = 0; i < b; i++)
        for (int64_t c = 0; c < 3; c++)
            for (int64_t p = 0; p < h * w; p++) {
                float v = src[(i * 3 + c) * h * w + p] / 2.0f + 0.5f;
                dst[(i * h * w + p) * 3 + c] = v < 0.0f ? 0.0f : v > 1.0f ? 1.0f : v;
            }
    int64_t shape[4] = {b, h, w, 3};
    s = lf_tensor_from_f32(decoded->device, LF_DTYPE_F32, 4, shape, dst, image, err);
    free(src);
    free(dst);
    return s;
}

enum lf_status sd_image_to_vae_input(struct lf_tensor *image, struct lf_tensor **out,
                                     struct lf_error *err)
{
    *out = NULL;
    if (image->rank != 4 || image->shape[3] != 3)
        return lf_error_set(err, LF_ERR_INVALID, "IMAGE must be [B, H, W, 3]");
    enum lf_status s;
    float *src = download(image, err, &s);
    if (!src) return s;
    int64_t b = image->shape[0], h = image->shape[1], w = image->shape[2];
    float *dst = malloc((size_t)(b * h * w * 3) * sizeof *dst);
    if (!dst) {
        free(src);
        return lf_error_set(err, LF_ERR_OUT_OF_MEMORY, "out of host memory");
    }
    for (int64_t i = 0; i < b; i++)
        for (int64_t p = 0; p < h * w; p++)
            for (int64_t c = 0; c < 3; c++)
                dst[(i * 3 + c) * h * w + p] = src[(i * h * w + p) * 3 + c] * 2.0f - 1.0f;
    int64_t shape[4] = {b, 3, h, w};
    s = lf_tensor_from_f32(image->device, LF_DTYPE_F32, 4, shape, dst, out, err);
    free(src);
    free(dst);
    return s;
}

enum lf_status sd_image_from_rgb8(struct lf_device *device, const uint8_t *pixels, int width,
                                  int height, struct lf_tensor **image, struct lf_error *err)
{
    size_t n = (size_t)width * (size_t)height * 3;
    float *data = malloc(n * sizeof *data);
    if (!data) return lf_error_set(err, LF_ERR_OUT_OF_MEMORY, "out of host memory");
    for (size_t i = 0; i < n; i++)
        data[i] = (float)pixels[i] / 255.0f;
    int64_t shape[4] = {1, height, width, 3};
    enum lf_status s = lf_tensor_from_f32(device, LF_DTYPE_F32, 4, shape, data, image, err);
    free(data);
    return s;
}

enum lf_status sd_image_to_rgb8(struct lf_tensor *image, int64_t index, uint8_t **pixels,
                                struct lf_error *err)
{
    *pixels = NULL;
    if (image->rank != 4 || image->shape[3] != 3 || index < 0 || index >= image->shape[0])
        return lf_error_set(err, LF_ERR_INVALID, "IMAGE must be [B, H, W, 3]");
    enum lf_status s;
    float *src = download(image, err, &s);
    if (!src) return s;
    size_t n = (size_t)(image->shape[1] * image->shape[2] * 3);
    *pixels = malloc(n);
    if (!*pixels) {
        free(src);
        return lf_error_set(err, LF_ERR_OUT_OF_MEMORY, "out of host memory");
    }
    for (size_t i = 0; i < n; i++)
        (*pixels)[i] = sd_image_quantize(src[(size_t)index * n + i]);
    free(src);
    return LF_OK;
}
