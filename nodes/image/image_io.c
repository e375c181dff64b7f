/*
** image_io.c - image files through stb_image / stb_image_write, plus the
** PNG text chunks stb does not write: the encoded PNG is split before its
** IEND chunk and iTXt chunks (with zlib's CRC-32) are inserted there.
** Files are written whole to a temporary name in the target's folder
** (".lcmflow-PID-N.tmp", never the target's own name) and renamed.
*/
#include "image_io.h"
#include "lcmflow/file.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <math.h>
#include <stb_image.h>
#include <stb_image_write.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

static uint32_t get_u32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* The format of image bytes by their signature (LF_IMAGE_UNKNOWN: none
** lcmflow reads; stb_image's other decoders are never reached). */
static enum lf_image_format sniff(const uint8_t *d, size_t n)
{
    if (n >= 8 && !memcmp(d, "\x89PNG\r\n\x1a\n", 8)) return LF_IMAGE_PNG;
    if (n >= 3 && d[0] == 0xff && d[1] == 0xd8 && d[2] == 0xff) return LF_IMAGE_JPEG;
    if (n >= 2 && d[0] == 'B' && d[1] == 'M') return LF_IMAGE_BMP;
    return LF_IMAGE_UNKNOWN;
}

/* Whether the DHT segment at p (after its length field; avail bytes to
** the end of the data) defines at most 256 codes per table, read the way
** stb_image reads it: tables while the declared length L stays positive,
** even past the segment's end (bytes past the data read as 0). */
static bool dht_ok(const uint8_t *p, size_t avail, long L)
{
    size_t at = 0;
    while (L > 0) {
        size_t n = 0;
        for (int i = 1; i <= 16; i++)
            n += at + (size_t)i < avail ? p[at + (size_t)i] : 0;
        if (n > 256) return false;
        at += 17 + n;
        L -= 17 + (long)n;
        if (at >= avail) return true;
    }
    return true;
}

/*
** stb_image 2.27 (Debian 12) writes out of bounds for a JPEG Huffman table
** of more than 256 codes (fixed in 2.28; found by tests/fuzz_image.c).  Every
** FF C4 (DHT) byte pair is checked, wherever it is: stb may meet a marker
** where a walk of the segments would not (after corrupt entropy-coded
** data), and the cost, refusing a file whose other bytes happen to look
** like a bad table, is small.
*/
static bool jpeg_tables_ok(const uint8_t *d, size_t n)
{
    for (size_t i = 0; i + 4 <= n; i++) {
        if (d[i] != 0xff || d[i + 1] != 0xc4) continue;
        long len = (long)d[i + 2] << 8 | d[i + 3];
        if (!dht_ok(d + i + 4, n - (i + 4), len - 2)) return false;
    }
    return true;
}

/* Whether every PNG chunk up to IEND lies inside the data: stb_image
** allocates an IDAT chunk's claimed length before reading it (2 GiB for a
** 100-byte file). */
static bool png_chunks_ok(const uint8_t *d, size_t n)
{
    for (size_t at = 8; at + 8 <= n;) {
        uint32_t len = get_u32(d + at);
        if (len > n - at - 8 || n - at - 8 - len < 4) return false;
        if (!memcmp(d + at + 4, "IEND", 4)) break;
        at += 12 + (size_t)len;
    }
    return true;
}

enum lf_status lf_image_decode(const uint8_t *data, size_t size, const char *name, int *width,
                               int *height, uint8_t **pixels, struct lf_error *err)
{
    int w, h, channels;
    enum lf_image_format format = sniff(data, size);
    *pixels = NULL;
    if (format == LF_IMAGE_UNKNOWN)
        return lf_error_set_at(err, LF_ERR_FORMAT, name, 0, 0, "not a PNG, JPEG or BMP image");
    if (format == LF_IMAGE_PNG && !png_chunks_ok(data, size))
        return lf_error_set_at(err, LF_ERR_FORMAT, name, 0, 0,
                               "corrupt PNG image: a chunk runs past the end of the file");
    if (format == LF_IMAGE_JPEG && !jpeg_tables_ok(data, size))
        return lf_error_set_at(err, LF_ERR_FORMAT, name, 0, 0,
                               "corrupt JPEG image: a Huffman table defines more than 256 codes");
    if (size > INT_MAX || !stbi_info_from_memory(data, (int)size, &w, &h, &channels))
        return lf_error_set_at(err, LF_ERR_FORMAT, name, 0, 0,
                               "not a readable PNG/JPEG/BMP image (%s)",
                               size > INT_MAX ? "too large" : stbi_failure_reason());
    /* The size from the header, checked before any pixel is decoded. */
    if (w < 1 || h < 1 || w > LF_IMAGE_MAX_SIDE || h > LF_IMAGE_MAX_SIDE ||
        (int64_t)w * h > LF_IMAGE_MAX_PIXELS)
        return lf_error_set_at(err, LF_ERR_UNSUPPORTED, name, 0, 0,
                               "image is %dx%d; at most %d pixels a side and %d pixels in all", w,
                               h, LF_IMAGE_MAX_SIDE, LF_IMAGE_MAX_PIXELS);
    unsigned char *px = stbi_load_from_memory(data, (int)size, width, height, &channels, 3);
    if (!px)
        return lf_error_set_at(err, LF_ERR_FORMAT, name, 0, 0,
                               "not a readable PNG/JPEG/BMP image (%s)", stbi_failure_reason());
    *pixels = px; /* stb allocates with malloc */
    return LF_OK;
}

enum lf_status lf_image_load(const char *path, int *width, int *height, uint8_t **pixels,
                             struct lf_error *err)
{
    struct stat sb;
    *pixels = NULL;
    int fd = lf_open_regular(path, "image", err);
    if (fd < 0) return err ? err->code : LF_ERR_IO;
    if (fstat(fd, &sb) != 0 || sb.st_size > LF_IMAGE_MAX_FILE_BYTES) {
        close(fd);
        return lf_error_set_at(err, LF_ERR_UNSUPPORTED, path, 0, 0,
                               "cannot read image: larger than %d MiB",
                               LF_IMAGE_MAX_FILE_BYTES >> 20);
    }
    size_t size = (size_t)sb.st_size, got = 0;
    uint8_t *data = malloc(size + 1);
    while (data && got < size) {
        ssize_t n = read(fd, data + got, size - got);
        if (n <= 0 && !(n < 0 && errno == EINTR)) break;
        got += n > 0 ? (size_t)n : 0;
    }
    int e = errno;
    close(fd);
    if (!data) return lf_error_set(err, LF_ERR_OUT_OF_MEMORY, "out of memory");
    enum lf_status s = got == size ? lf_image_decode(data, size, path, width, height, pixels, err)
                                   : lf_error_set_at(err, LF_ERR_IO, path, 0, 0,
                                                     "cannot read image: %s", strerror(e));
    free(data);
    return s;
}

static void put_u32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
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

enum lf_image_format lf_image_format_of(const char *path)
{
    const char *dot = strrchr(path, '.'), *slash = strrchr(path, '/');
    if (!dot || (slash && dot < slash)) return LF_IMAGE_UNKNOWN;
    if (!strcasecmp(dot, ".png")) return LF_IMAGE_PNG;
    if (!strcasecmp(dot, ".jpg") || !strcasecmp(dot, ".jpeg")) return LF_IMAGE_JPEG;
    if (!strcasecmp(dot, ".bmp")) return LF_IMAGE_BMP;
    return LF_IMAGE_UNKNOWN;
}

/* Appends one iTXt chunk (uncompressed, no language tag) to g. */
static void append_itxt(struct grow *g, const char *key, const char *value)
{
    size_t klen = strlen(key), vlen = strlen(value);
    if (klen == 0 || klen > 79 || vlen > (1u << 30)) {
        g->failed = true;
        return;
    }
    size_t len = klen + 5 + vlen;
    uint8_t *chunk = malloc(len + 12);
    if (!chunk || len + 12 > INT_MAX) {
        free(chunk);
        g->failed = true;
        return;
    }
    put_u32(chunk, (uint32_t)len);
    memcpy(chunk + 4, "iTXt", 4);
    memcpy(chunk + 8, key, klen);
    memset(chunk + 8 + klen, 0, 5); /* NUL, compression flag, method, language NUL, key NUL */
    memcpy(chunk + 8 + klen + 5, value, vlen);
    uLong crc = crc32(0, chunk + 4, (uInt)(len + 4));
    put_u32(chunk + 8 + len, (uint32_t)crc);
    collect(g, chunk, (int)(len + 12));
    free(chunk);
}

/* Encodes pixels as the format into g; PNG text chunks go before IEND. */
static bool encode(enum lf_image_format format, int width, int height, const uint8_t *pixels,
                   const struct lf_image_text *text, size_t text_count, struct grow *g)
{
    if (format == LF_IMAGE_JPEG)
        return stbi_write_jpg_to_func(collect, g, width, height, 3, pixels, 95) && !g->failed;
    if (format == LF_IMAGE_BMP)
        return stbi_write_bmp_to_func(collect, g, width, height, 3, pixels) && !g->failed;
    struct grow png = {0};
    bool ok = stbi_write_png_to_func(collect, &png, width, height, 3, pixels, width * 3) &&
              !png.failed && png.size >= 12 && png.size - 12 <= INT_MAX;
    if (ok) collect(g, png.data, (int)(png.size - 12)); /* everything before IEND */
    for (size_t i = 0; ok && i < text_count; i++)
        append_itxt(g, text[i].key, text[i].value);
    if (ok) collect(g, png.data + png.size - 12, 12);
    free(png.data);
    return ok && !g->failed;
}

/* Opens a fresh temporary file in path's folder, under a short name that is
** never path itself; *tmp is malloc'd (caller frees). */
static int open_temporary(const char *path, char **tmp)
{
    static unsigned counter;
    const char *slash = strrchr(path, '/');
    int dirlen = slash ? (int)(slash - path) + 1 : 0;
    *tmp = malloc((size_t)dirlen + 64);
    if (!*tmp) {
        errno = ENOMEM;
        return -1;
    }
    for (int attempt = 0; attempt < 100; attempt++) {
        snprintf(*tmp, (size_t)dirlen + 64, "%.*s.lcmflow-%ld-%u.tmp", dirlen, path, (long)getpid(),
                 counter++);
        if (!strcmp(*tmp, path)) continue;
        int fd = open(*tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
        if (fd >= 0 || errno != EEXIST) return fd;
    }
    return -1;
}

enum lf_status lf_image_save(const char *path, int width, int height, const uint8_t *pixels,
                             const struct lf_image_text *text, size_t text_count,
                             struct lf_error *err)
{
    enum lf_image_format format = lf_image_format_of(path);
    if (format == LF_IMAGE_UNKNOWN)
        return lf_error_set_at(err, LF_ERR_INVALID, path, 0, 0,
                               "cannot tell the image format: the path must end in .png, .jpg, "
                               ".jpeg or .bmp");
    if (strlen(path) >= PATH_MAX)
        return lf_error_set_at(err, LF_ERR_INVALID, path, 0, 0,
                               "path is %zu bytes long; the limit is %d", strlen(path),
                               PATH_MAX - 1);
    struct grow g = {0};
    if (!encode(format, width, height, pixels, text, text_count, &g)) {
        free(g.data);
        return lf_error_set_at(err, LF_ERR_OUT_OF_MEMORY, path, 0, 0, "cannot encode the image");
    }
    char *tmp;
    int fd = open_temporary(path, &tmp);
    if (fd < 0) {
        int e = errno;
        free(tmp);
        free(g.data);
        return lf_error_set_at(err, LF_ERR_IO, path, 0, 0, "cannot write: %s", strerror(e));
    }
    bool ok = true;
    for (size_t done = 0; ok && done < g.size;) {
        ssize_t n = write(fd, g.data + done, g.size - done);
        ok = n > 0 || (n < 0 && errno == EINTR);
        done += n > 0 ? (size_t)n : 0;
    }
    int e = ok ? 0 : errno;
    if (close(fd) != 0 && ok) ok = false, e = errno;
    if (ok && rename(tmp, path) != 0) ok = false, e = errno;
    if (!ok) remove(tmp);
    free(tmp);
    free(g.data);
    if (!ok) return lf_error_set_at(err, LF_ERR_IO, path, 0, 0, "cannot write: %s", strerror(e));
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
