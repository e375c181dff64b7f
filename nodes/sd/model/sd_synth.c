/*
** sd_synth.c - synthetic checkpoints and vocabularies (see sd_synth.h).
*/
#include "sd_synth.h"
#include "sd_weights.h"

#include "lcmflow/safetensors.h"

#include <errno.h>
#include <json-c/json.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static uint64_t mix(uint64_t x)
{
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdull;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ull;
    x ^= x >> 33;
    return x;
}

enum lf_status sd_synth_writer_init(struct sd_synth_writer *w, uint64_t seed, struct lf_error *err)
{
    memset(w, 0, sizeof *w);
    w->seed = seed;
    w->err = err;
    return w->status = lf_safetensors_writer_create(&w->writer, err);
}

static void *keep(struct sd_synth_writer *w, size_t bytes)
{
    if (w->count == w->capacity) {
        size_t cap = w->capacity * 2 + 64;
        void **list = realloc(w->buffers, cap * sizeof *list);
        if (!list) return NULL;
        w->buffers = list;
        w->capacity = cap;
    }
    void *data = malloc(bytes ? bytes : 1);
    if (data) w->buffers[w->count++] = data;
    return data;
}

int64_t sd_synth_add(struct sd_synth_writer *w, const char *name, enum lf_dtype dtype, int rank,
                     const int64_t *shape, float bound, float fill)
{
    if (w->status) return 0;
    int64_t n = 1;
    for (int i = 0; i < rank; i++)
        n *= shape[i];
    size_t esize = lf_dtype_size(dtype);
    char *data = keep(w, (size_t)n * esize);
    if (!data) {
        w->status = lf_error_set(w->err, LF_ERR_OUT_OF_MEMORY, "out of host memory");
        return 0;
    }
    uint64_t state = mix(w->seed ^ sd_hash_name(name)) | 1;
    for (int64_t i = 0; i < n; i++) {
        float v = fill;
        if (bound > 0.0f) {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            v = bound * (2.0f * (float)((state >> 40) * (1.0 / 16777216.0)) - 1.0f);
        }
        if (dtype == LF_DTYPE_F16) {
            uint16_t h = lf_f32_to_f16(v);
            memcpy(data + i * 2, &h, 2);
        } else {
            memcpy(data + i * 4, &v, 4);
        }
    }
    w->status = lf_safetensors_writer_add(w->writer, name, lf_st_dtype_from_lf(dtype), rank, shape,
                                          data, (size_t)n * esize, w->err);
    return n;
}

enum lf_status sd_synth_writer_finish(struct sd_synth_writer *w, const char *path)
{
    if (!w->status) w->status = lf_safetensors_writer_write(w->writer, path, w->err);
    for (size_t i = 0; i < w->count; i++)
        free(w->buffers[i]);
    free(w->buffers);
    lf_safetensors_writer_free(w->writer);
    w->writer = NULL;
    w->buffers = NULL;
    return w->status;
}

struct synth {
    struct sd_synth_writer w;
    enum lf_dtype dtype;
    int64_t params;
};

static void add_tensor(const struct sd_arch_tensor *t, void *user)
{
    struct synth *s = user;
    float bound = t->fan_in ? 1.0f / sqrtf((float)t->fan_in) : 0.0f;
    s->params += sd_synth_add(&s->w, t->name, s->dtype, t->rank, t->shape,
                              t->is_norm ? 0.0f : bound, t->is_norm == 1 ? 1.0f : 0.0f);
}

enum lf_status sd_synth_checkpoint(const struct sd_arch *arch, uint64_t seed, enum lf_dtype dtype,
                                   const char *path, int64_t *params, struct lf_error *err)
{
    if (dtype != LF_DTYPE_F16 && dtype != LF_DTYPE_F32)
        return lf_error_set(err, LF_ERR_INVALID, "synthetic checkpoints are f16 or f32");
    struct synth s = {.dtype = dtype};
    if (!sd_synth_writer_init(&s.w, seed, err)) sd_arch_each(arch, add_tensor, &s);
    if (!s.w.status)
        s.w.status = lf_safetensors_writer_set_metadata(s.w.writer, "lcmflow.synthetic",
                                                        "random weights, SD 1.5 layout", err);
    if (params) *params = s.params;
    return sd_synth_writer_finish(&s.w, path);
}

/* GPT-2's reversible byte -> printable code point table, as CLIP uses. */
static void byte_to_utf8(int byte, char out[4])
{
    int cp;
    if ((byte >= 33 && byte <= 126) || (byte >= 161 && byte <= 172) || (byte >= 174))
        cp = byte;
    else {
        int n = 0;
        for (int b = 0; b < byte; b++)
            if (!((b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174))) n++;
        cp = 256 + n;
    }
    if (cp < 0x80) {
        out[0] = (char)cp;
        out[1] = 0;
    } else {
        out[0] = (char)(0xC0 | (cp >> 6));
        out[1] = (char)(0x80 | (cp & 0x3F));
        out[2] = 0;
    }
}

