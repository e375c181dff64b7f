/*
** farm_submit.c - `lcmflow submit`: one job per sweep value into the
** stream (the JSON of `POST /api/jobs`: the graph file's text, unchanged,
** and a `set`), then optionally waits for them and fetches their outputs.
** Relative paths in the graph are the workers' business (their --models).
*/
#include "cli.h"
#include "farm.h"
#include "lcmflow/registry.h"

#include <ctype.h>
#include <errno.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

static volatile sig_atomic_t interrupted;

static void on_signal(int sig)
{
    (void)sig;
    interrupted = 1;
}

static void usage(FILE *f)
{
    fprintf(f,
            "usage: lcmflow submit --redis URL [options] GRAPH.yaml\n"
            "\n"
            "Queues the graph as jobs for `lcmflow worker`s (runtime/farm/README.md):\n"
            "one job, or one per --sweep value.  Prints each job's id, or with --wait\n"
            "'ID STATE OUTPUTS...' as each job ends.\n"
            "\n"
            "options:\n"
            "  --redis URL            redis://[user[:password]@]host[:port][/db]\n"
            "                         (or the %s environment variable)\n"
            "  --stream NAME          the job stream (default %s)\n"
            "  --group NAME           the workers' consumer group (default %s)\n"
            "  --set NODE.PARAM=VALUE override a param (repeatable)\n"
            "  --sweep NODE.PARAM=V1,V2,...  one job per value ('{value}' in string\n"
            "                         params is replaced by it)\n"
            "  --wait                 wait for every job; exit status 1 if one failed\n"
            "  --out DIR              (with --wait) fetch the outputs as DIR/ID_N.png\n"
            "  --shared DIR           the workers' shared --output folder as seen here\n"
            "                         (outputs named by path are copied only from inside it)\n"
            "  --timeout SECONDS      (with --wait) give up waiting after this long\n"
            "  --ttl SECONDS          lifetime of the job records (default 86400)\n"
            "  -h, --help             this help\n",
            FARM_URL_ENV, FARM_DEFAULT_STREAM, FARM_DEFAULT_GROUP);
}

struct submit {
    const char *url, *stream, *group, *graph, *sweep, *out, **sets;
    char *shared; /* --shared's real path */
    size_t nsets;
    bool wait;
    int timeout_s, ttl_s;
};

static int parse_args(int argc, char **argv, struct submit *s)
{
    if (!(s->sets = calloc((size_t)argc, sizeof *s->sets))) return 1;
    for (int i = 1; i < argc; i++) {
        const char *o = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        char *end = NULL;
        if (!strcmp(o, "-h") || !strcmp(o, "--help")) {
            usage(stdout);
            return -1;
        } else if (!strcmp(o, "--wait")) {
            s->wait = true;
            continue;
        } else if (o[0] != '-' && !s->graph) {
            s->graph = o;
            continue;
        } else if (!v) {
            o = NULL;
        } else if (!strcmp(o, "--redis")) {
            s->url = v;
        } else if (!strcmp(o, "--stream")) {
            s->stream = v;
        } else if (!strcmp(o, "--group")) {
            s->group = v;
        } else if (!strcmp(o, "--set")) {
            s->sets[s->nsets++] = v;
        } else if (!strcmp(o, "--sweep") && !s->sweep) {
            s->sweep = v;
        } else if (!strcmp(o, "--out")) {
            s->out = v;
        } else if (!strcmp(o, "--shared") && !s->shared) {
            if (!(s->shared = realpath(v, NULL))) {
                fprintf(stderr, "lcmflow submit: --shared %s: %s\n", v, strerror(errno));
                return 2;
            }
        } else if (!strcmp(o, "--timeout")) {
            s->timeout_s = (int)strtol(v, &end, 10);
            if (*end || s->timeout_s <= 0) o = NULL;
        } else if (!strcmp(o, "--ttl")) {
            s->ttl_s = (int)strtol(v, &end, 10);
            if (*end || s->ttl_s <= 0) o = NULL;
        } else {
            o = NULL;
        }
        if (!o) {
            fprintf(stderr, "lcmflow submit: bad or incomplete option '%s'\n", argv[i]);
            usage(stderr);
            return 2;
        }
        i++;
    }
    if (!s->url) s->url = getenv(FARM_URL_ENV);
    if (!s->graph || (s->out && !s->wait)) {
        fprintf(stderr, "lcmflow submit: %s\n",
                s->graph ? "--out needs --wait" : "a graph file is required");
        usage(stderr);
        return 2;
    }
    return 0;
}

