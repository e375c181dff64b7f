/*
** farm_serve.c - `lcmflow serve --redis`: the server's job table
** (runtime/server/serve_jobs.c) runs each job on the farm instead of its
** own session, through a serve_remote.  One thread per job in flight:
** it enqueues the request (farm_enqueue, as `lcmflow submit`), then waits
** on the job's own notify list, where the worker pushes "started", "node"
** and "step" events and, when the job ends, its id; the record is read
** then (and every second, which covers a push lost to a Redis restart).
** A cancel is one script: a queued job becomes `cancelled` at once; a
** running one gets `cancel 1` and a push on STREAM:cancel:ID, which the
** worker's heartbeat thread waits on and turns into lf_session_interrupt.
** The outputs are fetched once, checked (farm_output_fetch), into the
** server's private folder, where the table keeps them with the job.
**
** Dependency direction: this file uses the server's header (server.h);
** the server library never sees hiredis (it is linked only into the
** lcmflow executable, and only with the meson option `farm`).
*/
#include "farm.h"
#include "server.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* The front end's cancel: see the file comment; the worker's start script
** checks `cancel` atomically too, so no cancel falls between the two. */
static const char *const cancel_script =
    "redis.call('HSET', KEYS[1], 'cancel', '1')\n"
    "local st = redis.call('HGET', KEYS[1], 'state')\n"
    "if st == 'queued' then\n"
    "  redis.call('HSET', KEYS[1], 'state', 'cancelled', 'finished', ARGV[1])\n"
    "  redis.call('RPUSH', KEYS[2], ARGV[2])\n"
    "  redis.call('EXPIRE', KEYS[2], ARGV[3])\n"
    "elseif st == 'running' then\n"
    "  redis.call('RPUSH', KEYS[3], '1')\n"
    "  redis.call('EXPIRE', KEYS[3], ARGV[3])\n"
    "end\n"
    "return 1\n";

struct farm_serve {
    struct serve_remote remote;
    struct farm_url url;
    char stream[200], group[100];
    char *shared;
    const char *uploads; /* the server's upload folder (borrowed) */
    int ttl_s;
    volatile sig_atomic_t stop; /* the server stops: waits for Redis end */
};

static double mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static const char *str_field(struct json_object *o, const char *k)
{
    struct json_object *v;
    return json_object_object_get_ex(o, k, &v) && json_object_is_type(v, json_type_string)
               ? json_object_get_string(v)
               : "";
}

static int64_t int_field(struct json_object *o, const char *k)
{
    struct json_object *v;
    return json_object_object_get_ex(o, k, &v) ? json_object_get_int64(v) : 0;
}

/* A preview the worker stored (latest only: a later step may have
** replaced it; a size that does not match the event is skipped). */
static void relay_preview(struct farm_conn *fc, const char *key, struct serve_remote_job *rj,
                          struct json_object *e, bool latent)
{
    const struct lf_session_observer *obs = rj->observer;
    int64_t a = int_field(e, latent ? "c" : "w"), b = int_field(e, "h"), c = int_field(e, "w");
    size_t want = latent ? (size_t)(a * b * c) * sizeof(float) : (size_t)(a * b) * 3;
    if (a <= 0 || b <= 0 || c <= 0 || a > 4096 || b > 4096 || c > 4096) return;
    redisReply *r = farm_command(fc, false, "GET %s", key);
    if (r && r->type == REDIS_REPLY_STRING && r->len == want) {
        if (latent && obs->latent) {
            float *f = malloc(want);
            int64_t shape[4] = {1, a, b, c};
            if (f) {
                memcpy(f, r->str, want);
                obs->latent(obs->user, str_field(e, "node"), (int)int_field(e, "step"),
                            (int)int_field(e, "steps"), f, shape);
            }
            free(f);
        } else if (!latent && rj->frame) {
            rj->frame(rj, (int)int_field(e, "step"), (int)int_field(e, "steps"), (int)a, (int)b,
                      (const unsigned char *)r->str);
        }
    }
    freeReplyObject(r);
}

/* One progress event from the worker, passed to the table's observer. */
static void relay(struct farm_conn *fc, const char *preview, struct serve_remote_job *rj,
                  const char *text, bool *started)
{
    struct json_object *e = json_tokener_parse(text);
    const char *type = str_field(e, "type");
    const struct lf_session_observer *obs = rj->observer;
    if (!*started && (!strcmp(type, "started") || !strcmp(type, "node"))) {
        rj->started(rj);
        *started = true;
    }
    if (!strcmp(type, "node") && obs->node)
        obs->node(obs->user, str_field(e, "node"), str_field(e, "node_type"),
                  (size_t)int_field(e, "index"), (size_t)int_field(e, "total"));
    else if (!strcmp(type, "step") && obs->step)
        obs->step(obs->user, str_field(e, "node"), (int)int_field(e, "step"),
                  (int)int_field(e, "steps"));
    else if (!strcmp(type, "latent") || !strcmp(type, "image"))
        relay_preview(fc, preview, rj, e, !strcmp(type, "latent"));
    json_object_put(e);
}

