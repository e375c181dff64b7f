/*
** farm_worker.c - `lcmflow worker`: takes one job at a time from the
** consumer group of a Redis stream, runs it on its own executor session
** (models stay warm between jobs), stores the outputs, records state,
** progress and profile in the job's hash, then acknowledges the entry.
**
** At-least-once: an entry stays in this consumer's pending list until the
** completion script acknowledges it; a heartbeat thread keeps it fresh
** (XCLAIM JUSTID resets its idle time) so that only a dead worker's entry
** grows idle and is taken over by another worker (XAUTOCLAIM).  Every
** state change that must not be half-done (completion, dead letter, hand
** back) is one Lua script.  The job hash's `attempts` counts starts; past
** --tries the job goes to the dead-letter stream with its last error.
*/
#include "farm.h"
#include "image_io.h"
#include "lcmflow/executor.h"
#include "lcmflow/tensor.h"
#include "lcmflow/registry.h"
#include "server.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* Completion: the first one records the outputs and tells the submitter;
** a duplicate (a reclaimed job that ran twice) is only counted. */
static const char *const done_script =
    "local st = redis.call('HGET', KEYS[2], 'state')\n"
    "local first = 0\n"
    "if st ~= 'done' and st ~= 'failed' then\n"
    "  redis.call('HSET', KEYS[2], 'state', 'done', 'outputs', ARGV[4], 'profile', ARGV[5],\n"
    "             'worker', ARGV[6], 'finished', ARGV[7], 'run_ms', ARGV[9])\n"
    "  redis.call('HINCRBY', KEYS[2], 'completions', 1)\n"
    "  first = 1\n"
    "  if KEYS[3] ~= KEYS[2] then\n"
    "    redis.call('RPUSH', KEYS[3], ARGV[3])\n"
    "    redis.call('EXPIRE', KEYS[3], ARGV[8])\n"
    "  end\n"
    "else\n"
    "  redis.call('HINCRBY', KEYS[2], 'duplicates', 1)\n"
    "end\n"
    "redis.call('EXPIRE', KEYS[2], ARGV[8])\n"
    "redis.call('XACK', KEYS[1], ARGV[1], ARGV[2])\n"
    "redis.call('XDEL', KEYS[1], ARGV[2])\n"
    "return first\n";

/* A job given up: into the dead-letter stream with its error, once. */
static const char *const dead_script =
    "local st = redis.call('HGET', KEYS[2], 'state')\n"
    "if st ~= 'done' and st ~= 'failed' then\n"
    "  local attempts = redis.call('HGET', KEYS[2], 'attempts') or '0'\n"
    "  redis.call('XADD', KEYS[3], '*', 'job', ARGV[3], 'error', ARGV[4], 'attempts', attempts,\n"
    "             'worker', ARGV[6], 'request', ARGV[5])\n"
    "  redis.call('HSET', KEYS[2], 'state', 'failed', 'error', ARGV[4], 'finished', ARGV[7])\n"
    "  if KEYS[4] ~= KEYS[2] then\n"
    "    redis.call('RPUSH', KEYS[4], ARGV[3])\n"
    "    redis.call('EXPIRE', KEYS[4], ARGV[8])\n"
    "  end\n"
    "end\n"
    "redis.call('EXPIRE', KEYS[2], ARGV[8])\n"
    "redis.call('XACK', KEYS[1], ARGV[1], ARGV[2])\n"
    "redis.call('XDEL', KEYS[1], ARGV[2])\n"
    "return 1\n";

/* A job's start: skipped when it ended or was cancelled meanwhile (the
** server's cancel script is atomic too, so a cancel is never lost between
** the check and `running`); else its start counted and, within --tries,
** marked running (and "started" told to a server front end). */
static const char *const start_script =
    "local st = redis.call('HGET', KEYS[1], 'state')\n"
    "if st == 'done' or st == 'failed' or st == 'cancelled' then return -1 end\n"
    "if redis.call('HGET', KEYS[1], 'cancel') then\n"
    "  redis.call('HSET', KEYS[1], 'state', 'cancelled', 'finished', ARGV[3])\n"
    "  if KEYS[2] ~= KEYS[1] then\n"
    "    redis.call('RPUSH', KEYS[2], ARGV[5])\n"
    "    redis.call('EXPIRE', KEYS[2], ARGV[6])\n"
    "  end\n"
    "  return -2\n"
    "end\n"
    "local n = redis.call('HINCRBY', KEYS[1], 'attempts', 1)\n"
    "if n <= tonumber(ARGV[1]) then\n"
    "  redis.call('HSET', KEYS[1], 'state', 'running', 'worker', ARGV[2], 'started', ARGV[3])\n"
    "  if ARGV[4] ~= '' and KEYS[2] ~= KEYS[1] then\n"
    "    redis.call('RPUSH', KEYS[2], ARGV[4])\n"
    "    redis.call('EXPIRE', KEYS[2], ARGV[6])\n"
    "  end\n"
    "end\n"
    "return n\n";

/* A running job cancelled (the server's flag): recorded, acknowledged. */
static const char *const cancelled_script =
    "local st = redis.call('HGET', KEYS[2], 'state')\n"
    "if st ~= 'done' and st ~= 'failed' then\n"
    "  redis.call('HSET', KEYS[2], 'state', 'cancelled', 'finished', ARGV[4])\n"
    "  if KEYS[3] ~= KEYS[2] then\n"
    "    redis.call('RPUSH', KEYS[3], ARGV[3])\n"
    "    redis.call('EXPIRE', KEYS[3], ARGV[5])\n"
    "  end\n"
    "end\n"
    "redis.call('EXPIRE', KEYS[2], ARGV[5])\n"
    "redis.call('XACK', KEYS[1], ARGV[1], ARGV[2])\n"
    "redis.call('XDEL', KEYS[1], ARGV[2])\n"
    "return 1\n";

/* Cache affinity: is there another live worker with all these models
** warm?  KEYS[1] the workers' set; ARGV[1] this worker, ARGV[2] the prefix
** of the workers' hashes, ARGV[3...] the model ids.  Workers whose hash
** expired (gone) leave the set here. */
static const char *const warm_script =
    "for _, name in ipairs(redis.call('SMEMBERS', KEYS[1])) do\n"
    "  if name ~= ARGV[1] then\n"
    "    local warm = redis.call('HGET', ARGV[2] .. name, 'warm')\n"
    "    if not warm then\n"
    "      redis.call('SREM', KEYS[1], name)\n"
    "    else\n"
    "      local all = true\n"
    "      for i = 3, #ARGV do\n"
    "        if not string.find(' ' .. warm .. ' ', ' ' .. ARGV[i] .. ' ', 1, true) then\n"
    "          all = false\n"
    "          break\n"
    "        end\n"
    "      end\n"
    "      if all then return name end\n"
    "    end\n"
    "  end\n"
    "end\n"
    "return ''\n";

