/*
** safetensors.h - reading and writing .safetensors files.
**
** The format: an 8-byte little-endian header length N, N bytes of JSON
** ({"__metadata__": {string: string}?, name: {"dtype", "shape",
** "data_offsets": [begin, end]}, ...}), then the raw little-endian tensor
** data; offsets count from the end of the header.
**
** The reader memory-maps the file and validates the whole header before
** handing anything out, with the rules of the format's reference
** implementation: header length within the file and at most 100 MB,
** well-formed JSON, known dtypes, shape x dtype size == byte range (computed
** with overflow checks), ranges inside the data section, tensors contiguous
** with no gaps or overlaps and covering the data section exactly, unique
** names, and `__metadata__` values that are strings.  Any violation is an
** LF_ERR_FORMAT error naming the file and the offending tensor.
**
**     struct lf_safetensors *st;
**     if (lf_safetensors_open("model.safetensors", &st, &err) != LF_OK) ...
**     for (size_t i = 0; i < lf_safetensors_count(st); i++) {
**         const struct lf_safetensors_tensor *t = lf_safetensors_tensor_at(st, i);
**         ... t->name, t->dtype, t->rank, t->shape, t->data, t->nbytes ...
**     }
**     lf_safetensors_close(st);
**
** The writer collects named tensors from host memory plus metadata strings
** and writes them to a temporary name in the target's folder, then renames
** it into place, so a reader never sees a half-written file.
*/
#ifndef LCMFLOW_SAFETENSORS_H
#define LCMFLOW_SAFETENSORS_H

#include "lcmflow/error.h"
#include "lcmflow/tensor.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The reference implementation's cap on the JSON header. */
#define LF_SAFETENSORS_MAX_HEADER ((uint64_t)100 * 1000 * 1000)

/* Every dtype a file may carry.  Loaders skip those lcmflow has no
** enum lf_dtype for (I64 position ids, F64 DDPM buffers, ...). */
enum lf_st_dtype {
    LF_ST_DTYPE_BOOL = 0,
    LF_ST_DTYPE_U8,
    LF_ST_DTYPE_I8,
    LF_ST_DTYPE_F8_E5M2,
    LF_ST_DTYPE_F8_E4M3,
    LF_ST_DTYPE_I16,
    LF_ST_DTYPE_U16,
    LF_ST_DTYPE_F16,
    LF_ST_DTYPE_BF16,
    LF_ST_DTYPE_I32,
    LF_ST_DTYPE_U32,
    LF_ST_DTYPE_F32,
    LF_ST_DTYPE_I64,
    LF_ST_DTYPE_U64,
    LF_ST_DTYPE_F64,
    LF_ST_DTYPE_COUNT
};

/* The file's spelling ("F16", "BF16", ...); "?" for a value out of range. */
const char *lf_st_dtype_name(enum lf_st_dtype dtype);
/* Bytes per element; 0 for a value out of range. */
size_t lf_st_dtype_size(enum lf_st_dtype dtype);
/* Looks up a file spelling; false when unknown. */
bool lf_st_dtype_parse(const char *name, enum lf_st_dtype *out);
/* The matching lcmflow dtype; false when lcmflow has none (I64, F64, ...). */
bool lf_st_dtype_to_lf(enum lf_st_dtype dtype, enum lf_dtype *out);
enum lf_st_dtype lf_st_dtype_from_lf(enum lf_dtype dtype);

/* One tensor of an open file.  Every pointer is borrowed, valid until
** lf_safetensors_close(). */
struct lf_safetensors_tensor {
    const char *name;
    enum lf_st_dtype st_dtype; /* the dtype as stored */
    bool has_dtype;            /* whether `dtype` is meaningful */
    enum lf_dtype dtype;       /* lcmflow's dtype for st_dtype, if any */
    int rank;                  /* 0 for a scalar */
    const int64_t *shape;      /* rank entries */
    int64_t numel;
    /* The bytes in the mapped file.  Not necessarily aligned to the element
    ** size (a header length that is not a multiple of 8 shifts everything):
    ** copy with memcpy or use lf_safetensors_tensor_to_f32(). */
    const void *data;
    size_t nbytes;
    uint64_t offset; /* bytes from the start of the data section */
};

struct lf_safetensors; /* an open file */

/* Maps and validates the file at path.  On success *out is the open file,
** caller frees with lf_safetensors_close(); on failure *out is NULL. */
enum lf_status lf_safetensors_open(const char *path, struct lf_safetensors **out,
                                   struct lf_error *err);