static const char *const words[] = {
    "a",        "an",         "the",      "of",         "and",    "in",       "on",        "with",
    "photo",    "photograph", "painting", "cat",        "dog",    "horse",    "astronaut", "riding",
    "portrait", "landscape",  "city",     "night",      "sunset", "forest",   "mountain",  "river",
    "sea",      "sky",        "red",      "blue",       "green",  "golden",   "light",     "dark",
    "art",      "style",      "oil",      "watercolor", "sketch", "detailed", "beautiful", "high",
    "quality",  "house",      "tree",     "flower",     "woman",  "man",      "girl",      "boy",
    "car",      "street",     "space",    "star",       "moon",   "sun",      "water",     "fire",
    "snow",     "castle",     "dragon",   "robot",
};

/* Writes path via a temporary name, renamed when complete. */
static enum lf_status write_text(const char *path, const char *text, struct lf_error *err)
{
    char tmp[1100];
    snprintf(tmp, sizeof tmp, "%s.%ld.tmp", path, (long)getpid());
    FILE *f = fopen(tmp, "wb");
    if (!f) return lf_error_set(err, LF_ERR_IO, "%s: %s", tmp, strerror(errno));
    bool ok = fputs(text, f) >= 0;
    ok = (fclose(f) == 0) && ok;
    if (!ok || rename(tmp, path) != 0) {
        remove(tmp);
        return lf_error_set(err, LF_ERR_IO, "%s: cannot write", path);
    }
    return LF_OK;
}

enum lf_status sd_synth_vocab(const char *dir, int max_tokens, struct lf_error *err)
{
    if (mkdir(dir, 0755) != 0 && errno != EEXIST)
        return lf_error_set(err, LF_ERR_IO, "%s: %s", dir, strerror(errno));
    json_object *vocab = json_object_new_object();
    size_t cap = 1 << 16, len = 0;
    char *merges = malloc(cap);
    if (!vocab || !merges) {
        json_object_put(vocab);
        free(merges);
        return lf_error_set(err, LF_ERR_OUT_OF_MEMORY, "out of host memory");
    }
    len += (size_t)snprintf(merges, cap, "#version: 0.2\n");
    int id = 0;
    char sym[4], tok[16];
    for (int b = 0; b < 256; b++) {
        byte_to_utf8(b, sym);
        json_object_object_add(vocab, sym, json_object_new_int(id++));
    }
    for (int b = 0; b < 256; b++) {
        byte_to_utf8(b, sym);
        snprintf(tok, sizeof tok, "%s</w>", sym);
        json_object_object_add(vocab, tok, json_object_new_int(id++));
    }
    /* Spell each word left to right: "p h", "ph o", ..., "phot o</w>". */
    for (size_t w = 0; w < sizeof words / sizeof *words && id < max_tokens - 2; w++) {
        const char *word = words[w];
        size_t n = strlen(word);
        char left[64] = "";
        for (size_t i = 0; i + 1 < n && id < max_tokens - 2; i++) {
            char right[16], merged[80];
            if (i == 0) snprintf(left, sizeof left, "%c", word[0]);
            snprintf(right, sizeof right, "%c%s", word[i + 1], i + 2 == n ? "</w>" : "");
            snprintf(merged, sizeof merged, "%s%s", left, right);
            if (!json_object_object_get_ex(vocab, merged, NULL)) {
                json_object_object_add(vocab, merged, json_object_new_int(id++));
                len += (size_t)snprintf(merges + len, cap - len, "%s %s\n", left, right);
            }
            snprintf(left, sizeof left, "%s", merged);
        }
    }
    /* Then two-letter tokens, until the vocabulary has exactly as many
    ** entries as the text encoder's token embedding has rows. */
    for (int a = 'a'; a <= 'z' && id < max_tokens - 2; a++)
        for (int e = 0; e < 2; e++)
            for (int b = 'a'; b <= 'z' && id < max_tokens - 2; b++) {
                char left[2] = {(char)a, 0}, right[8], merged[16];
                snprintf(right, sizeof right, "%c%s", b, e ? "</w>" : "");
                snprintf(merged, sizeof merged, "%s%s", left, right);
                if (json_object_object_get_ex(vocab, merged, NULL)) continue;
                json_object_object_add(vocab, merged, json_object_new_int(id++));
                len += (size_t)snprintf(merges + len, cap - len, "%s %s\n", left, right);
            }
    if (id != max_tokens - 2) {
        json_object_put(vocab);
        free(merges);
        return lf_error_set(err, LF_ERR_INVALID,
                            "a synthetic vocabulary has 514 to %d tokens, not %d", id + 2,
                            max_tokens);
    }
    json_object_object_add(vocab, "<|startoftext|>", json_object_new_int(id++));
    json_object_object_add(vocab, "<|endoftext|>", json_object_new_int(id++));
    char path[1024];
    snprintf(path, sizeof path, "%s/vocab.json", dir);
    enum lf_status s =
        write_text(path,
                   json_object_to_json_string_ext(vocab, JSON_C_TO_STRING_PLAIN |
                                                             JSON_C_TO_STRING_NOSLASHESCAPE),
                   err);
    snprintf(path, sizeof path, "%s/merges.txt", dir);
    if (!s) s = write_text(path, merges, err);
    json_object_put(vocab);
    free(merges);
    return s;
}
