/*
** sd_diffusers.c - the diffusers folder layout (see sd_diffusers.h).
*/
#include "sd_diffusers.h"

#include <json-c/json.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

const struct sd_diffusers_part sd_diffusers_parts[SD_COMPONENT_COUNT] = {
    [SD_COMPONENT_UNET] = {"unet", "diffusion_pytorch_model", "UNet"},
    [SD_COMPONENT_VAE] = {"vae", "diffusion_pytorch_model", "VAE"},
    [SD_COMPONENT_TEXT] = {"text_encoder", "model", "text encoder"},
};

const char *const sd_diffusers_tokenizer_files[] = {"vocab.json", "merges.txt", NULL};

bool sd_is_dir(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

static bool is_file(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

bool sd_diffusers_weights(const char *dir, enum sd_component c, char *out, size_t size)
{
    const struct sd_diffusers_part *p = &sd_diffusers_parts[c];
    snprintf(out, size, "%s/%s/%s.fp16.safetensors", dir, p->folder, p->weights);
    if (is_file(out)) {
        char plain[1200];
        snprintf(plain, sizeof plain, "%s/%s/%s.safetensors", dir, p->folder, p->weights);
        if (!is_file(plain)) return true;
    }
    snprintf(out, size, "%s/%s/%s.safetensors", dir, p->folder, p->weights);
    return is_file(out);
}

void sd_diffusers_config(const char *dir, enum sd_component c, char *out, size_t size)
{
    snprintf(out, size, "%s/%s/" SD_DIFFUSERS_CONFIG, dir, sd_diffusers_parts[c].folder);
}

int sd_config_int(const char *path, const char *key)
{
    json_object *root = json_object_from_file(path), *v;
    int value = 0;
    if (root && json_object_object_get_ex(root, key, &v) && json_object_is_type(v, json_type_int))
        value = json_object_get_int(v);
    json_object_put(root);
    return value;
}

void sd_checkpoint_files(const char *path, void (*fn)(const char *file, void *user), void *user)
{
    char buf[1200];
    bool dir = sd_is_dir(path);
    fn(path, user);
    for (int c = 0; dir && c < SD_COMPONENT_COUNT; c++) {
        sd_diffusers_weights(path, (enum sd_component)c, buf, sizeof buf);
        fn(buf, user);
        sd_diffusers_config(path, (enum sd_component)c, buf, sizeof buf);
        fn(buf, user);
    }
    /* The tokenizer folder: inside a diffusers folder, beside a single file
    ** (its own, then the shared one). */
    const char *slash = strrchr(path, '/');
    int keep = slash ? (int)(slash - path + 1) : 0;
    char own[1100];
    bool has_own = !dir && sd_own_tokenizer_dir(path, own, sizeof own);
    for (int i = 0; sd_diffusers_tokenizer_files[i]; i++) {
        if (dir)
            snprintf(buf, sizeof buf, "%s/" SD_DIFFUSERS_TOKENIZER "/%s", path,
                     sd_diffusers_tokenizer_files[i]);
        else
            snprintf(buf, sizeof buf, "%.*s" SD_DIFFUSERS_TOKENIZER "/%s", keep, path,
                     sd_diffusers_tokenizer_files[i]);
        fn(buf, user);
        if (has_own) {
            snprintf(buf, sizeof buf, "%s/%s", own, sd_diffusers_tokenizer_files[i]);
            fn(buf, user);
        }
    }
}

bool sd_own_tokenizer_dir(const char *checkpoint, char *out, size_t size)
{
    const char *slash = strrchr(checkpoint, '/'), *dot = strrchr(checkpoint, '.');
    size_t stem =
        dot && (!slash || dot > slash + 1) ? (size_t)(dot - checkpoint) : strlen(checkpoint);
    int n = snprintf(out, size, "%.*s" SD_OWN_TOKENIZER_SUFFIX, (int)stem, checkpoint);
    return n >= 0 && (size_t)n < size;
}
