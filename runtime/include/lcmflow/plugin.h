/*
** plugin.h - the node plugin ABI: what a shared object in nodes/ exports and
** what the host hands it.
**
** A plugin is a shared object built with -fvisibility=hidden that exports
** exactly one symbol, the entry function:
**
**     LF_EXPORT const struct lf_plugin_desc *
**     lcmflow_plugin_entry(const struct lf_host_api *host);
**
** It returns a pointer to static, constant data describing the plugin and
** its node types.  Everything a node type is (ports, params, ranges, cache
** semantics) is typed data in these tables: `lcmflow nodes`, the YAML
** validator and the executor's cache all read the same tables.
**
**     static const struct lf_node_type add_type = {
**         .name = "Add", .description = "Adds two numbers.",
**         .flags = LF_NODE_DETERMINISTIC,
**         .inputs = (const struct lf_input_desc[]){
**             {.name = "a", .type = LF_TYPE_FLOAT}, {.name = "b", .type = LF_TYPE_FLOAT}, {0}},
**         .outputs = (const struct lf_output_desc[]){{.name = "sum", .type = LF_TYPE_FLOAT}, {0}},
**         .params = (const struct lf_param_desc[]){{0}},
**         .execute = add_execute,
**     };
**     static const struct lf_node_type *const types[] = {&add_type, NULL};
**     static const struct lf_plugin_desc desc = {
**         .abi_version = LF_PLUGIN_ABI_VERSION, .struct_size = sizeof desc,
**         .name = "math", .version = "1.0.0", .node_types = types,
**     };
**     LF_EXPORT const struct lf_plugin_desc *lcmflow_plugin_entry(const struct lf_host_api *h)
**     { (void)h; return &desc; }
**
** (LF_PLUGIN_DEFINE below writes desc and the entry for the usual plugin.)
**
** Compatibility rules (append-only, after SQLite's extension table):
**  - LF_PLUGIN_ABI_VERSION changes only when an existing field changes
**    meaning or position; the loader refuses any other version.
**  - New fields are only ever added at the END of a struct, under a
**    "ABI 1.x and later" comment; readers check struct_size before reading
**    them.  Never insert in the middle.
**  - Array elements (lf_input_desc, lf_output_desc, lf_param_desc) never
**    grow: later 1.x versions give them new meanings only behind new flag
**    bits, which older plugins never set (the loader refuses unknown bits).
**    tests/test_abi.c pins every size and offset.
**
** History: 1.0 the tables and the host's log, progress, interrupted,
** error_set, get_device; 1.1 param_defaults, node_type_size, graph_yaml;
** 1.2 exact 64-bit INT params (LF_PARAM_UNSIGNED, LF_PARAM_INT_RANGE), the
** host's cache_get/cache_put, lf_node_call.file_identity, and a defined
** meaning for purge; 1.3 the host's latent_preview; 1.4 the host's
** image_preview; 1.5 LF_NODE_REPLACES.  Plugins check a host service appended
*after 1.0
** before calling it (LF_HOST_HAS, node.h); one that cannot work without it
** returns NULL from its entry.
**
** Plugins may link liblcmflow.so for tensors and ops (tensor.h, ops.h); the
** host services below are reached only through the lf_host_api table so a
** test can pass a fake host.  node.h has typed accessors for execute.  In
** meson (static libraries linked into the plugin need -fvisibility=hidden
** too), or out of tree with the installed lcmflow.pc (examples/plugin/):
**
**     shared_module('sd15', 'sd15.c', name_prefix : '',
**                   c_args : ['-fvisibility=hidden'], dependencies : lcmflow_dep,
**                   install : true, install_dir : lf_plugin_dir)
**
**     cc -shared -fPIC -fvisibility=hidden $(pkg-config --cflags lcmflow) \
**        -o myplugin.so myplugin.c $(pkg-config --libs lcmflow)
**
** Lifecycle.  Node types are stateless: describe is the static tables,
** validate (optional) checks params when a graph is validated, execute runs
** once per needed evaluation.  Anything costly to build (loaded weights,
** pipelines) is an output value (a struct lf_object for models) that the
** executor caches and passes on, so it lives exactly as long as the cache
** keeps it; there are no per-node instances to create or destroy.
*/
#ifndef LCMFLOW_PLUGIN_H
#define LCMFLOW_PLUGIN_H