/* The request of one job: the graph's text and the set, the sweep value
** and the '{value}' templates filled with it. */
static struct json_object *request(const char *yaml, const struct submit *s,
                                   const struct lf_cli_sweep *sw, size_t value,
                                   const struct lf_cli_template *templates, size_t ntemplates)
{
    struct json_object *req = json_object_new_object(), *set = json_object_new_object();
    json_object_object_add(req, "graph", json_object_new_string(yaml));
    for (size_t i = 0; i < s->nsets; i++) {
        const char *eq = strchr(s->sets[i], '=');
        char key[512];
        if (!eq) continue; /* checked before */
        snprintf(key, sizeof key, "%.*s", (int)(eq - s->sets[i]), s->sets[i]);
        json_object_object_add(set, key, json_object_new_string(eq + 1));
    }
    if (sw->key) {
        json_object_object_add(set, sw->key, json_object_new_string(sw->values[value]));
        for (size_t t = 0; t < ntemplates; t++) {
            char *filled = lf_cli_replace_all(templates[t].text, "{value}", sw->values[value]);
            if (filled)
                json_object_object_add(set, templates[t].key, json_object_new_string(filled));
            free(filled);
        }
    }
    json_object_object_add(req, "set", set);
    return req;
}

/* The '{value}' templates of the graph (parsed here only for them). */
static int templates_of(const char *path, const char *yaml, struct lf_cli_template **out, size_t *n)
{
    struct lf_registry *reg = NULL;
    struct lf_graph *g = NULL;
    struct lf_error err = {0};
    char text[2048];
    *n = 0;
    if (lf_registry_create(&reg, &err) || lf_registry_load_default(reg, &err) ||
        lf_graph_load_string(reg, path, yaml, strlen(yaml), &g, &err)) {
        fprintf(stderr, "lcmflow submit: %s\n", lf_error_text(&err, text, sizeof text));
        lf_registry_destroy(reg);
        return 1;
    }
    *n = lf_cli_sweep_templates(g, out);
    lf_graph_destroy(g);
    lf_registry_destroy(reg);
    return 0;
}

struct job {
    char id[FARM_JOB_ID_LEN + 1];
    bool finished;
};

/* "<64 lower-case hex digits>" */
static bool sha_ok(const char *hex)
{
    size_t n = 0;
    for (; hex[n]; n++)
        if (!isxdigit((unsigned char)hex[n]) || isupper((unsigned char)hex[n])) return false;
    return n == 64;
}

/* True when real (a real path) is root or inside it. */
static bool inside(const char *root, const char *real)
{
    size_t n = strlen(root);
    return !strncmp(real, root, n) && (real[n] == '/' || real[n] == '\0' || !strcmp(root, "/"));
}

