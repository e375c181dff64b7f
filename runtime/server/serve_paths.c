/*
** serve_paths.c - the server's file policy: every path a graph names is
** resolved inside the configured roots (models read only, outputs inside
** --output, images also from uploads), and uploads themselves.
*/
#include "server.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stb_image.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static enum lf_status add_root(char **slot, const char *dir, const char *what, struct lf_error *err)
{
    struct stat st;
    char *real = realpath(dir, NULL);
    if (!real || stat(real, &st) != 0 || !S_ISDIR(st.st_mode)) {
        free(real);
        return lf_error_set(err, LF_ERR_NOT_FOUND, "%s %s: not an existing folder", what, dir);
    }
    free(*slot);
    *slot = real;
    return LF_OK;
}

enum lf_status serve_roots_add_model(struct serve_roots *r, const char *dir, struct lf_error *err)
{
    if (r->nmodels == SERVE_MAX_ROOTS)
        return lf_error_set(err, LF_ERR_INVALID, "--models: at most %d roots", SERVE_MAX_ROOTS);
    enum lf_status st = add_root(&r->models[r->nmodels], dir, "--models", err);
    if (st == LF_OK) r->nmodels++;
    return st;
}

enum lf_status serve_roots_set_output(struct serve_roots *r, const char *dir, struct lf_error *err)
{
    return add_root(&r->output, dir, "--output", err);
}

void serve_roots_free(struct serve_roots *r)
{
    for (size_t i = 0; i < r->nmodels; i++)
        free(r->models[i]);
    free(r->output);
    free(r->uploads);
    memset(r, 0, sizeof *r);
}

/* real is inside root (or is root). */
static bool inside(const char *root, const char *real)
{
    size_t n = strlen(root);
    if (strncmp(root, real, n) != 0) return false;
    return real[n] == '\0' || real[n] == '/' || (n == 1 && root[0] == '/');
}

/* Refuses absolute paths and ".." components; the message names the param. */
static enum lf_status check_relative(const char *param, const char *text, struct lf_error *err)
{
    if (text[0] == '/')
        return lf_error_set(err, LF_ERR_INVALID,
                            "param %s: absolute paths are refused in server mode ('%s'); give a "
                            "path relative to the configured roots",
                            param, text);
    for (const char *p = text; *p;) {
        size_t len = strcspn(p, "/");
        if (len == 2 && p[0] == '.' && p[1] == '.')
            return lf_error_set(err, LF_ERR_INVALID,
                                "param %s: '..' is refused in server mode ('%s')", param, text);
        p += len;
        while (*p == '/')
            p++;
    }
    if (strlen(text) >= PATH_MAX / 2)
        return lf_error_set(err, LF_ERR_INVALID, "param %s: path too long", param);
    return LF_OK;
}

static char *join(const char *root, const char *rel)
{
    size_t len = strlen(root) + strlen(rel) + 2;
    char *out = malloc(len);
    if (out) snprintf(out, len, "%s/%s", root, rel);
    return out;
}

/*
** The deepest existing ancestor of path (path itself when it exists, a
** symlink followed) must resolve inside root.  A dangling symlink is
** refused: where it would write or read is outside what can be checked.
*/
static enum lf_status check_real(const char *root, const char *path, const char *param,
                                 const char *text, struct lf_error *err)
{
    char *probe = strdup(path);
    enum lf_status st = LF_OK;
    if (!probe) return lf_error_set(err, LF_ERR_OUT_OF_MEMORY, "out of memory");
    for (;;) {
        struct stat lst;
        if (lstat(probe, &lst) == 0) {
            char *real = realpath(probe, NULL);
            if (!real || !inside(root, real))
                st = lf_error_set(err, LF_ERR_INVALID,
                                  "param %s: '%s' leads outside the server's roots (symlink)",
                                  param, text);
            free(real);
            break;
        }
        char *slash = strrchr(probe, '/');
        if (!slash || slash == probe) break;
        *slash = '\0';
    }
    free(probe);
    return st;
}

enum lf_status serve_resolve_path(const struct serve_roots *r, enum serve_path_kind kind,
                                  const char *param, const char *text, char **out,
                                  struct lf_error *err)
{
    enum lf_status st;
    const char *root = NULL;
    *out = NULL;
    if (kind == SERVE_PATH_READ &&
        !strncmp(text, SERVE_UPLOAD_PREFIX, strlen(SERVE_UPLOAD_PREFIX))) {
        const char *id = text + strlen(SERVE_UPLOAD_PREFIX);
        char path[PATH_MAX];
        if (!r->uploads || !serve_upload_id_ok(id))
            return lf_error_set(err, LF_ERR_INVALID, "param %s: '%s' is not an upload id", param,
                                text);
        if (!serve_upload_file(r->uploads, id, path, sizeof path) || !(*out = strdup(path)))
            return lf_error_set(err, LF_ERR_OUT_OF_MEMORY, "out of memory");
        return LF_OK;
    }
    if ((st = check_relative(param, text, err)) != LF_OK) return st;
    if (kind == SERVE_PATH_WRITE) {
        root = r->output;
        if (!root)
            return lf_error_set(err, LF_ERR_INVALID, "param %s: the server has no --output root",
                                param);
    } else {
        if (r->nmodels == 0)
            return lf_error_set(err, LF_ERR_INVALID, "param %s: the server has no --models root",
                                param);
        root = r->models[0];
        for (size_t i = 0; i < r->nmodels; i++) {
            char *p = join(r->models[i], text);
            struct stat lst;
            bool found = p && lstat(p, &lst) == 0;
            free(p);
            if (found) {
                root = r->models[i];
                break;
            }
        }
    }
    char *path = join(root, text);
    if (!path) return lf_error_set(err, LF_ERR_OUT_OF_MEMORY, "out of memory");
    if ((st = check_real(root, path, param, text, err)) != LF_OK) {
        free(path);
        return st;
    }
    *out = path;
    return LF_OK;
}

