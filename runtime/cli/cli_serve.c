/*
** cli_serve.c - `lcmflow serve`: the live page and the HTTP/WebSocket API
** (runtime/server/).  Parses the options, opens the roots, the plugins and
** one executor session, serves until SIGINT or SIGTERM, then stops the
** HTTP threads, the worker, and removes its private folder.
*/
#include "cli.h"
#include "server.h"
#ifdef LCMFLOW_FARM
#include "farm.h"
#endif

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static void usage(FILE *f)
{
    fprintf(f,
            "usage: lcmflow serve [GRAPH.yaml] [options]\n"
            "\n"
            "Serves the live page at / and the JSON API under /api/ (README: 'Live mode').\n"
            "Jobs without a graph run GRAPH.yaml; its paths are relative to --models\n"
            "(inputs) and --output (SaveImage), like every graph the server runs.\n"
            "\n"
            "options:\n"
            "  --listen HOST:PORT   address (default 127.0.0.1:%d; PORT 0 picks one);\n"
            "                       off loopback a token is required\n"
            "  --models DIR         a read-only root for models and images (repeatable;\n"
            "                       default ./models when it exists)\n"
            "  --output DIR         where SaveImage writes (default ./out, created)\n"
            "  --token TOKEN        require it on every request (generated and printed\n"
            "                       when listening off loopback without one)\n"
            "  --allow-host HOST:PORT  another Host header to accept (a proxy's name)\n"
            "  --queue N            queued jobs before 429 (default 8)\n"
            "  --max-side N         largest width/height/upload side (default 1024)\n"
            "  --max-steps N        most sampler steps (default 50)\n"
            "  --cache-mb N         cache budget in MiB (default: half the memory, at least %zu)\n"
            "  --device N           the device to use ('lcmflow devices')\n"
            "  --redis URL          run the jobs on the render farm's workers instead\n"
            "                       (runtime/farm/README.md; needs the farm built in);\n"
            "                       'env': the URL from LCMFLOW_REDIS (keeps a password\n"
            "                       out of the process list)\n"
            "  --stream NAME, --group NAME   the farm's job stream and workers' group\n"
            "  --shared DIR         the workers' shared --output folder, when they use one\n"
            "  -h, --help           this help\n",
            SERVE_DEFAULT_PORT, LF_CACHE_DEFAULT_BYTES >> 20);
}

struct serve_args {
    const char *graph, *models[SERVE_MAX_ROOTS], *output;
    const char *redis, *stream, *group, *shared; /* serve --redis: the farm's front end */
    size_t nmodels;
    char listen[320], token[80];
    size_t cache_bytes;
};

static bool parse_int(const char *text, int min, int max, int *out)
{
    char *end;
    long v = strtol(text, &end, 10);
    if (*end || end == text || v < min || v > max) return false;
    *out = (int)v;
    return true;
}

/* 0 ok, -1 help shown, 2 usage error. */
static int parse_args(int argc, char **argv, struct serve_args *a, struct serve_config *cfg)
{
    for (int i = 1; i < argc; i++) {
        const char *o = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        int n = 0;
        bool ok = true;
        if (!strcmp(o, "-h") || !strcmp(o, "--help")) {
            usage(stdout);
            return -1;
        } else if (o[0] != '-') {
            if (a->graph) ok = false;
            a->graph = o;
            continue;
        } else if (!v) {
            ok = false;
        } else if (!strcmp(o, "--listen")) {
            snprintf(a->listen, sizeof a->listen, "%s", v);
        } else if (!strcmp(o, "--models")) {
            if ((ok = a->nmodels < SERVE_MAX_ROOTS)) a->models[a->nmodels++] = v;
        } else if (!strcmp(o, "--output")) {
            a->output = v;
        } else if (!strcmp(o, "--token")) {
            ok = strlen(v) >= 8 && strlen(v) < sizeof a->token;
            snprintf(a->token, sizeof a->token, "%s", v);
        } else if (!strcmp(o, "--allow-host")) {
            if ((ok = cfg->nallow_hosts < SERVE_MAX_ROOTS))
                cfg->allow_hosts[cfg->nallow_hosts++] = v;
        } else if (!strcmp(o, "--queue")) {
            ok = parse_int(v, 1, 1000, &cfg->limits.queue);
        } else if (!strcmp(o, "--max-side")) {
            ok = parse_int(v, 8, 8192, &cfg->limits.max_side);
        } else if (!strcmp(o, "--max-steps")) {
            ok = parse_int(v, 1, 1000, &cfg->limits.max_steps);
        } else if (!strcmp(o, "--cache-mb")) {
            if ((ok = parse_int(v, 1, 1 << 24, &n))) a->cache_bytes = (size_t)n << 20;
        } else if (!strcmp(o, "--device")) {
            setenv("LCMFLOW_DEVICE", v, 1);
        } else if (!strcmp(o, "--redis")) {
            a->redis = v;
        } else if (!strcmp(o, "--stream")) {
            a->stream = v;
            ok = strlen(v) > 0 && strlen(v) < 200;
        } else if (!strcmp(o, "--group")) {
            a->group = v;
            ok = strlen(v) > 0 && strlen(v) < 100;
        } else if (!strcmp(o, "--shared")) {
            a->shared = v;
        } else {
            ok = false;
        }
        if (!ok) {
            fprintf(stderr, "lcmflow serve: bad or incomplete option '%s'%s%s\n", o, v ? " " : "",
                    v && o[0] == '-' ? v : "");
            usage(stderr);
            return 2;
        }
        i++;
    }
    return 0;
}