/* A cold worker leaves a job to a warm one: back to the stream's end, the
** time it was first left (`since`) kept, nothing counted. */
static const char *const defer_script =
    "redis.call('XACK', KEYS[1], ARGV[1], ARGV[2])\n"
    "redis.call('XDEL', KEYS[1], ARGV[2])\n"
    "redis.call('XADD', KEYS[1], '*', 'job', ARGV[3], 'request', ARGV[4], 'since', ARGV[5])\n"
    "return 1\n";

/* Ctrl-C twice: the job goes back to the stream at once (not counted). */
static const char *const handback_script =
    "redis.call('XACK', KEYS[1], ARGV[1], ARGV[2])\n"
    "redis.call('XDEL', KEYS[1], ARGV[2])\n"
    "redis.call('XADD', KEYS[1], '*', 'job', ARGV[3], 'request', ARGV[4])\n"
    "redis.call('HINCRBY', KEYS[2], 'attempts', -1)\n"
    "redis.call('HSET', KEYS[2], 'state', 'queued')\n"
    "return 1\n";

static volatile sig_atomic_t signals_seen, heartbeat_stop;
static struct lf_session *signal_session;

static void on_signal(int sig)
{
    (void)sig;
    signals_seen = signals_seen + 1;
    if (signals_seen >= 2 && signal_session) lf_session_interrupt(signal_session);
}

/* A model a job reads (cache affinity): an id of its resolved path, its size. */
struct model {
    char id[17];
    long long bytes;
};

struct worker {
    struct farm_conn conn, hb_conn;
    const char *stream, *group, *name;
    char namebuf[128], dead[512], cursor[64];
    int reclaim_ms, tries, ttl_s;
    struct serve_roots roots;
    struct serve_limits limits;
    char *output; /* --output's real path; NULL: outputs go to Redis */
    char workdir[64];
    struct lf_registry *reg;
    struct lf_session *session;
    pthread_t hb;
    bool hb_started;
    pthread_mutex_t lock;
    pthread_cond_t wake;
    int affinity_ms;       /* --affinity-ms: how long a cold worker leaves a job to a warm one */
    struct model warm[16]; /* the models thought in the cache (most recent first) */
    size_t nwarm;
    size_t cache_bytes;
    char worker_key[512], workers_key[512];
    char current[64];     /* the entry being run, for the heartbeat */
    char current_job[64]; /* its job id (the cancel list's name) */
    bool cancelled;       /* the heartbeat saw the job's cancel */
    unsigned long jobs, deferred;
};

struct entry {
    char id[64];
    char *job, *request;
    size_t request_len;
    long long since; /* when a cold worker first left it to a warm one (ms), else 0 */
};

static void entry_free(struct entry *e)
{
    free(e->job);
    free(e->request);
    *e = (struct entry){0};
}

static bool reply_is(const redisReply *r, int type)
{
    return r && r->type == type;
}

/* [id, [field, value, ...]] -> e; false for a deleted or odd entry. */
static bool entry_from_reply(const redisReply *r, struct entry *e)
{
    *e = (struct entry){0};
    if (!reply_is(r, REDIS_REPLY_ARRAY) || r->elements < 2 ||
        !reply_is(r->element[0], REDIS_REPLY_STRING) || r->element[0]->len >= sizeof e->id)
        return false;
    memcpy(e->id, r->element[0]->str, r->element[0]->len + 1);
    const redisReply *f = r->element[1];
    for (size_t i = 0; reply_is(f, REDIS_REPLY_ARRAY) && i + 1 < f->elements; i += 2) {
        const redisReply *k = f->element[i], *v = f->element[i + 1];
        if (!reply_is(k, REDIS_REPLY_STRING) || !reply_is(v, REDIS_REPLY_STRING)) continue;
        if (!strcmp(k->str, "job") && !e->job) e->job = strndup(v->str, 64);
        if (!strcmp(k->str, "since")) e->since = strtoll(v->str, NULL, 10);
        if (!strcmp(k->str, "request") && !e->request) {
            e->request = malloc(v->len + 1);
            if (e->request) memcpy(e->request, v->str, v->len + 1), e->request_len = v->len;
        }
    }
    return true;
}

static void ensure_group(struct worker *w)
{
    redisReply *r =
        farm_command(&w->conn, true, "XGROUP CREATE %s %s 0 MKSTREAM", w->stream, w->group);
    freeReplyObject(r); /* BUSYGROUP: it exists */
}

/* The next entry: a dead worker's (idle past --reclaim-ms) first, else a
** new one (waiting at most 500 ms, so that a signal is seen soon). */
static bool next_entry(struct worker *w, struct entry *e)
{
    char ms[32];
    bool got = false;
    snprintf(ms, sizeof ms, "%d", w->reclaim_ms);
    redisReply *r = farm_command(&w->conn, true, "XAUTOCLAIM %s %s %s %s %s COUNT 1", w->stream,
                                 w->group, w->name, ms, w->cursor);
    if (reply_is(r, REDIS_REPLY_ARRAY) && r->elements >= 2 &&
        reply_is(r->element[0], REDIS_REPLY_STRING)) {
        snprintf(w->cursor, sizeof w->cursor, "%s", r->element[0]->str);
        const redisReply *list = r->element[1];
        if (reply_is(list, REDIS_REPLY_ARRAY) && list->elements > 0)
            got = entry_from_reply(list->element[0], e);
    } else if (reply_is(r, REDIS_REPLY_ERROR) && strstr(r->str, "NOGROUP")) {
        ensure_group(w);
    }
    freeReplyObject(r);
    if (got) {
        fprintf(stderr, "%s: reclaimed entry %s\n", w->name, e->id);
        return true;
    }
    r = farm_command(&w->conn, true, "XREADGROUP GROUP %s %s COUNT 1 BLOCK 500 STREAMS %s >",
                     w->group, w->name, w->stream);
    if (reply_is(r, REDIS_REPLY_ARRAY) && r->elements > 0 &&
        reply_is(r->element[0], REDIS_REPLY_ARRAY) && r->element[0]->elements >= 2) {
        const redisReply *list = r->element[0]->element[1];
        if (reply_is(list, REDIS_REPLY_ARRAY) && list->elements > 0)
            got = entry_from_reply(list->element[0], e);
    } else if (reply_is(r, REDIS_REPLY_ERROR) && strstr(r->str, "NOGROUP")) {
        ensure_group(w);
    }
    freeReplyObject(r);
    return got;
}

/* ---- the heartbeat: keeps the running entry's idle time low ---- */

