/*
** sd_image.c - VAE pixels <-> IMAGE values (see sd_image.h).
*/
#include "sd_image.h"

#include <stdlib.h>

enum lf_status sd_image_from_decoded(struct lf_tensor *decoded, struct lf_tensor **image,
                                     struct lf_error *err)
{
    *image = NULL;
    if (decoded->rank != 4 || decoded->shape[1] != 3)
        return lf_error_set(err, LF_ERR_INVALID, "decoded image must be [B, 3, H, W]");
    float *src;
    enum lf_status s = lf_tensor_download_f32_alloc(decoded, &src, err);
    if (s) return s;
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
    float *src;
    enum lf_status s = lf_tensor_download_f32_alloc(image, &src, err);
    if (s) return s;
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