static char *read_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    char *text = NULL;
    long len;
    if (f && fseek(f, 0, SEEK_END) == 0 && (len = ftell(f)) >= 0 && len < (16l << 20) &&
        fseek(f, 0, SEEK_SET) == 0 && (text = malloc((size_t)len + 1)) != NULL) {
        if (fread(text, 1, (size_t)len, f) != (size_t)len) {
            free(text);
            text = NULL;
        } else {
            text[len] = '\0';
        }
    }
    if (f) fclose(f);
    return text;
}

static bool random_token(char *out, size_t size)
{
    unsigned char b[16];
    int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
    bool ok = fd >= 0 && read(fd, b, sizeof b) == (ssize_t)sizeof b;
    if (fd >= 0) close(fd);
    for (int i = 0; ok && i < 16 && (size_t)(2 * i + 2) < size; i++)
        snprintf(out + 2 * i, 3, "%02x", b[i]);
    return ok;
}

/* The roots, the token rule and the default graph; 0 or an exit status. */
static int configure(struct serve_args *a, struct serve_config *cfg, const char *workdir)
{
    struct lf_error err = {0};
    char text[2048], uploads[PATH_MAX], host[320];
    const char *output = a->output ? a->output : "out";
    struct stat st;
    if (a->nmodels == 0 && stat("models", &st) == 0 && S_ISDIR(st.st_mode))
        a->models[a->nmodels++] = "models";
    if (mkdir(output, 0755) != 0 && errno != EEXIST) {
        fprintf(stderr, "lcmflow serve: --output %s: %s\n", output, strerror(errno));
        return 1;
    }
    snprintf(uploads, sizeof uploads, "%s/uploads", workdir);
    for (size_t i = 0; i < a->nmodels; i++)
        if (serve_roots_add_model(&cfg->roots, a->models[i], &err) != LF_OK) goto fail;
    if (serve_roots_set_output(&cfg->roots, output, &err) != LF_OK) goto fail;
    /* With --redis, the farm front end relays the uploads a job names. */
    if (mkdir(uploads, 0700) != 0 || !(cfg->roots.uploads = realpath(uploads, NULL))) {
        fprintf(stderr, "lcmflow serve: cannot create %s\n", uploads);
        return 1;
    }
    const char *colon = strrchr(a->listen, ':');
    snprintf(host, sizeof host, "%.*s", colon ? (int)(colon - a->listen) : 0, a->listen);
    if (a->token[0]) {
        cfg->token = a->token;
    } else if (!serve_host_is_loopback(host)) {
        if (!random_token(a->token, sizeof a->token)) {
            fprintf(stderr, "lcmflow serve: cannot make a token (/dev/urandom)\n");
            return 1;
        }
        cfg->token = a->token;
    }
    if (a->graph && !(cfg->default_yaml = read_file(a->graph))) {
        fprintf(stderr, "lcmflow serve: cannot read %s\n", a->graph);
        return 1;
    }
    return 0;
fail:
    fprintf(stderr, "lcmflow serve: %s\n", lf_error_text(&err, text, sizeof text));
    return 1;
}

/* Checks the default graph as a job would use it, so mistakes show at start. */
static int check_default(struct lf_registry *reg, const struct serve_config *cfg, const char *path)
{
    struct lf_error err = {0};
    struct lf_graph *g = NULL;
    struct json_object *req = json_object_new_object();
    char text[2048];
    enum lf_status st =
        serve_graph_from_request(reg, &cfg->roots, &cfg->limits, cfg->default_yaml, req, &g, &err);
    json_object_put(req);
    lf_graph_destroy(g);
    if (st == LF_OK) return 0;
    fprintf(stderr, "lcmflow serve: %s: %s\n", path, lf_error_text(&err, text, sizeof text));
    return 1;
}

