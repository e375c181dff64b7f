/*
** serve_http.c - the HTTP side of `lcmflow serve` on CivetWeb: every
** request passes the Host / Origin / token checks, then one router maps it
** to the API; bodies are read up to their limit; answers are JSON.
*/
#include "server.h"

#include <civetweb.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define MAX_HOSTS      (SERVE_MAX_ROOTS + 4)
#define MAX_WS_CLIENTS 8
#define HTTP_THREADS   "16" /* each WebSocket client holds one */

struct serve_http {
    struct mg_context *ctx;
    const struct serve_config *cfg;
    struct lf_registry *reg;
    struct serve_jobs *jobs;
    struct serve_events *events;
    int port;
    bool any_host; /* wildcard listen (token required): Host is not checked */
    char hosts[MAX_HOSTS][300];
    size_t nhosts;
    char start_error[512];
};

/* ---- answers ---- */

static void reply(struct mg_connection *conn, int status, const char *type, const void *body,
                  size_t size)
{
    char len[32];
    snprintf(len, sizeof len, "%zu", size);
    mg_response_header_start(conn, status);
    mg_response_header_add(conn, "Content-Type", type, -1);
    mg_response_header_add(conn, "Content-Length", len, -1);
    mg_response_header_add(conn, "Cache-Control", "no-store", -1);
    mg_response_header_add(conn, "X-Content-Type-Options", "nosniff", -1);
    mg_response_header_add(conn, "X-Frame-Options", "DENY", -1);
    if (!strncmp(type, "text/html", 9))
        mg_response_header_add(conn, "Content-Security-Policy",
                               "default-src 'self'; script-src 'self' 'unsafe-inline'; "
                               "style-src 'self' 'unsafe-inline'; img-src 'self' blob: data:; "
                               "connect-src 'self'; frame-ancestors 'none'",
                               -1);
    mg_response_header_send(conn);
    if (size) mg_write(conn, body, size);
}

/* Sends o (and puts it). */
static int reply_json(struct mg_connection *conn, int status, struct json_object *o)
{
    const char *text =
        json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
    reply(conn, status, "application/json", text, strlen(text));
    json_object_put(o);
    return status;
}