/* While a job runs: waits on its cancel list (a server front end's cancel
** wakes it at once, and it interrupts the run: within one UNet block) in
** slices of at most 200 ms, and every --reclaim-ms/4 resets the entry's
** idle time. */
static void *heartbeat_main(void *arg)
{
    struct worker *w = arg;
    int interval = w->reclaim_ms / 4;
    double last_claim = 0;
    pthread_mutex_lock(&w->lock);
    while (!heartbeat_stop) {
        if (!w->current[0]) {
            if (w->affinity_ms) {
                pthread_mutex_unlock(&w->lock);
                freeReplyObject(farm_command(&w->hb_conn, true, "EXPIRE %s %d", w->worker_key,
                                             3 * interval / 1000 + 2));
                pthread_mutex_lock(&w->lock);
            }
            struct timespec until;
            clock_gettime(CLOCK_REALTIME, &until);
            long long ns = until.tv_nsec + (long long)interval * 1000000LL;
            until.tv_sec += (time_t)(ns / 1000000000LL);
            until.tv_nsec = (long)(ns % 1000000000LL);
            pthread_cond_timedwait(&w->wake, &w->lock, &until);
            continue;
        }
        char id[64], job[64], cancel[512];
        snprintf(id, sizeof id, "%s", w->current);
        snprintf(job, sizeof job, "%s", w->current_job);
        pthread_mutex_unlock(&w->lock);
        struct timespec now;
        clock_gettime(CLOCK_MONOTONIC, &now);
        double t = (double)now.tv_sec * 1e3 + (double)now.tv_nsec / 1e6;
        if (t - last_claim >= interval) {
            freeReplyObject(farm_command(&w->hb_conn, true, "XCLAIM %s %s %s 0 %s JUSTID",
                                         w->stream, w->group, w->name, id));
            if (w->affinity_ms)
                freeReplyObject(farm_command(&w->hb_conn, true, "EXPIRE %s %d", w->worker_key,
                                             3 * interval / 1000 + 2));
            last_claim = t;
        }
        farm_key(cancel, sizeof cancel, w->stream, "cancel", job);
        redisReply *r = farm_command(&w->hb_conn, true, "BLPOP %s %.3f", cancel,
                                     (interval < 200 ? interval : 200) / 1000.0);
        bool got = r && r->type == REDIS_REPLY_ARRAY && r->elements == 2;
        freeReplyObject(r);
        pthread_mutex_lock(&w->lock);
        if (got && !strcmp(w->current, id)) {
            w->cancelled = true;
            lf_session_interrupt(w->session);
        }
    }
    pthread_mutex_unlock(&w->lock);
    return NULL;
}

static void set_current(struct worker *w, const char *id, const char *job)
{
    pthread_mutex_lock(&w->lock);
    snprintf(w->current, sizeof w->current, "%s", id ? id : "");
    snprintf(w->current_job, sizeof w->current_job, "%s", job ? job : "");
    if (id) w->cancelled = false;
    pthread_cond_broadcast(&w->wake);
    pthread_mutex_unlock(&w->lock);
}

/* ---- progress into the job hash (best effort: never waits for Redis) ---- */

struct observe {
    struct worker *w;
    const char *key;
    const char *events; /* a server front end's list for progress events, or NULL */
    const char *job;
};

/* A progress event to the front end's list (best effort, as the HSET). */
static void tell(struct observe *o, struct json_object *e)
{
    if (o->events)
        freeReplyObject(farm_command(&o->w->conn, false, "RPUSH %s %s", o->events,
                                     json_object_to_json_string_ext(e, JSON_C_TO_STRING_PLAIN)));
    json_object_put(e);
}

static void on_node(void *user, const char *node_id, const char *type_name, size_t index,
                    size_t total)
{
    struct observe *o = user;
    char i[32], n[32]; /* hiredis formats no %zu */
    snprintf(i, sizeof i, "%zu", index);
    snprintf(n, sizeof n, "%zu", total);
    freeReplyObject(farm_command(&o->w->conn, false,
                                 "HSET %s node %s index %s total %s step 0 steps 0", o->key,
                                 node_id, i, n));
    if (o->events) {
        struct json_object *e = json_object_new_object();
        json_object_object_add(e, "type", json_object_new_string("node"));
        json_object_object_add(e, "node", json_object_new_string(node_id));
        json_object_object_add(e, "node_type", json_object_new_string(type_name));
        json_object_object_add(e, "index", json_object_new_uint64(index));
        json_object_object_add(e, "total", json_object_new_uint64(total));
        tell(o, e);
    }
}

static void on_step(void *user, const char *node_id, int step, int total)
{
    struct observe *o = user;
    freeReplyObject(
        farm_command(&o->w->conn, false, "HSET %s step %d steps %d", o->key, step, total));
    if (o->events) {
        struct json_object *e = json_object_new_object();
        json_object_object_add(e, "type", json_object_new_string("step"));
        json_object_object_add(e, "node", json_object_new_string(node_id));
        json_object_object_add(e, "step", json_object_new_int(step));
        json_object_object_add(e, "steps", json_object_new_int(total));
        tell(o, e);
    }
}

/* Previews for a server front end: the step's picture stored under
** STREAM:preview:JOB for a minute (each step overwrites it), then an event
** saying what it is.  Latents (no decoder wired: the server maps them to
** RGB as it does its own) as host floats of batch item 0; a node's own
** decode (TAESD) as 8-bit RGB. */
static void tell_preview(struct observe *o, const void *data, size_t size, struct json_object *e)
{
    char key[512];
    farm_key(key, sizeof key, o->w->stream, "preview", o->job);
    freeReplyObject(farm_command(&o->w->conn, false, "SET %s %b EX 60", key, data, size));
    tell(o, e);
}

static void on_latent(void *user, const char *node_id, int step, int total, const float *latent,
                      const int64_t shape[4])
{
    struct observe *o = user;
    if (shape[1] <= 0 || shape[2] <= 0 || shape[3] <= 0 || shape[1] > 64 || shape[2] > 1024 ||
        shape[3] > 1024)
        return;
    struct json_object *e = json_object_new_object();
    json_object_object_add(e, "type", json_object_new_string("latent"));
    json_object_object_add(e, "node", json_object_new_string(node_id));
    json_object_object_add(e, "step", json_object_new_int(step));
    json_object_object_add(e, "steps", json_object_new_int(total));
    for (int i = 1; i < 4; i++)
        json_object_object_add(e,
                               i == 1   ? "c"
                               : i == 2 ? "h"
                                        : "w",
                               json_object_new_int64(shape[i]));
    tell_preview(o, latent, (size_t)(shape[1] * shape[2] * shape[3]) * sizeof(float), e);
}

