/*
** registry.h - the node registry (the node types of the loaded plugins)
** and the host table handed to them.
**
**     struct lf_registry *reg;
**     if (lf_registry_create(&reg, &err) || lf_registry_load_default(reg, &err))
**         ... err names the plugin file: "nodes/sd.so: plugin ABI 3, runtime expects 1"
**     const struct lf_node_type *t = lf_registry_find(reg, "LcmSampler");
**     ...
**     lf_registry_destroy(reg);
**
** Plugins are found in LCMFLOW_PLUGIN_PATH, then the build tree's or the
** install folder (plugin.h is their contract).  A registry is not
** thread-safe; graphs (graph.h) borrow it.
*/
#ifndef LCMFLOW_REGISTRY_H
#define LCMFLOW_REGISTRY_H

#include "lcmflow/error.h"
#include "lcmflow/plugin.h"

#include <stddef.h>

struct lf_registry;

/* An empty registry; caller frees with lf_registry_destroy. */
enum lf_status lf_registry_create(struct lf_registry **out, struct lf_error *err);
/* Unloads every plugin.  NULL allowed.  Graphs made with it must be gone. */
void lf_registry_destroy(struct lf_registry *reg);

/* Loads every plugin found in LCMFLOW_PLUGIN_PATH (colon-separated folders,
** or plugin files: an entry naming a file loads that file), then the build
** tree's nodes/ folder when liblcmflow runs from the build tree, else the
** install folder.  A plugin that cannot be loaded (any lf_registry_load_file
** refusal) is skipped and recorded, see lf_registry_failure: one bad file
** must not stop every command.  Fails only when out of memory. */
enum lf_status lf_registry_load_default(struct lf_registry *reg, struct lf_error *err);
/* Plugins lf_registry_load_default skipped, in the order met: the file and
** the message of its refusal (which names the file and the reason).
** Borrowed, valid until lf_registry_destroy; NULL past the count.  A graph
** naming an unknown node type quotes them (graph.h). */
size_t lf_registry_failure_count(const struct lf_registry *reg);
const char *lf_registry_failure(const struct lf_registry *reg, size_t index, const char **file);

/* Loads every *.so in dir, in name order, stopping at the first plugin that
** cannot be loaded.  A missing dir is not an error. */
enum lf_status lf_registry_load_dir(struct lf_registry *reg, const char *dir, struct lf_error *err);
/* Loads one plugin file.  Refuses (LF_ERR_PLUGIN, naming the file): a file
** that cannot be opened, without the entry symbol, of another ABI version, a
** malformed descriptor, a node type already defined by another plugin (both
** files named).  Loading the same file twice is a no-op. */
enum lf_status lf_registry_load_file(struct lf_registry *reg, const char *path,
                                     struct lf_error *err);
/* Adds a plugin linked into the program (no file); origin names it in
** messages.  desc is borrowed and must outlive the registry. */
enum lf_status lf_registry_add(struct lf_registry *reg, const struct lf_plugin_desc *desc,
                               const char *origin, struct lf_error *err);

/* Node types, in load order.  Borrowed, valid until lf_registry_destroy. */
size_t lf_registry_count(const struct lf_registry *reg);
const struct lf_node_type *lf_registry_type(const struct lf_registry *reg, size_t index);
/* NULL when unknown. */
const struct lf_node_type *lf_registry_find(const struct lf_registry *reg, const char *name);
/* The plugin of a type and the file it came from (origin for lf_registry_add). */
const struct lf_plugin_desc *lf_registry_plugin_of(const struct lf_registry *reg,
                                                   const struct lf_node_type *type,
                                                   const char **file);
/* The known type name closest to name (edit distance), or NULL. */
const char *lf_registry_suggest(const struct lf_registry *reg, const char *name);

/* Calls every loaded plugin's purge hook (plugin.h), in load order. */
void lf_registry_purge(struct lf_registry *reg);

/* The host table the registry hands to plugins; its context functions are
** wired to the executor (executor.h).  Borrowed, static. */
const struct lf_host_api *lf_host_api_get(void);

#endif
