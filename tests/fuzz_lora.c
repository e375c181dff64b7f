/*
** fuzz_lora.c - libFuzzer harness for the LoRA and name matchers: the
** input is a set of tensor keys, one a line, each optionally followed by a
** shape and a dtype ("lora_unet_out_2.lora_down.weight 4,32,3,3 F32";
** default: no dimensions, F16).  The harness writes them as a safetensors
** file in memory (zero-filled data) and runs:
**   - the LoRA reader (sd_lora_read: key spellings, grouping, checks), then
**     the matcher (sd_lora_match) against the tiny model's UNet and text
**     encoder, and the `lcmflow info` description;
**   - the name table both ways on every key (sd_names.h), UNet and VAE,
**     each name mapped there and back is stable;
**   - the architecture readers (sd_arch_read_*), the checkpoint loader's
**     tensor check (sd_arch_check.h) and the diffusers name table on the
**     key set taken as a checkpoint.
** The tiny model's weights are names and shapes only: the tensor functions
** below stand in for a device (nothing is computed).  Built when meson
** option `fuzz` is true (clang only); see tests/fuzz/README.md.
*/
#include "sd_arch_check.h"
#include "sd_lora.h"
#include "sd_names.h"

#include "lcmflow/ops.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* ---- tensors without a device: shape only ---- */

enum lf_status lf_tensor_create(struct lf_device *device, enum lf_dtype dtype, int rank,
                                const int64_t *shape, struct lf_tensor **out, struct lf_error *err)
{
    (void)err;
    struct lf_tensor *t = calloc(1, sizeof *t);
    if (!t || rank > LF_TENSOR_MAX_RANK) abort();
    t->dtype = dtype, t->rank = rank, t->device = device, t->refcount = 1;
    memcpy(t->shape, shape, (size_t)rank * sizeof *shape);
    *out = t;
    return LF_OK;
}
enum lf_status lf_tensor_upload(struct lf_tensor *t, const void *data, size_t bytes,
                                struct lf_error *err)
{
    (void)t, (void)data, (void)bytes, (void)err;
    return LF_OK;
}
enum lf_status lf_tensor_upload_f32(struct lf_tensor *t, const float *data, int64_t count,
                                    struct lf_error *err)
{
    (void)t, (void)data, (void)count, (void)err;
    return LF_OK;
}
enum lf_status lf_safetensors_tensor_upload(const struct lf_safetensors *st,
                                            const struct lf_safetensors_tensor *t,
                                            struct lf_tensor *tensor, struct lf_error *err)
{
    (void)st, (void)t, (void)tensor, (void)err;
    return LF_OK;
}
bool lf_tensor_prepare_weight(struct lf_tensor *t)
{
    (void)t;
    return false;
}
size_t lf_tensor_nbytes(const struct lf_tensor *t)
{
    size_t n = 2;
    for (int i = 0; i < t->rank; i++)
        n *= (size_t)t->shape[i];
    return n;
}
struct lf_tensor *lf_tensor_retain(struct lf_tensor *t)
{
    if (t) t->refcount++;
    return t;
}
void lf_tensor_release(struct lf_tensor *t)
{
    if (t && --t->refcount == 0) free(t);
}

/* Merging (sd_lora_apply) and uploading LoRA tensors (a device) never run. */
enum lf_status lf_tensor_reshape(struct lf_tensor *tensor, int rank, const int64_t *shape,
                                 struct lf_tensor **out, struct lf_error *err)
{
    abort();
}
enum lf_status lf_tensor_from_f32(struct lf_device *device, enum lf_dtype dtype, int rank,
                                  const int64_t *shape, const float *data, struct lf_tensor **out,
                                  struct lf_error *err)
{
    abort();
}
enum lf_status lf_op_lora_merge(struct lf_tensor *weight, struct lf_tensor *up,
                                struct lf_tensor *down, float scale, struct lf_error *err)
{
    abort();
}
enum lf_status lf_op_cast(struct lf_tensor *x, enum lf_dtype dtype, struct lf_tensor **out,
                          struct lf_error *err)
{
    abort();
}
enum lf_status lf_op_copy(struct lf_tensor *dst, struct lf_tensor *src, struct lf_error *err)
{
    abort();
}
bool lf_tensor_is_exclusive(const struct lf_tensor *t)
{
    abort();
}
size_t lf_dtype_size(enum lf_dtype dtype)
{
    abort();
}
uint16_t lf_f32_to_f16(float value)
{
    abort();
}
uint16_t lf_f32_to_bf16(float value)
{
    abort();
}

/* ---- a safetensors file in memory ---- */

