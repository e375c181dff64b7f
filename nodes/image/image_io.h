/*
** image_io.h - reading PNG/JPEG/BMP images; writing PNGs with text chunks,
** JPEGs and BMPs.
**
** Pixels are 8-bit RGB, row-major, no padding.  Files are written to a
** temporary name in the target folder and renamed, so an interrupted write
** never leaves a broken file under the final name.
*/
#ifndef LCMFLOW_IMAGE_IO_H
#define LCMFLOW_IMAGE_IO_H

#include "lcmflow/error.h"
#include "lcmflow/tensor.h"

#include <stddef.h>
#include <stdint.h>

/* Limits on images read: the size in the header is checked against them
** before any pixel is decoded (a 20-byte PNG can claim 4 billion pixels). */
#define LF_IMAGE_MAX_SIDE       16384
#define LF_IMAGE_MAX_PIXELS     (1 << 26) /* 8192 x 8192 */
#define LF_IMAGE_MAX_FILE_BYTES (1 << 30)

/* Loads path (a regular file) as RGB (alpha dropped, grey expanded).
** *pixels is malloc'd; caller frees.  Errors name the file and what is
** wrong (missing, not a regular file, not an image, truncated, too large). */
enum lf_status lf_image_load(const char *path, int *width, int *height, uint8_t **pixels,
                             struct lf_error *err);

/* The same from the file's bytes in memory; name is used in messages. */
enum lf_status lf_image_decode(const uint8_t *data, size_t size, const char *name, int *width,
                               int *height, uint8_t **pixels, struct lf_error *err);

struct lf_image_text {
    const char *key;   /* Latin-1 keyword, 1..79 bytes */
    const char *value; /* stored as an iTXt chunk (UTF-8) */
};

/* The format a save path's extension names (case-insensitive): .png, .jpg or
** .jpeg, .bmp; LF_IMAGE_UNKNOWN for anything else (refused by lf_image_save). */
enum lf_image_format { LF_IMAGE_UNKNOWN, LF_IMAGE_PNG, LF_IMAGE_JPEG, LF_IMAGE_BMP };
enum lf_image_format lf_image_format_of(const char *path);

/* Writes RGB pixels in the format path's extension names: PNG with the
** given text chunks, JPEG (quality 95) or BMP, which carry no text.  Any
** other extension, and a path of PATH_MAX bytes or more, is LF_ERR_INVALID
** naming the path; nothing is written then. */
enum lf_status lf_image_save(const char *path, int width, int height, const uint8_t *pixels,
                             const struct lf_image_text *text, size_t text_count,
                             struct lf_error *err);

/* Reads back the text chunks of a PNG: calls fn for each (tEXt and iTXt). */
typedef void (*lf_image_text_fn)(const char *key, const char *value, void *user);
enum lf_status lf_image_read_png_text(const char *path, lf_image_text_fn fn, void *user,
                                      struct lf_error *err);

/* Nearest-neighbour resize of RGB pixels (caller frees *out). */
enum lf_status lf_image_resize(const uint8_t *pixels, int width, int height, int out_width,
                               int out_height, uint8_t **out, struct lf_error *err);

/* IMAGE values ([B, H, W, 3] f32 in [0, 1]) <-> 8-bit RGB.  8-bit pixels
** follow the reference: round(clamp(x, 0, 1) * 255), half to even. */
uint8_t lf_image_quantize(float v);

/* 8-bit RGB rows -> IMAGE [1, H, W, 3] on device (caller releases). */
enum lf_status lf_image_from_rgb8(struct lf_device *device, const uint8_t *pixels, int width,
                                  int height, struct lf_tensor **image, struct lf_error *err);

/* One batch item of an IMAGE -> 8-bit RGB (malloc'd, caller frees). */
enum lf_status lf_image_to_rgb8(struct lf_tensor *image, int64_t index, uint8_t **pixels,
                                struct lf_error *err);

#endif
