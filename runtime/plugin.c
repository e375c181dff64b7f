/*
** plugin.c - the node registry: finds, loads and checks plugins, and keeps
** the node types they define.
*/
#define _GNU_SOURCE /* dladdr */
#include "graph-impl.h"

#include <dirent.h>
#include <dlfcn.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

struct plugin {
    char *file;   /* real path, or the origin of a linked-in plugin */
    void *handle; /* NULL for lf_registry_add */
    const struct lf_plugin_desc *desc;
};

struct type_entry {
    const struct lf_node_type *type;
    size_t plugin;
};

/* A plugin lf_registry_load_default skipped: its file and why. */
struct failure {
    char *file;
    char *message;
};

struct lf_registry {
    struct plugin *plugins;
    size_t nplugins, cap_plugins;
    struct type_entry *types;
    size_t ntypes, cap_types;
    struct failure *failures;
    size_t nfailures;
};

enum lf_status lf_registry_create(struct lf_registry **out, struct lf_error *err)
{
    *out = calloc(1, sizeof **out);
    if (!*out) return lf_error_set(err, LF_ERR_OUT_OF_MEMORY, "out of memory creating a registry");
    return LF_OK;
}

void lf_registry_destroy(struct lf_registry *reg)
{
    if (!reg) return;
    for (size_t i = reg->nplugins; i-- > 0;) {
        if (reg->plugins[i].handle) dlclose(reg->plugins[i].handle);
        free(reg->plugins[i].file);
    }
    for (size_t i = 0; i < reg->nfailures; i++)
        free(reg->failures[i].file), free(reg->failures[i].message);
    free(reg->failures);
    free(reg->plugins);
    free(reg->types);
    free(reg);
}

static bool is_scalar_type(enum lf_value_type t)
{
    return t == LF_TYPE_INT || t == LF_TYPE_FLOAT || t == LF_TYPE_STRING || t == LF_TYPE_BOOL;
}

static bool is_value_type(enum lf_value_type t)
{
    return t > LF_TYPE_NONE && t < LF_TYPE_COUNT;
}

static bool has_port_or_param(const struct lf_node_type *t, const char *name)
{
    for (const struct lf_input_desc *in = t->inputs; in && in->name; in++)
        if (!strcmp(in->name, name)) return true;
    for (const struct lf_param_desc *p = t->params; p && p->name; p++)
        if (!strcmp(p->name, name)) return true;
    return false;
}

#define KNOWN_PARAM_FLAGS                                                                          \
    (LF_PARAM_REQUIRED | LF_PARAM_HAS_RANGE | LF_PARAM_PATH | LF_PARAM_UNSIGNED |                  \
     LF_PARAM_INT_RANGE)

/* A param's type, flags and default (ABI 1.2 flags included). */
static enum lf_status check_param(const char *file, const struct lf_node_type *t,
                                  const struct lf_param_desc *p, struct lf_error *err)
{
    const char *problem = NULL;
    if (!is_scalar_type(p->type))
        problem = "must be INT, FLOAT, STRING or BOOL";
    else if (p->flags & ~(uint32_t)KNOWN_PARAM_FLAGS)
        problem = "has flags this runtime does not know (a plugin for a newer lcmflow)";
    else if ((p->flags & (LF_PARAM_UNSIGNED | LF_PARAM_INT_RANGE)) && p->type != LF_TYPE_INT)
        problem = "is not INT but has LF_PARAM_UNSIGNED or LF_PARAM_INT_RANGE";
    else if ((p->flags & LF_PARAM_INT_RANGE) && !(p->flags & LF_PARAM_HAS_RANGE))
        problem = "has LF_PARAM_INT_RANGE without LF_PARAM_HAS_RANGE";
    else if (p->type == LF_TYPE_INT && !(p->flags & LF_PARAM_REQUIRED) &&
             !lf_param_int_in_range(p, p->default_int))
        problem = "has a default outside its range";
    if (problem)
        return lf_error_set(err, LF_ERR_PLUGIN, "%s: param '%s' of '%s' %s", file, p->name, t->name,
                            problem);
    return LF_OK;
}