/* The same over bytes already in memory (fuzzing, embedded data).  data is
** borrowed and must outlive the result; name is copied and used in errors. */
enum lf_status lf_safetensors_open_buffer(const void *data, size_t size, const char *name,
                                          struct lf_safetensors **out, struct lf_error *err);

void lf_safetensors_close(struct lf_safetensors *st); /* NULL allowed */

/* The path (or buffer name) given at open; borrowed. */
const char *lf_safetensors_path(const struct lf_safetensors *st);

/* Tensors in the order of their data (ascending offset). */
size_t lf_safetensors_count(const struct lf_safetensors *st);
const struct lf_safetensors_tensor *lf_safetensors_tensor_at(const struct lf_safetensors *st,
                                                             size_t index);

/* Finds a tensor by exact name; NULL when absent. */
const struct lf_safetensors_tensor *lf_safetensors_find(const struct lf_safetensors *st,
                                                        const char *name);

/* Like lf_safetensors_find, but absence is LF_ERR_NOT_FOUND naming the file
** and the tensor. */
enum lf_status lf_safetensors_get(const struct lf_safetensors *st, const char *name,
                                  const struct lf_safetensors_tensor **out, struct lf_error *err);

/* `__metadata__` entries, in file order.  Strings borrowed until close. */
size_t lf_safetensors_metadata_count(const struct lf_safetensors *st);
void lf_safetensors_metadata_at(const struct lf_safetensors *st, size_t index, const char **key,
                                const char **value);
/* The value for key, or NULL. */
const char *lf_safetensors_metadata_get(const struct lf_safetensors *st, const char *key);

/* Converts an F32, F16 or BF16 tensor to floats; count must equal numel.
** Other dtypes are LF_ERR_UNSUPPORTED naming the file and tensor. */
enum lf_status lf_safetensors_tensor_to_f32(const struct lf_safetensors *st,
                                            const struct lf_safetensors_tensor *tensor, float *dst,
                                            int64_t count, struct lf_error *err);

/* Copies size bytes of tensor t, from byte offset on, into dst.  An opened
** file is read with pread, not through the mapping: in a VM, reading the
** page cache through a mapping was measured 3-4x slower (a TLB miss per
** 4 KiB page).  A file cut short since it was opened is an LF_ERR_IO
** naming it. */
enum lf_status lf_safetensors_read(const struct lf_safetensors *st,
                                   const struct lf_safetensors_tensor *t, size_t offset, void *dst,
                                   size_t size, struct lf_error *err);

/* Reads an F32, F16 or BF16 tensor into a device tensor of as many
** elements and a float dtype, converting as lf_tensor_upload_convert does
** (safetensors_upload.c). */
enum lf_status lf_safetensors_tensor_upload(const struct lf_safetensors *st,
                                            const struct lf_safetensors_tensor *t,
                                            struct lf_tensor *tensor, struct lf_error *err);

/* ---- writer ---- */

struct lf_safetensors_writer;

/* Caller frees with lf_safetensors_writer_free(). */
enum lf_status lf_safetensors_writer_create(struct lf_safetensors_writer **out,
                                            struct lf_error *err);
void lf_safetensors_writer_free(struct lf_safetensors_writer *writer); /* NULL allowed */

/* Adds a tensor.  name and shape are copied; data is borrowed and must stay
** valid until lf_safetensors_writer_write() returns.  nbytes must equal
** numel(shape) x dtype size; names must be unique and not "__metadata__". */
enum lf_status lf_safetensors_writer_add(struct lf_safetensors_writer *writer, const char *name,
                                         enum lf_st_dtype dtype, int rank, const int64_t *shape,
                                         const void *data, size_t nbytes, struct lf_error *err);

/* Sets a `__metadata__` entry (copied; a second call for a key replaces it). */
enum lf_status lf_safetensors_writer_set_metadata(struct lf_safetensors_writer *writer,
                                                  const char *key, const char *value,
                                                  struct lf_error *err);

/* Writes the file: tensors ordered by (dtype size descending, name) as the
** reference implementation does, header space-padded to a multiple of 8.
** The data goes to a temporary file in path's folder that is renamed onto
** path once complete; on failure path is untouched.  The writer may be
** written again or freed afterwards. */
enum lf_status lf_safetensors_writer_write(struct lf_safetensors_writer *writer, const char *path,
                                           struct lf_error *err);

#endif