static void on_image(void *user, const char *node_id, int step, int total, struct lf_tensor *image)
{
    struct observe *o = user;
    uint8_t *rgb = NULL;
    if (image->rank != 4 || image->shape[1] > 4096 || image->shape[2] > 4096 ||
        lf_image_to_rgb8(image, 0, &rgb, NULL) != LF_OK)
        return;
    struct json_object *e = json_object_new_object();
    json_object_object_add(e, "type", json_object_new_string("image"));
    json_object_object_add(e, "node", json_object_new_string(node_id));
    json_object_object_add(e, "step", json_object_new_int(step));
    json_object_object_add(e, "steps", json_object_new_int(total));
    json_object_object_add(e, "w", json_object_new_int64(image->shape[2]));
    json_object_object_add(e, "h", json_object_new_int64(image->shape[1]));
    tell_preview(o, rgb, (size_t)(image->shape[1] * image->shape[2]) * 3, e);
    free(rgb);
}

/* ---- outputs ---- */

static int compare_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The files under dir (relative names, sorted), as the job's outputs. */
static void list_files(const char *dir, const char *rel, char ***names, size_t *n)
{
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s%s%s", dir, rel[0] ? "/" : "", rel);
    DIR *d = opendir(path);
    struct dirent *e;
    while (d && (e = readdir(d)) != NULL) {
        char sub[PATH_MAX], full[PATH_MAX];
        struct stat st;
        if (e->d_name[0] == '.' || strstr(e->d_name, ".tmp")) continue;
        snprintf(sub, sizeof sub, "%s%s%s", rel, rel[0] ? "/" : "", e->d_name);
        snprintf(full, sizeof full, "%s/%s", dir, sub);
        if (lstat(full, &st) != 0) continue;
        if (S_ISDIR(st.st_mode)) {
            list_files(dir, sub, names, n);
        } else if (S_ISREG(st.st_mode)) {
            char **grown = realloc(*names, (*n + 1) * sizeof *grown);
            if (!grown) break;
            *names = grown;
            if ((grown[*n] = strdup(sub)) != NULL) (*n)++;
        }
    }
    if (d) closedir(d);
    if (!rel[0] && *n) qsort(*names, *n, sizeof **names, compare_names);
}

/* Each file of the job's folder: hashed, and stored in Redis under its
** hash (with the TTL) unless the workers write to a shared --output. */
static enum lf_status store_outputs(struct worker *w, const char *jobdir,
                                    struct json_object *outputs, struct lf_error *err)
{
    char **names = NULL;
    size_t n = 0;
    enum lf_status st = LF_OK;
    list_files(jobdir, "", &names, &n);
    for (size_t i = 0; i < n; i++) {
        char path[PATH_MAX], sha[65], key[512];
        size_t size;
        snprintf(path, sizeof path, "%s/%s", jobdir, names[i]);
        unsigned char *data = st == LF_OK ? farm_read_file(path, (size_t)1 << 30, &size) : NULL;
        if (st == LF_OK && !data)
            st = lf_error_set(err, LF_ERR_INVALID, "cannot read the output %s", names[i]);
        if (data) {
            struct json_object *o = json_object_new_object();
            farm_sha256_hex(data, size, sha);
            json_object_object_add(o, "name", json_object_new_string(names[i]));
            json_object_object_add(o, "sha256", json_object_new_string(sha));
            json_object_object_add(o, "bytes", json_object_new_uint64(size));
            if (w->output) {
                json_object_object_add(o, "path", json_object_new_string(path));
            } else {
                farm_key(key, sizeof key, w->stream, "out", sha);
                redisReply *r =
                    farm_command(&w->conn, true, "SET %s %b EX %d", key, data, size, w->ttl_s);
                if (!reply_is(r, REDIS_REPLY_STATUS))
                    st = lf_error_set(err, LF_ERR_INVALID, "storing %s in Redis: %s", names[i],
                                      r && r->str ? r->str : "no reply");
                freeReplyObject(r);
                json_object_object_add(o, "key", json_object_new_string(key));
            }
            json_object_array_add(outputs, o);
            free(data);
        }
        free(names[i]);
    }
    free(names);
    return st;
}

/* ---- cache affinity (README.md: "Cache affinity") ---- */

/* The models a job reads: its non-output path params naming .safetensors
** files, as resolved inside the roots (so two spellings of one file are
** one model), each as the first 16 hex digits of the path's SHA-256, with
** the file's size.  Parses the request again (a few ms); 0 when it does not
** parse (the run reports that). */
static size_t models_of(struct worker *w, const struct entry *e, struct model *out, size_t max)
{
    struct json_object *req = e->request ? json_tokener_parse(e->request) : NULL;
    struct serve_roots roots = w->roots;
    struct lf_graph *g = NULL;
    struct lf_error err = {0};
    size_t n = 0;
    roots.output = w->workdir;
    roots.uploads = NULL;
    if (req && serve_graph_from_request(w->reg, &roots, &w->limits, NULL, req, &g, &err) == LF_OK)
        for (size_t i = 0; i < lf_graph_node_count(g); i++) {
            const struct lf_node_type *t = lf_graph_node_type(g, i);
            const char *id = lf_graph_node_id(g, i);
            if (t->flags & LF_NODE_SIDE_EFFECT) continue;
            for (const struct lf_param_desc *d = t->params; d && d->name && n < max; d++) {
                const char *text = lf_graph_param_text(g, id, d->name);
                size_t len = text ? strlen(text) : 0;
                char sha[65];
                struct stat st;
                if (!(d->flags & LF_PARAM_PATH) || len < 12 ||
                    strcmp(text + len - 12, ".safetensors"))
                    continue;
                farm_sha256_hex(text, len, sha);
                snprintf(out[n].id, sizeof out[n].id, "%.16s", sha);
                out[n++].bytes = stat(text, &st) == 0 ? (long long)st.st_size : 0;
            }
        }
    lf_graph_destroy(g);
    json_object_put(req);
    return n;
}

static bool warm_here(const struct worker *w, const char *id)
{
    for (size_t i = 0; i < w->nwarm; i++)
        if (!strcmp(w->warm[i].id, id)) return true;
    return false;
}

