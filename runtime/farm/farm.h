/*
** farm.h - the render farm on Redis Streams (runtime/farm/, README.md
** there): `lcmflow worker` and `lcmflow submit`.  Built only with hiredis
** (meson option `farm`); the engine knows nothing of it.
**
**   farm_redis.c   the Redis URL, connections that come back after Redis
**                  restarts (backoff), key names, SHA-256 of outputs
**   farm_worker.c  `lcmflow worker`: one job at a time from the consumer
**                  group, reclaiming dead workers' jobs, the dead letters
**   farm_submit.c  `lcmflow submit`: one job per sweep value, --wait, --out
**                  (outputs checked: farm_output_fetch)
**   farm_lua.c     lf.submit, lf.wait
**   farm_serve.c   `lcmflow serve --redis`: the server's jobs on the farm
*/
#ifndef LCMFLOW_FARM_H
#define LCMFLOW_FARM_H

#include "lcmflow/error.h"

#include <hiredis/hiredis.h>
#include <json-c/json.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>

#define FARM_DEFAULT_STREAM "lcmflow:jobs"
#define FARM_DEFAULT_GROUP  "workers"
#define FARM_JOB_ID_LEN     32 /* hex digits of a job id */
/* Where the URL comes from when --redis is not given (keeps a password
** out of the process list). */
#define FARM_URL_ENV "LCMFLOW_REDIS"

/* redis://[user[:password]@]host[:port][/db] (user and password may be
** %-encoded); "rediss://" is refused: Debian's hiredis 0.14 has no TLS. */
struct farm_url {
    char host[256], user[128], pass[256];
    int port, db;
};
enum lf_status farm_url_parse(const char *text, struct farm_url *out, struct lf_error *err);

/* A connection that reconnects: commands after a lost connection wait for
** Redis with backoff (100 ms doubling to 5 s) until it answers or *stop. */
struct farm_conn {
    struct farm_url url;
    redisContext *c;
    const char *who;             /* "lcmflow worker" etc., for messages */
    volatile sig_atomic_t *stop; /* non-zero: stop waiting (may be NULL) */
    int timeout_ms;              /* per command (0: 10 s) */
    bool said_waiting;
};

/* Connects now (with backoff); false only when *stop was set. */
bool farm_conn_open(struct farm_conn *fc);
void farm_conn_close(struct farm_conn *fc);
/* A command (redisCommand's format).  retry: reconnect and resend after a
** lost connection until it answers (NULL only when *stop is set); else one
** try (NULL when the connection is down).  Error replies are returned. */
redisReply *farm_command(struct farm_conn *fc, bool retry, const char *fmt, ...);
/* The same with an argument vector. */
redisReply *farm_command_argv(struct farm_conn *fc, bool retry, int argc, const char **argv,
                              const size_t *lens);

/* Key names: "<stream>:job:<id>", "<stream>:out:<sha256>", "<stream>:dead",
** "<stream>:notify:<batch>", "<stream>:upload:<upload id>". */
void farm_key(char *out, size_t size, const char *stream, const char *kind, const char *id);
/* True for a job or batch id as submit makes them: FARM_JOB_ID_LEN hex digits. */
bool farm_id_ok(const char *id);
/* A fresh random id (FARM_JOB_ID_LEN hex digits and a NUL). */
bool farm_id_new(char out[FARM_JOB_ID_LEN + 1]);
/* Lower-case hex SHA-256 of the bytes (65 bytes with the NUL). */
void farm_sha256_hex(const void *data, size_t size, char out[65]);
/* Milliseconds since the epoch (job records). */
long long farm_now_ms(void);
/* Reads a whole regular file (at most max bytes); NULL on failure.  With
** nofollow, a symbolic link as the last component is refused. */
unsigned char *farm_read_file(const char *path, size_t max, size_t *size);
unsigned char *farm_read_file_nofollow(const char *path, size_t max, size_t *size);
/* Writes bytes to path through a temporary name and a rename. */
bool farm_write_file(const char *path, const void *data, size_t size);

/* Queues one job (farm_submit.c): its record (state queued, the notify
** list, a label such as the sweep value), then its stream entry with the
** request JSON; id gets the new job's id.  notify NULL with events: the
** job's own list "<stream>:notify:<id>", to which the worker also pushes
** its progress (JSON events; the server's front end, farm_serve.c). */
enum lf_status farm_enqueue(struct farm_conn *fc, const char *stream, const char *group,
                            const char *request, const char *notify, bool events, const char *label,
                            int ttl_s, char id[FARM_JOB_ID_LEN + 1], struct lf_error *err);

/* `lcmflow serve --redis` (farm_serve.c): the server's job table runs its
** jobs on the farm through this serve_remote (server.h). */
struct serve_remote;
struct farm_serve;
enum lf_status farm_serve_create(const char *url, const char *stream, const char *group,
                                 const char *shared, const char *uploads, int slots,
                                 struct farm_serve **out, struct lf_error *err);
const struct serve_remote *farm_serve_remote(struct farm_serve *fs);
/* Before the table is destroyed: a job waiting for Redis gives up. */
void farm_serve_stop(struct farm_serve *fs);
void farm_serve_destroy(struct farm_serve *fs);

/* One output of a finished job's record (an object of its `outputs` list),
** treated as untrusted (farm_submit.c): a "key" must be
** "<stream>:out:<64 hex>" and the bytes fetched must hash to that SHA-256;
** a "path" must resolve (symlinks followed) inside shared (the workers'
** --output folder as this machine sees it; NULL: path outputs refused) and,
** when the record gives "sha256", hash to it.  Errors name the job and the
** key or path.  *data is malloc'd. */
enum lf_status farm_output_fetch(struct farm_conn *fc, const char *stream, const char *shared,
                                 const char *job, struct json_object *output, unsigned char **data,
                                 size_t *size, struct lf_error *err);

/* lf.submit and lf.wait (farm_lua.c), added to the lcmflow Lua module table
** on the top of the stack by `lcmflow lua`. */
struct lua_State;
void farm_lua_add(struct lua_State *L);

/* The commands (runtime/cli/cli_main.c lists them when the farm is built). */
int lf_cli_worker(int argc, char **argv);
int lf_cli_submit(int argc, char **argv);

#endif
