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
    fprintf(f, "usage: lcmflow lua [--device N|NAME] [--quiet] SCRIPT.lua [ARGS...]\n"
               "\n"
               "Runs a Lua 5.4 script.  `local lf = require \"lcmflow\"` gives the module:\n"
               "lf.load(yaml), lf.graph{nodes = ...}, g:set(\"node.param\", v), g:run(),\n"
               "r:output(\"node.output\"), r:ran(), lf.nodes() (see lcmflow/lua_binding.h).\n"
               "The script's arguments are in the global table `arg` (arg[0] = script).\n"
               "The cache persists across runs within one script.  --device (or\n"
               "LCMFLOW_DEVICE) picks the device, an index or a name ('lcmflow devices').\n"
               "Progress goes to stderr as with 'lcmflow run' (--quiet, -q: none; the\n"
               "script may change it with lf.progress).  Errors name script:line.\n"
               "Ctrl-C stops the running graph and the script; exit status 130.\n");
}

static lua_State *volatile running; /* for the SIGINT handler */
static volatile sig_atomic_t got_sigint;

/* Raised inside Lua code after Ctrl-C, so a script looping in Lua stops too. */
static void stop_hook(lua_State *L, lua_Debug *ar)
{
    (void)ar;
    lua_sethook(L, NULL, 0, 0);
    luaL_error(L, "interrupted");
}

static void on_sigint(int sig)
{
    (void)sig;
    got_sigint = 1;
    lf_lua_interrupt();
    /* lua_sethook is async-signal-safe (lua.c does the same). */
    if (running) lua_sethook(running, stop_hook, LUA_MASKCALL | LUA_MASKRET | LUA_MASKCOUNT, 1);
    signal(SIGINT, SIG_DFL); /* a second Ctrl-C kills at once */
}

/* Errors name the script's line: a message raised in C (a bad argument to
** a module function) gets the position of the innermost Lua function in
** front of it; Lua's own "script:line:" messages are kept as they are.  No
** traceback: the position is what a script's author needs. */
static int msghandler(lua_State *L)
{
    const char *msg = lua_tostring(L, 1);
    if (!msg) {
        if (luaL_callmeta(L, 1, "__tostring") && lua_type(L, -1) == LUA_TSTRING) return 1;
        msg = lua_pushfstring(L, "(error object is a %s value)", luaL_typename(L, 1));
    }
    lua_Debug ar;
    for (int level = 1; lua_getstack(L, level, &ar); level++) {
        if (!lua_getinfo(L, "Sl", &ar) || ar.currentline <= 0) continue;
        size_t n = strlen(ar.short_src);
        if (strncmp(msg, ar.short_src, n) != 0 || msg[n] != ':')
            lua_pushfstring(L, "%s:%d: %s", ar.short_src, ar.currentline, msg);
        break;
    }
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
    bool quiet = false, device_given = false;
    while (argc >= 2 && argv[1][0] == '-') {
        if (!strcmp(argv[1], "--quiet") || !strcmp(argv[1], "-q")) {
            quiet = true;
            argc--, argv++;
        } else if (!strcmp(argv[1], "--device") && argc >= 3) {
            if (!lf_cli_device_export("lua", argv[2])) return 2;
            device_given = true;
            argc -= 2, argv += 2;
        } else {
            fprintf(stderr, "lcmflow lua: unknown option '%s'\n", argv[1]);
            usage(stderr);
            return 2;
        }
    }
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (!device_given && !lf_cli_device_export("lua", NULL)) return 2; /* LCMFLOW_DEVICE */
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
        /* Progress as `lcmflow run` shows it, unless asked not to. */
        lua_getfield(L, -1, "progress");
        lua_pushstring(L, quiet ? "none" : "auto");
        status = lua_pcall(L, 1, 0, 1);
    }
    if (status == LUA_OK) {
        lua_setglobal(L, "lcmflow");
        status = luaL_loadfile(L, argv[1]);
        if (status == LUA_OK) {
            got_sigint = 0;
            running = L;
            signal(SIGINT, on_sigint);
            status = lua_pcall(L, 0, 0, 1);
            signal(SIGINT, SIG_DFL);
            running = NULL;
        }
    }
    if (got_sigint) {
        fprintf(stderr, "lcmflow lua: interrupted\n");
        lua_close(L);
        return 130;
    }
    if (status != LUA_OK) {
        const char *msg = lua_tostring(L, -1);
        fprintf(stderr, "lcmflow lua: %s\n", msg ? msg : "(error)");
    }
    lua_close(L);
    return status == LUA_OK ? 0 : 1;
}