/* After a job done: its models first in the warm list, which keeps the
** most recent models whose files add up to the cache budget (at least the
** last job's: the cache evicts the least recently used, and a model's
** file size stands for its size in memory), published in the worker's
** hash with a TTL the heartbeat renews (a dead worker's expires). */
static void remember_warm(struct worker *w, const struct model *m, size_t n)
{
    struct model list[32];
    size_t k = 0;
    long long total = 0;
    char text[32 * 18] = "";
    for (size_t i = 0; i < n && k < 32; i++)
        list[k++] = m[i];
    for (size_t i = 0; i < w->nwarm && k < 32; i++) {
        bool dup = false;
        for (size_t j = 0; j < n && !dup; j++)
            dup = !strcmp(m[j].id, w->warm[i].id);
        if (!dup) list[k++] = w->warm[i];
    }
    w->nwarm = 0;
    for (size_t i = 0; i < k && w->nwarm < 16; i++) {
        total += list[i].bytes;
        if (i >= n && total > (long long)w->cache_bytes) break;
        w->warm[w->nwarm++] = list[i];
    }
    for (size_t i = 0; i < w->nwarm; i++)
        snprintf(text + strlen(text), sizeof text - strlen(text), "%s%s", i ? " " : "",
                 w->warm[i].id);
    freeReplyObject(farm_command(&w->conn, false, "HSET %s warm %s", w->worker_key, text));
    freeReplyObject(farm_command(&w->conn, false, "EXPIRE %s %d", w->worker_key,
                                 3 * (w->reclaim_ms / 4) / 1000 + 2));
    freeReplyObject(farm_command(&w->conn, false, "SADD %s %s", w->workers_key, w->name));
}

/* True when the job was left to a warm worker: this one lacks one of its
** models, another live worker has them all, and no more than --affinity-ms
** have passed since a cold worker first left it.  (Counted from then, not
** from its queueing: in a long queue every job waits longer than that.) */
static bool defer_to_warm(struct worker *w, const struct entry *e, const struct model *m, size_t n)
{
    bool cold = false;
    char prefix[512];
    for (size_t i = 0; i < n; i++)
        cold = cold || !warm_here(w, m[i].id);
    long long first = e->since ? e->since : farm_now_ms();
    if (!cold || farm_now_ms() - first >= w->affinity_ms) return false;
    farm_key(prefix, sizeof prefix, w->stream, "worker", "");
    const char *argv[3 + 3 + 16];
    argv[0] = "EVAL", argv[1] = warm_script, argv[2] = "1", argv[3] = w->workers_key;
    argv[4] = w->name, argv[5] = prefix;
    for (size_t i = 0; i < n && i < 16; i++)
        argv[6 + i] = m[i].id;
    redisReply *r = farm_command_argv(&w->conn, true, 6 + (int)(n < 16 ? n : 16), argv, NULL);
    bool warm_elsewhere = reply_is(r, REDIS_REPLY_STRING) && r->len > 0;
    freeReplyObject(r);
    if (!warm_elsewhere) return false;
    char since[32];
    snprintf(since, sizeof since, "%lld", first);
    const char *dargv[] = {"EVAL", defer_script, "1",        w->stream, w->group,
                           e->id,  e->job,       e->request, since};
    freeReplyObject(farm_command_argv(&w->conn, true, 9, dargv, NULL));
    return true;
}

/* ---- one job ---- */

enum outcome { JOB_DONE, JOB_INVALID, JOB_FAILED, JOB_HANDBACK, JOB_CANCELLED };

struct result {
    struct json_object *outputs, *profile;
    char error[2048];
    double run_ms;
};

static double mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* The uploads a job names (`lcmflow serve --redis` relays them as
** STREAM:upload:ID) into a private folder of this job, *updir (NULL when it
** names none; the caller removes it).  A missing key leaves the file out:
** the request's check then names the param.  The bytes are untrusted like
** any upload: at most the upload size limit, decoded by LoadImage's checks. */
static enum lf_status fetch_uploads(struct worker *w, const struct entry *e, char **updir,
                                    struct lf_error *err)
{
    char ids[SERVE_MAX_JOB_UPLOADS][SERVE_UPLOAD_ID_LEN + 1], dir[PATH_MAX], path[PATH_MAX],
        key[512];
    size_t n = serve_upload_ids(e->request, ids, SERVE_MAX_JOB_UPLOADS);
    *updir = NULL;
    if (n == 0) return LF_OK;
    snprintf(dir, sizeof dir, "%s/uploads-%s", w->workdir, e->job);
    if ((mkdir(dir, 0700) != 0 && errno != EEXIST) || !(*updir = realpath(dir, NULL)))
        return lf_error_set(err, LF_ERR_IO, "cannot create the job's upload folder: %s",
                            strerror(errno));
    for (size_t i = 0; i < n; i++) {
        farm_key(key, sizeof key, w->stream, "upload", ids[i]);
        redisReply *r = farm_command(&w->conn, true, "GET %s", key);
        bool ok = !r || r->type != REDIS_REPLY_STRING ||
                  (r->len <= w->limits.upload_bytes &&
                   serve_upload_file(*updir, ids[i], path, sizeof path) &&
                   farm_write_file(path, r->str, r->len));
        freeReplyObject(r);
        if (!ok) return lf_error_set(err, LF_ERR_IO, "upload %s: cannot store it", ids[i]);
    }
    return LF_OK;
}