static int serve(struct serve_args *a, struct serve_config *cfg, const char *workdir)
{
    struct lf_registry *reg = NULL;
    struct lf_session *session = NULL;
    struct serve_events *events = NULL;
    struct serve_jobs *jobs = NULL;
    struct serve_http *http = NULL;
    struct lf_error err = {0};
    struct lf_session_options so = {.cache_bytes = a->cache_bytes};
    char text[2048];
    int status = 1, sig;
#ifdef LCMFLOW_FARM
    struct farm_serve *farm = NULL;
#endif
    sigset_t set;
    /* Every thread started below inherits the mask; main waits for them. */
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    if (lf_registry_create(&reg, &err) || lf_registry_load_default(reg, &err) ||
        (lf_cli_plugin_warnings(reg), serve_events_create(8, &events, &err)))
        goto fail;
    if (a->redis) {
#ifdef LCMFLOW_FARM
        /* The farm's front end: jobs checked here as ever, run by workers
        ** (one in flight per queue place).  "--redis env": the URL (and its
        ** password) from the environment, out of the process list. */
        const char *url = strcmp(a->redis, "env") ? a->redis : getenv(FARM_URL_ENV);
        if (!url || !*url) {
            lf_error_set(&err, LF_ERR_INVALID, "--redis env: %s is not set", FARM_URL_ENV);
            goto fail;
        }
        if (farm_serve_create(url, a->stream, a->group, a->shared, cfg->roots.uploads,
                              cfg->limits.queue, &farm, &err) ||
            serve_jobs_create_remote(farm_serve_remote(farm), &cfg->limits, workdir, events, &jobs,
                                     &err))
            goto fail;
#else
        lf_error_set(&err, LF_ERR_INVALID,
                     "--redis: this lcmflow was built without the render farm (meson option "
                     "farm; needs libhiredis-dev, libssl-dev)");
        goto fail;
#endif
    } else if (lf_session_create(&so, &session, &err) ||
               serve_jobs_create(session, &cfg->limits, workdir, events, &jobs, &err)) {
        goto fail;
    }
    if (cfg->default_yaml && check_default(reg, cfg, a->graph)) goto done;
    if (serve_http_start(cfg, reg, jobs, events, &http, &err) != LF_OK) goto fail;
    const char *colon = strrchr(a->listen, ':');
    printf("lcmflow serve: listening on http://%.*s:%d/%s%s\n",
           colon ? (int)(colon - a->listen) : 0, a->listen, serve_http_port(http),
           cfg->token ? "?token=" : "", cfg->token ? cfg->token : "");
    fflush(stdout);
    sigwait(&set, &sig);
    fprintf(stderr, "lcmflow serve: stopping\n");
    status = 0;
    goto done;
fail:
    fprintf(stderr, "lcmflow serve: %s\n", lf_error_text(&err, text, sizeof text));
done:
    serve_http_stop(http);
#ifdef LCMFLOW_FARM
    farm_serve_stop(farm);
#endif
    serve_jobs_destroy(jobs);
#ifdef LCMFLOW_FARM
    farm_serve_destroy(farm);
#endif
    serve_events_destroy(events);
    lf_session_destroy(session);
    lf_registry_destroy(reg);
    return status;
}

int lf_cli_serve(int argc, char **argv)
{
    struct serve_args a = {0};
    struct serve_config cfg = {0};
    char workdir[] = "/tmp/lcmflow-serve-XXXXXX";
    int status;
    serve_limits_default(&cfg.limits);
    snprintf(a.listen, sizeof a.listen, "127.0.0.1:%d", SERVE_DEFAULT_PORT);
    if ((status = parse_args(argc, argv, &a, &cfg)) != 0) return status < 0 ? 0 : status;
    cfg.listen = a.listen;
    if (!mkdtemp(workdir)) {
        fprintf(stderr, "lcmflow serve: cannot create a folder in /tmp: %s\n", strerror(errno));
        return 1;
    }
    status = configure(&a, &cfg, workdir);
    if (status == 0) status = serve(&a, &cfg, workdir);
    serve_remove_tree(workdir);
    serve_roots_free(&cfg.roots);
    free(cfg.default_yaml);
    return status;
}