enum lf_status farm_output_fetch(struct farm_conn *fc, const char *stream, const char *shared,
                                 const char *job, struct json_object *o, unsigned char **data,
                                 size_t *size, struct lf_error *err)
{
    struct json_object *v;
    char prefix[512], sha[65];
    const char *want = NULL;
    *data = NULL;
    *size = 0;
    farm_key(prefix, sizeof prefix, stream, "out", "");
    if (json_object_object_get_ex(o, "key", &v) && json_object_is_type(v, json_type_string)) {
        const char *key = json_object_get_string(v);
        if (strncmp(key, prefix, strlen(prefix)) || !sha_ok(key + strlen(prefix)))
            return lf_error_set(err, LF_ERR_INVALID,
                                "job %s: output key '%.300s' is not %s<SHA-256>: refused", job, key,
                                prefix);
        want = key + strlen(prefix);
        redisReply *r = farm_command(fc, true, "GET %s", key);
        if (r && r->type == REDIS_REPLY_STRING && (*data = malloc(r->len + 1)) != NULL) {
            memcpy(*data, r->str, r->len);
            *size = r->len;
        }
        freeReplyObject(r);
        if (!*data)
            return lf_error_set(err, LF_ERR_INVALID, "job %s: output key %s is gone (TTL?)", job,
                                key);
    } else if (json_object_object_get_ex(o, "path", &v) &&
               json_object_is_type(v, json_type_string)) {
        const char *path = json_object_get_string(v);
        char *real = shared ? realpath(path, NULL) : NULL;
        if (!shared)
            return lf_error_set(err, LF_ERR_INVALID,
                                "job %s: output '%.300s' is a file in the workers' shared folder: "
                                "give --shared DIR (that folder as this machine sees it)",
                                job, path);
        if (!real || !inside(shared, real)) {
            lf_error_set(err, LF_ERR_INVALID, "job %s: output path '%.300s' %s: refused", job, path,
                         real ? "resolves outside the shared folder" : "does not exist");
            free(real);
            return LF_ERR_INVALID;
        }
        /* A link put in place of the file after realpath is not followed. */
        *data = farm_read_file_nofollow(real, (size_t)1 << 30, size);
        free(real);
        if (!*data)
            return lf_error_set(err, LF_ERR_INVALID, "job %s: cannot read the output '%.300s'", job,
                                path);
        if (json_object_object_get_ex(o, "sha256", &v)) want = json_object_get_string(v);
    } else {
        return lf_error_set(err, LF_ERR_INVALID, "job %s: an output with neither key nor path",
                            job);
    }
    farm_sha256_hex(*data, *size, sha);
    if (want && strcmp(sha, want)) {
        free(*data);
        *data = NULL;
        return lf_error_set(err, LF_ERR_INVALID,
                            "job %s: output %s: its bytes do not hash to %.64s: refused", job,
                            json_object_get_string(o), want);
    }
    return LF_OK;
}

/* Fetches one output into dir as ID_N.EXT (EXT from the output's name when
** it is 1-8 letters or digits, else png): a plain name, written to a
** temporary name and renamed.  Returns the path written (malloc'd) or NULL. */
static char *fetch_output(struct farm_conn *fc, const struct submit *s, const char *id, size_t n,
                          struct json_object *o)
{
    struct json_object *nm;
    struct lf_error err = {0};
    unsigned char *data = NULL;
    char name[128], ext[9] = "png", dest[4400], text[2048];
    size_t size = 0;
    const char *dot = json_object_object_get_ex(o, "name", &nm) && json_object_get_string(nm)
                          ? strrchr(json_object_get_string(nm), '.')
                          : NULL;
    size_t len = dot ? strlen(dot + 1) : 0;
    bool plain = len >= 1 && len < sizeof ext;
    for (size_t i = 0; plain && i < len; i++)
        plain = isalnum((unsigned char)dot[1 + i]);
    if (plain) snprintf(ext, sizeof ext, "%s", dot + 1);
    snprintf(name, sizeof name, "%s_%zu.%s", id, n, ext);
    if (!farm_id_ok(id) || strchr(name, '/') || strstr(name, "..")) return NULL;
    snprintf(dest, sizeof dest, "%s/%s", s->out, name);
    if (farm_output_fetch(fc, s->stream, s->shared, id, o, &data, &size, &err) != LF_OK) {
        fprintf(stderr, "lcmflow submit: %s\n", lf_error_text(&err, text, sizeof text));
        return NULL;
    }
    bool ok = farm_write_file(dest, data, size);
    if (!ok) fprintf(stderr, "lcmflow submit: cannot write %s: %s\n", dest, strerror(errno));
    free(data);
    return ok ? strdup(dest) : NULL;
}

