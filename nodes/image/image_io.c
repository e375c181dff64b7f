/*
** image_io.c - image files through stb_image / stb_image_write, plus the
** PNG text chunks stb does not write: the encoded PNG is split before its
** IEND chunk and iTXt chunks (with zlib's CRC-32) are inserted there.
*/
#include "image_io.h"

#include <errno.h>
#include <stdbool.h>
#include <math.h>
#include <stb_image.h>
#include <stb_image_write.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

enum lf_status lf_image_load(const char *path, int *width, int *height, uint8_t **pixels,
                             struct lf_error *err)
{
    *pixels = NULL;
    FILE *f = fopen(path, "rb");
    if (!f)
        return lf_error_set_at(err, errno == ENOENT ? LF_ERR_NOT_FOUND : LF_ERR_IO, path, 0, 0,
                               "cannot open image: %s", strerror(errno));
    int channels;
    unsigned char *data = stbi_load_from_file(f, width, height, &channels, 3);
    fclose(f);
    if (!data)
        return lf_error_set_at(err, LF_ERR_FORMAT, path, 0, 0, "not a readable PNG/JPEG image (%s)",
                               stbi_failure_reason());
    *pixels = data; /* stb allocates with malloc */
    return LF_OK;
}

static void put_u32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static uint32_t get_u32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Writes one iTXt chunk (uncompressed, no language tag). */
static bool write_itxt(FILE *f, const char *key, const char *value)
{
    size_t klen = strlen(key), vlen = strlen(value);
    if (klen == 0 || klen > 79) return false;
    size_t len = klen + 5 + vlen;
    uint8_t *chunk = malloc(len + 12);
    if (!chunk) return false;
    put_u32(chunk, (uint32_t)len);
    memcpy(chunk + 4, "iTXt", 4);
    memcpy(chunk + 8, key, klen);
    memset(chunk + 8 + klen, 0, 5); /* NUL, compression flag, method, language NUL, key NUL */
    memcpy(chunk + 8 + klen + 5, value, vlen);
    uLong crc = crc32(0, chunk + 4, (uInt)(len + 4));
    put_u32(chunk + 8 + len, (uint32_t)crc);
    bool ok = fwrite(chunk, 1, len + 12, f) == len + 12;
    free(chunk);
    return ok;
}

struct grow {
    unsigned char *data;
    size_t size, capacity;
    bool failed;
};

static void collect(void *context, void *data, int size)
{
    struct grow *g = context;
    if (g->failed || size <= 0) return;
    if (g->size + (size_t)size > g->capacity) {
        size_t cap = (g->capacity + (size_t)size) * 2;
        unsigned char *p = realloc(g->data, cap);
        if (!p) {
            g->failed = true;
            return;
        }
        g->data = p;
        g->capacity = cap;
    }
    memcpy(g->data + g->size, data, (size_t)size);
    g->size += (size_t)size;
}

enum lf_status lf_image_save_png(const char *path, int width, int height, const uint8_t *pixels,
                                 const struct lf_image_text *text, size_t text_count,
                                 struct lf_error *err)
{
    struct grow g = {0};
    if (!stbi_write_png_to_func(collect, &g, width, height, 3, pixels, width * 3) || g.failed ||
        g.size < 12) {
        free(g.data);
        return lf_error_set_at(err, LF_ERR_OUT_OF_MEMORY, path, 0, 0, "cannot encode PNG");
    }
    unsigned char *png = g.data;
    size_t size = g.size;
    char tmp[1100];
    snprintf(tmp, sizeof tmp, "%s.%ld.tmp", path, (long)getpid());
    FILE *f = fopen(tmp, "wb");
    if (!f) {
        free(png);
        return lf_error_set_at(err, LF_ERR_IO, path, 0, 0, "cannot write: %s", strerror(errno));
    }
    size_t body = size - 12; /* everything before IEND */
    bool ok = fwrite(png, 1, body, f) == body;
    for (size_t i = 0; ok && i < text_count; i++)
        ok = write_itxt(f, text[i].key, text[i].value);
    ok = ok && fwrite(png + body, 1, 12, f) == 12;
    ok = (fclose(f) == 0) && ok;
    free(png);
    if (!ok || rename(tmp, path) != 0) {
        int e = errno;
        remove(tmp);
        return lf_error_set_at(err, LF_ERR_IO, path, 0, 0, "cannot write: %s", strerror(e));
    }
    return LF_OK;
}