#include "lcmflow/error.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#if defined(__GNUC__)
#define LF_EXPORT __attribute__((visibility("default")))
#else
#define LF_EXPORT
#endif

/* Bumped only on incompatible changes (see above). */
#define LF_PLUGIN_ABI_VERSION 1

/* The name of the one exported symbol. */
#define LF_PLUGIN_ENTRY_SYMBOL "lcmflow_plugin_entry"

struct lf_tensor; /* tensor.h */
struct lf_device; /* device.h */
struct lf_host_api;

/*
** Value types on ports and params.  Params use INT, FLOAT, STRING and BOOL
** only.  TENSOR .. IMAGE carry a struct lf_tensor *; UNET, CLIP and VAE carry
** a struct lf_object * (a model made by a loader node).
*/
enum lf_value_type {
    LF_TYPE_NONE = 0, /* no value: an absent optional input */
    LF_TYPE_INT,
    LF_TYPE_FLOAT,
    LF_TYPE_STRING,
    LF_TYPE_BOOL,
    LF_TYPE_TENSOR,       /* any tensor */
    LF_TYPE_LATENT,       /* [B, 4, H/8, W/8] */
    LF_TYPE_CONDITIONING, /* [B, 77*k, C] */
    LF_TYPE_IMAGE,        /* [B, H, W, 3] in [0, 1] */
    LF_TYPE_UNET,
    LF_TYPE_CLIP,
    LF_TYPE_VAE,
    LF_TYPE_COUNT
};

/*
** A refcounted opaque object a plugin creates (a loaded model).  The plugin
** embeds it as the first member of its own struct, sets refcount = 1,
** nbytes (what it holds in host + device memory: the cache budget counts
** it) and destroy (called once when the last reference goes; frees the
** containing struct).  Not thread-safe: the executor runs one node at a time.
*/
struct lf_object {
    uint32_t refcount;
    uint32_t reserved;
    uint64_t nbytes;
    const char *kind; /* a static string naming the concrete type, e.g. "sd15.unet" */
    void (*destroy)(struct lf_object *object);
};

static inline struct lf_object *lf_object_retain(struct lf_object *object)
{
    if (object) object->refcount++;
    return object;
}

/* NULL allowed. */
static inline void lf_object_release(struct lf_object *object)
{
    if (object && --object->refcount == 0 && object->destroy) object->destroy(object);
}

/*
** A value on an edge or in a param.  Which member is live follows `type`:
** INT -> i (ui for an LF_PARAM_UNSIGNED param: the same 64 bits read as
** unsigned), FLOAT -> f, BOOL -> b, STRING -> s, TENSOR..IMAGE -> tensor,
** UNET/CLIP/VAE -> object.  Ownership is stated where a value is passed.
*/
struct lf_value {
    enum lf_value_type type;
    union {
        int64_t i;
        uint64_t ui; /* ABI 1.2: INT of an LF_PARAM_UNSIGNED param */
        double f;
        bool b;
        char *s; /* NUL-terminated, malloc'ed when owned */
        struct lf_tensor *tensor;
        struct lf_object *object;
    } u;
};

/* ---- descriptors: static const data, sentinel-terminated arrays ----
**
** lf_input_desc, lf_output_desc and lf_param_desc are array elements: their
** size is part of ABI 1 and they never grow (a change means ABI 2).
** lf_node_type is reached through pointers and may grow at its end (see
** lf_plugin_desc.node_type_size). */

enum lf_port_flags {
    LF_PORT_OPTIONAL = 1u << 0, /* input may be left unconnected (value type NONE) */
};

struct lf_input_desc {
    const char *name; /* NULL ends the array */
    enum lf_value_type type;
    uint32_t flags; /* enum lf_port_flags */
    const char *description;
};

struct lf_output_desc {
    const char *name; /* NULL ends the array */
    enum lf_value_type type;
    /* Which params and inputs (by name) this output's value depends on,
    ** NULL-terminated.  NULL means all of them.  The cache key of the output
    ** hashes only these, so an output whose inputs did not change stays
    ** cached (LoraLoader's clip does not depend on strength_model).  An empty
    ** list ({NULL}) means the output depends on nothing but the node type
    ** and, for LF_NODE_READS_FILES nodes, the file identity. */
    const char *const *depends_on;
    const char *description;
};