/* Prints "ID STATE OUTPUTS..." for a finished job; false when it failed. */
static bool report(struct farm_conn *fc, const struct submit *s, const char *key, struct job *j,
                   const char *state, const char *outputs, const char *error)
{
    bool ok = !strcmp(state, "done");
    struct json_object *list = outputs ? json_tokener_parse(outputs) : NULL;
    size_t n = json_object_is_type(list, json_type_array) ? json_object_array_length(list) : 0;
    printf("%s %s", j->id, state);
    for (size_t i = 0; i < n; i++) {
        struct json_object *o = json_object_array_get_idx(list, i), *v;
        if (s->out) {
            char *got = fetch_output(fc, s, j->id, i, o);
            printf(" %s", got ? got : "(missing)");
            ok = ok && got;
            free(got);
        } else if (json_object_object_get_ex(o, "key", &v) ||
                   json_object_object_get_ex(o, "path", &v)) {
            printf(" %s", json_object_get_string(v));
        }
    }
    printf("\n");
    fflush(stdout);
    if (error && !ok) fprintf(stderr, "lcmflow submit: job %s: %s\n", j->id, error);
    json_object_put(list);
    (void)key;
    return ok;
}

/* Checks job j's hash; reports it once it has ended. */
static bool poll_job(struct farm_conn *fc, const struct submit *s, struct job *j, int *failures)
{
    char key[512];
    farm_key(key, sizeof key, s->stream, "job", j->id);
    redisReply *r = farm_command(fc, true, "HMGET %s state outputs error", key);
    if (r && r->type == REDIS_REPLY_ARRAY && r->elements == 3 &&
        r->element[0]->type == REDIS_REPLY_STRING &&
        (!strcmp(r->element[0]->str, "done") || !strcmp(r->element[0]->str, "failed"))) {
        const char *outputs = r->element[1]->type == REDIS_REPLY_STRING ? r->element[1]->str : NULL;
        const char *error = r->element[2]->type == REDIS_REPLY_STRING ? r->element[2]->str : NULL;
        if (!report(fc, s, key, j, r->element[0]->str, outputs, error)) (*failures)++;
        j->finished = true;
    }
    freeReplyObject(r);
    return j->finished;
}

static int wait_all(struct farm_conn *fc, const struct submit *s, struct job *jobs, size_t n,
                    const char *notify)
{
    size_t left = n;
    int failures = 0;
    time_t end = s->timeout_s ? time(NULL) + s->timeout_s : 0;
    if (s->out && mkdir(s->out, 0755) != 0 && errno != EEXIST) {
        fprintf(stderr, "lcmflow submit: --out %s: %s\n", s->out, strerror(errno));
        return 1;
    }
    /* The workers push each ended job's id on the batch's list; the job
    ** hashes are the truth (also after a Redis restart), polled each second. */
    while (left && !interrupted) {
        if (end && time(NULL) >= end) {
            fprintf(stderr, "lcmflow submit: %zu jobs still running after %d s\n", left,
                    s->timeout_s);
            return 1;
        }
        redisReply *r = farm_command(fc, true, "BLPOP %s 1", notify);
        bool any = r && r->type == REDIS_REPLY_ARRAY && r->elements == 2;
        for (size_t i = 0; i < n; i++) {
            if (jobs[i].finished) continue;
            if (any && strcmp(r->element[1]->str, jobs[i].id)) continue;
            if (poll_job(fc, s, &jobs[i], &failures)) left--;
        }
        freeReplyObject(r);
    }
    return interrupted ? 130 : failures ? 1 : 0;
}

enum lf_status farm_enqueue(struct farm_conn *fc, const char *stream, const char *group,
                            const char *request, const char *notify, bool events, const char *label,
                            int ttl_s, char id[FARM_JOB_ID_LEN + 1], struct lf_error *err)
{
    char key[512], own[512];
    if (!farm_id_new(id)) return lf_error_set(err, LF_ERR_INVALID, "no /dev/urandom for an id");
    farm_key(key, sizeof key, stream, "job", id);
    farm_key(own, sizeof own, stream, "notify", id);
    if (!notify && events) notify = own;
    /* The group from the stream's start: jobs queued before any worker
    ** started are not missed (BUSYGROUP when it exists). */
    freeReplyObject(farm_command(fc, true, "XGROUP CREATE %s %s 0 MKSTREAM", stream, group));
    freeReplyObject(farm_command(
        fc, true, "HSET %s state queued submitted %lld notify %s sweep %s events %s", key,
        farm_now_ms(), notify ? notify : "", label ? label : "", events ? "1" : "0"));
    freeReplyObject(farm_command(fc, true, "EXPIRE %s %d", key, ttl_s));
    redisReply *r = farm_command(fc, true, "XADD %s * job %s request %s", stream, id, request);
    enum lf_status st =
        r && r->type != REDIS_REPLY_ERROR
            ? LF_OK
            : lf_error_set(err, LF_ERR_INVALID, "XADD: %s", r ? r->str : "interrupted");
    freeReplyObject(r);
    return st;
}