/*
** Checks one node type's tables so the rest of the runtime can trust them:
** a plugin bug becomes a load error naming the file, not a crash later.
*/
static enum lf_status check_type(const char *file, const struct lf_node_type *t,
                                 struct lf_error *err)
{
    if (!t->name || !t->name[0])
        return lf_error_set(err, LF_ERR_PLUGIN, "%s: a node type has no name", file);
    if (!t->execute)
        return lf_error_set(err, LF_ERR_PLUGIN, "%s: node type '%s' has no execute function", file,
                            t->name);
    for (const struct lf_input_desc *in = t->inputs; in && in->name; in++)
        if (!is_value_type(in->type))
            return lf_error_set(err, LF_ERR_PLUGIN, "%s: input '%s' of '%s' has no valid type",
                                file, in->name, t->name);
    for (const struct lf_param_desc *p = t->params; p && p->name; p++) {
        enum lf_status st = check_param(file, t, p, err);
        if (st) return st;
    }
    for (const struct lf_output_desc *o = t->outputs; o && o->name; o++) {
        if (!is_value_type(o->type))
            return lf_error_set(err, LF_ERR_PLUGIN, "%s: output '%s' of '%s' has no valid type",
                                file, o->name, t->name);
        for (const char *const *d = o->depends_on; d && *d; d++)
            if (!has_port_or_param(t, *d))
                return lf_error_set(err, LF_ERR_PLUGIN,
                                    "%s: output '%s' of '%s' depends on '%s', which is neither "
                                    "an input nor a param",
                                    file, o->name, t->name, *d);
    }
    return LF_OK;
}

static long find_entry(const struct lf_registry *reg, const char *name)
{
    for (size_t i = 0; i < reg->ntypes; i++)
        if (!strcmp(reg->types[i].type->name, name)) return (long)i;
    return -1;
}

/* Validates desc and adds its types; on failure the registry is unchanged. */
static enum lf_status add_plugin(struct lf_registry *reg, const struct lf_plugin_desc *desc,
                                 const char *file, void *handle, struct lf_error *err)
{
    size_t count = 0;
    if (!desc)
        return lf_error_set(err, LF_ERR_PLUGIN, "%s: the entry point returned no descriptor", file);
    if (desc->abi_version != LF_PLUGIN_ABI_VERSION)
        return lf_error_set(err, LF_ERR_PLUGIN, "%s: plugin ABI %u, runtime expects %u", file,
                            (unsigned)desc->abi_version, (unsigned)LF_PLUGIN_ABI_VERSION);
    if (desc->struct_size < offsetof(struct lf_plugin_desc, purge))
        return lf_error_set(err, LF_ERR_PLUGIN, "%s: descriptor too small (%u bytes)", file,
                            (unsigned)desc->struct_size);
    if (desc->struct_size > offsetof(struct lf_plugin_desc, node_type_size) &&
        desc->node_type_size != 0 &&
        desc->node_type_size <
            offsetof(struct lf_node_type, file_identity) + sizeof(void (*)(void)))
        return lf_error_set(err, LF_ERR_PLUGIN, "%s: node types too small (%u bytes)", file,
                            (unsigned)desc->node_type_size);
    if (!desc->name || !desc->version || !desc->node_types)
        return lf_error_set(err, LF_ERR_PLUGIN, "%s: descriptor lacks a name, version or types",
                            file);
    for (const struct lf_node_type *const *t = desc->node_types; *t; t++, count++) {
        enum lf_status st = check_type(file, *t, err);
        if (st) return st;
        long other = find_entry(reg, (*t)->name);
        if (other >= 0)
            return lf_error_set(err, LF_ERR_PLUGIN, "node type '%s' is defined by both %s and %s",
                                (*t)->name, reg->plugins[reg->types[other].plugin].file, file);
        for (const struct lf_node_type *const *u = desc->node_types; u < t; u++)
            if (!strcmp((*u)->name, (*t)->name))
                return lf_error_set(err, LF_ERR_PLUGIN, "%s: node type '%s' is defined twice", file,
                                    (*t)->name);
    }
    if (reg->nplugins == reg->cap_plugins) {
        size_t cap = reg->cap_plugins ? 2 * reg->cap_plugins : 8;
        struct plugin *p = realloc(reg->plugins, cap * sizeof *p);
        if (!p) return lf_error_set(err, LF_ERR_OUT_OF_MEMORY, "out of memory");
        reg->plugins = p;
        reg->cap_plugins = cap;
    }
    if (reg->ntypes + count > reg->cap_types) {
        size_t cap = reg->cap_types ? reg->cap_types : 16;
        while (cap < reg->ntypes + count)
            cap *= 2;
        struct type_entry *e = realloc(reg->types, cap * sizeof *e);
        if (!e) return lf_error_set(err, LF_ERR_OUT_OF_MEMORY, "out of memory");
        reg->types = e;
        reg->cap_types = cap;
    }
    char *copy = strdup(file);
    if (!copy) return lf_error_set(err, LF_ERR_OUT_OF_MEMORY, "out of memory");
    reg->plugins[reg->nplugins] = (struct plugin){copy, handle, desc};
    for (const struct lf_node_type *const *t = desc->node_types; *t; t++)
        reg->types[reg->ntypes++] = (struct type_entry){*t, reg->nplugins};
    reg->nplugins++;
    return LF_OK;
}