enum lf_param_flags {
    LF_PARAM_REQUIRED = 1u << 0,  /* no default: the graph must set it */
    LF_PARAM_HAS_RANGE = 1u << 1, /* min/max are checked (INT and FLOAT) */
    LF_PARAM_PATH = 1u << 2,      /* a STRING that names a file: relative paths are
                                     resolved against the graph file's folder, and
                                     for READS_FILES nodes the file's identity
                                     joins the cache key */
    /* ABI 1.2 and later */
    /* An INT whose values are 0 .. 2^64-1 (a seed: ComfyUI accepts any
    ** unsigned 64-bit value).  Stored in lf_value.ui, the default in
    ** default_int's bits ((int64_t)UINT64_MAX for 2^64-1); text (YAML,
    ** --set, Lua, the graph written into images) is decimal without sign.
    ** Without LF_PARAM_HAS_RANGE the whole unsigned range is accepted. */
    LF_PARAM_UNSIGNED = 1u << 3,
    /* An INT whose range is min_int..max_int: exact 64-bit bounds (unsigned
    ** bits with LF_PARAM_UNSIGNED), instead of the doubles min/max, which
    ** ABI 1.0 INT params use (exact only up to 2^53).  Needs HAS_RANGE. */
    LF_PARAM_INT_RANGE = 1u << 4,
};

struct lf_param_desc {
    const char *name;        /* NULL ends the array */
    enum lf_value_type type; /* INT, FLOAT, STRING or BOOL */
    uint32_t flags;          /* enum lf_param_flags */
    /* The default, in the member matching type (ignored when REQUIRED). */
    int64_t default_int;
    double default_float;
    const char *default_string; /* NULL means "" */
    bool default_bool;
    /* The inclusive range, with LF_PARAM_HAS_RANGE: min/max for FLOAT, and
    ** for INT without LF_PARAM_INT_RANGE; min_int/max_int (ABI 1.2, the same
    ** bytes) for INT with it. */
    union {
        double min;
        int64_t min_int;
    };
    union {
        double max;
        int64_t max_int;
    };
    const char *description;
};

enum lf_node_flags {
    /* Same params and inputs give the same outputs: outputs may be cached.
    ** Without it (and for SIDE_EFFECT nodes) the node runs on every run that
    ** needs it, and so do its descendants. */
    LF_NODE_DETERMINISTIC = 1u << 0,
    /* Reads files named by LF_PARAM_PATH params: their identity (size and
    ** mtime, or the file_identity hook) joins every output's cache key. */
    LF_NODE_READS_FILES = 1u << 1,
    /* Acts on the world (writes a file): never cached, always run when the
    ** run asks for it. */
    LF_NODE_SIDE_EFFECT = 1u << 2,
    /* (ABI 1.5) Its outputs are large and made from its inputs (merged
    ** weights): when it runs again with other params or inputs, its earlier
    ** outputs leave the cache before it runs, so that their memory serves
    ** the new ones (one cached result per node, as ComfyUI keeps).  A hint:
    ** an older runtime ignores it. */
    LF_NODE_REPLACES = 1u << 3,
};

/*
** One call of a node's execute function.  Everything here is borrowed and
** valid until execute returns.
*/
struct lf_node_call {
    uint32_t struct_size;
    const struct lf_host_api *host;
    struct lf_host_ctx *ctx; /* pass to the host functions */
    const char *node_id;     /* the node's id in the graph */
    const struct lf_node_type *type;
    /* One per declared param, in declaration order, typed as declared;
    ** PATH strings already resolved against the graph's folder. */
    const struct lf_value *params;
    /* One per declared input, in declaration order; type LF_TYPE_NONE for an
    ** unconnected optional input. */
    const struct lf_value *inputs;
    /* One per declared output, zeroed by the host (type NONE); see execute. */
    struct lf_value *outputs;
    /* ABI 1.2 and later (check struct_size) */
    /* For LF_NODE_READS_FILES nodes, the identity of the files read (the
    ** file_identity hook's value, or the sizes, times and inodes of the
    ** PATH params' files) as hashed into the cache keys; 0 otherwise.  With
    ** the path it keys a host-cached parse of the file (cache_put). */
    uint64_t file_identity;
};

