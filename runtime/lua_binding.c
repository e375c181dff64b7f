/*
** lua_binding.c - the `lcmflow` Lua module: graphs, runs and node types as
** Lua values (see lcmflow/lua_binding.h for the script-facing API).
**
** Every C resource is owned by a userdata created in a safe empty state
** before the resource is acquired, so an error that longjmps out leaks
** nothing (liolib's discipline).
*/
#include "lcmflow/lua_binding.h"
#include "lcmflow/executor.h"
#include "lcmflow/tensor.h"

#include <lauxlib.h>
#include <lua.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define CONTEXT_MT "lcmflow.Context"
#define GRAPH_MT   "lcmflow.Graph"
#define RUN_MT     "lcmflow.Run"

/*
** The plugins and the session, shared by the module and every graph made
** from it; freed when the last of them goes (finalizer order at lua_close
** is not something to rely on).
*/
struct context {
    struct lf_registry *reg;
    struct lf_session *session;
    int refs;
};

struct context_box {
    struct context *ctx;
};

struct graph_box {
    struct context *ctx;
    struct lf_graph *graph;
};

struct run_box {
    struct lf_run *run;
};

static struct lf_session *volatile active_session; /* for lf_lua_interrupt */

void lf_lua_interrupt(void)
{
    struct lf_session *s = active_session;
    if (s) lf_session_interrupt(s);
}

static void context_unref(struct context *c)
{
    if (c && --c->refs == 0) {
        if (active_session == c->session) active_session = NULL;
        lf_session_destroy(c->session);
        lf_registry_destroy(c->reg);
        free(c);
    }
}

/* Raises the error as a Lua error; with_where prefixes "script:line: ". */
static int raise_error(lua_State *L, const struct lf_error *err, int with_where)
{
    char text[2048];
    lf_error_text(err, text, sizeof text);
    if (with_where)
        luaL_where(L, 1);
    else
        lua_pushliteral(L, "");
    lua_pushstring(L, text);
    lua_concat(L, 2);
    return lua_error(L);
}

/* The module's context, stored as upvalue 1 of every function. */
static struct context *get_context(lua_State *L)
{
    struct context_box *b = luaL_checkudata(L, lua_upvalueindex(1), CONTEXT_MT);
    return b->ctx;
}

static int context_gc(lua_State *L)
{
    struct context_box *b = luaL_checkudata(L, 1, CONTEXT_MT);
    context_unref(b->ctx);
    b->ctx = NULL;
    return 0;
}

/* ---- graphs ---- */

static struct graph_box *check_graph(lua_State *L, int idx)
{
    struct graph_box *b = luaL_checkudata(L, idx, GRAPH_MT);
    luaL_argcheck(L, b->graph != NULL, idx, "graph is closed");
    return b;
}

/* [-0, +1, m] A closed graph userdata bound to the context. */
static struct graph_box *new_graph_box(lua_State *L)
{
    struct context *c = get_context(L);
    struct graph_box *b = lua_newuserdatauv(L, sizeof *b, 0);
    b->ctx = NULL;
    b->graph = NULL;
    luaL_setmetatable(L, GRAPH_MT);
    b->ctx = c;
    c->refs++;
    return b;
}

static int graph_gc(lua_State *L)
{
    struct graph_box *b = luaL_checkudata(L, 1, GRAPH_MT);
    lf_graph_destroy(b->graph);
    b->graph = NULL;
    context_unref(b->ctx);
    b->ctx = NULL;
    return 0;
}

/* lcmflow.load(path) [-1, +1, e] */
static int l_load(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);
    struct graph_box *b = new_graph_box(L);
    struct lf_error err = {0};
    if (lf_graph_load(b->ctx->reg, path, &b->graph, &err) != LF_OK) return raise_error(L, &err, 1);
    return 1;
}

/* Whether s is a decimal integer, as a seed above 2^63-1 must be written
** in Lua (whose integers are signed 64-bit). */
static bool is_decimal(const char *s)
{
    if (*s == '-') s++;
    if (!*s) return false;
    for (; *s; s++)
        if (*s < '0' || *s > '9') return false;
    return true;
}