struct key {
    const char *name;
    size_t len;
    int rank;
    int64_t shape[4];
    const char *dtype;
    size_t bytes;
};

/* Appends s to the growing buffer *buf (abort on no memory: not under test). */
static void put(char **buf, size_t *len, size_t *cap, const char *s, size_t n)
{
    if (*len + n + 1 > *cap) {
        *cap = (*len + n + 1) * 2;
        if (!(*buf = realloc(*buf, *cap))) abort();
    }
    memcpy(*buf + *len, s, n);
    *len += n;
    (*buf)[*len] = '\0';
}

/* A buffer that is all zeros beyond what its user wrote (who zeroes that
** again): the inputs' files come from here, so that a large zero-filled
** data section costs nothing per input. */
struct zeros {
    char *p;
    size_t cap;
};

/* The file of keys[0..n), zero-filled data after the header, in z;
** *header: the bytes written (to zero again after use). */
static char *file_of(const struct key *keys, size_t n, struct zeros *z, size_t *size,
                     size_t *header)
{
    char *h = NULL, tmp[160];
    size_t len = 0, cap = 0, offset = 0;
    put(&h, &len, &cap, "{", 1);
    for (size_t i = 0; i < n; i++) {
        put(&h, &len, &cap, i ? ",\"" : "\"", i ? 2 : 1);
        for (size_t k = 0; k < keys[i].len; k++) {
            unsigned char c = (unsigned char)keys[i].name[k];
            int m = c == '"' || c == '\\' ? snprintf(tmp, sizeof tmp, "\\%c", c)
                    : c < 0x20            ? snprintf(tmp, sizeof tmp, "\\u%04x", c)
                                          : snprintf(tmp, sizeof tmp, "%c", c);
            put(&h, &len, &cap, tmp, (size_t)m);
        }
        int m = snprintf(tmp, sizeof tmp, "\":{\"dtype\":\"%s\",\"shape\":[", keys[i].dtype);
        put(&h, &len, &cap, tmp, (size_t)m);
        for (int d = 0; d < keys[i].rank; d++) {
            m = snprintf(tmp, sizeof tmp, "%s%lld", d ? "," : "", (long long)keys[i].shape[d]);
            put(&h, &len, &cap, tmp, (size_t)m);
        }
        m = snprintf(tmp, sizeof tmp, "],\"data_offsets\":[%zu,%zu]}", offset,
                     offset + keys[i].bytes);
        put(&h, &len, &cap, tmp, (size_t)m);
        offset += keys[i].bytes;
    }
    put(&h, &len, &cap, "}", 1);
    while (len % 8)
        put(&h, &len, &cap, " ", 1);
    *size = 8 + len + offset;
    if (*size > z->cap) {
        if (!(z->p = realloc(z->p, *size))) abort();
        memset(z->p + z->cap, 0, *size - z->cap);
        z->cap = *size;
    }
    for (int b = 0; b < 8; b++)
        z->p[b] = (char)(((uint64_t)len >> (8 * b)) & 0xff);
    memcpy(z->p + 8, h, len);
    free(h);
    *header = 8 + len;
    return z->p;
}

static size_t dtype_size(const char *dtype)
{
    if (!strcmp(dtype, "F32") || !strcmp(dtype, "I32")) return 4;
    if (!strcmp(dtype, "F16") || !strcmp(dtype, "BF16") || !strcmp(dtype, "I16")) return 2;
    if (!strcmp(dtype, "I64") || !strcmp(dtype, "F64")) return 8;
    return 1; /* U8, I8, BOOL and anything the parser refuses */
}

/* ---- the tiny model's UNet and text encoder ---- */

static struct sd_weights *unet, *clip;
static struct sd_names unet_names, vae_names;
static struct zeros model_file; /* the tiny model's, borrowed by the weights */
static struct zeros input_file;
static bool verbose; /* FUZZ_LORA_VERBOSE set: print what each input matched */

struct model_keys {
    struct key *keys;
    size_t count, cap;
};

static void collect(const struct sd_arch_tensor *t, void *user)
{
    struct model_keys *m = user;
    if (m->count == m->cap) {
        m->cap = m->cap ? 2 * m->cap : 512;
        if (!(m->keys = realloc(m->keys, m->cap * sizeof *m->keys))) abort();
    }
    struct key *k = &m->keys[m->count++];
    char *name = strdup(t->name);
    if (!name) abort();
    *k = (struct key){name, strlen(name), t->rank, {0}, "F16", 2};
    memcpy(k->shape, t->shape, sizeof k->shape);
    for (int d = 0; d < t->rank; d++)
        k->bytes *= (size_t)t->shape[d];
}