static bool lower_hex(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
}

bool serve_upload_id_ok(const char *id)
{
    size_t n = 0;
    for (; id[n]; n++)
        if (!lower_hex(id[n])) return false;
    return n == SERVE_UPLOAD_ID_LEN;
}

size_t serve_upload_ids(const char *text, char ids[][SERVE_UPLOAD_ID_LEN + 1], size_t max)
{
    size_t n = 0, plen = strlen(SERVE_UPLOAD_PREFIX);
    for (const char *at = text; n < max && (at = strstr(at, SERVE_UPLOAD_PREFIX)); at += plen) {
        const char *id = at + plen;
        size_t len = 0;
        while (len <= SERVE_UPLOAD_ID_LEN && lower_hex(id[len]))
            len++;
        if (len != SERVE_UPLOAD_ID_LEN) continue;
        bool seen = false;
        for (size_t i = 0; i < n && !seen; i++)
            seen = !memcmp(ids[i], id, SERVE_UPLOAD_ID_LEN);
        if (seen) continue;
        memcpy(ids[n], id, SERVE_UPLOAD_ID_LEN);
        ids[n++][SERVE_UPLOAD_ID_LEN] = 0;
    }
    return n;
}

bool serve_upload_file(const char *dir, const char *id, char *out, size_t size)
{
    int n = snprintf(out, size, "%s/%s.img", dir, id);
    return n > 0 && (size_t)n < size;
}

bool serve_host_is_loopback(const char *host)
{
    if (!strcmp(host, "localhost") || !strcmp(host, "::1") || !strcmp(host, "[::1]")) return true;
    unsigned a, b, c, d;
    char tail;
    if (sscanf(host, "%u.%u.%u.%u%c", &a, &b, &c, &d, &tail) != 4) return false;
    return a == 127 && b < 256 && c < 256 && d < 256;
}

static enum lf_status random_id(char id[33], struct lf_error *err)
{
    unsigned char bytes[16];
    int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
    ssize_t got = fd >= 0 ? read(fd, bytes, sizeof bytes) : -1;
    if (fd >= 0) close(fd);
    if (got != (ssize_t)sizeof bytes)
        return lf_error_set(err, LF_ERR_IO, "cannot read /dev/urandom");
    for (int i = 0; i < 16; i++)
        snprintf(id + 2 * i, 3, "%02x", bytes[i]);
    return LF_OK;
}

/* Removes the oldest uploads until fewer than keep remain. */
static void prune_uploads(const char *dir, int keep)
{
    for (;;) {
        DIR *d = opendir(dir);
        struct dirent *e;
        char oldest[PATH_MAX] = "";
        time_t oldest_time = 0;
        int count = 0;
        if (!d) return;
        while ((e = readdir(d)) != NULL) {
            char path[PATH_MAX];
            struct stat st;
            if (e->d_name[0] == '.') continue;
            snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
            if (stat(path, &st) != 0) continue;
            count++;
            if (!oldest[0] || st.st_mtime < oldest_time) {
                oldest_time = st.st_mtime;
                snprintf(oldest, sizeof oldest, "%s", path);
            }
        }
        closedir(d);
        if (count < keep || !oldest[0] || unlink(oldest) != 0) return;
    }
}

enum lf_status serve_upload_store(const struct serve_roots *r, const void *data, size_t size,
                                  int max_side, int keep, char id[33], struct lf_error *err)
{
    int w, h, channels;
    enum lf_status st;
    if (!r->uploads) return lf_error_set(err, LF_ERR_INVALID, "uploads are not enabled");
    if (size > INT32_MAX || !stbi_info_from_memory(data, (int)size, &w, &h, &channels))
        return lf_error_set(err, LF_ERR_FORMAT, "upload: not a PNG or JPEG image");
    if (w > max_side || h > max_side)
        return lf_error_set(err, LF_ERR_INVALID, "upload: image is %dx%d, the limit is %d per side",
                            w, h, max_side);
    if ((st = random_id(id, err)) != LF_OK) return st;
    prune_uploads(r->uploads, keep);
    char path[PATH_MAX], tmp[PATH_MAX];
    serve_upload_file(r->uploads, id, path, sizeof path);
    snprintf(tmp, sizeof tmp, "%s/.%s.tmp", r->uploads, id);
    FILE *f = fopen(tmp, "wb");
    bool ok = f && fwrite(data, 1, size, f) == size;
    if (f && fclose(f) != 0) ok = false;
    if (!ok || rename(tmp, path) != 0) {
        unlink(tmp);
        return lf_error_set(err, LF_ERR_IO, "upload: cannot store the file: %s", strerror(errno));
    }
    return LF_OK;
}

void serve_remove_tree(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    while (d && (e = readdir(d)) != NULL) {
        char path[PATH_MAX];
        struct stat st;
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        if (lstat(path, &st) == 0 && S_ISDIR(st.st_mode))
            serve_remove_tree(path);
        else
            unlink(path);
    }
    if (d) closedir(d);
    rmdir(dir);
}