static enum outcome run_job(struct worker *w, const struct entry *e, const char *key,
                            const char *events, struct result *res)
{
    struct lf_error err = {0};
    struct json_object *req = NULL;
    struct lf_graph *g = NULL;
    struct lf_run *run = NULL;
    char dir[PATH_MAX], *jobdir = NULL, *updir = NULL, **paths = NULL;
    size_t npaths = 0;
    enum outcome out = JOB_INVALID;
    enum lf_status st;

    /* The request is untrusted input: the server's size limit, its JSON
    ** parser, then serve_graph_from_request's rules (paths, limits). */
    if (!e->request || e->request_len > w->limits.body_bytes) {
        lf_error_set(&err, LF_ERR_INVALID, "the request is %s (limit %zu bytes)",
                     e->request ? "too large" : "missing", w->limits.body_bytes);
        goto done;
    }
    struct json_tokener *tok = json_tokener_new();
    req = tok ? json_tokener_parse_ex(tok, e->request, (int)e->request_len) : NULL;
    if (!req || json_tokener_get_error(tok) != json_tokener_success ||
        json_tokener_get_parse_end(tok) != e->request_len) {
        lf_error_set(&err, LF_ERR_INVALID, "malformed JSON in the request");
        json_object_put(req);
        req = NULL;
    }
    json_tokener_free(tok);
    if (!req) goto done;
    /* Each job writes into its own folder: a job run twice (reclaimed)
    ** rewrites its own files, never another job's. */
    snprintf(dir, sizeof dir, "%s/%s", w->output ? w->output : w->workdir, e->job);
    if ((mkdir(dir, 0755) != 0 && errno != EEXIST) || !(jobdir = realpath(dir, NULL))) {
        lf_error_set(&err, LF_ERR_INVALID, "cannot create the job's folder: %s", strerror(errno));
        out = JOB_FAILED;
        goto done;
    }
    struct serve_roots roots = w->roots;
    roots.output = jobdir;
    roots.uploads = NULL;
    if (fetch_uploads(w, e, &updir, &err) != LF_OK) goto done;
    roots.uploads = updir;
    if (serve_graph_from_request(w->reg, &roots, &w->limits, NULL, req, &g, &err) != LF_OK)
        goto done;

    struct observe obs = {w, key, events, e->job};
    struct lf_session_observer observer = {.user = &obs, .node = on_node, .step = on_step};
    if (events) observer.latent = on_latent, observer.image = on_image;
    lf_session_set_observer(w->session, &observer);
    double t0 = mono_ms();
    st = lf_session_run(w->session, g, &run, &err);
    res->run_ms = mono_ms() - t0;
    lf_session_set_observer(w->session, NULL);
    if (st == LF_ERR_INTERRUPTED && signals_seen >= 2) {
        out = JOB_HANDBACK;
        goto done;
    }
    pthread_mutex_lock(&w->lock);
    bool cancelled = w->cancelled;
    pthread_mutex_unlock(&w->lock);
    if (st == LF_ERR_INTERRUPTED && cancelled) {
        out = JOB_CANCELLED;
        goto done;
    }
    out = JOB_FAILED;
    if (st != LF_OK) goto done;
    res->profile = serve_run_profile(run);
    if (serve_run_images(g, run, jobdir, "image", &paths, &npaths, &err) != LF_OK) goto done;
    res->outputs = json_object_new_array();
    if (store_outputs(w, jobdir, res->outputs, &err) != LF_OK) goto done;
    out = JOB_DONE;
done:
    if (out != JOB_DONE) lf_error_text(&err, res->error, sizeof res->error);
    if (jobdir && (!w->output || out == JOB_INVALID)) serve_remove_tree(jobdir);
    for (size_t i = 0; i < npaths; i++)
        free(paths[i]);
    free(paths);
    free(jobdir);
    if (updir) serve_remove_tree(updir);
    free(updir);
    lf_run_destroy(run);
    lf_graph_destroy(g);
    json_object_put(req);
    return out;
}

static void dead_letter(struct worker *w, const struct entry *e, const char *key,
                        const char *notify, const char *error)
{
    char now[32], ttl[32];
    snprintf(now, sizeof now, "%lld", farm_now_ms());
    snprintf(ttl, sizeof ttl, "%d", w->ttl_s);
    const char *argv[] = {"EVAL",  dead_script, "4",    w->stream,
                          key,     w->dead,     notify, w->group,
                          e->id,   e->job,      error,  e->request ? e->request : "",
                          w->name, now,         ttl};
    freeReplyObject(farm_command_argv(&w->conn, true, 15, argv, NULL));
    fprintf(stderr, "%s: job %s failed: %s\n", w->name, e->job, error);
}

static void handle(struct worker *w, struct entry *e)
{
    char key[512], notify[512], error[2300] = "";
    long long attempts = 0;
    bool events = false;
    struct result res = {0};
    if (!e->job || !farm_id_ok(e->job)) {
        /* Not a job submit made: kept aside for a person, never run. */
        const char *argv[] = {
            "XADD", w->dead, "*", "entry", e->id, "error", "the entry has no valid job id"};
        freeReplyObject(farm_command_argv(&w->conn, true, 7, argv, NULL));
        freeReplyObject(farm_command(&w->conn, true, "XACK %s %s %s", w->stream, w->group, e->id));
        freeReplyObject(farm_command(&w->conn, true, "XDEL %s %s", w->stream, e->id));
        fprintf(stderr, "%s: entry %s has no valid job id: dead-lettered\n", w->name, e->id);
        return;
    }
    farm_key(key, sizeof key, w->stream, "job", e->job);
    snprintf(notify, sizeof notify, "%s", key);
    redisReply *r = farm_command(&w->conn, true, "HMGET %s state notify error events", key);
    if (reply_is(r, REDIS_REPLY_ARRAY) && r->elements == 4) {
        const redisReply *state = r->element[0], *n = r->element[1], *last = r->element[2];
        char prefix[512];
        farm_key(prefix, sizeof prefix, w->stream, "notify", "");
        bool finished = reply_is(state, REDIS_REPLY_STRING) &&
                        (!strcmp(state->str, "done") || !strcmp(state->str, "failed"));
        /* The notify key is the submitter's: only one of our own lists. */
        if (reply_is(n, REDIS_REPLY_STRING) && !strncmp(n->str, prefix, strlen(prefix)) &&
            farm_id_ok(n->str + strlen(prefix)))
            snprintf(notify, sizeof notify, "%s", n->str);
        /* A server front end listens on the notify list for progress too. */
        events = strcmp(notify, key) && reply_is(r->element[3], REDIS_REPLY_STRING) &&
                 !strcmp(r->element[3]->str, "1");
        if (reply_is(last, REDIS_REPLY_STRING)) snprintf(error, sizeof error, "%s", last->str);
        if (finished) {
            /* Delivered again after it ended (a reclaim race): only acknowledged. */
            freeReplyObject(r);
            freeReplyObject(
                farm_command(&w->conn, true, "XACK %s %s %s", w->stream, w->group, e->id));
            freeReplyObject(farm_command(&w->conn, true, "XDEL %s %s", w->stream, e->id));
            return;
        }
    }
    freeReplyObject(r);
    struct model models[16];
    size_t nmodels = w->affinity_ms ? models_of(w, e, models, 16) : 0;
    if (nmodels && defer_to_warm(w, e, models, nmodels)) {
        w->deferred++;
        /* Before the next read: the warm worker's turn to take it. */
        struct timespec ts = {0, 20 * 1000000L};
        nanosleep(&ts, NULL);
        return;
    }
    char now[32], tries[32], ttl[32], started[128];
    snprintf(now, sizeof now, "%lld", farm_now_ms());
    snprintf(tries, sizeof tries, "%d", w->tries);
    snprintf(ttl, sizeof ttl, "%d", w->ttl_s);
    snprintf(started, sizeof started, "{\"type\":\"started\"}");
    const char *sargv[] = {"EVAL", start_script,          "2",    key, notify, tries, w->name,
                           now,    events ? started : "", e->job, ttl};
    r = farm_command_argv(&w->conn, true, 11, sargv, NULL);
    if (reply_is(r, REDIS_REPLY_INTEGER)) attempts = r->integer;
    freeReplyObject(r);
    if (attempts < 0) {
        /* Ended meanwhile, or cancelled before it started: only acknowledged. */
        freeReplyObject(farm_command(&w->conn, true, "XACK %s %s %s", w->stream, w->group, e->id));
        freeReplyObject(farm_command(&w->conn, true, "XDEL %s %s", w->stream, e->id));
        if (attempts == -2)
            fprintf(stderr, "%s: job %s cancelled before it ran\n", w->name, e->job);
        return;
    }
    if (attempts > w->tries) {
        char why[2600];
        snprintf(why, sizeof why, "gave up after %d tries: %s", w->tries,
                 error[0] ? error : "the worker running it died each time");
        dead_letter(w, e, key, notify, why);
        return;
    }
    /* Cleared before the heartbeat may see a cancel for this job. */
    lf_session_clear_interrupt(w->session);
    set_current(w, e->id, e->job);
    double t0 = mono_ms();
    enum outcome out = run_job(w, e, key, events ? notify : NULL, &res);
    set_current(w, NULL, NULL);
    if (out == JOB_DONE) {
        char run_ms[32];
        const char *outputs = json_object_to_json_string_ext(res.outputs, JSON_C_TO_STRING_PLAIN);
        const char *profile = json_object_to_json_string_ext(res.profile, JSON_C_TO_STRING_PLAIN);
        snprintf(now, sizeof now, "%lld", farm_now_ms());
        snprintf(run_ms, sizeof run_ms, "%.3f", res.run_ms);
        const char *argv[] = {"EVAL", done_script, "3",     w->stream, key, notify, w->group, e->id,
                              e->job, outputs,     profile, w->name,   now, ttl,    run_ms};
        freeReplyObject(farm_command_argv(&w->conn, true, 15, argv, NULL));
        w->jobs++;
        if (nmodels) remember_warm(w, models, nmodels);
        fprintf(stderr, "%s: job %s done (run %.1f ms, total %.1f ms)\n", w->name, e->job,
                res.run_ms, mono_ms() - t0);
    } else if (out == JOB_CANCELLED) {
        char now2[32];
        snprintf(now2, sizeof now2, "%lld", farm_now_ms());
        const char *argv[] = {"EVAL", cancelled_script, "3",  w->stream, key, notify, w->group,
                              e->id,  e->job,           now2, ttl};
        freeReplyObject(farm_command_argv(&w->conn, true, 11, argv, NULL));
        fprintf(stderr, "%s: job %s cancelled\n", w->name, e->job);
    } else if (out == JOB_INVALID) {
        /* The same request fails the same way on any worker: no retries. */
        dead_letter(w, e, key, notify, res.error);
    } else if (out == JOB_HANDBACK) {
        const char *argv[] = {"EVAL",
                              handback_script,
                              "2",
                              w->stream,
                              key,
                              w->group,
                              e->id,
                              e->job,
                              e->request ? e->request : ""};
        freeReplyObject(farm_command_argv(&w->conn, true, 9, argv, NULL));
        fprintf(stderr, "%s: job %s handed back\n", w->name, e->job);
    } else if (attempts >= w->tries) {
        char why[2600];
        snprintf(why, sizeof why, "failed %lld times: %s", attempts, res.error);
        dead_letter(w, e, key, notify, why);
    } else {
        /* Left pending: after --reclaim-ms a worker (maybe this one) takes it again. */
        freeReplyObject(
            farm_command(&w->conn, true, "HSET %s state queued error %s", key, res.error));
        fprintf(stderr, "%s: job %s failed (try %lld of %d): %s\n", w->name, e->job, attempts,
                w->tries, res.error);
    }
    json_object_put(res.outputs);
    json_object_put(res.profile);
}