/* The ended job's record -> the table's result. */
static enum lf_status finish(struct farm_serve *fs, struct farm_conn *fc,
                             struct serve_remote_job *rj, const char *id, const char *state,
                             const char *outputs, const char *profile, const char *error,
                             struct lf_error *err)
{
    if (!strcmp(state, "cancelled"))
        return lf_error_set(err, LF_ERR_INTERRUPTED, "cancelled on the farm");
    if (strcmp(state, "done"))
        return lf_error_set(err, LF_ERR_INVALID, "%s", error && *error ? error : "failed");
    struct json_object *list = json_tokener_parse(outputs ? outputs : "");
    enum lf_status st = LF_OK;
    if (profile) *rj->profile = json_tokener_parse(profile);
    size_t n = json_object_is_type(list, json_type_array) ? json_object_array_length(list) : 0;
    for (size_t i = 0; i < n && st == LF_OK; i++) {
        unsigned char *data = NULL;
        size_t size = 0;
        char path[4200], **grown;
        st = farm_output_fetch(fc, fs->stream, fs->shared, id, json_object_array_get_idx(list, i),
                               &data, &size, err);
        if (st != LF_OK) break;
        snprintf(path, sizeof path, "%s/%s-%zu.png", rj->dir, rj->stem, i);
        if (!farm_write_file(path, data, size) ||
            !(grown = realloc(*rj->paths, (*rj->npaths + 1) * sizeof *grown))) {
            st = lf_error_set(err, LF_ERR_IO, "cannot keep output %zu of job %s", i, id);
        } else {
            *rj->paths = grown;
            if ((grown[*rj->npaths] = strdup(path)) != NULL) (*rj->npaths)++;
        }
        free(data);
    }
    json_object_put(list);
    return st;
}

/* The uploads the request names go to Redis (STREAM:upload:ID, with the
** jobs' TTL) for the worker to fetch: it cannot read this machine's
** folder.  The request was checked, so each named upload exists here. */
static enum lf_status relay_uploads(struct farm_serve *fs, struct farm_conn *fc,
                                    const char *request, struct lf_error *err)
{
    char ids[SERVE_MAX_JOB_UPLOADS][SERVE_UPLOAD_ID_LEN + 1], path[4200], key[512];
    size_t n = fs->uploads ? serve_upload_ids(request, ids, SERVE_MAX_JOB_UPLOADS) : 0;
    for (size_t i = 0; i < n; i++) {
        size_t size;
        unsigned char *data = NULL;
        if (serve_upload_file(fs->uploads, ids[i], path, sizeof path))
            data = farm_read_file_nofollow(path, (size_t)64 << 20, &size);
        if (!data) return lf_error_set(err, LF_ERR_NOT_FOUND, "upload %s: not found", ids[i]);
        farm_key(key, sizeof key, fs->stream, "upload", ids[i]);
        redisReply *r = farm_command(fc, true, "SET %s %b EX %d", key, data, size, fs->ttl_s);
        bool ok = r && r->type == REDIS_REPLY_STATUS;
        freeReplyObject(r);
        free(data);
        if (!ok) return lf_error_set(err, LF_ERR_IO, "upload %s: Redis did not store it", ids[i]);
    }
    return LF_OK;
}

