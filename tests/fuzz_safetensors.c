/*
** fuzz_safetensors.c - libFuzzer harness for the safetensors header parser.
**
** Every input is opened as an in-memory file; when it validates, every
** tensor's bytes, shape and name lookup and every metadata string are
** touched, so that a validation gap shows up under AddressSanitizer as a
** read outside the input.  Built when meson option `fuzz` is true (clang
** only); see tests/fuzz/README.md for the short and the long run.
*/
#include "lcmflow/safetensors.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct lf_error err = {0};
    struct lf_safetensors *st;
    if (lf_safetensors_open_buffer(data, size, "fuzz-input", &st, &err) != LF_OK) {
        /* A refusal must say why. */
        if (err.message[0] == '\0') abort();
        return 0;
    }
    volatile unsigned sink = 0;
    for (size_t i = 0; i < lf_safetensors_count(st); i++) {
        const struct lf_safetensors_tensor *t = lf_safetensors_tensor_at(st, i);
        const uint8_t *p = t->data;
        if (p < data || p + t->nbytes > data + size) abort();
        for (size_t b = 0; b < t->nbytes; b++)
            sink += p[b];
        for (int d = 0; d < t->rank; d++)
            sink += (unsigned)t->shape[d];
        if (lf_safetensors_find(st, t->name) != t) abort();
        if (t->st_dtype == LF_ST_DTYPE_F32 || t->st_dtype == LF_ST_DTYPE_F16 ||
            t->st_dtype == LF_ST_DTYPE_BF16) {
            float *f = malloc(((size_t)t->numel + 1) * sizeof *f);
            if (f && lf_safetensors_tensor_to_f32(st, t, f, t->numel, &err) != LF_OK) abort();
            free(f);
        }
    }
    for (size_t i = 0; i < lf_safetensors_metadata_count(st); i++) {
        const char *k, *v;
        lf_safetensors_metadata_at(st, i, &k, &v);
        sink += (unsigned)strlen(k) + (unsigned)strlen(v);
    }
    (void)sink;
    lf_safetensors_close(st);
    return 0;
}