static bool strip_prefix(const char *file_name, char *out, void *prefix)
{
    size_t n = strlen(prefix);
    if (strncmp(file_name, prefix, n) || strlen(file_name + n) >= 256) return false;
    strcpy(out, file_name + n);
    return true;
}

static struct sd_weights *component(struct sd_file *file, const char *prefix)
{
    struct sd_weights *w;
    struct lf_error err = {0};
    if (sd_weights_create(NULL, LF_DTYPE_F16, &w, &err) ||
        sd_weights_add_file(w, file, strip_prefix, (void *)prefix, &err)) {
        fprintf(stderr, "fuzz-lora: %s\n", err.message);
        abort();
    }
    return w;
}

static void free_model(void)
{
    sd_weights_release(unet);
    sd_weights_release(clip);
    sd_names_clear(&unet_names);
    sd_names_clear(&vae_names);
    free(model_file.p);
    free(input_file.p);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    verbose = getenv("FUZZ_LORA_VERBOSE") != NULL;
    struct model_keys m = {0};
    sd_arch_each(&sd_arch_tiny, collect, &m);
    size_t size, header;
    char *bytes = file_of(m.keys, m.count, &model_file, &size, &header);
    for (size_t i = 0; i < m.count; i++)
        free((char *)m.keys[i].name);
    free(m.keys);
    struct sd_file *file = calloc(1, sizeof *file);
    struct lf_error err = {0};
    if (!file ||
        lf_safetensors_open_buffer(bytes, size, "tiny.safetensors", &file->st, &err) != LF_OK ||
        sd_names_unet(&sd_arch_tiny.unet, &unet_names, &err) != LF_OK ||
        sd_names_vae(&sd_arch_tiny.vae, &vae_names, &err) != LF_OK) {
        fprintf(stderr, "fuzz-lora: %s\n", err.message);
        abort();
    }
    file->refcount = 1;
    unet = component(file, SD_LDM_UNET_PREFIX);
    clip = component(file, SD_LDM_CLIP_PREFIX);
    sd_file_release(file); /* the weights hold it */
    atexit(free_model);
    return 0;
}

/* ---- one input ---- */

#define MAX_DATA ((size_t)64 << 20) /* bytes of data in one input's file */

/* "name[ d0,d1,...[ DTYPE]]" -> key; false for a line too odd to use. */
static bool parse_line(char *line, struct key *k)
{
    *k = (struct key){line, strlen(line), 0, {0}, "F16", 2};
    char *sp = strchr(line, ' ');
    if (!sp) return k->len > 0;
    *sp = '\0';
    k->len = (size_t)(sp - line);
    char *dims = sp + 1, *dtype = strchr(dims, ' ');
    if (dtype) {
        *dtype++ = '\0';
        if (strlen(dtype) > 8) return false;
        k->dtype = dtype;
    }
    k->bytes = dtype_size(k->dtype);
    for (char *p = dims; *p;) {
        char *end;
        long long v = strtoll(p, &end, 10);
        if (end == p || k->rank == 4 || v < 0 || v > 4096) return false;
        k->shape[k->rank++] = v;
        k->bytes *= (size_t)v;
        if (k->bytes > (1u << 20)) return false; /* zero-filled: keep it small */
        p = *end == ',' ? end + 1 : end;
        if (*end && *end != ',') return false;
    }
    return k->len > 0;
}

static void check_report(const struct sd_lora *lora, const struct sd_lora_report *r)
{
    if (r->modules != lora->count || r->matched_unet + r->matched_clip > r->modules ||
        r->matched_ldm + r->matched_diffusers != r->matched_unet ||
        r->matched_unet + r->matched_clip == 0 || (r->warning != NULL) != (r->unmatched > 0) ||
        r->unmatched != r->modules - r->matched_unet - r->matched_clip + lora->ignored_count)
        abort();
}

static void match(const struct lf_safetensors *st)
{
    struct sd_lora *lora;
    struct lf_error err = {0};
    char text[2048];
    if (sd_lora_read(NULL, st, &lora, &err) != LF_OK) {
        if (!err.message[0] || lora) abort();
        if (verbose) fprintf(stderr, "%s\n", err.message);
        return;
    }
    if (lora->count == 0 || lora->min_rank > lora->max_rank) abort();
    struct sd_lora_report rep;
    if (sd_lora_match(lora, unet, clip, &rep, &err) == LF_OK) {
        check_report(lora, &rep);
        sd_lora_describe(lora, &rep, text, sizeof text);
        if (verbose) fprintf(stderr, "%s\n", text);
        sd_lora_report_clear(&rep);
    } else if (!err.message[0]) {
        abort();
    } else if (verbose) {
        fprintf(stderr, "%s\n", err.message);
    }
    sd_lora_describe(lora, NULL, text, sizeof text);
    if (!memchr(text, '\0', sizeof text)) abort();
    sd_lora_release(lora);
}