/*
** execute: computes the node's outputs.
**   \pre  params are valid (types and ranges checked, validate passed);
**         every required input is present with its declared type; every
**         outputs[i] has type LF_TYPE_NONE.
**   \post on LF_OK every outputs[i] is set with its declared type, and the
**         host owns it: a STRING's s was malloc'ed (host calls free), a
**         tensor or object carries one reference the host releases.  On
**         any other status err is set and the host clears whatever outputs
**         were set.  Inputs and params stay the host's: retain a tensor or
**         object to keep it beyond the call (e.g. to pass it on as an output).
**   Returns LF_ERR_INTERRUPTED when host->interrupted() became true and the
**   node stopped early.  Files are written to a temporary name and renamed,
**   so an interrupted or failed node leaves nothing half-written.
*/
typedef enum lf_status (*lf_node_execute_fn)(const struct lf_node_call *call, struct lf_error *err);

/*
** validate (optional; NULL means the declared types and ranges are enough):
** checks param combinations at graph validation, before anything runs.
** params as in lf_node_call.  Returns LF_ERR_INVALID with a message naming
** the param, e.g. "width must be a multiple of 8".
*/
typedef enum lf_status (*lf_node_validate_fn)(const struct lf_node_type *type,
                                              const struct lf_value *params, struct lf_error *err);

/*
** file_identity (optional; NULL means: for READS_FILES nodes, the size and
** modification time of each PATH param's file).  Fills *identity with a
** value that changes whenever the content a node would read changes
** (e.g. a hash of a folder's files' sizes and mtimes).  params as above.
*/
typedef enum lf_status (*lf_node_file_identity_fn)(const struct lf_node_type *type,
                                                   const struct lf_value *params,
                                                   uint64_t *identity, struct lf_error *err);

struct lf_node_type {
    const char *name;                     /* unique across all plugins, CamelCase */
    const char *description;              /* one line */
    uint32_t flags;                       /* enum lf_node_flags */
    const struct lf_input_desc *inputs;   /* may be NULL: none */
    const struct lf_output_desc *outputs; /* may be NULL: none */
    const struct lf_param_desc *params;   /* may be NULL: none */
    lf_node_execute_fn execute;
    lf_node_validate_fn validate;           /* optional */
    lf_node_file_identity_fn file_identity; /* optional */
    /* ABI 1.1 and later (read when the plugin's node_type_size covers it) */
    /* (optional; NULL means none) pairs of param names, NULL-terminated:
    ** {"strength_clip", "strength_model", NULL} makes strength_clip take
    ** strength_model's value whenever the graph does not write it.  The
    ** effective value is what the params array and the cache keys see, so an
    ** output may depend on strength_clip alone and still follow
    ** strength_model when strength_clip is left out. */
    const char *const *param_defaults;
};

struct lf_plugin_desc {
    uint32_t abi_version; /* LF_PLUGIN_ABI_VERSION */
    uint32_t struct_size; /* sizeof(struct lf_plugin_desc) as the plugin saw it */
    const char *name;     /* e.g. "sd15" */
    const char *version;  /* e.g. "1.0.0": joins every cache key, so bump it when
                             outputs change for the same inputs */
    const struct lf_node_type *const *node_types; /* NULL-terminated */
    /* (optional; NULL means nothing to do) drops plugin-internal caches
    ** (OpenFX PurgeCaches).  ABI 1.2: called once per plugin each time a
    ** session whose options name the plugin's registry empties its cache
    ** (lf_session_cache_clear); the host's cache, the objects plugins put
    ** there included, is already empty then.  Plugins that keep costly
    ** state in the host cache (cache_put) need no purge. */
    void (*purge)(void);
    /* sizeof(struct lf_node_type) as the plugin saw it; 0 means the ABI 1.0
    ** layout.  Lets later ABI 1.x hosts read fields appended to node types
    ** only from plugins that have them. */
    uint32_t node_type_size;
};

/* The description and entry of a plugin that needs nothing of the host when
** it is loaded (no purge, no host check), the one way every field is filled:
**     static const struct lf_node_type *const types[] = {&add_type, NULL};
**     LF_PLUGIN_DEFINE("math", "1.0.0", types)
*/
#define LF_PLUGIN_DEFINE(NAME, VERSION, TYPES)                                                     \
    static const struct lf_plugin_desc lf_plugin_desc_of_this_plugin = {                           \
        .abi_version = LF_PLUGIN_ABI_VERSION,                                                      \
        .struct_size = sizeof(struct lf_plugin_desc),                                              \
        .name = NAME,                                                                              \
        .version = VERSION,                                                                        \
        .node_types = TYPES,                                                                       \
        .node_type_size = sizeof(struct lf_node_type),                                             \
    };                                                                                             \
    LF_EXPORT const struct lf_plugin_desc *lcmflow_plugin_entry(const struct lf_host_api *host)    \
    {                                                                                              \
        (void)host;                                                                                \
        return &lf_plugin_desc_of_this_plugin;                                                     \
    }

