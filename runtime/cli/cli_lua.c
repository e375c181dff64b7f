/*
** cli_lua.c - `lcmflow lua SCRIPT [ARGS]`: runs a Lua 5.4 script with the
** lcmflow module loaded (require "lcmflow", or the global `lcmflow`).
*/
#include "cli.h"
#include "lcmflow/lua_binding.h"
#ifdef LCMFLOW_FARM
#include "farm.h"
#endif

#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

static void usage(FILE *f)
{
    fprintf(f, "usage: lcmflow lua [--device N|NAME] SCRIPT.lua [ARGS...]\n"
               "\n"
               "Runs a Lua 5.4 script.  `local lf = require \"lcmflow\"` gives the module:\n"
               "lf.load(yaml), lf.graph{nodes = ...}, g:set(\"node.param\", v), g:run(),\n"
               "r:output(\"node.output\"), r:ran(), lf.nodes() (see lcmflow/lua_binding.h).\n"
               "The script's arguments are in the global table `arg` (arg[0] = script).\n"
               "The cache persists across runs within one script.  --device (or\n"
               "LCMFLOW_DEVICE) picks the device, an index or a name ('lcmflow devices').\n");
}

static void on_sigint(int sig)
{
    (void)sig;
    lf_lua_interrupt();
    signal(SIGINT, SIG_DFL);
}

/* Adds a traceback to error messages (lua.c's msghandler). */
static int msghandler(lua_State *L)
{
    const char *msg = lua_tostring(L, 1);
    if (!msg) {
        if (luaL_callmeta(L, 1, "__tostring") && lua_type(L, -1) == LUA_TSTRING) return 1;
        msg = lua_pushfstring(L, "(error object is a %s value)", luaL_typename(L, 1));
    }
    luaL_traceback(L, L, msg, 1);
    return 1;
}

int lf_cli_lua(int argc, char **argv)
{
    lua_State *L;
    int status;
    if (argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (!strcmp(argv[1], "--device")) {
        if (argc < 4) {
            usage(stderr);
            return 2;
        }
        if (!lf_cli_device_export("lua", argv[2])) return 2;
        argc -= 2, argv += 2;
    }
    if (!(L = luaL_newstate())) {
        fprintf(stderr, "lcmflow lua: cannot create a Lua state\n");
        return 1;
    }
    luaL_openlibs(L);
    lua_newtable(L);
    for (int i = 1; i < argc; i++) {
        lua_pushstring(L, argv[i]);
        lua_rawseti(L, -2, i - 1);
    }
    lua_setglobal(L, "arg");
    lua_pushcfunction(L, msghandler);
    /* Opening the module loads the plugins: do it under the handler too. */
    lua_getglobal(L, "require");
    lua_pushliteral(L, "lcmflow");
    luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_PRELOAD_TABLE);
    lua_pushcfunction(L, luaopen_lcmflow);
    lua_setfield(L, -2, "lcmflow");
    lua_pop(L, 1);
    status = lua_pcall(L, 1, 1, 1);
    if (status == LUA_OK) {
#ifdef LCMFLOW_FARM
        farm_lua_add(L); /* lf.submit, lf.wait: the same table `require` returns */
#endif
        lua_setglobal(L, "lcmflow");
        status = luaL_loadfile(L, argv[1]);
        if (status == LUA_OK) {
            signal(SIGINT, on_sigint);
            status = lua_pcall(L, 0, 0, 1);
            signal(SIGINT, SIG_DFL);
        }
    }
    if (status != LUA_OK) {
        const char *msg = lua_tostring(L, -1);
        fprintf(stderr, "lcmflow lua: %s\n", msg ? msg : "(error)");
    }
    lua_close(L);
    return status == LUA_OK ? 0 : 1;
}
