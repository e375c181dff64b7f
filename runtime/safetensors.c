/*
** safetensors.c - the .safetensors reader: map, validate the header
** completely, then hand out borrowed views of the tensors.
**
** Validation follows the format's reference implementation (see
** safetensors.h).  Nothing in the header is trusted before it has been
** checked: every length is bounded, every product is overflow-checked, and
** every tensor range is proved to lie inside the data section and to tile
** it exactly before a pointer into the mapping is formed.
*/
#include "lcmflow/safetensors.h"
#include "lcmflow/file.h"

#include <json-c/json.h>

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

struct lf_safetensors {
    char *path;
    void *map; /* NULL when opened over a caller's buffer */
    int fd;    /* the file, for lf_safetensors_read; -1 over a buffer */
    size_t map_size;
    const unsigned char *data; /* start of the data section */
    size_t data_size;
    struct json_object *root;              /* owns every name and metadata string */
    struct lf_safetensors_tensor *tensors; /* ascending data offset */
    size_t count;
    int64_t *shapes;                              /* every tensor's shape, back to back */
    const struct lf_safetensors_tensor **by_name; /* sorted by name, for lookup */
    const char **meta_keys;
    const char **meta_values;
    size_t meta_count;
};

/* {======== dtypes */

static const struct {
    const char *name;
    size_t size;
} dtype_table[LF_ST_DTYPE_COUNT] = {
    [LF_ST_DTYPE_BOOL] = {"BOOL", 1},       [LF_ST_DTYPE_U8] = {"U8", 1},
    [LF_ST_DTYPE_I8] = {"I8", 1},           [LF_ST_DTYPE_F8_E5M2] = {"F8_E5M2", 1},
    [LF_ST_DTYPE_F8_E4M3] = {"F8_E4M3", 1}, [LF_ST_DTYPE_I16] = {"I16", 2},
    [LF_ST_DTYPE_U16] = {"U16", 2},         [LF_ST_DTYPE_F16] = {"F16", 2},
    [LF_ST_DTYPE_BF16] = {"BF16", 2},       [LF_ST_DTYPE_I32] = {"I32", 4},
    [LF_ST_DTYPE_U32] = {"U32", 4},         [LF_ST_DTYPE_F32] = {"F32", 4},
    [LF_ST_DTYPE_I64] = {"I64", 8},         [LF_ST_DTYPE_U64] = {"U64", 8},
    [LF_ST_DTYPE_F64] = {"F64", 8},
};

const char *lf_st_dtype_name(enum lf_st_dtype dtype)
{
    if ((unsigned)dtype >= LF_ST_DTYPE_COUNT) return "?";
    return dtype_table[dtype].name;
}

size_t lf_st_dtype_size(enum lf_st_dtype dtype)
{
    if ((unsigned)dtype >= LF_ST_DTYPE_COUNT) return 0;
    return dtype_table[dtype].size;
}

bool lf_st_dtype_parse(const char *name, enum lf_st_dtype *out)
{
    for (int i = 0; i < LF_ST_DTYPE_COUNT; i++) {
        if (strcmp(name, dtype_table[i].name) == 0) {
            *out = (enum lf_st_dtype)i;
            return true;
        }
    }
    return false;
}

bool lf_st_dtype_to_lf(enum lf_st_dtype dtype, enum lf_dtype *out)
{
    switch (dtype) {
    case LF_ST_DTYPE_F32:
        *out = LF_DTYPE_F32;
        return true;
    case LF_ST_DTYPE_F16:
        *out = LF_DTYPE_F16;
        return true;
    case LF_ST_DTYPE_BF16:
        *out = LF_DTYPE_BF16;
        return true;
    case LF_ST_DTYPE_I32:
        *out = LF_DTYPE_I32;
        return true;
    case LF_ST_DTYPE_U8:
        *out = LF_DTYPE_U8;
        return true;
    default:
        return false;
    }
}

enum lf_st_dtype lf_st_dtype_from_lf(enum lf_dtype dtype)
{
    switch (dtype) {
    case LF_DTYPE_F32:
        return LF_ST_DTYPE_F32;
    case LF_DTYPE_F16:
        return LF_ST_DTYPE_F16;
    case LF_DTYPE_BF16:
        return LF_ST_DTYPE_BF16;
    case LF_DTYPE_I32:
        return LF_ST_DTYPE_I32;
    case LF_DTYPE_U8:
        return LF_ST_DTYPE_U8;
    }
    return LF_ST_DTYPE_COUNT;
}