/* A name that maps one way maps back, and the name it maps back to maps
** the same way again (members the non-strict tables do not list keep their
** names, so two LDM spellings may share one diffusers name). */
static void names(const struct sd_names *t, const char *name)
{
    char out[256], back[256], again[256];
    if (sd_names_to_diffusers(t, name, out) &&
        (!sd_names_to_ldm(t, out, back) || !sd_names_to_diffusers(t, back, again) ||
         strcmp(again, out) != 0))
        abort();
    if (sd_names_to_ldm(t, name, out) &&
        (!sd_names_to_diffusers(t, out, back) || !sd_names_to_ldm(t, back, again) ||
         strcmp(again, out) != 0))
        abort();
}

/* The checkpoint loader's check of each component found (sd_arch_check.h):
** its counts add up, and it refuses exactly when something is wrong. */
static void audit(const struct sd_arch *arch, const struct sd_file_view *view)
{
    bool found[SD_COMPONENT_COUNT] = {arch->unet.found, arch->vae.found, arch->text.found};
    for (int c = 0; c < SD_COMPONENT_COUNT; c++) {
        if (!found[c]) continue;
        struct sd_arch_audit a;
        struct lf_error err = {0};
        sd_arch_audit_component(arch, (enum sd_component)c, view, &a);
        int64_t bad = a.missing + a.misshaped + a.wrong_dtype;
        if (a.out_of_memory || bad > a.expected ||
            a.unexpected > (int64_t)lf_safetensors_count(view->st) ||
            a.problem_count != (bad < SD_ARCH_AUDIT_LIST ? bad : SD_ARCH_AUDIT_LIST))
            abort();
        enum lf_status s = sd_arch_check(arch, (enum sd_component)c, view, &err);
        if ((s != LF_OK) != (bad > 0) || (s && !err.message[0])) abort();
    }
}

/* The key set as a checkpoint: the readers never fail, they describe. */
static void as_checkpoint(const struct lf_safetensors *st)
{
    struct sd_arch arch;
    struct sd_file_view view = {st, "", NULL};
    sd_arch_read_unet(sd_file_view_lookup, &view, &arch.unet);
    sd_arch_read_text(sd_file_view_lookup, &view, 0, &arch.text);
    sd_arch_read_vae(sd_file_view_lookup, &view, &arch.vae);
    audit(&arch, &view);
    for (int unet_part = 0; unet_part < 2; unet_part++) {
        struct sd_names t = {0};
        struct lf_error err = {0};
        if (sd_names_of_diffusers_file(st, unet_part, &t, &err) != LF_OK) {
            if (!err.message[0]) abort();
            continue;
        }
        view.names = &t;
        if (unet_part)
            sd_arch_read_unet(sd_file_view_lookup, &view, &arch.unet);
        else
            sd_arch_read_vae(sd_file_view_lookup, &view, &arch.vae);
        sd_names_clear(&t);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);
    struct key *keys = calloc(size / 2 + 1, sizeof *keys);
    if (!text || !keys) abort();
    memcpy(text, data, size);
    text[size] = '\0';
    size_t n = 0, total = 0;
    for (char *line = text, *next; line && *line; line = next) {
        next = strchr(line, '\n');
        if (next) *next++ = '\0';
        if (!parse_line(line, &keys[n]) || (total += keys[n].bytes) > MAX_DATA) continue;
        names(&unet_names, keys[n].name);
        names(&vae_names, keys[n].name);
        sd_names_unet_naming(keys[n].name);
        size_t module_len;
        const struct sd_lora_spelling *sp = sd_lora_key_spelling(keys[n].name, &module_len);
        if (sp && module_len >= keys[n].len) abort();
        sd_lora_module_part(keys[n].name, NULL);
        n++;
    }
    size_t file_size, header;
    char *file = file_of(keys, n, &input_file, &file_size, &header);
    struct lf_safetensors *st;
    struct lf_error err = {0};
    if (lf_safetensors_open_buffer(file, file_size, "fuzz-lora.safetensors", &st, &err) == LF_OK) {
        match(st);
        as_checkpoint(st);
        lf_safetensors_close(st);
    }
    memset(file, 0, header);
    free(keys);
    free(text);
    return 0;
}