static int reply_error(struct mg_connection *conn, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int reply_error(struct mg_connection *conn, int status, const char *fmt, ...)
{
    char msg[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    struct json_object *o = json_object_new_object();
    json_object_object_add(o, "error", json_object_new_string(msg));
    return reply_json(conn, status, o);
}

/* ---- the checks every request passes ---- */

static bool same_secret(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    unsigned char diff = (unsigned char)(la != lb);
    for (size_t i = 0; i < la; i++)
        diff |= (unsigned char)(a[i] ^ b[i % (lb ? lb : 1)]);
    return diff == 0;
}

static bool host_accepted(const struct serve_http *h, const char *host)
{
    if (h->any_host) return true;
    for (size_t i = 0; i < h->nhosts; i++)
        if (!strcasecmp(h->hosts[i], host)) return true;
    return false;
}

/* 0 when the request may go on, else the HTTP status, message in why. */
static int check_request(const struct serve_http *h, const struct mg_connection *conn, char *why,
                         size_t size)
{
    const struct mg_request_info *ri = mg_get_request_info(conn);
    const char *host = mg_get_header(conn, "Host"), *origin = mg_get_header(conn, "Origin");
    if (!host || !host_accepted(h, host)) {
        snprintf(why, size, "Host '%s' is not this server's (DNS rebinding protection)",
                 host ? host : "");
        return 403;
    }
    if (origin && (strncmp(origin, "http://", 7) != 0 || strcasecmp(origin + 7, host) != 0)) {
        snprintf(why, size, "Origin '%s' is not this server's (cross-site request refused)",
                 origin);
        return 403;
    }
    if (h->cfg->token) {
        const char *auth = mg_get_header(conn, "Authorization");
        char given[256] = "";
        if (auth && !strncasecmp(auth, "Bearer ", 7))
            snprintf(given, sizeof given, "%s", auth + 7);
        else if (ri->query_string)
            mg_get_var(ri->query_string, strlen(ri->query_string), "token", given, sizeof given);
        if (!given[0] || !same_secret(given, h->cfg->token)) {
            snprintf(why, size, "a token is required (Authorization: Bearer TOKEN or ?token=)");
            return 401;
        }
    }
    return 0;
}

/* ---- bodies ---- */

/* Reads the whole body into *out (NUL-terminated); 0, or 413/400/503.  The
** buffer is the announced length, or grows as a chunked body arrives. */
static int read_body(struct mg_connection *conn, size_t limit, char **out, size_t *size)
{
    const struct mg_request_info *ri = mg_get_request_info(conn);
    size_t have = 0, cap = ri->content_length >= 0 ? (size_t)ri->content_length + 1 : 65536;
    char *buf;
    *out = NULL;
    *size = 0;
    if (ri->content_length > (long long)limit) return 413;
    if (!(buf = malloc(cap))) return 503;
    for (;;) {
        if (have + 1 == cap) { /* full: more than announced, or chunked */
            char *grown =
                cap > limit ? NULL : realloc(buf, cap * 2 > limit + 2 ? limit + 2 : cap * 2);
            if (!grown) {
                free(buf);
                return cap > limit ? 413 : 503;
            }
            buf = grown;
            cap = cap * 2 > limit + 2 ? limit + 2 : cap * 2;
        }
        int got = mg_read(conn, buf + have, cap - 1 - have);
        if (got < 0) {
            free(buf);
            return 400;
        }
        if (got == 0) break;
        have += (size_t)got;
    }
    if (have > limit) {
        free(buf);
        return 413;
    }
    buf[have] = '\0';
    *out = buf;
    *size = have;
    return 0;
}

static const char *body_error(int status)
{
    return status == 413   ? "request body too large"
           : status == 503 ? "out of memory"
                           : "could not read the body";
}

/* ---- routes ---- */

static bool session_ok(const char *s)
{
    size_t n = strlen(s);
    if (n > 64) return false;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
              (s[i] >= '0' && s[i] <= '9') || s[i] == '-' || s[i] == '_' || s[i] == '.'))
            return false;
    return true;
}