static enum lf_status run(void *user, struct serve_remote_job *rj, struct lf_error *err)
{
    struct farm_serve *fs = user;
    struct farm_conn fc = {.url = fs->url, .who = "lcmflow serve", .stop = &fs->stop};
    char id[FARM_JOB_ID_LEN + 1], key[512], notify[512], cancel[512], preview[512], ttl[32],
        now[32];
    bool started = false, cancel_sent = false;
    double cancel_at = 0, last_poll = mono_ms();
    enum lf_status st = LF_OK;
    if (!farm_conn_open(&fc)) return lf_error_set(err, LF_ERR_INTERRUPTED, "stopped");
    if (relay_uploads(fs, &fc, rj->request, err) != LF_OK ||
        farm_enqueue(&fc, fs->stream, fs->group, rj->request, NULL, true, "", fs->ttl_s, id, err) !=
            LF_OK) {
        farm_conn_close(&fc);
        return err->code;
    }
    farm_key(key, sizeof key, fs->stream, "job", id);
    farm_key(notify, sizeof notify, fs->stream, "notify", id);
    farm_key(cancel, sizeof cancel, fs->stream, "cancel", id);
    farm_key(preview, sizeof preview, fs->stream, "preview", id);
    snprintf(ttl, sizeof ttl, "%d", fs->ttl_s);
    for (;;) {
        if (!cancel_sent && rj->cancelled(rj)) {
            snprintf(now, sizeof now, "%lld", farm_now_ms());
            const char *argv[] = {"EVAL", cancel_script, "3", key, notify, cancel, now, id, ttl};
            freeReplyObject(farm_command_argv(&fc, true, 9, argv, NULL));
            cancel_sent = true;
            cancel_at = mono_ms();
        }
        /* A worker gone silent after a cancel (or the server stopping):
        ** the job is reported cancelled after 10 s all the same. */
        if (cancel_sent && mono_ms() - cancel_at > 10000) {
            st = lf_error_set(err, LF_ERR_INTERRUPTED, "cancelled (the farm did not confirm)");
            break;
        }
        redisReply *r = farm_command(&fc, true, "BLPOP %s 0.1", notify);
        bool ended = false;
        if (r && r->type == REDIS_REPLY_ARRAY && r->elements == 2 &&
            r->element[1]->type == REDIS_REPLY_STRING) {
            if (r->element[1]->str[0] == '{')
                relay(&fc, preview, rj, r->element[1]->str, &started);
            else
                ended = true;
        }
        freeReplyObject(r);
        if (!ended && mono_ms() - last_poll < 1000) continue;
        last_poll = mono_ms();
        r = farm_command(&fc, true, "HMGET %s state outputs profile error", key);
        if (r && r->type == REDIS_REPLY_ARRAY && r->elements == 4 &&
            r->element[0]->type == REDIS_REPLY_STRING) {
            const char *state = r->element[0]->str;
            const char *f[3];
            for (int i = 0; i < 3; i++)
                f[i] =
                    r->element[i + 1]->type == REDIS_REPLY_STRING ? r->element[i + 1]->str : NULL;
            if (!started && !strcmp(state, "running")) rj->started(rj), started = true;
            if (!strcmp(state, "done") || !strcmp(state, "failed") || !strcmp(state, "cancelled")) {
                if (!started && strcmp(state, "cancelled")) rj->started(rj);
                st = finish(fs, &fc, rj, id, state, f[0], f[1], f[2], err);
                freeReplyObject(r);
                break;
            }
        } else if (r && r->type == REDIS_REPLY_ARRAY) {
            /* The record is gone (expired, or Redis lost it without its AOF). */
            freeReplyObject(r);
            st = lf_error_set(err, LF_ERR_INVALID, "job %s: its record is gone from Redis", id);
            break;
        }
        freeReplyObject(r);
    }
    freeReplyObject(farm_command(&fc, false, "DEL %s %s", notify, preview));
    farm_conn_close(&fc);
    return st;
}

enum lf_status farm_serve_create(const char *url, const char *stream, const char *group,
                                 const char *shared, const char *uploads, int slots,
                                 struct farm_serve **out, struct lf_error *err)
{
    struct farm_serve *fs = calloc(1, sizeof *fs);
    *out = NULL;
    if (!fs) return lf_error_set(err, LF_ERR_OUT_OF_MEMORY, "out of memory");
    if (farm_url_parse(url, &fs->url, err) != LF_OK) {
        free(fs);
        return err->code;
    }
    if (shared && !(fs->shared = realpath(shared, NULL))) {
        free(fs);
        return lf_error_set(err, LF_ERR_INVALID, "--shared %s: no such folder", shared);
    }
    snprintf(fs->stream, sizeof fs->stream, "%s", stream ? stream : FARM_DEFAULT_STREAM);
    snprintf(fs->group, sizeof fs->group, "%s", group ? group : FARM_DEFAULT_GROUP);
    fs->ttl_s = 86400;
    fs->uploads = uploads;
    fs->remote = (struct serve_remote){.user = fs, .slots = slots, .run = run};
    *out = fs;
    return LF_OK;
}

void farm_serve_stop(struct farm_serve *fs)
{
    if (fs) fs->stop = 1;
}

const struct serve_remote *farm_serve_remote(struct farm_serve *fs)
{
    return &fs->remote;
}

void farm_serve_destroy(struct farm_serve *fs)
{
    if (!fs) return;
    free(fs->shared);
    free(fs);
}