enum lf_status lf_image_read_png_text(const char *path, lf_image_text_fn fn, void *user,
                                      struct lf_error *err)
{
    FILE *f = fopen(path, "rb");
    if (!f) return lf_error_set_at(err, LF_ERR_IO, path, 0, 0, "cannot open: %s", strerror(errno));
    uint8_t sig[8], head[8];
    enum lf_status s = LF_OK;
    if (fread(sig, 1, 8, f) != 8 || memcmp(sig, "\x89PNG\r\n\x1a\n", 8) != 0)
        s = lf_error_set_at(err, LF_ERR_FORMAT, path, 0, 0, "not a PNG file");
    while (s == LF_OK && fread(head, 1, 8, f) == 8) {
        uint32_t len = get_u32(head);
        if (len > (1u << 30)) {
            s = lf_error_set_at(err, LF_ERR_FORMAT, path, 0, 0, "corrupt PNG chunk length");
            break;
        }
        bool text = !memcmp(head + 4, "tEXt", 4) || !memcmp(head + 4, "iTXt", 4);
        if (!text) {
            if (!memcmp(head + 4, "IEND", 4) || fseek(f, (long)len + 4, SEEK_CUR) != 0) break;
            continue;
        }
        char *data = malloc((size_t)len + 1);
        if (!data || fread(data, 1, len, f) != len || fseek(f, 4, SEEK_CUR) != 0) {
            free(data);
            s = lf_error_set_at(err, LF_ERR_FORMAT, path, 0, 0, "truncated PNG text chunk");
            break;
        }
        data[len] = '\0';
        size_t klen = strnlen(data, len);
        const char *value = data + klen + 1;
        if (!memcmp(head + 4, "iTXt", 4)) {
            /* skip compression flag + method, then language and translated keyword */
            const char *p = data + klen + 3;
            const char *end = data + len;
            for (int skip = 0; skip < 2 && p < end; skip++)
                p += strnlen(p, (size_t)(end - p)) + 1;
            value = p < end ? p : "";
        }
        if (klen < len) fn(data, value, user);
        free(data);
    }
    fclose(f);
    return s;
}

enum lf_status lf_image_resize(const uint8_t *pixels, int width, int height, int out_width,
                               int out_height, uint8_t **out, struct lf_error *err)
{
    *out = malloc((size_t)out_width * (size_t)out_height * 3);
    if (!*out) return lf_error_set(err, LF_ERR_OUT_OF_MEMORY, "out of host memory");
    for (int y = 0; y < out_height; y++) {
        int sy = (int)((int64_t)y * height / out_height);
        for (int x = 0; x < out_width; x++) {
            int sx = (int)((int64_t)x * width / out_width);
            memcpy(*out + ((size_t)y * (size_t)out_width + (size_t)x) * 3,
                   pixels + ((size_t)sy * (size_t)width + (size_t)sx) * 3, 3);
        }
    }
    return LF_OK;
}

/* ---- IMAGE values <-> 8-bit RGB ---- */

uint8_t lf_image_quantize(float v)
{
    v = v < 0.0f ? 0.0f : v > 1.0f ? 1.0f : v;
    return (uint8_t)nearbyintf(v * 255.0f); /* default rounding: half to even */
}

enum lf_status lf_image_from_rgb8(struct lf_device *device, const uint8_t *pixels, int width,
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

enum lf_status lf_image_to_rgb8(struct lf_tensor *image, int64_t index, uint8_t **pixels,
                                struct lf_error *err)
{
    *pixels = NULL;
    if (image->rank != 4 || image->shape[3] != 3 || index < 0 || index >= image->shape[0])
        return lf_error_set(err, LF_ERR_INVALID, "IMAGE must be [B, H, W, 3]");
    float *src;
    enum lf_status s = lf_tensor_download_f32_alloc(image, &src, err);
    if (s) return s;
    size_t n = (size_t)(image->shape[1] * image->shape[2] * 3);
    *pixels = malloc(n);
    if (!*pixels) {
        free(src);
        return lf_error_set(err, LF_ERR_OUT_OF_MEMORY, "out of host memory");
    }
    for (size_t i = 0; i < n; i++)
        (*pixels)[i] = lf_image_quantize(src[(size_t)index * n + i]);
    free(src);
    return LF_OK;
}