/*
** lf_host_api: services the host offers; append-only.  Every function takes
** the ctx of the current lf_node_call (NULL outside execute: log and
** error_set accept NULL).  Check struct_size before calling a member added
** after ABI 1.0.
*/
enum lf_log_level {
    LF_LOG_ERROR = 0,
    LF_LOG_WARNING,
    LF_LOG_INFO,
    LF_LOG_DEBUG,
};

struct lf_host_api {
    uint32_t abi_version; /* LF_PLUGIN_ABI_VERSION */
    uint32_t struct_size;
    /* ABI 1.0 */
    void (*log)(struct lf_host_ctx *ctx, enum lf_log_level level, const char *fmt, ...)
#if defined(__GNUC__)
        __attribute__((format(printf, 3, 4)))
#endif
        ;
    /* Reports that step (1-based) of total is done; drives the progress bar. */
    void (*progress)(struct lf_host_ctx *ctx, int step, int total);
    /* True once the user asked to stop (Ctrl-C): finish the current dispatch,
    ** then return LF_ERR_INTERRUPTED. */
    bool (*interrupted)(struct lf_host_ctx *ctx);
    /* lf_error_set without linking liblcmflow. */
    enum lf_status (*error_set)(struct lf_error *err, enum lf_status code, const char *fmt, ...)
#if defined(__GNUC__)
        __attribute__((format(printf, 3, 4)))
#endif
        ;
    /* The shared compute device, created on first use (lf_device_create).
    ** Borrowed, valid until the host is destroyed.  NULL with err set when
    ** no device can be opened. */
    struct lf_device *(*get_device)(struct lf_host_ctx *ctx, struct lf_error *err);
    /* ABI 1.1 and later */
    /* The running graph as YAML with its current params (lf_graph_to_yaml):
    ** what made the outputs, for nodes that embed it (SaveImage metadata).
    ** Borrowed, valid until execute returns; NULL when unknown. */
    const char *(*graph_yaml)(struct lf_host_ctx *ctx);
    /* ABI 1.2 and later */
    /* A cache of plugin-made objects (a parsed file, weights uploaded to the
    ** device) kept in the session's value cache: counted in its byte budget
    ** (object->nbytes) and evicted with it, least recently used first, so
    ** they live as long as the budget allows and never longer than the
    ** session.  key is the plugin's own 64-bit hash of what made the
    ** object (e.g. a file's path and identity); the host mixes in the
    ** plugin's name, so plugins never see each other's objects.  An object
    ** must not depend on the node's params beyond what its key hashes.
    ** cache_get: a new reference (caller releases), or NULL when absent. */
    struct lf_object *(*cache_get)(struct lf_host_ctx *ctx, uint64_t key);
    /* cache_put: stores a new reference to object under key, replacing any;
    ** the caller keeps its own reference.  Returns false when nothing was
    ** stored (no session, or larger than the whole budget). */
    bool (*cache_put)(struct lf_host_ctx *ctx, uint64_t key, struct lf_object *object);
    /* ABI 1.3 and later */
    /* A sampler's current estimate of its final latent after step (1-based)
    ** of total: host f32 [B, C, H, W] with shape, borrowed for the call.
    ** For live previews; the host may ignore it. */
    void (*latent_preview)(struct lf_host_ctx *ctx, int step, int total, const float *latent,
                           const int64_t shape[4]);
    /* ABI 1.4 and later */
    /* A sampler's preview picture after step (1-based) of total: an IMAGE
    ** [B, H, W, 3] f32 in [0, 1] (e.g. a TAESD decode of the step's
    ** estimate), borrowed for the call.  Sent instead of latent_preview by
    ** a node that can decode; the host may ignore it. */
    void (*image_preview)(struct lf_host_ctx *ctx, int step, int total, struct lf_tensor *image);
};

/* The entry symbol's type.  host is borrowed and outlives the plugin;
** the returned descriptor must stay valid until the plugin is unloaded. */
typedef const struct lf_plugin_desc *(*lf_plugin_entry_fn)(const struct lf_host_api *host);

/* Names of value types ("INT", "LATENT", ...); "?" for unknown values. */
const char *lf_value_type_name(enum lf_value_type type);

#endif