static int post_job(struct serve_http *h, struct mg_connection *conn)
{
    char *body, text[2048];
    size_t size;
    int status = read_body(conn, h->cfg->limits.body_bytes, &body, &size);
    if (status) return reply_error(conn, status, "%s", body_error(status));
    struct json_tokener *tok = json_tokener_new_ex(32);
    struct json_object *req = NULL, *session = NULL;
    if (tok) {
        json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
        req = json_tokener_parse_ex(tok, body, (int)size);
        if (req && tok->char_offset != (int)size) {
            json_object_put(req);
            req = NULL;
        }
    }
    if (!req) {
        const char *why = tok ? json_tokener_error_desc(json_tokener_get_error(tok)) : "no memory";
        json_tokener_free(tok);
        free(body);
        return reply_error(conn, 400, "malformed JSON: %s", why);
    }
    json_tokener_free(tok);
    free(body);
    const char *sid = "";
    if (json_object_object_get_ex(req, "session", &session) && session &&
        !json_object_is_type(session, json_type_null)) {
        if (!json_object_is_type(session, json_type_string) ||
            !session_ok(json_object_get_string(session))) {
            json_object_put(req);
            return reply_error(conn, 400,
                               "\"session\" must be a string of at most 64 letters, digits, "
                               "'-', '_' or '.'");
        }
        sid = json_object_get_string(session);
    }
    char sidbuf[65];
    snprintf(sidbuf, sizeof sidbuf, "%s", sid); /* the request is changed below */
    sid = sidbuf;
    struct lf_graph *g = NULL;
    struct lf_error err = {0};
    if (serve_graph_from_request(h->reg, &h->cfg->roots, &h->cfg->limits, h->cfg->default_yaml, req,
                                 &g, &err) != LF_OK) {
        json_object_put(req);
        return reply_error(conn, err.code == LF_ERR_OUT_OF_MEMORY ? 503 : 400, "%s",
                           lf_error_text(&err, text, sizeof text));
    }
    uint64_t id = 0;
    const char *request = NULL;
    if (serve_jobs_remote(h->jobs)) {
        /* What a farm worker checks again and runs: the request as it came,
        ** with the default graph's text when it named none. */
        if (!json_object_object_get_ex(req, "graph", NULL) && h->cfg->default_yaml)
            json_object_object_add(req, "graph", json_object_new_string(h->cfg->default_yaml));
        json_object_object_del(req, "session");
        request = json_object_to_json_string_ext(req, JSON_C_TO_STRING_PLAIN);
    }
    enum serve_submit_result r = serve_jobs_submit(h->jobs, g, request, sid, &id);
    json_object_put(req);
    if (r == SERVE_SUBMIT_QUEUE_FULL)
        return reply_error(conn, 429, "the queue is full (%d jobs); try again later",
                           h->cfg->limits.queue);
    if (r == SERVE_SUBMIT_TOO_MANY_SESSIONS)
        return reply_error(conn, 429, "too many sessions (limit %d)", h->cfg->limits.sessions);
    if (r != SERVE_SUBMIT_OK) return reply_error(conn, 503, "out of memory");
    struct json_object *o = json_object_new_object();
    char url[64];
    snprintf(url, sizeof url, "/api/jobs/%llu", (unsigned long long)id);
    json_object_object_add(o, "id", json_object_new_uint64(id));
    json_object_object_add(o, "url", json_object_new_string(url));
    return reply_json(conn, 201, o);
}

static int post_upload(struct serve_http *h, struct mg_connection *conn)
{
    char *body, id[33], text[2048], source[48];
    size_t size;
    struct lf_error err = {0};
    int status = read_body(conn, h->cfg->limits.upload_bytes, &body, &size);
    if (status) return reply_error(conn, status, "upload: %s", body_error(status));
    enum lf_status st = serve_upload_store(&h->cfg->roots, body, size, h->cfg->limits.max_side,
                                           h->cfg->limits.uploads, id, &err);
    free(body);
    if (st != LF_OK)
        return reply_error(conn, st == LF_ERR_IO ? 500 : 400, "%s",
                           lf_error_text(&err, text, sizeof text));
    struct json_object *o = json_object_new_object();
    snprintf(source, sizeof source, SERVE_UPLOAD_PREFIX "%s", id);
    json_object_object_add(o, "id", json_object_new_string(id));
    json_object_object_add(o, "source", json_object_new_string(source));
    return reply_json(conn, 201, o);
}

/* "123" -> 123; false unless the whole text is a decimal number. */
static bool parse_id(const char *text, size_t len, uint64_t *out)
{
    uint64_t v = 0;
    if (len == 0 || len > 18) return false;
    for (size_t i = 0; i < len; i++) {
        if (text[i] < '0' || text[i] > '9') return false;
        v = v * 10 + (uint64_t)(text[i] - '0');
    }
    *out = v;
    return true;
}

