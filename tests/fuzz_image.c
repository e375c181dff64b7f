/*
** fuzz_image.c - libFuzzer harness for LoadImage's decoders: every input
** goes through lf_image_decode (stb_image's PNG, JPEG, BMP, ... after the
** header's size is checked against the limits).  A decoded image must have
** the size its header claimed, within the limits, and every pixel is read.
** Built when meson option `fuzz` is true (clang only); see
** tests/fuzz/README.md.  stb_image's decoders are compiled into the
** harness as into lcmflow (nodes/image/stb_decoders.c: assertions off), so
** they are instrumented too.
*/
#include "image_io.h"

#include <stdint.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* image_io.c's device conversions are never called here. */
enum lf_status lf_tensor_from_f32(struct lf_device *device, enum lf_dtype dtype, int rank,
                                  const int64_t *shape, const float *data, struct lf_tensor **out,
                                  struct lf_error *err)
{
    abort();
}
enum lf_status lf_tensor_download_f32_alloc(struct lf_tensor *t, float **out, struct lf_error *err)
{
    abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct lf_error err = {0};
    int w = 0, h = 0;
    uint8_t *px;
    if (lf_image_decode(data, size, "fuzz-input", &w, &h, &px, &err) != LF_OK) {
        if (err.message[0] == '\0' || px) abort();
        return 0;
    }
    if (w < 1 || h < 1 || w > LF_IMAGE_MAX_SIDE || h > LF_IMAGE_MAX_SIDE ||
        (int64_t)w * h > LF_IMAGE_MAX_PIXELS)
        abort();
    volatile unsigned sink = 0;
    for (size_t i = 0; i < (size_t)w * (size_t)h * 3; i++)
        sink += px[i];
    (void)sink;
    free(px);
    return 0;
}