enum lf_status lf_registry_add(struct lf_registry *reg, const struct lf_plugin_desc *desc,
                               const char *origin, struct lf_error *err)
{
    return add_plugin(reg, desc, origin ? origin : "(linked in)", NULL, err);
}

enum lf_status lf_registry_load_file(struct lf_registry *reg, const char *path,
                                     struct lf_error *err)
{
    char real[PATH_MAX];
    if (!realpath(path, real))
        return lf_error_set(err, LF_ERR_PLUGIN, "%s: cannot open plugin: no such file", path);
    for (size_t i = 0; i < reg->nplugins; i++)
        if (reg->plugins[i].handle && !strcmp(reg->plugins[i].file, real)) return LF_OK;
    void *handle = dlopen(real, RTLD_NOW | RTLD_LOCAL);
    if (!handle)
        return lf_error_set(err, LF_ERR_PLUGIN, "%s: cannot load plugin: %s", path, dlerror());
    /* Through a union: ISO C has no conversion from void * to a function pointer. */
    union {
        void *object;
        lf_plugin_entry_fn fn;
    } entry = {dlsym(handle, LF_PLUGIN_ENTRY_SYMBOL)};
    if (!entry.object) {
        dlclose(handle);
        return lf_error_set(err, LF_ERR_PLUGIN,
                            "%s: no entry point '%s' (not an lcmflow plugin, or built without "
                            "LF_EXPORT)",
                            path, LF_PLUGIN_ENTRY_SYMBOL);
    }
    enum lf_status st = add_plugin(reg, entry.fn(lf_host_api_get()), path, handle, err);
    if (st) {
        dlclose(handle);
        return st;
    }
    /* Keep the real path for duplicate detection, the given one was used in messages. */
    free(reg->plugins[reg->nplugins - 1].file);
    reg->plugins[reg->nplugins - 1].file = strdup(real);
    if (!reg->plugins[reg->nplugins - 1].file) reg->plugins[reg->nplugins - 1].file = strdup("?");
    return LF_OK;
}

static int so_filter(const struct dirent *d)
{
    size_t n = strlen(d->d_name);
    return d->d_name[0] != '.' && n > 3 && !strcmp(d->d_name + n - 3, ".so");
}

/* A plugin that cannot be loaded is an error when asked for by name
** (load_file, load_dir); lf_registry_load_default records it and goes on, so
** one bad file on the path does not stop every command.  Only running out
** of memory stops it. */
static enum lf_status skip_failed(struct lf_registry *reg, const char *file, enum lf_status st,
                                  struct lf_error *err)
{
    if (st != LF_ERR_PLUGIN) return st;
    struct failure *f = realloc(reg->failures, (reg->nfailures + 1) * sizeof *f);
    if (!f) return lf_error_set(err, LF_ERR_OUT_OF_MEMORY, "out of memory");
    reg->failures = f;
    f = &reg->failures[reg->nfailures];
    f->file = strdup(file);
    f->message = strdup(err ? err->message : "cannot be loaded");
    if (!f->file || !f->message) {
        free(f->file), free(f->message);
        return lf_error_set(err, LF_ERR_OUT_OF_MEMORY, "out of memory");
    }
    reg->nfailures++;
    if (err) *err = (struct lf_error){0};
    return LF_OK;
}

static enum lf_status load_dir(struct lf_registry *reg, const char *dir, bool skip,
                               struct lf_error *err)
{
    struct dirent **list;
    int n = scandir(dir, &list, so_filter, alphasort);
    enum lf_status st = LF_OK;
    if (n < 0) return LF_OK; /* a missing folder simply holds no plugins */
    for (int i = 0; i < n; i++) {
        if (st == LF_OK) {
            char path[PATH_MAX];
            snprintf(path, sizeof path, "%s/%s", dir, list[i]->d_name);
            st = lf_registry_load_file(reg, path, err);
            if (skip) st = skip_failed(reg, path, st, err);
        }
        free(list[i]);
    }
    free(list);
    return st;
}