/* /api/jobs/ID, /api/jobs/ID/cancel, /api/jobs/ID/outputs/N */
static int job_route(struct serve_http *h, struct mg_connection *conn, const char *method,
                     const char *rest)
{
    size_t len = strcspn(rest, "/");
    uint64_t id, n;
    if (!parse_id(rest, len, &id)) return reply_error(conn, 404, "no such job");
    const char *tail = rest + len;
    if (!*tail) {
        if (strcmp(method, "GET")) return reply_error(conn, 405, "use GET");
        struct json_object *o = serve_jobs_describe(h->jobs, id);
        return o ? reply_json(conn, 200, o) : reply_error(conn, 404, "no such job");
    }
    if (!strcmp(tail, "/cancel")) {
        if (strcmp(method, "POST")) return reply_error(conn, 405, "use POST");
        if (!serve_jobs_cancel(h->jobs, id)) return reply_error(conn, 404, "no such job");
        return reply_json(conn, 200, serve_jobs_describe(h->jobs, id));
    }
    if (!strncmp(tail, "/outputs/", 9) && parse_id(tail + 9, strlen(tail + 9), &n)) {
        unsigned char *data;
        size_t size;
        if (strcmp(method, "GET")) return reply_error(conn, 405, "use GET");
        if (!serve_jobs_output(h->jobs, id, (size_t)n, &data, &size))
            return reply_error(conn, 404, "no such output (is the job done?)");
        reply(conn, 200, "image/png", data, size);
        free(data);
        return 200;
    }
    return reply_error(conn, 404, "no such resource");
}

static int route(struct serve_http *h, struct mg_connection *conn)
{
    const struct mg_request_info *ri = mg_get_request_info(conn);
    const char *m = ri->request_method, *uri = ri->local_uri_raw ? ri->local_uri_raw : "";
    bool get = !strcmp(m, "GET"), post = !strcmp(m, "POST");
    if (!strcmp(uri, "/") || !strcmp(uri, "/index.html")) {
        if (!get) return reply_error(conn, 405, "use GET");
        reply(conn, 200, "text/html; charset=utf-8", serve_page_html, serve_page_html_size);
        return 200;
    }
    if (!strcmp(uri, "/api/nodes"))
        return get ? reply_json(conn, 200, serve_nodes_json(h->reg))
                   : reply_error(conn, 405, "use GET");
    if (!strcmp(uri, "/api/models"))
        return get ? reply_json(conn, 200, serve_models_json(&h->cfg->roots))
                   : reply_error(conn, 405, "use GET");
    if (!strcmp(uri, "/api/jobs"))
        return post ? post_job(h, conn) : reply_error(conn, 405, "use POST");
    if (!strcmp(uri, "/api/uploads"))
        return post ? post_upload(h, conn) : reply_error(conn, 405, "use POST");
    if (!strncmp(uri, "/api/jobs/", 10)) return job_route(h, conn, m, uri + 10);
    return reply_error(conn, 404, "no such resource");
}

static int on_request(struct mg_connection *conn, void *data)
{
    struct serve_http *h = data;
    char why[512];
    int status = check_request(h, conn, why, sizeof why);
    if (status) return reply_error(conn, status, "%s", why);
    return route(h, conn);
}

/* ---- /api/events (WebSocket) ---- */

static int ws_connect(const struct mg_connection *conn, void *data)
{
    char why[512];
    return check_request(data, conn, why, sizeof why) ? 1 : 0;
}

static void ws_ready(struct mg_connection *conn, void *data)
{
    struct serve_http *h = data;
    static const char hello[] = "{\"type\":\"hello\"}";
    if (serve_events_add(h->events, conn))
        mg_websocket_write(conn, MG_WEBSOCKET_OPCODE_TEXT, hello, sizeof hello - 1);
    else
        mg_websocket_write(conn, MG_WEBSOCKET_OPCODE_CONNECTION_CLOSE, "", 0);
}

static int ws_data(struct mg_connection *conn, int bits, char *data, size_t size, void *user)
{
    (void)conn, (void)data, (void)size, (void)user;
    return (bits & 0x0f) != MG_WEBSOCKET_OPCODE_CONNECTION_CLOSE; /* clients only listen */
}

static void ws_close(const struct mg_connection *conn, void *data)
{
    serve_events_remove(((struct serve_http *)data)->events, conn);
}

/* ---- start and stop ---- */

static int on_log(const struct mg_connection *conn, const char *message)
{
    struct serve_http *h = mg_get_user_data(mg_get_context(conn));
    if (h && !h->port) snprintf(h->start_error, sizeof h->start_error, "%s", message);
    return 1; /* CivetWeb prints nothing itself */
}

