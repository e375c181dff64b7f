/*
** serve_nodes.c - GET /api/nodes (the node types, as `lcmflow nodes`
** describes them) and GET /api/models (model files under --models).
*/
#include "server.h"

#include <dirent.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

static struct json_object *param_default(const struct lf_param_desc *d)
{
    if (d->flags & LF_PARAM_REQUIRED) return NULL;
    switch (d->type) {
    case LF_TYPE_INT:
        return json_object_new_int64(d->default_int);
    case LF_TYPE_FLOAT:
        return json_object_new_double(d->default_float);
    case LF_TYPE_BOOL:
        return json_object_new_boolean(d->default_bool);
    default:
        return json_object_new_string(d->default_string ? d->default_string : "");
    }
}

static struct json_object *type_json(const struct lf_registry *reg, const struct lf_node_type *t)
{
    const char *file = NULL;
    const struct lf_plugin_desc *p = lf_registry_plugin_of(reg, t, &file);
    struct json_object *o = json_object_new_object(), *in = json_object_new_array(),
                       *out = json_object_new_array(), *params = json_object_new_array(),
                       *flags = json_object_new_array();
    json_object_object_add(o, "name", json_object_new_string(t->name));
    json_object_object_add(o, "description",
                           json_object_new_string(t->description ? t->description : ""));
    json_object_object_add(o, "plugin", json_object_new_string(p ? p->name : "?"));
    json_object_object_add(o, "plugin_version", json_object_new_string(p ? p->version : "?"));
    if (t->flags & LF_NODE_DETERMINISTIC)
        json_object_array_add(flags, json_object_new_string("deterministic"));
    if (t->flags & LF_NODE_READS_FILES)
        json_object_array_add(flags, json_object_new_string("reads-files"));
    if (t->flags & LF_NODE_SIDE_EFFECT)
        json_object_array_add(flags, json_object_new_string("side-effect"));
    json_object_object_add(o, "flags", flags);
    for (const struct lf_input_desc *d = t->inputs; d && d->name; d++) {
        struct json_object *e = json_object_new_object();
        json_object_object_add(e, "name", json_object_new_string(d->name));
        json_object_object_add(e, "type", json_object_new_string(lf_value_type_name(d->type)));
        json_object_object_add(e, "optional", json_object_new_boolean(d->flags & LF_PORT_OPTIONAL));
        if (d->description)
            json_object_object_add(e, "description", json_object_new_string(d->description));
        json_object_array_add(in, e);
    }
    for (const struct lf_output_desc *d = t->outputs; d && d->name; d++) {
        struct json_object *e = json_object_new_object();
        json_object_object_add(e, "name", json_object_new_string(d->name));
        json_object_object_add(e, "type", json_object_new_string(lf_value_type_name(d->type)));
        if (d->description)
            json_object_object_add(e, "description", json_object_new_string(d->description));
        json_object_array_add(out, e);
    }
    for (const struct lf_param_desc *d = t->params; d && d->name; d++) {
        struct json_object *e = json_object_new_object();
        json_object_object_add(e, "name", json_object_new_string(d->name));
        json_object_object_add(e, "type", json_object_new_string(lf_value_type_name(d->type)));
        json_object_object_add(e, "required",
                               json_object_new_boolean(d->flags & LF_PARAM_REQUIRED));
        json_object_object_add(e, "path", json_object_new_boolean(d->flags & LF_PARAM_PATH));
        json_object_object_add(e, "default", param_default(d));
        if (d->flags & LF_PARAM_HAS_RANGE) {
            json_object_object_add(e, "min", json_object_new_double(d->min));
            json_object_object_add(e, "max", json_object_new_double(d->max));
        }
        if (d->description)
            json_object_object_add(e, "description", json_object_new_string(d->description));
        json_object_array_add(params, e);
    }
    json_object_object_add(o, "inputs", in);
    json_object_object_add(o, "outputs", out);
    json_object_object_add(o, "params", params);
    return o;
}

struct json_object *serve_nodes_json(struct lf_registry *reg)
{
    struct json_object *a = json_object_new_array();
    for (size_t i = 0; i < lf_registry_count(reg); i++)
        json_object_array_add(a, type_json(reg, lf_registry_type(reg, i)));
    return a;
}

/* Adds root-relative names of *.safetensors files and diffusers folders
** (holding unet/) under dir, three levels deep, at most 500. */
static void scan(const char *root, const char *rel, int depth, struct json_object *list)
{
    char path[PATH_MAX];
    DIR *d;
    struct dirent *e;
    snprintf(path, sizeof path, "%s%s%s", root, rel[0] ? "/" : "", rel);
    if (depth > 3 || !(d = opendir(path))) return;
    while ((e = readdir(d)) != NULL && json_object_array_length(list) < 500) {
        char child[PATH_MAX], full[PATH_MAX];
        struct stat st;
        size_t len = strlen(e->d_name);
        if (e->d_name[0] == '.') continue;
        snprintf(child, sizeof child, "%s%s%s", rel, rel[0] ? "/" : "", e->d_name);
        snprintf(full, sizeof full, "%s/%s", root, child);
        if (lstat(full, &st) != 0 || S_ISLNK(st.st_mode)) continue;
        if (S_ISDIR(st.st_mode)) {
            char unet[PATH_MAX];
            snprintf(unet, sizeof unet, "%s/unet", full);
            if (stat(unet, &st) == 0 && S_ISDIR(st.st_mode))
                json_object_array_add(list, json_object_new_string(child));
            else
                scan(root, child, depth + 1, list);
        } else if (len > 12 && !strcmp(e->d_name + len - 12, ".safetensors")) {
            json_object_array_add(list, json_object_new_string(child));
        }
    }
    closedir(d);
}

static int by_name(const void *a, const void *b)
{
    return strcmp(json_object_get_string(*(struct json_object *const *)a),
                  json_object_get_string(*(struct json_object *const *)b));
}

struct json_object *serve_models_json(const struct serve_roots *roots)
{
    struct json_object *list = json_object_new_array();
    for (size_t i = 0; i < roots->nmodels; i++)
        scan(roots->models[i], "", 0, list);
    json_object_array_sort(list, by_name);
    return list;
}