enum lf_status lf_registry_load_dir(struct lf_registry *reg, const char *dir, struct lf_error *err)
{
    return load_dir(reg, dir, false, err);
}

/*
** The build tree's nodes/ folder is used when this library itself was
** loaded from the build tree; an installed library uses the install folder,
** so an installed copy never sees (and collides with) a stale build tree.
*/
static const char *default_dir(void)
{
    static const char build_dir[] = LF_PLUGIN_BUILD_DIR;
    Dl_info info;
    size_t root = sizeof build_dir - 1;
    while (root > 0 && build_dir[root - 1] != '/')
        root--;
    if (dladdr((void *)(uintptr_t)lf_registry_create, &info) && info.dli_fname && root > 0 &&
        !strncmp(info.dli_fname, build_dir, root))
        return build_dir;
    return LF_PLUGIN_INSTALL_DIR;
}

enum lf_status lf_registry_load_default(struct lf_registry *reg, struct lf_error *err)
{
    const char *env = getenv("LCMFLOW_PLUGIN_PATH");
    if (env && env[0]) {
        char *copy = strdup(env), *save = NULL;
        if (!copy) return lf_error_set(err, LF_ERR_OUT_OF_MEMORY, "out of memory");
        for (char *dir = strtok_r(copy, ":", &save); dir; dir = strtok_r(NULL, ":", &save)) {
            /* An entry naming a file is that plugin (loaded, or its error reported). */
            struct stat sb;
            bool found = stat(dir, &sb) == 0;
            enum lf_status st =
                !found || S_ISDIR(sb.st_mode) ? load_dir(reg, dir, true, err)
                : S_ISREG(sb.st_mode)
                    ? skip_failed(reg, dir, lf_registry_load_file(reg, dir, err), err)
                    : skip_failed(reg, dir,
                                  lf_error_set(err, LF_ERR_PLUGIN,
                                               "%s (in LCMFLOW_PLUGIN_PATH): neither a folder "
                                               "nor a plugin file",
                                               dir),
                                  err);
            if (st) {
                free(copy);
                return st;
            }
        }
        free(copy);
    }
    return load_dir(reg, default_dir(), true, err);
}

size_t lf_registry_failure_count(const struct lf_registry *reg)
{
    return reg->nfailures;
}

const char *lf_registry_failure(const struct lf_registry *reg, size_t index, const char **file)
{
    if (index >= reg->nfailures) return NULL;
    if (file) *file = reg->failures[index].file;
    return reg->failures[index].message;
}

void lf_registry_purge(struct lf_registry *reg)
{
    for (size_t i = 0; i < reg->nplugins; i++)
        if (reg->plugins[i].desc->purge) reg->plugins[i].desc->purge();
}

size_t lf_registry_count(const struct lf_registry *reg)
{
    return reg->ntypes;
}

const struct lf_node_type *lf_registry_type(const struct lf_registry *reg, size_t index)
{
    return index < reg->ntypes ? reg->types[index].type : NULL;
}

const struct lf_node_type *lf_registry_find(const struct lf_registry *reg, const char *name)
{
    long i = find_entry(reg, name);
    return i < 0 ? NULL : reg->types[i].type;
}

const struct lf_plugin_desc *lf_registry_plugin_of(const struct lf_registry *reg,
                                                   const struct lf_node_type *type,
                                                   const char **file)
{
    for (size_t i = 0; i < reg->ntypes; i++)
        if (reg->types[i].type == type) {
            const struct plugin *p = &reg->plugins[reg->types[i].plugin];
            if (file) *file = p->file;
            return p->desc;
        }
    return NULL;
}

const char *lf_registry_suggest(const struct lf_registry *reg, const char *name)
{
    const char **names = malloc((reg->ntypes + 1) * sizeof *names);
    const char *best;
    if (!names) return NULL;
    for (size_t i = 0; i < reg->ntypes; i++)
        names[i] = reg->types[i].type->name;
    names[reg->ntypes] = NULL;
    best = lf_closest_name(name, (const char *const *)names);
    free(names);
    return best;
}