/* Accepted Host values: the listen address and, on loopback, its names. */
static void add_hosts(struct serve_http *h, const char *listen_host)
{
    const char *names[] = {listen_host, "127.0.0.1", "localhost", "[::1]"};
    size_t n = serve_host_is_loopback(listen_host) ? 4 : 1;
    for (size_t i = 0; i < n && h->nhosts < MAX_HOSTS; i++)
        snprintf(h->hosts[h->nhosts++], sizeof h->hosts[0], "%s:%d", names[i], h->port);
    for (size_t i = 0; i < h->cfg->nallow_hosts && h->nhosts < MAX_HOSTS; i++)
        snprintf(h->hosts[h->nhosts++], sizeof h->hosts[0], "%s", h->cfg->allow_hosts[i]);
    h->any_host = !strcmp(listen_host, "0.0.0.0") || !strcmp(listen_host, "[::]");
}

enum lf_status serve_http_start(const struct serve_config *cfg, struct lf_registry *reg,
                                struct serve_jobs *jobs, struct serve_events *events,
                                struct serve_http **out, struct lf_error *err)
{
    struct serve_http *h = calloc(1, sizeof *h);
    struct mg_callbacks cb = {0};
    struct mg_server_port ports[4];
    char host[300];
    const char *colon = strrchr(cfg->listen, ':');
    *out = NULL;
    if (!h) return lf_error_set(err, LF_ERR_OUT_OF_MEMORY, "out of memory");
    if (!colon || (size_t)(colon - cfg->listen) >= sizeof host) {
        free(h);
        return lf_error_set(err, LF_ERR_INVALID, "--listen %s: expected HOST:PORT", cfg->listen);
    }
    snprintf(host, sizeof host, "%.*s", (int)(colon - cfg->listen), cfg->listen);
    h->cfg = cfg, h->reg = reg, h->jobs = jobs, h->events = events;
    const char *options[] = {"listening_ports",
                             cfg->listen,
                             "num_threads",
                             HTTP_THREADS,
                             "request_timeout_ms",
                             "10000",
                             "enable_keep_alive",
                             "yes",
                             "keep_alive_timeout_ms",
                             "5000",
                             "websocket_timeout_ms",
                             "30000",
                             "enable_websocket_ping_pong",
                             "yes",
                             NULL};
    cb.log_message = on_log;
    mg_init_library(MG_FEATURES_WEBSOCKET | MG_FEATURES_IPV6);
    if (!mg_check_feature(MG_FEATURES_WEBSOCKET)) {
        mg_exit_library();
        free(h);
        return lf_error_set(err, LF_ERR_UNSUPPORTED, "this CivetWeb has no WebSocket support");
    }
    if (!(h->ctx = mg_start(&cb, h, options))) {
        mg_exit_library();
        enum lf_status st = lf_error_set(err, LF_ERR_IO, "cannot listen on %s%s%s", cfg->listen,
                                         h->start_error[0] ? ": " : "", h->start_error);
        free(h);
        return st;
    }
    if (mg_get_server_ports(h->ctx, 4, ports) < 1) {
        serve_http_stop(h);
        return lf_error_set(err, LF_ERR_IO, "cannot listen on %s", cfg->listen);
    }
    h->port = ports[0].port;
    add_hosts(h, host);
    mg_set_websocket_handler(h->ctx, "/api/events", ws_connect, ws_ready, ws_data, ws_close, h);
    mg_set_request_handler(h->ctx, "/", on_request, h);
    *out = h;
    return LF_OK;
}

int serve_http_port(const struct serve_http *h)
{
    return h->port;
}

void serve_http_stop(struct serve_http *h)
{
    if (!h) return;
    if (h->ctx) mg_stop(h->ctx);
    mg_exit_library();
    free(h);
}