/* ---- the command ---- */

static void usage(FILE *f)
{
    fprintf(f,
            "usage: lcmflow worker --redis URL [options]\n"
            "\n"
            "Runs jobs from a Redis stream, one at a time, with models kept warm\n"
            "(runtime/farm/README.md).  Jobs are the JSON of `POST /api/jobs`, checked\n"
            "as `lcmflow serve` checks them: paths inside --models and the job's\n"
            "output folder, the same limits.\n"
            "\n"
            "options:\n"
            "  --redis URL        redis://[user[:password]@]host[:port][/db]\n"
            "                     (or the %s environment variable)\n"
            "  --stream NAME      the job stream (default %s)\n"
            "  --group NAME       the consumer group (default %s)\n"
            "  --name ID          this worker's consumer name (default HOST-PID)\n"
            "  --models DIR       a read-only root for models and images (repeatable)\n"
            "  --output DIR       write outputs under DIR/JOBID/ (a folder the workers\n"
            "                     share) instead of storing them in Redis\n"
            "  --reclaim-ms N     take over a job idle this long (a dead worker's;\n"
            "                     default 30000)\n"
            "  --tries N          runs of a job before the dead-letter stream (default 3)\n"
            "  --affinity-ms N    leave a job whose models another live worker has warm\n"
            "                     to it for up to N ms after it was queued (0: off;\n"
            "                     default 0)\n"
            "  --ttl SECONDS      lifetime of outputs and job records (default 86400)\n"
            "  --max-side N, --max-steps N   limits (as lcmflow serve)\n"
            "  --cache-mb N       cache budget in MiB (default: half the memory, at least %zu)\n"
            "  --device N|NAME    the device to use ('lcmflow devices')\n"
            "  -h, --help         this help\n"
            "\n"
            "Ctrl-C (or SIGTERM) finishes the current job and leaves; a second one\n"
            "stops it within one UNet block and hands it back to the stream.\n",
            FARM_URL_ENV, FARM_DEFAULT_STREAM, FARM_DEFAULT_GROUP, LF_CACHE_DEFAULT_BYTES >> 20);
}

static bool parse_int(const char *text, int min, int max, int *out)
{
    char *end;
    long v = text ? strtol(text, &end, 10) : 0;
    if (!text || *end || end == text || v < min || v > max) return false;
    *out = (int)v;
    return true;
}

struct worker_args {
    const char *url, *output, *models[SERVE_MAX_ROOTS];
    size_t nmodels, cache_bytes;
};