/* Text of a Lua param value: integers exact, floats round-trip.  A string
** holding a decimal integer counts as a number (Lua converts such strings
** too), so an INT param takes "18446744073709551615".  A string holding a
** NUL character is an error naming what (node.param): C strings would
** silently cut it there. */
static const char *param_text(lua_State *L, int idx, char *buf, size_t size, bool *quoted,
                              const char *what)
{
    const char *str;
    size_t len;
    *quoted = false;
    switch (lua_type(L, idx)) {
    case LUA_TNUMBER:
        if (lua_isinteger(L, idx))
            snprintf(buf, size, "%lld", (long long)lua_tointeger(L, idx));
        else
            snprintf(buf, size, "%.17g", (double)lua_tonumber(L, idx));
        return buf;
    case LUA_TBOOLEAN:
        return lua_toboolean(L, idx) ? "true" : "false";
    case LUA_TSTRING:
        str = lua_tolstring(L, idx, &len);
        if (strlen(str) != len)
            luaL_error(L, "%s: the value contains a NUL character (\\0) at byte %d", what,
                       (int)strlen(str));
        *quoted = !is_decimal(str);
        return str;
    default:
        return NULL;
    }
}

static int compare_strings(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Adds the node whose table is at the top of the stack. */
static void add_node_from_table(lua_State *L, struct graph_box *b, const char *id, int line)
{
    struct lf_error err = {0};
    char buf[64];
    int node = lua_gettop(L);
    luaL_checktype(L, node, LUA_TTABLE);
    if (lua_getfield(L, node, "type") != LUA_TSTRING)
        luaL_error(L, "node '%s' needs a string 'type'", id);
    if (lf_graph_add_node(b->graph, id, lua_tostring(L, -1), line, &err) != LF_OK)
        raise_error(L, &err, 0);
    lua_pop(L, 1);
    if (lua_getfield(L, node, "inputs") == LUA_TTABLE) {
        lua_pushnil(L);
        while (lua_next(L, -2)) {
            if (lua_type(L, -2) != LUA_TSTRING || lua_type(L, -1) != LUA_TSTRING)
                luaL_error(L, "inputs of node '%s' map names to \"node.output\" strings", id);
            if (lf_graph_add_input(b->graph, id, lua_tostring(L, -2), lua_tostring(L, -1), &err) !=
                LF_OK)
                raise_error(L, &err, 1);
            lua_pop(L, 1);
        }
    }
    lua_pop(L, 1);
    if (lua_getfield(L, node, "params") == LUA_TTABLE) {
        lua_pushnil(L);
        while (lua_next(L, -2)) {
            bool quoted;
            if (lua_type(L, -2) != LUA_TSTRING)
                luaL_error(L, "params of node '%s' map names to numbers, strings or booleans", id);
            lua_pushfstring(L, "%s.%s", id, lua_tostring(L, -2));
            const char *text = param_text(L, -2, buf, sizeof buf, &quoted, lua_tostring(L, -1));
            lua_pop(L, 1);
            if (!text)
                luaL_error(L, "params of node '%s' map names to numbers, strings or booleans", id);
            if (lf_graph_add_param(b->graph, id, lua_tostring(L, -2), text, quoted, &err) != LF_OK)
                raise_error(L, &err, 1);
            lua_pop(L, 1);
        }
    }
    lua_pop(L, 1);
}

/* lcmflow.graph{nodes = {...}, outputs = {...}} [-1, +1, e] */
static int l_graph(lua_State *L)
{
    lua_Debug ar;
    char source[LUA_IDSIZE] = "(lua)";
    int line = 0;
    struct lf_error err = {0};
    luaL_checktype(L, 1, LUA_TTABLE);
    if (lua_getstack(L, 1, &ar) && lua_getinfo(L, "Sl", &ar)) {
        snprintf(source, sizeof source, "%s", ar.short_src);
        line = ar.currentline;
    }
    struct graph_box *b = new_graph_box(L); /* index 2 */
    if (lf_graph_create(b->ctx->reg, source, &b->graph, &err) != LF_OK)
        return raise_error(L, &err, 1);
    if (lua_getfield(L, 1, "nodes") != LUA_TTABLE) /* index 3 */
        return luaL_error(L, "lcmflow.graph: the table needs 'nodes'");
    /* Lua tables have no order: add nodes sorted by id, so runs and
    ** messages do not depend on hashing. */
    size_t n = 0;
    lua_pushnil(L);
    while (lua_next(L, 3)) {
        if (lua_type(L, -2) != LUA_TSTRING)
            return luaL_error(L, "lcmflow.graph: node ids must be strings");
        n++;
        lua_pop(L, 1);
    }
    const char **ids = lua_newuserdatauv(L, (n + 1) * sizeof *ids, 0); /* index 4 */
    size_t k = 0;
    lua_pushnil(L);
    while (lua_next(L, 3)) {
        ids[k++] = lua_tostring(L, -2); /* kept alive by the nodes table */
        lua_pop(L, 1);
    }
    qsort(ids, n, sizeof *ids, compare_strings);
    for (size_t i = 0; i < n; i++) {
        lua_getfield(L, 3, ids[i]);
        add_node_from_table(L, b, ids[i], line);
        lua_pop(L, 1);
    }
    lua_pop(L, 2);
    if (lua_getfield(L, 1, "outputs") == LUA_TTABLE) {
        for (lua_Integer i = 1; lua_geti(L, -1, i) == LUA_TSTRING; i++) {
            if (lf_graph_add_output(b->graph, lua_tostring(L, -1), &err) != LF_OK)
                return raise_error(L, &err, 1);
            lua_pop(L, 1);
        }
        lua_pop(L, 1);
    }
    lua_pop(L, 1);
    if (lf_graph_validate(b->graph, &err) != LF_OK)
        return raise_error(L, &err, err.line > 0 ? 0 : 1);
    return 1;
}

/* g:set("node.param", value) [-2, +0, e] */
static int graph_set(lua_State *L)
{
    struct graph_box *b = check_graph(L, 1);
    const char *key = luaL_checkstring(L, 2);
    char buf[64];
    bool quoted;
    const char *text = param_text(L, 3, buf, sizeof buf, &quoted, key);
    struct lf_error err = {0};
    luaL_argcheck(L, text != NULL, 3, "number, string or boolean expected");
    if (lf_graph_set_param(b->graph, key, text, &err) != LF_OK) return raise_error(L, &err, 1);
    return 0;
}

/* [-0, +1, m] An INT of param d (NULL: signed): a Lua integer, or the
** decimal string of an unsigned value above 2^63-1 (g:set takes it back). */
static void push_int(lua_State *L, const struct lf_param_desc *d, int64_t v)
{
    char buf[24];
    if (d && (d->flags & LF_PARAM_UNSIGNED) && v < 0)
        lua_pushstring(L, lf_param_int_format(d, v, buf, sizeof buf));
    else
        lua_pushinteger(L, (lua_Integer)v);
}

/* [-0, +1, m] */
static void push_value(lua_State *L, const struct lf_value *v)
{
    static const char *const dtypes[] = {"f32", "f16", "bf16", "i32", "u8"};
    switch (v->type) {
    case LF_TYPE_INT:
        lua_pushinteger(L, (lua_Integer)v->u.i);
        return;
    case LF_TYPE_FLOAT:
        lua_pushnumber(L, (lua_Number)v->u.f);
        return;
    case LF_TYPE_BOOL:
        lua_pushboolean(L, v->u.b);
        return;
    case LF_TYPE_STRING:
        lua_pushstring(L, v->u.s);
        return;
    case LF_TYPE_NONE:
        lua_pushnil(L);
        return;
    default:
        break;
    }
    lua_createtable(L, 0, 3);
    lua_pushstring(L, lf_value_type_name(v->type));
    lua_setfield(L, -2, "type");
    if (v->type >= LF_TYPE_TENSOR && v->type <= LF_TYPE_IMAGE && v->u.tensor) {
        const struct lf_tensor *t = v->u.tensor;
        if ((unsigned)t->dtype < sizeof dtypes / sizeof *dtypes)
            lua_pushstring(L, dtypes[t->dtype]);
        else
            lua_pushliteral(L, "?");
        lua_setfield(L, -2, "dtype");
        lua_createtable(L, t->rank, 0);
        for (int i = 0; i < t->rank && i < LF_TENSOR_MAX_RANK; i++) {
            lua_pushinteger(L, (lua_Integer)t->shape[i]);
            lua_rawseti(L, -2, i + 1);
        }
        lua_setfield(L, -2, "shape");
    } else if (v->u.object) {
        lua_pushstring(L, v->u.object->kind ? v->u.object->kind : "");
        lua_setfield(L, -2, "kind");
        lua_pushinteger(L, (lua_Integer)v->u.object->nbytes);
        lua_setfield(L, -2, "bytes");
    }
}

/* g:get("node.param") [-1, +1, e] */
static int graph_get(lua_State *L)
{
    struct graph_box *b = check_graph(L, 1);
    const char *key = luaL_checkstring(L, 2);
    const char *dot = strrchr(key, '.');
    char id[256];
    if (!dot || (size_t)(dot - key) >= sizeof id) return luaL_argerror(L, 2, "node.param expected");
    memcpy(id, key, (size_t)(dot - key));
    id[dot - key] = '\0';
    const struct lf_value *v = lf_graph_param(b->graph, id, dot + 1);
    if (!v) return luaL_error(L, "no param '%s' in %s", key, lf_graph_path(b->graph));
    if (v->type == LF_TYPE_INT) {
        const struct lf_node_type *t =
            lf_graph_node_type(b->graph, (size_t)lf_graph_find_node(b->graph, id));
        const struct lf_param_desc *d = t->params;
        while (strcmp(d->name, dot + 1))
            d++;
        push_int(L, d, v->u.i);
    } else {
        push_value(L, v);
    }
    return 1;
}

/* g:nodes() [-1, +1, m] */
static int graph_nodes(lua_State *L)
{
    struct graph_box *b = check_graph(L, 1);
    size_t n = lf_graph_node_count(b->graph);
    lua_createtable(L, (int)n, 0);
    for (size_t i = 0; i < n; i++) {
        lua_pushstring(L, lf_graph_node_id(b->graph, i));
        lua_rawseti(L, -2, (lua_Integer)i + 1);
    }
    return 1;
}

/* g:run([targets]) [-2, +1, e] */
static int graph_run(lua_State *L)
{
    struct graph_box *b = check_graph(L, 1);
    struct lf_error err = {0};
    const char **targets = NULL;
    size_t n = 0;
    enum lf_status st;
    if (!lua_isnoneornil(L, 2)) {
        luaL_checktype(L, 2, LUA_TTABLE);
        n = (size_t)luaL_len(L, 2);
        targets = lua_newuserdatauv(L, (n + 1) * sizeof *targets, 0); /* stays on the stack */
        for (size_t i = 0; i < n; i++) {
            lua_geti(L, 2, (lua_Integer)i + 1);
            targets[i] = luaL_checkstring(L, -1);
            lua_pop(L, 1); /* still referenced by the table */
        }
    }
    struct run_box *r = lua_newuserdatauv(L, sizeof *r, 0);
    r->run = NULL;
    luaL_setmetatable(L, RUN_MT);
    active_session = b->ctx->session;
    st = targets ? lf_session_run_targets(b->ctx->session, b->graph, targets, n, &r->run, &err)
                 : lf_session_run(b->ctx->session, b->graph, &r->run, &err);
    if (st == LF_ERR_INTERRUPTED) lf_session_clear_interrupt(b->ctx->session);
    if (st != LF_OK) return raise_error(L, &err, 1);
    return 1;
}

/* ---- runs ---- */

static struct run_box *check_run(lua_State *L, int idx)
{
    struct run_box *r = luaL_checkudata(L, idx, RUN_MT);
    luaL_argcheck(L, r->run != NULL, idx, "run is closed");
    return r;
}

static int run_gc(lua_State *L)
{
    struct run_box *r = luaL_checkudata(L, 1, RUN_MT);
    lf_run_destroy(r->run);
    r->run = NULL;
    return 0;
}

/* r:output("node.output") [-1, +1, m] */
static int run_output(lua_State *L)
{
    struct run_box *r = check_run(L, 1);
    const struct lf_value *v = lf_run_output(r->run, luaL_checkstring(L, 2));
    if (v)
        push_value(L, v);
    else
        lua_pushnil(L);
    return 1;
}

/* r:values("node.output") [-1, +1, e]: a tensor output's elements as a
** flat array of numbers (row-major), read back from the device. */
static int run_values(lua_State *L)
{
    struct run_box *r = check_run(L, 1);
    const char *ref = luaL_checkstring(L, 2);
    const struct lf_value *v = lf_run_output(r->run, ref);
    struct lf_error err = {0};
    if (!v || v->type < LF_TYPE_TENSOR || v->type > LF_TYPE_IMAGE || !v->u.tensor)
        return luaL_argerror(L, 2, "not a tensor output of this run");
    const struct lf_tensor *t = v->u.tensor;
    int64_t n = 1;
    for (int i = 0; i < t->rank && i < LF_TENSOR_MAX_RANK; i++)
        n *= t->shape[i];
    luaL_argcheck(L, n >= 0 && n <= (int64_t)(1 << 28), 2, "tensor too large for a Lua table");
    /* The buffer is a userdata, so an error below cannot leak it. */
    float *data = lua_newuserdatauv(L, (size_t)n * sizeof *data + 1, 0);
    if (lf_tensor_download_f32(v->u.tensor, data, n, &err) != LF_OK) return raise_error(L, &err, 1);
    lua_createtable(L, (int)n, 0);
    for (int64_t i = 0; i < n; i++) {
        lua_pushnumber(L, (lua_Number)data[i]);
        lua_rawseti(L, -2, (lua_Integer)i + 1);
    }
    return 1;
}

static const char *const state_names[] = {"skipped", "cached", "ran"};

/* Node ids of the run's visit in the given state. */
static int run_list(lua_State *L, enum lf_node_state want)
{
    struct run_box *r = check_run(L, 1);
    lua_Integer k = 0;
    lua_newtable(L);
    for (size_t i = 0; i < lf_run_visit_count(r->run); i++) {
        size_t v = lf_run_visit_node(r->run, i);
        if (lf_run_node_state(r->run, v) == want) {
            lua_pushstring(L, lf_run_node_id(r->run, v));
            lua_rawseti(L, -2, ++k);
        }
    }
    return 1;
}

static int run_ran(lua_State *L)
{
    return run_list(L, LF_NODE_RAN);
}

static int run_cached(lua_State *L)
{
    return run_list(L, LF_NODE_CACHED);
}

/* r:state("id") [-1, +1, e] */
static int run_state(lua_State *L)
{
    struct run_box *r = check_run(L, 1);
    const char *id = luaL_checkstring(L, 2);
    const char *state = NULL;
    for (size_t v = 0; lf_run_node_id(r->run, v); v++)
        if (!strcmp(lf_run_node_id(r->run, v), id))
            state = state_names[lf_run_node_state(r->run, v)];
    if (!state) return luaL_argerror(L, 2, "no such node in the run's graph");
    lua_pushstring(L, state);
    return 1;
}

/* r:profile() [-1, +1, m] */
static int run_profile(lua_State *L)
{
    struct run_box *r = check_run(L, 1);
    char *profile = NULL;
    size_t size = 0;
    FILE *mem = open_memstream(&profile, &size);
    if (!mem) return luaL_error(L, "out of memory");
    lf_run_print_profile(r->run, mem);
    fclose(mem);
    lua_pushlstring(L, profile, size);
    free(profile);
    return 1;
}

/* ---- node types ---- */

static void push_param_default(lua_State *L, const struct lf_param_desc *d)
{
    switch (d->type) {
    case LF_TYPE_INT:
        push_int(L, d, d->default_int);
        break;
    case LF_TYPE_FLOAT:
        lua_pushnumber(L, d->default_float);
        break;
    case LF_TYPE_BOOL:
        lua_pushboolean(L, d->default_bool);
        break;
    default:
        lua_pushstring(L, d->default_string ? d->default_string : "");
        break;
    }
}

/* lcmflow.nodes() [-0, +1, m] */
static int l_nodes(lua_State *L)
{
    struct context *c = get_context(L);
    size_t n = lf_registry_count(c->reg);
    lua_createtable(L, (int)n, 0);
    for (size_t i = 0; i < n; i++) {
        const struct lf_node_type *t = lf_registry_type(c->reg, i);
        const char *file = NULL;
        const struct lf_plugin_desc *p = lf_registry_plugin_of(c->reg, t, &file);
        lua_Integer k = 0;
        lua_createtable(L, 0, 8);
        lua_pushstring(L, t->name);
        lua_setfield(L, -2, "name");
        lua_pushstring(L, t->description ? t->description : "");
        lua_setfield(L, -2, "description");
        lua_pushstring(L, p ? p->name : "");
        lua_setfield(L, -2, "plugin");
        lua_pushstring(L, p ? p->version : "");
        lua_setfield(L, -2, "version");
        lua_pushstring(L, file ? file : "");
        lua_setfield(L, -2, "file");
        lua_newtable(L);
        for (const struct lf_input_desc *d = t->inputs; d && d->name; d++) {
            lua_createtable(L, 0, 3);
            lua_pushstring(L, d->name);
            lua_setfield(L, -2, "name");
            lua_pushstring(L, lf_value_type_name(d->type));
            lua_setfield(L, -2, "type");
            lua_pushboolean(L, (d->flags & LF_PORT_OPTIONAL) != 0);
            lua_setfield(L, -2, "optional");
            lua_rawseti(L, -2, ++k);
        }
        lua_setfield(L, -2, "inputs");
        k = 0;
        lua_newtable(L);
        for (const struct lf_output_desc *d = t->outputs; d && d->name; d++) {
            lua_createtable(L, 0, 2);
            lua_pushstring(L, d->name);
            lua_setfield(L, -2, "name");
            lua_pushstring(L, lf_value_type_name(d->type));
            lua_setfield(L, -2, "type");
            lua_rawseti(L, -2, ++k);
        }
        lua_setfield(L, -2, "outputs");
        k = 0;
        lua_newtable(L);
        for (const struct lf_param_desc *d = t->params; d && d->name; d++) {
            lua_createtable(L, 0, 6);
            lua_pushstring(L, d->name);
            lua_setfield(L, -2, "name");
            lua_pushstring(L, lf_value_type_name(d->type));
            lua_setfield(L, -2, "type");
            lua_pushboolean(L, (d->flags & LF_PARAM_REQUIRED) != 0);
            lua_setfield(L, -2, "required");
            push_param_default(L, d);
            lua_setfield(L, -2, "default");
            if ((d->flags & LF_PARAM_HAS_RANGE) && d->type == LF_TYPE_INT) {
                int64_t min, max;
                lf_param_int_bounds(d, &min, &max);
                push_int(L, d, min);
                lua_setfield(L, -2, "min");
                push_int(L, d, max);
                lua_setfield(L, -2, "max");
            } else if (d->flags & LF_PARAM_HAS_RANGE) {
                lua_pushnumber(L, d->min);
                lua_setfield(L, -2, "min");
                lua_pushnumber(L, d->max);
                lua_setfield(L, -2, "max");
            }
            lua_rawseti(L, -2, ++k);
        }
        lua_setfield(L, -2, "params");
        lua_rawseti(L, -2, (lua_Integer)i + 1);
    }
    return 1;
}

/* lcmflow.cache_mb(n) [-1, +0, v] */
static int l_cache_mb(lua_State *L)
{
    lua_Integer mb = luaL_checkinteger(L, 1);
    if (mb <= 0 || (lua_Unsigned)mb > (SIZE_MAX >> 20))
        luaL_error(L, "cache_mb: %I MiB is out of range [1, %I]", mb,
                   (lua_Integer)(SIZE_MAX >> 20));
    lf_session_set_cache_bytes(get_context(L)->session, (size_t)mb << 20);
    return 0;
}

/* lcmflow.progress("none" | "lines" | "bar" | "auto") [-1, +0, v]: progress of
** later runs on stderr (default "none"). */
static int l_progress(lua_State *L)
{
    static const char *const names[] = {"none", "lines", "bar", "auto", NULL};
    static const enum lf_progress_mode modes[] = {LF_PROGRESS_NONE, LF_PROGRESS_LINES,
                                                  LF_PROGRESS_BAR, LF_PROGRESS_AUTO};
    int i = luaL_checkoption(L, 1, NULL, names);
    lf_session_set_progress(get_context(L)->session, modes[i], stderr);
    return 0;
}

/* lcmflow.cache_stats() [-0, +2, -] */
static int l_cache_stats(lua_State *L)
{
    size_t count, bytes;
    lf_session_cache_stats(get_context(L)->session, &count, &bytes);
    lua_pushinteger(L, (lua_Integer)count);
    lua_pushinteger(L, (lua_Integer)bytes);
    return 2;
}

static const luaL_Reg module_funcs[] = {
    {"load", l_load},
    {"graph", l_graph},
    {"nodes", l_nodes},
    {"cache_mb", l_cache_mb},
    {"cache_stats", l_cache_stats},
    {"progress", l_progress},
    {NULL, NULL},
};

static const luaL_Reg graph_methods[] = {
    {"set", graph_set},     {"get", graph_get}, {"run", graph_run},
    {"nodes", graph_nodes}, {NULL, NULL},
};

static const luaL_Reg run_methods[] = {
    {"output", run_output}, {"values", run_values},   {"ran", run_ran}, {"cached", run_cached},
    {"state", run_state},   {"profile", run_profile}, {NULL, NULL},
};

/* [-0, +0, m] A metatable with __gc and __close, __index = methods, and
** the context as upvalue of the methods. */
static void create_meta(lua_State *L, const char *name, const luaL_Reg *methods, lua_CFunction gc)
{
    luaL_newmetatable(L, name);
    lua_pushcfunction(L, gc);
    lua_setfield(L, -2, "__gc");
    lua_pushcfunction(L, gc);
    lua_setfield(L, -2, "__close");
    lua_newtable(L);
    lua_pushvalue(L, -3); /* the context */
    luaL_setfuncs(L, methods, 1);
    lua_setfield(L, -2, "__index");
    lua_pop(L, 1);
}

int luaopen_lcmflow(lua_State *L)
{
    struct lf_error err = {0};
    luaL_checkversion(L);
    struct context_box *box = lua_newuserdatauv(L, sizeof *box, 0); /* closed first */
    box->ctx = NULL;
    if (luaL_newmetatable(L, CONTEXT_MT)) {
        lua_pushcfunction(L, context_gc);
        lua_setfield(L, -2, "__gc");
    }
    lua_setmetatable(L, -2);
    if (!(box->ctx = calloc(1, sizeof *box->ctx))) return luaL_error(L, "out of memory");
    box->ctx->refs = 1;
    if (lf_registry_create(&box->ctx->reg, &err) || lf_registry_load_default(box->ctx->reg, &err) ||
        lf_session_create(&(struct lf_session_options){.registry = box->ctx->reg},
                          &box->ctx->session, &err))
        return raise_error(L, &err, 0);
    /* Skipped plugins are reported where progress goes (a graph needing one
    ** of their types quotes the reason again). */
    for (size_t i = 0; i < lf_registry_failure_count(box->ctx->reg); i++)
        fprintf(stderr, "lcmflow: warning: plugin skipped: %s\n",
                lf_registry_failure(box->ctx->reg, i, NULL));
    create_meta(L, GRAPH_MT, graph_methods, graph_gc);
    create_meta(L, RUN_MT, run_methods, run_gc);
    luaL_newlibtable(L, module_funcs);
    lua_pushvalue(L, -2);
    luaL_setfuncs(L, module_funcs, 1);
    lua_pushstring(L, "0.1.0");
    lua_setfield(L, -2, "version");
    return 1;
}
