/*
** farm_lua.c - the farm from Lua scripts run by `lcmflow lua`:
**
**   local id = lf.submit{redis = URL, graph = YAML_TEXT, set = {["sample.seed"] = 7},
**                        stream = "lcmflow:jobs", group = "workers", ttl = 86400}
**   local state, outputs, err = lf.wait{redis = URL, id = id, timeout = 60}
**
** submit queues one job exactly as `lcmflow submit` does (farm_enqueue);
** wait polls the job's record until it ends ("done"/"failed") or the
** timeout passes ("timeout"), and returns the output keys (or paths).
** Both wait for Redis when it is away.
*/
#include "farm.h"

#include <json-c/json.h>
#include <lauxlib.h>
#include <lua.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* t[key] as a string, or def; a value of another type is an error. */
static const char *field(lua_State *L, const char *key, const char *def)
{
    const char *v;
    lua_getfield(L, 1, key);
    if (lua_isnil(L, -1)) {
        lua_pop(L, 1);
        return def;
    }
    if (!(v = lua_tostring(L, -1))) luaL_error(L, "lf: '%s' must be a string", key);
    lua_pop(L, 1); /* the table still holds the string */
    return v;
}

static void connect_url(lua_State *L, struct farm_conn *fc)
{
    struct lf_error err = {0};
    char text[1024];
    if (farm_url_parse(field(L, "redis", getenv(FARM_URL_ENV)), &fc->url, &err) != LF_OK)
        luaL_error(L, "lf: %s", lf_error_text(&err, text, sizeof text));
    farm_conn_open(fc);
}

static int l_submit(lua_State *L)
{
    struct farm_conn fc = {.who = "lf.submit"};
    struct lf_error err = {0};
    char id[FARM_JOB_ID_LEN + 1], text[1024];
    luaL_checktype(L, 1, LUA_TTABLE);
    const char *graph = field(L, "graph", NULL), *stream = field(L, "stream", FARM_DEFAULT_STREAM);
    const char *group = field(L, "group", FARM_DEFAULT_GROUP), *ttl = field(L, "ttl", "86400");
    if (!graph) return luaL_error(L, "lf.submit: 'graph' (the graph's YAML text) is required");
    struct json_object *req = json_object_new_object(), *set = json_object_new_object();
    json_object_object_add(req, "graph", json_object_new_string(graph));
    lua_getfield(L, 1, "set");
    if (lua_istable(L, -1)) {
        lua_pushnil(L);
        while (lua_next(L, -2)) {
            /* Values as text, typed by the param on the worker (as --set). */
            const char *v = lua_isboolean(L, -1) ? (lua_toboolean(L, -1) ? "true" : "false")
                                                 : lua_tostring(L, -1);
            if (lua_type(L, -2) == LUA_TSTRING && v)
                json_object_object_add(set, lua_tostring(L, -2), json_object_new_string(v));
            lua_pop(L, 1);
        }
    }
    lua_pop(L, 1);
    json_object_object_add(req, "set", set);
    connect_url(L, &fc);
    enum lf_status st = farm_enqueue(&fc, stream, group,
                                     json_object_to_json_string_ext(req, JSON_C_TO_STRING_PLAIN),
                                     NULL, false, "", atoi(ttl) > 0 ? atoi(ttl) : 86400, id, &err);
    json_object_put(req);
    farm_conn_close(&fc);
    if (st != LF_OK) return luaL_error(L, "lf.submit: %s", lf_error_text(&err, text, sizeof text));
    lua_pushstring(L, id);
    return 1;
}

static int l_wait(lua_State *L)
{
    struct farm_conn fc = {.who = "lf.wait"};
    char key[512];
    luaL_checktype(L, 1, LUA_TTABLE);
    const char *id = field(L, "id", NULL), *stream = field(L, "stream", FARM_DEFAULT_STREAM);
    double timeout = atof(field(L, "timeout", "0"));
    if (!id || !farm_id_ok(id)) return luaL_error(L, "lf.wait: 'id' must be a job id");
    farm_key(key, sizeof key, stream, "job", id);
    connect_url(L, &fc);
    time_t end = timeout > 0 ? time(NULL) + (time_t)timeout + 1 : 0;
    for (;;) {
        redisReply *r = farm_command(&fc, true, "HMGET %s state outputs error", key);
        if (r && r->type == REDIS_REPLY_ARRAY && r->elements == 3 &&
            r->element[0]->type == REDIS_REPLY_STRING &&
            (!strcmp(r->element[0]->str, "done") || !strcmp(r->element[0]->str, "failed"))) {
            struct json_object *list = r->element[1]->type == REDIS_REPLY_STRING
                                           ? json_tokener_parse(r->element[1]->str)
                                           : NULL;
            lua_pushstring(L, r->element[0]->str);
            lua_newtable(L);
            for (size_t i = 0;
                 json_object_is_type(list, json_type_array) && i < json_object_array_length(list);
                 i++) {
                struct json_object *o = json_object_array_get_idx(list, i), *v;
                if (json_object_object_get_ex(o, "key", &v) ||
                    json_object_object_get_ex(o, "path", &v)) {
                    lua_pushstring(L, json_object_get_string(v));
                    lua_rawseti(L, -2, (lua_Integer)i + 1);
                }
            }
            if (r->element[2]->type == REDIS_REPLY_STRING)
                lua_pushstring(L, r->element[2]->str);
            else
                lua_pushnil(L);
            json_object_put(list);
            freeReplyObject(r);
            farm_conn_close(&fc);
            return 3;
        }
        freeReplyObject(r);
        if (end && time(NULL) >= end) break;
        struct timespec ts = {0, 50 * 1000000L};
        nanosleep(&ts, NULL);
    }
    farm_conn_close(&fc);
    lua_pushstring(L, "timeout");
    lua_newtable(L);
    lua_pushnil(L);
    return 3;
}

void farm_lua_add(struct lua_State *L)
{
    lua_pushcfunction(L, l_submit);
    lua_setfield(L, -2, "submit");
    lua_pushcfunction(L, l_wait);
    lua_setfield(L, -2, "wait");
}