static int parse_args(int argc, char **argv, struct worker *w, struct worker_args *a)
{
    for (int i = 1; i < argc; i++) {
        const char *o = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        int n = 0;
        bool ok = v != NULL;
        if (!strcmp(o, "-h") || !strcmp(o, "--help")) {
            usage(stdout);
            return -1;
        } else if (!v) {
        } else if (!strcmp(o, "--redis")) {
            a->url = v;
        } else if (!strcmp(o, "--stream")) {
            w->stream = v;
            ok = strlen(v) > 0 && strlen(v) < 200;
        } else if (!strcmp(o, "--group")) {
            w->group = v;
            ok = strlen(v) > 0 && strlen(v) < 100;
        } else if (!strcmp(o, "--name")) {
            w->name = v;
            ok = strlen(v) > 0 && strlen(v) < 100;
        } else if (!strcmp(o, "--models")) {
            if ((ok = a->nmodels < SERVE_MAX_ROOTS)) a->models[a->nmodels++] = v;
        } else if (!strcmp(o, "--output")) {
            a->output = v;
        } else if (!strcmp(o, "--reclaim-ms")) {
            ok = parse_int(v, 100, 86400000, &w->reclaim_ms);
        } else if (!strcmp(o, "--affinity-ms")) {
            ok = parse_int(v, 0, 3600000, &w->affinity_ms);
        } else if (!strcmp(o, "--tries")) {
            ok = parse_int(v, 1, 1000, &w->tries);
        } else if (!strcmp(o, "--ttl")) {
            ok = parse_int(v, 1, 365 * 86400, &w->ttl_s);
        } else if (!strcmp(o, "--max-side")) {
            ok = parse_int(v, 8, 8192, &w->limits.max_side);
        } else if (!strcmp(o, "--max-steps")) {
            ok = parse_int(v, 1, 1000, &w->limits.max_steps);
        } else if (!strcmp(o, "--cache-mb")) {
            if ((ok = parse_int(v, 1, 1 << 24, &n))) a->cache_bytes = (size_t)n << 20;
        } else if (!strcmp(o, "--device")) {
            setenv("LCMFLOW_DEVICE", v, 1);
        } else {
            ok = false;
        }
        if (!ok) {
            fprintf(stderr, "lcmflow worker: bad or incomplete option '%s'\n", o);
            usage(stderr);
            return 2;
        }
        i++;
    }
    if (!a->url) a->url = getenv(FARM_URL_ENV);
    if (a->nmodels == 0) {
        fprintf(stderr, "lcmflow worker: give at least one --models DIR\n");
        return 2;
    }
    return 0;
}

static int configure(struct worker *w, struct worker_args *a)
{
    struct lf_error err = {0};
    char text[2048];
    if (farm_url_parse(a->url, &w->conn.url, &err) != LF_OK) goto fail;
    w->hb_conn.url = w->conn.url;
    for (size_t i = 0; i < a->nmodels; i++)
        if (serve_roots_add_model(&w->roots, a->models[i], &err) != LF_OK) goto fail;
    if (a->output) {
        if (mkdir(a->output, 0755) != 0 && errno != EEXIST) {
            fprintf(stderr, "lcmflow worker: --output %s: %s\n", a->output, strerror(errno));
            return 1;
        }
        if (!(w->output = realpath(a->output, NULL))) {
            fprintf(stderr, "lcmflow worker: --output %s: %s\n", a->output, strerror(errno));
            return 1;
        }
    }
    if (!w->name) {
        char host[64] = "worker";
        gethostname(host, sizeof host - 1);
        snprintf(w->namebuf, sizeof w->namebuf, "%s-%ld", host, (long)getpid());
        w->name = w->namebuf;
    }
    farm_key(w->dead, sizeof w->dead, w->stream, "dead", NULL);
    farm_key(w->worker_key, sizeof w->worker_key, w->stream, "worker", w->name);
    farm_key(w->workers_key, sizeof w->workers_key, w->stream, "workers", NULL);
    return 0;
fail:
    fprintf(stderr, "lcmflow worker: %s\n", lf_error_text(&err, text, sizeof text));
    return 1;
}

static int work(struct worker *w, struct worker_args *a)
{
    struct lf_error err = {0};
    struct lf_session_options so = {.cache_bytes = a->cache_bytes};
    w->cache_bytes = a->cache_bytes ? a->cache_bytes : LF_CACHE_DEFAULT_BYTES;
    char text[2048];
    sigset_t block, old;
    if (lf_registry_create(&w->reg, &err) || lf_registry_load_default(w->reg, &err)) goto fail;
    so.registry = w->reg;
    if (lf_session_create(&so, &w->session, &err)) goto fail;
    signal_session = w->session;
    if (!farm_conn_open(&w->conn)) return 0;
    ensure_group(w);
    /* The heartbeat thread never takes the signals. */
    sigemptyset(&block);
    sigaddset(&block, SIGINT);
    sigaddset(&block, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &block, &old);
    w->hb_started = pthread_create(&w->hb, NULL, heartbeat_main, w) == 0;
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    printf("lcmflow worker %s: ready (stream %s, group %s)\n", w->name, w->stream, w->group);
    fflush(stdout);
    while (!signals_seen) {
        struct entry e = {0};
        if (next_entry(w, &e)) handle(w, &e);
        entry_free(&e);
    }
    fprintf(stderr, "%s: leaving after %lu jobs (%lu left to warm workers)\n", w->name, w->jobs,
            w->deferred);
    return 0;
fail:
    fprintf(stderr, "lcmflow worker: %s\n", lf_error_text(&err, text, sizeof text));
    return 1;
}

int lf_cli_worker(int argc, char **argv)
{
    struct worker w = {
        .stream = FARM_DEFAULT_STREAM,
        .group = FARM_DEFAULT_GROUP,
        .reclaim_ms = 30000,
        .tries = 3,
        .ttl_s = 86400,
        .cursor = "0-0",
        .conn = {.who = "lcmflow worker", .stop = &signals_seen},
        .hb_conn = {.who = "lcmflow worker (heartbeat)", .stop = &heartbeat_stop},
    };
    struct worker_args a = {0};
    char workdir[] = "/tmp/lcmflow-worker-XXXXXX";
    int status;
    serve_limits_default(&w.limits);
    if ((status = parse_args(argc, argv, &w, &a)) != 0) return status < 0 ? 0 : status;
    if ((status = configure(&w, &a)) != 0) goto done;
    if (!mkdtemp(workdir)) {
        fprintf(stderr, "lcmflow worker: cannot create a folder in /tmp: %s\n", strerror(errno));
        status = 1;
        goto done;
    }
    snprintf(w.workdir, sizeof w.workdir, "%s", workdir);
    pthread_mutex_init(&w.lock, NULL);
    pthread_cond_init(&w.wake, NULL);
    struct sigaction sa = {.sa_handler = on_signal};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    status = work(&w, &a);
    pthread_mutex_lock(&w.lock);
    heartbeat_stop = 1;
    pthread_cond_broadcast(&w.wake);
    pthread_mutex_unlock(&w.lock);
    if (w.hb_started) pthread_join(w.hb, NULL);
    signal(SIGINT, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
    signal_session = NULL;
    lf_session_destroy(w.session);
    lf_registry_destroy(w.reg);
    farm_conn_close(&w.conn);
    farm_conn_close(&w.hb_conn);
    serve_remove_tree(workdir);
    pthread_cond_destroy(&w.wake);
    pthread_mutex_destroy(&w.lock);
done:
    serve_roots_free(&w.roots);
    free(w.output);
    return status;
}