/* }======== */

/* {======== header validation */

#define FAIL(...) lf_error_set_at(err, LF_ERR_FORMAT, path, 0, 0, __VA_ARGS__)

static uint64_t read_le64(const unsigned char *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

/* A JSON integer >= 0 (json-c keeps values above INT64_MAX as uint64). */
static bool get_uint(struct json_object *v, uint64_t *out)
{
    if (!json_object_is_type(v, json_type_int) || json_object_get_int64(v) < 0) return false;
    *out = json_object_get_uint64(v);
    return true;
}

/* Finds where the string literal at text[i] == '"' ends (the index of the
** closing quote); -1 for a raw control character, which JSON forbids but
** json-c accepts. */
static long string_end(const char *text, size_t len, size_t i)
{
    for (i++; i < len && text[i] != '"'; i++) {
        if ((unsigned char)text[i] < 0x20) return -1;
        if (text[i] == '\\') i++;
    }
    return (long)i;
}

struct raw_key {
    const char *text; /* decoded key, owned by obj */
    size_t len;
    struct json_object *obj;
};

static int raw_key_cmp(const void *a, const void *b)
{
    const struct raw_key *x = a, *y = b;
    size_t n = x->len < y->len ? x->len : y->len;
    int c = memcmp(x->text, y->text, n);
    if (c) return c;
    return (x->len > y->len) - (x->len < y->len);
}

/* Outside strings, strict JSON has only punctuation, numbers and the
** letters of true/false/null. */
static bool json_bare_char(char c)
{
    return c != '\0' && strchr("{}[],: \t\n\r0123456789+-.eEtruefalsn", c) != NULL;
}

/*
** A lexical pass over the JSON json-c has accepted, for what json-c lets
** through: it takes 'single-quoted' strings, NaN/Infinity and raw control
** characters even in strict mode, and it keeps only the last of several
** equal keys, so duplicate tensor names would vanish silently.  This pass
** refuses the former and counts the top-level keys; when json-c kept fewer,
** each key literal is decoded (by json-c, so escapes read exactly as it
** reads them) to name the first one that repeats.  When keys is non-NULL
** the literals' decoded forms are stored there.
*/
static enum lf_status scan_keys(const char *path, const char *text, size_t len, size_t *count_out,
                                struct raw_key *keys, struct lf_error *err)
{
    size_t count = 0, depth = 0;
    bool expect_key = false;
    for (size_t i = 0; i < len; i++) {
        char c = text[i];
        if (c == '"') {
            long end = string_end(text, len, i);
            if (end < 0)
                return FAIL("the header is not valid JSON: control character in a string "
                            "near byte %zu",
                            i);
            if (depth == 1 && expect_key) {
                if (keys) {
                    /* Parse just this literal: copy it so the parser stops there. */
                    size_t lit = (size_t)end - i + 1;
                    char *copy = malloc(lit + 1);
                    if (!copy)
                        return lf_error_set(err, LF_ERR_OUT_OF_MEMORY, "%s: out of memory", path);
                    memcpy(copy, text + i, lit);
                    copy[lit] = '\0';
                    struct raw_key *k = &keys[count];
                    k->obj = json_tokener_parse(copy);
                    free(copy);
                    if (!k->obj || !json_object_is_type(k->obj, json_type_string))
                        return FAIL("cannot decode the header key at byte %zu", i);
                    k->text = json_object_get_string(k->obj);
                    k->len = (size_t)json_object_get_string_len(k->obj);
                }
                count++;
                expect_key = false;
            }
            i = (size_t)end;
        } else if (c == '{' || c == '[') {
            depth++;
            expect_key = (c == '{' && depth == 1);
        } else if (c == '}' || c == ']') {
            depth--;
        } else if (c == ',' && depth == 1) {
            expect_key = true;
        } else if (!json_bare_char(c)) {
            return FAIL("the header is not valid JSON: unexpected '%c' at byte %zu", c, i);
        }
    }
    *count_out = count;
    return LF_OK;
}

static enum lf_status check_keys(const char *path, const char *text, size_t len, size_t kept,
                                 struct lf_error *err)
{
    size_t count;
    enum lf_status status = scan_keys(path, text, len, &count, NULL, err);
    if (status != LF_OK || count == kept) return status;
    if (count < kept)
        return FAIL("the header is not valid JSON: a key is not a double-quoted string");

    struct raw_key *keys = calloc(count, sizeof *keys);
    if (!keys) return lf_error_set(err, LF_ERR_OUT_OF_MEMORY, "%s: out of memory", path);
    status = scan_keys(path, text, len, &count, keys, err);
    if (status == LF_OK) {
        qsort(keys, count, sizeof *keys, raw_key_cmp);
        status = FAIL("the header has duplicate keys");
        for (size_t i = 1; i < count; i++) {
            if (raw_key_cmp(&keys[i - 1], &keys[i]) == 0) {
                if (strlen(keys[i].text) == keys[i].len)
                    status = FAIL("tensor '%s': the name appears more than once", keys[i].text);
                break;
            }
        }
    }
    for (size_t i = 0; i < count; i++)
        json_object_put(keys[i].obj);
    free(keys);
    return status;
}

static enum lf_status parse_metadata(struct lf_safetensors *st, struct json_object *meta,
                                     struct lf_error *err)
{
    const char *path = st->path;
    if (json_object_is_type(meta, json_type_null)) return LF_OK;
    if (!json_object_is_type(meta, json_type_object))
        return FAIL("__metadata__ is not an object of strings");
    size_t n = (size_t)json_object_object_length(meta);
    st->meta_keys = calloc(n + 1, sizeof *st->meta_keys);
    st->meta_values = calloc(n + 1, sizeof *st->meta_values);
    if (!st->meta_keys || !st->meta_values)
        return lf_error_set(err, LF_ERR_OUT_OF_MEMORY, "%s: out of memory", path);
    struct json_object_iterator it = json_object_iter_begin(meta);
    struct json_object_iterator end = json_object_iter_end(meta);
    for (; !json_object_iter_equal(&it, &end); json_object_iter_next(&it)) {
        const char *key = json_object_iter_peek_name(&it);
        struct json_object *v = json_object_iter_peek_value(&it);
        if (!json_object_is_type(v, json_type_string))
            return FAIL("__metadata__ entry '%s' is not a string", key);
        st->meta_keys[st->meta_count] = key;
        st->meta_values[st->meta_count] = json_object_get_string(v);
        st->meta_count++;
    }
    return LF_OK;
}

/* Checks one tensor entry's fields; its shape goes to shape_pool. */
static enum lf_status parse_tensor(struct lf_safetensors *st, const char *name,
                                   struct json_object *entry, struct lf_safetensors_tensor *t,
                                   int64_t *shape_pool, uint64_t *begin_out, uint64_t *end_out,
                                   struct lf_error *err)
{
    const char *path = st->path;
    struct json_object *jdtype, *jshape, *joffsets;
    if (!json_object_is_type(entry, json_type_object))
        return FAIL("tensor '%s': the entry is not an object", name);
    if (!json_object_object_get_ex(entry, "dtype", &jdtype) ||
        !json_object_is_type(jdtype, json_type_string))
        return FAIL("tensor '%s': missing or non-string \"dtype\"", name);
    if (!lf_st_dtype_parse(json_object_get_string(jdtype), &t->st_dtype))
        return FAIL("tensor '%s': unknown dtype '%s'", name, json_object_get_string(jdtype));
    t->has_dtype = lf_st_dtype_to_lf(t->st_dtype, &t->dtype);

    if (!json_object_object_get_ex(entry, "shape", &jshape) ||
        !json_object_is_type(jshape, json_type_array))
        return FAIL("tensor '%s': missing or non-array \"shape\"", name);
    size_t rank = json_object_array_length(jshape);
    uint64_t numel = 1;
    bool overflow = false;
    for (size_t i = 0; i < rank; i++) {
        uint64_t dim;
        if (!get_uint(json_object_array_get_idx(jshape, i), &dim) || dim > INT64_MAX)
            return FAIL("tensor '%s': shape[%zu] is not a non-negative integer", name, i);
        shape_pool[i] = (int64_t)dim;
        if (dim != 0 && numel > UINT64_MAX / dim)
            overflow = true;
        else
            numel *= dim;
    }
    /* A zero dimension makes the product 0 even if a prefix overflowed. */
    for (size_t i = 0; i < rank; i++)
        if (shape_pool[i] == 0) numel = 0, overflow = false;
    size_t esize = lf_st_dtype_size(t->st_dtype);
    if (overflow || numel > INT64_MAX || numel > UINT64_MAX / esize)
        return FAIL("tensor '%s': the shape's byte size overflows", name);
    uint64_t nbytes = numel * esize;

    if (!json_object_object_get_ex(entry, "data_offsets", &joffsets) ||
        !json_object_is_type(joffsets, json_type_array) || json_object_array_length(joffsets) != 2)
        return FAIL("tensor '%s': \"data_offsets\" is not a [begin, end] pair", name);
    uint64_t begin, end;
    if (!get_uint(json_object_array_get_idx(joffsets, 0), &begin) ||
        !get_uint(json_object_array_get_idx(joffsets, 1), &end))
        return FAIL("tensor '%s': \"data_offsets\" are not non-negative integers", name);
    if (end < begin)
        return FAIL("tensor '%s': data_offsets [%llu, %llu] end before they begin", name,
                    (unsigned long long)begin, (unsigned long long)end);
    if (end > st->data_size)
        return FAIL("tensor '%s': data_offsets [%llu, %llu] lie outside the data section "
                    "(%zu bytes)",
                    name, (unsigned long long)begin, (unsigned long long)end, st->data_size);
    if (end - begin != nbytes)
        return FAIL("tensor '%s': shape x %s is %llu bytes but data_offsets span %llu", name,
                    lf_st_dtype_name(t->st_dtype), (unsigned long long)nbytes,
                    (unsigned long long)(end - begin));

    t->name = name;
    t->rank = (int)rank;
    t->shape = shape_pool;
    t->numel = (int64_t)numel;
    t->nbytes = (size_t)nbytes;
    t->offset = begin;
    t->data = st->data + begin;
    *begin_out = begin;
    *end_out = end;
    return LF_OK;
}

static int by_offset(const void *a, const void *b)
{
    const struct lf_safetensors_tensor *x = a, *y = b;
    if (x->offset != y->offset) return x->offset < y->offset ? -1 : 1;
    return (x->nbytes > y->nbytes) - (x->nbytes < y->nbytes);
}

static int by_name(const void *a, const void *b)
{
    const struct lf_safetensors_tensor *const *x = a, *const *y = b;
    return strcmp((*x)->name, (*y)->name);
}

static enum lf_status parse_header(struct lf_safetensors *st, const unsigned char *base,
                                   size_t size, struct lf_error *err)
{
    const char *path = st->path;
    if (size < 8)
        return FAIL("the file is %zu bytes, too short for the 8-byte header length", size);
    uint64_t n = read_le64(base);
    if (n > LF_SAFETENSORS_MAX_HEADER)
        return FAIL("header length %llu exceeds the limit of %llu bytes", (unsigned long long)n,
                    (unsigned long long)LF_SAFETENSORS_MAX_HEADER);
    if (n > size - 8)
        return FAIL("header length %llu runs past the end of the file (%zu bytes)",
                    (unsigned long long)n, size);
    const char *text = (const char *)base + 8;
    if (n == 0 || text[0] != '{') return FAIL("the header does not start with '{'");
    st->data = base + 8 + n;
    st->data_size = size - 8 - (size_t)n;

    struct json_tokener *tok = json_tokener_new();
    if (!tok) return lf_error_set(err, LF_ERR_OUT_OF_MEMORY, "%s: out of memory", path);
    json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
    st->root = json_tokener_parse_ex(tok, text, (int)n);
    enum json_tokener_error jerr = json_tokener_get_error(tok);
    size_t parsed = json_tokener_get_parse_end(tok);
    json_tokener_free(tok);
    if (jerr == json_tokener_continue || (!st->root && jerr == json_tokener_success))
        return FAIL("the header's JSON is truncated");
    if (jerr != json_tokener_success || !st->root)
        return FAIL("the header is not valid JSON: %s at byte %zu", json_tokener_error_desc(jerr),
                    parsed);
    /* The reference pads the header with spaces; anything else is junk. */
    for (size_t i = parsed; i < n; i++)
        if (text[i] != ' ' && text[i] != '\t' && text[i] != '\n' && text[i] != '\r')
            return FAIL("unexpected byte 0x%02x after the header's JSON at byte %zu",
                        (unsigned char)text[i], i);
    if (!json_object_is_type(st->root, json_type_object))
        return FAIL("the header is not a JSON object");

    size_t keys = (size_t)json_object_object_length(st->root);
    enum lf_status status = check_keys(path, text, parsed, keys, err);
    if (status != LF_OK) return status;

    /* Room for every shape: no entry can have more dims than the header has
    ** bytes, so count them first. */
    size_t total_rank = 0;
    struct json_object_iterator it, end = json_object_iter_end(st->root);
    for (it = json_object_iter_begin(st->root); !json_object_iter_equal(&it, &end);
         json_object_iter_next(&it)) {
        struct json_object *v = json_object_iter_peek_value(&it), *shape;
        if (json_object_is_type(v, json_type_object) &&
            json_object_object_get_ex(v, "shape", &shape) &&
            json_object_is_type(shape, json_type_array))
            total_rank += json_object_array_length(shape);
    }
    st->tensors = calloc(keys + 1, sizeof *st->tensors);
    st->shapes = calloc(total_rank + 1, sizeof *st->shapes);
    st->by_name = calloc(keys + 1, sizeof *st->by_name);
    if (!st->tensors || !st->shapes || !st->by_name)
        return lf_error_set(err, LF_ERR_OUT_OF_MEMORY, "%s: out of memory", path);

    size_t used_rank = 0;
    for (it = json_object_iter_begin(st->root); !json_object_iter_equal(&it, &end);
         json_object_iter_next(&it)) {
        const char *name = json_object_iter_peek_name(&it);
        struct json_object *v = json_object_iter_peek_value(&it);
        if (strcmp(name, "__metadata__") == 0) {
            status = parse_metadata(st, v, err);
            if (status != LF_OK) return status;
            continue;
        }
        struct lf_safetensors_tensor *t = &st->tensors[st->count];
        uint64_t b, e;
        status = parse_tensor(st, name, v, t, st->shapes + used_rank, &b, &e, err);
        if (status != LF_OK) return status;
        used_rank += (size_t)t->rank;
        st->count++;
    }

    /* Tensors must tile the data section: sorted by offset, each begins
    ** where the previous one ended, and the last ends at the data's end. */
    qsort(st->tensors, st->count, sizeof *st->tensors, by_offset);
    uint64_t expected = 0;
    for (size_t i = 0; i < st->count; i++) {
        const struct lf_safetensors_tensor *t = &st->tensors[i];
        if (t->offset < expected)
            return FAIL(
                "tensor '%s': data_offsets [%llu, %llu] overlap tensor '%s' [%llu, %llu]", t->name,
                (unsigned long long)t->offset, (unsigned long long)(t->offset + t->nbytes),
                st->tensors[i - 1].name, (unsigned long long)st->tensors[i - 1].offset,
                (unsigned long long)(st->tensors[i - 1].offset + st->tensors[i - 1].nbytes));
        if (t->offset > expected)
            return FAIL("tensor '%s': a gap of %llu bytes before its data (at offset %llu)",
                        t->name, (unsigned long long)(t->offset - expected),
                        (unsigned long long)expected);
        expected = t->offset + t->nbytes;
    }
    if (expected != st->data_size) {
        if (st->count == 0)
            return FAIL("the data section has %zu bytes but the file has no tensors",
                        st->data_size);
        return FAIL("tensor '%s': the data section has %llu bytes after this last tensor "
                    "that no tensor covers",
                    st->tensors[st->count - 1].name,
                    (unsigned long long)(st->data_size - expected));
    }

    for (size_t i = 0; i < st->count; i++)
        st->by_name[i] = &st->tensors[i];
    qsort(st->by_name, st->count, sizeof *st->by_name, by_name);
    return LF_OK;
}

/* }======== */

static enum lf_status open_common(const char *name, struct lf_safetensors **st_out,
                                  struct lf_error *err)
{
    struct lf_safetensors *st = calloc(1, sizeof *st);
    if (st) st->fd = -1;
    if (st) st->path = strdup(name ? name : "");
    if (!st || !st->path) {
        free(st);
        return lf_error_set(err, LF_ERR_OUT_OF_MEMORY, "%s: out of memory", name);
    }
    *st_out = st;
    return LF_OK;
}

enum lf_status lf_safetensors_open_buffer(const void *data, size_t size, const char *name,
                                          struct lf_safetensors **out, struct lf_error *err)
{
    struct lf_safetensors *st;
    *out = NULL;
    enum lf_status status = open_common(name, &st, err);
    if (status != LF_OK) return status;
    status = parse_header(st, data, size, err);
    if (status != LF_OK) {
        lf_safetensors_close(st);
        return status;
    }
    *out = st;
    return LF_OK;
}

enum lf_status lf_safetensors_open(const char *path, struct lf_safetensors **out,
                                   struct lf_error *err)
{
    struct lf_safetensors *st;
    struct stat sb;
    *out = NULL;
    int fd = lf_open_regular(path, "safetensors file", err);
    if (fd < 0) return err ? err->code : LF_ERR_IO;
    if (fstat(fd, &sb) != 0) {
        int e = errno;
        close(fd);
        return lf_error_set_at(err, LF_ERR_IO, path, 0, 0, "%s", strerror(e));
    }
    if (sb.st_size < 8) {
        close(fd);
        return lf_error_set_at(err, LF_ERR_FORMAT, path, 0, 0,
                               "the file is %lld bytes, too short for the 8-byte header length",
                               (long long)sb.st_size);
    }
    if ((uint64_t)sb.st_size > SIZE_MAX) {
        close(fd);
        return lf_error_set_at(err, LF_ERR_UNSUPPORTED, path, 0, 0, "the file is too large to map");
    }
    enum lf_status status = open_common(path, &st, err);
    if (status != LF_OK) {
        close(fd);
        return status;
    }
    st->map_size = (size_t)sb.st_size;
    void *map = mmap(NULL, st->map_size, PROT_READ, MAP_PRIVATE, fd, 0);
    int e = errno;
    st->fd = fd; /* kept for lf_safetensors_read */
    if (map == MAP_FAILED) {
        lf_safetensors_close(st);
        return lf_error_set_at(err, LF_ERR_IO, path, 0, 0, "cannot map the file: %s", strerror(e));
    }
    st->map = map;
    status = parse_header(st, map, st->map_size, err);
    if (status != LF_OK) {
        lf_safetensors_close(st);
        return status;
    }
    *out = st;
    return LF_OK;
}

void lf_safetensors_close(struct lf_safetensors *st)
{
    if (!st) return;
    if (st->map) munmap(st->map, st->map_size);
    if (st->fd >= 0) close(st->fd);
    json_object_put(st->root);
    free(st->tensors);
    free(st->shapes);
    free(st->by_name);
    free(st->meta_keys);
    free(st->meta_values);
    free(st->path);
    free(st);
}

const char *lf_safetensors_path(const struct lf_safetensors *st)
{
    return st->path;
}

size_t lf_safetensors_count(const struct lf_safetensors *st)
{
    return st->count;
}

const struct lf_safetensors_tensor *lf_safetensors_tensor_at(const struct lf_safetensors *st,
                                                             size_t index)
{
    return index < st->count ? &st->tensors[index] : NULL;
}

const struct lf_safetensors_tensor *lf_safetensors_find(const struct lf_safetensors *st,
                                                        const char *name)
{
    size_t lo = 0, hi = st->count;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const struct lf_safetensors_tensor *t = st->by_name[mid];
        int c = strcmp(name, t->name);
        if (c == 0) return t;
        if (c < 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    return NULL;
}

enum lf_status lf_safetensors_get(const struct lf_safetensors *st, const char *name,
                                  const struct lf_safetensors_tensor **out, struct lf_error *err)
{
    *out = lf_safetensors_find(st, name);
    if (!*out)
        return lf_error_set_at(err, LF_ERR_NOT_FOUND, st->path, 0, 0, "no tensor '%s'", name);
    return LF_OK;
}

size_t lf_safetensors_metadata_count(const struct lf_safetensors *st)
{
    return st->meta_count;
}

void lf_safetensors_metadata_at(const struct lf_safetensors *st, size_t index, const char **key,
                                const char **value)
{
    bool ok = index < st->meta_count;
    if (key) *key = ok ? st->meta_keys[index] : NULL;
    if (value) *value = ok ? st->meta_values[index] : NULL;
}

const char *lf_safetensors_metadata_get(const struct lf_safetensors *st, const char *key)
{
    for (size_t i = 0; i < st->meta_count; i++)
        if (strcmp(st->meta_keys[i], key) == 0) return st->meta_values[i];
    return NULL;
}

enum lf_status lf_safetensors_read(const struct lf_safetensors *st,
                                   const struct lf_safetensors_tensor *t, size_t offset, void *dst,
                                   size_t size, struct lf_error *err)
{
    if (offset > t->nbytes || size > t->nbytes - offset)
        return lf_error_set_at(err, LF_ERR_INVALID, st->path, 0, 0,
                               "tensor '%s': bytes %zu..%zu asked of %zu", t->name, offset,
                               offset + size, t->nbytes);
    if (st->fd < 0) {
        memcpy(dst, (const unsigned char *)t->data + offset, size);
        return LF_OK;
    }
    off_t at =
        (off_t)((const unsigned char *)t->data - (const unsigned char *)st->map) + (off_t)offset;
    for (size_t got = 0; got < size;) {
        ssize_t n = pread(st->fd, (unsigned char *)dst + got, size - got, at);
        if (n > 0) {
            got += (size_t)n, at += n;
        } else if (n == 0) {
            return lf_error_set_at(err, LF_ERR_IO, st->path, 0, 0,
                                   "tensor '%s': the file ends early (changed since it was "
                                   "opened?)",
                                   t->name);
        } else if (errno != EINTR) {
            return lf_error_set_at(err, LF_ERR_IO, st->path, 0, 0, "tensor '%s': %s", t->name,
                                   strerror(errno));
        }
    }
    return LF_OK;
}

/* IEEE half to float, exact (every half is a float). */
static float half_to_float(uint16_t h)
{
    uint32_t sign = (uint32_t)(h >> 15) << 31;
    uint32_t exp = (h >> 10) & 0x1f, mant = h & 0x3ff, bits;
    if (exp == 0x1f) {
        bits = sign | 0x7f800000u | (mant << 13);
    } else if (exp != 0) {
        bits = sign | ((exp + 112) << 23) | (mant << 13);
    } else if (mant == 0) {
        bits = sign;
    } else { /* subnormal: normalise */
        int e = -1;
        do {
            e++;
            mant <<= 1;
        } while (!(mant & 0x400));
        bits = sign | ((uint32_t)(112 - e) << 23) | ((mant & 0x3ff) << 13);
    }
    float f;
    memcpy(&f, &bits, sizeof f);
    return f;
}

enum lf_status lf_safetensors_tensor_to_f32(const struct lf_safetensors *st,
                                            const struct lf_safetensors_tensor *t, float *dst,
                                            int64_t count, struct lf_error *err)
{
    const unsigned char *src = t->data;
    if (count != t->numel)
        return lf_error_set_at(err, LF_ERR_INVALID, st->path, 0, 0,
                               "tensor '%s' has %lld elements, not %lld", t->name,
                               (long long)t->numel, (long long)count);
    /* For small tensors and tests: weights are read and converted by the
    ** device (lf_safetensors_tensor_upload). */
    uint32_t *bits = (uint32_t *)dst;
    switch (t->st_dtype) {
    case LF_ST_DTYPE_F32:
        memcpy(dst, src, (size_t)count * 4);
        break;
    case LF_ST_DTYPE_F16:
        for (int64_t i = 0; i < count; i++) {
            uint16_t h;
            memcpy(&h, src + 2 * i, 2);
            dst[i] = half_to_float(h);
        }
        break;
    case LF_ST_DTYPE_BF16:
        for (int64_t i = 0; i < count; i++) {
            uint16_t h;
            memcpy(&h, src + 2 * i, 2);
            bits[i] = (uint32_t)h << 16;
        }
        break;
    default:
        return lf_error_set_at(err, LF_ERR_UNSUPPORTED, st->path, 0, 0,
                               "tensor '%s' is %s, not a float tensor", t->name,
                               lf_st_dtype_name(t->st_dtype));
    }
    return LF_OK;
}
