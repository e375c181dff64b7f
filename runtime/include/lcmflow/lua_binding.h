/*
** lua_binding.h - the `lcmflow` Lua 5.4 module, for `lcmflow lua` and for
** programs that embed Lua: luaL_requiref(L, "lcmflow", luaopen_lcmflow, 0).
**
** Module functions (errors are raised as "script:line: message"; a graph
** error carries the graph's own position after it):
**   lcmflow.load(path)        -> Graph        a YAML graph file
**   lcmflow.graph(t)          -> Graph        from a table of the YAML schema:
**                                             {nodes = {id = {type=, inputs=, params=}},
**                                              outputs = {"node.output", ...}}
**   lcmflow.nodes()           -> {type...}    node types: name, description, plugin,
**                                             version, inputs, outputs, params
**   lcmflow.cache_mb(n)                       sets the cache budget
**   lcmflow.cache_stats()     -> count, bytes
**   lcmflow.progress(mode)                    "none" (default), "lines", "bar", "auto"
** Graph methods:
**   g:set("node.param", v)    v: number, string or boolean, typed by the param
**   g:get("node.param")       -> the param's current value
**   g:run([targets])          -> Run          targets: nil (the graph's outputs) or a
**                                             list of "node" / "node.output"
**   g:nodes()                 -> {id...}
** Run methods:
**   r:output("node.output")   -> number | string | boolean |
**                                {type=, dtype=, shape={...}} (tensors) |
**                                {type=, kind=, bytes=} (models) | nil
**   r:values("node.output")   -> {x1, x2, ...} a tensor output's elements (f32/f16)
**   r:ran(), r:cached()       -> {id...}      nodes executed / taken from the cache
**   r:state("id")             -> "ran" | "cached" | "skipped"
**   r:profile()               -> "<node> <ms> cached|ran\n..."
** The plugins, the session and its cache live as long as the Lua state, so
** the cache persists across runs within one script.
*/
#ifndef LCMFLOW_LUA_BINDING_H
#define LCMFLOW_LUA_BINDING_H

struct lua_State;

/* [-0, +1, e] Pushes the module table. */
int luaopen_lcmflow(struct lua_State *L);

/* Interrupts the running graph of every Lua state using the module
** (async-signal-safe), for a SIGINT handler. */
void lf_lua_interrupt(void);

#endif