int lf_cli_submit(int argc, char **argv)
{
    struct submit s = {.stream = FARM_DEFAULT_STREAM, .group = FARM_DEFAULT_GROUP, .ttl_s = 86400};
    struct lf_cli_sweep sw = {0};
    struct lf_cli_template *templates = NULL;
    struct farm_conn fc = {.who = "lcmflow submit", .stop = &interrupted, .timeout_ms = 10000};
    struct lf_error err = {0};
    struct job *jobs = NULL;
    char text[2048], batch[FARM_JOB_ID_LEN + 1], notify[512];
    size_t ntemplates = 0, njobs = 1, size = 0;
    char *yaml = NULL;
    int status = parse_args(argc, argv, &s);
    if (status) goto done;
    for (size_t i = 0; i < s.nsets; i++)
        if (!strchr(s.sets[i], '=')) {
            fprintf(stderr, "lcmflow submit: --set wants NODE.PARAM=VALUE, not '%s'\n", s.sets[i]);
            status = 2;
            goto done;
        }
    if (farm_url_parse(s.url, &fc.url, &err) != LF_OK) {
        fprintf(stderr, "lcmflow submit: %s\n", lf_error_text(&err, text, sizeof text));
        status = 2;
        goto done;
    }
    if (!(yaml = (char *)farm_read_file(s.graph, (size_t)1 << 20, &size))) {
        fprintf(stderr, "lcmflow submit: cannot read %s (a file of at most 1 MiB)\n", s.graph);
        status = 1;
        goto done;
    }
    if (s.sweep) {
        if ((status = lf_cli_sweep_parse("submit", s.sweep, &sw)) != 0 ||
            (status = templates_of(s.graph, yaml, &templates, &ntemplates)) != 0)
            goto done;
        njobs = sw.nvalues;
    }
    if (!(jobs = calloc(njobs, sizeof *jobs)) || !farm_id_new(batch)) {
        fprintf(stderr, "lcmflow submit: out of memory or no /dev/urandom\n");
        status = 1;
        goto done;
    }
    farm_key(notify, sizeof notify, s.stream, "notify", batch);
    signal(SIGINT, on_signal);
    if (!farm_conn_open(&fc)) {
        status = 130;
        goto done;
    }
    for (size_t i = 0; i < njobs && status == 0; i++) {
        char label[1024] = "";
        struct json_object *req = request(yaml, &s, &sw, i, templates, ntemplates);
        if (sw.key) snprintf(label, sizeof label, "%s=%s", sw.key, sw.values[i]);
        if (farm_enqueue(&fc, s.stream, s.group,
                         json_object_to_json_string_ext(req, JSON_C_TO_STRING_PLAIN), notify, false,
                         label, s.ttl_s, jobs[i].id, &err) != LF_OK) {
            fprintf(stderr, "lcmflow submit: %s\n", lf_error_text(&err, text, sizeof text));
            status = 1;
        }
        json_object_put(req);
        if (!s.wait && status == 0) printf("%s\n", jobs[i].id);
    }
    fflush(stdout);
    if (status == 0 && s.wait) status = wait_all(&fc, &s, jobs, njobs, notify);
    if (s.wait) freeReplyObject(farm_command(&fc, false, "DEL %s", notify));
done:
    signal(SIGINT, SIG_DFL);
    farm_conn_close(&fc);
    lf_cli_sweep_templates_free(templates, ntemplates);
    lf_cli_sweep_free(&sw);
    free(jobs);
    free(yaml);
    free(s.sets);
    free(s.shared);
    return status < 0 ? 0 : status;
}
