/*
** safetensors_upload.c - a file tensor into a device tensor: read in
** stretches (lf_safetensors_read) and converted by the device
** (lf_tensor_upload_convert).  Apart from safetensors.c so that the file
** reader links without the device code (the fuzz harnesses).
*/
#include "lcmflow/safetensors.h"

#include <stdlib.h>

/* Bytes per read: small enough to stay in cache between the read and the
** conversion, large enough that a call costs little. */
#define STRETCH ((size_t)1 << 20)

enum lf_status lf_safetensors_tensor_upload(const struct lf_safetensors *st,
                                            const struct lf_safetensors_tensor *t,
                                            struct lf_tensor *tensor, struct lf_error *err)
{
    if (!t->has_dtype ||
        (t->dtype != LF_DTYPE_F32 && t->dtype != LF_DTYPE_F16 && t->dtype != LF_DTYPE_BF16))
        return lf_error_set_at(err, LF_ERR_UNSUPPORTED, lf_safetensors_path(st), 0, 0,
                               "tensor '%s' is %s, not a float tensor", t->name,
                               lf_st_dtype_name(t->st_dtype));
    if (t->numel != lf_tensor_numel(tensor))
        return lf_error_set_at(err, LF_ERR_INVALID, lf_safetensors_path(st), 0, 0,
                               "tensor '%s' has %lld elements, not %lld", t->name,
                               (long long)t->numel, (long long)lf_tensor_numel(tensor));
    size_t size = lf_dtype_size(t->dtype), per = STRETCH / size;
    unsigned char *buf = malloc(STRETCH);
    if (!buf) return lf_error_set(err, LF_ERR_OUT_OF_MEMORY, "out of host memory");
    enum lf_status s = LF_OK;
    for (int64_t done = 0; done < t->numel && !s;) {
        int64_t m = t->numel - done < (int64_t)per ? t->numel - done : (int64_t)per;
        s = lf_safetensors_read(st, t, (size_t)done * size, buf, (size_t)m * size, err);
        if (!s) s = lf_tensor_upload_convert(tensor, done, buf, t->dtype, m, err);
        done += m;
    }
    free(buf);
    return s;
}
