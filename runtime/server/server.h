/*
** server.h - `lcmflow serve`'s parts (runtime/server/), used by
** runtime/cli/cli_serve.c and the tests:
**
**   serve_paths.c   every path param resolved inside the configured roots
**   serve_graph.c   a job's graph from a request (YAML text or JSON), its
**                   `set`, the path policy and the limits
**   serve_outputs.c a finished run's profile and images (also the farm's)
**   serve_jobs.c    the job table, the bounded queue, latest-wins sessions,
**                   the one worker thread that owns the executor session
**   serve_events.c  WebSocket clients of /api/events and their broadcast
**   serve_http.c    CivetWeb: routes, Host/Origin/token checks, bodies, JSON
**   serve_nodes.c   GET /api/nodes and GET /api/models as JSON
**   page/index.html the page at GET / (embedded at build time)
**
** Threads: CivetWeb's request threads parse, validate and queue; they read
** job state only under the job table's lock.  The worker thread alone
** touches the executor session (it is not thread-safe); it is interrupted
** through lf_session_interrupt, the Ctrl-C path of `lcmflow run`.
*/
#ifndef LCMFLOW_SERVER_H
#define LCMFLOW_SERVER_H

#include "lcmflow/error.h"
#include "lcmflow/executor.h"
#include "lcmflow/graph.h"

#include <json-c/json.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SERVE_DEFAULT_PORT 8642
#define SERVE_MAX_ROOTS    8

/* Limits on what a request may ask; each violation is a 4xx naming it. */
struct serve_limits {
    size_t body_bytes;   /* a JSON request body */
    size_t upload_bytes; /* an uploaded image file */
    int max_side;        /* width/height params and uploaded images, pixels */
    int max_steps;       /* `steps` params */
    int max_batch;       /* `batch` params */
    int max_text;        /* bytes of a `text` param (prompts) */
    int max_nodes;       /* nodes per graph */
    int queue;           /* queued jobs (429 beyond) */
    int sessions;        /* distinct sessions with jobs in the table (429 beyond) */
    int history;         /* finished jobs kept (older ones and their PNGs go) */
    int uploads;         /* uploads kept (the oldest goes) */
};

void serve_limits_default(struct serve_limits *l);

/* ---- serve_paths.c ---- */

struct serve_roots {
    char *models[SERVE_MAX_ROOTS]; /* real paths, read only */
    size_t nmodels;
    char *output;  /* real path, where SaveImage writes */
    char *uploads; /* real path of the server's private upload folder */
};

/* Adds a root (must be an existing folder; stored as its real path). */
enum lf_status serve_roots_add_model(struct serve_roots *r, const char *dir, struct lf_error *err);
enum lf_status serve_roots_set_output(struct serve_roots *r, const char *dir, struct lf_error *err);
void serve_roots_free(struct serve_roots *r);

enum serve_path_kind {
    SERVE_PATH_READ,  /* a model or image a node reads: --models roots, or upload:ID */
    SERVE_PATH_WRITE, /* a file a node writes: inside --output */
};

/* Resolves text, as written for param `param`, inside the roots: refuses
** (LF_ERR_INVALID, naming the param) an absolute path, a `..` component,
** and a path whose real location (symlinks followed) leaves its root.  A
** relative read path resolves against the first --models root holding it
** (else the first root); `upload:ID` names an upload.  *out is malloc'd. */
enum lf_status serve_resolve_path(const struct serve_roots *r, enum serve_path_kind kind,
                                  const char *param, const char *text, char **out,
                                  struct lf_error *err);

/* A path param naming an upload: SERVE_UPLOAD_PREFIX and its id. */
#define SERVE_UPLOAD_PREFIX "upload:"
#define SERVE_UPLOAD_ID_LEN 32

/* True for an upload id as serve_upload_store makes them. */
bool serve_upload_id_ok(const char *id);
/* The most uploads of one job that serve --redis relays to a worker. */
#define SERVE_MAX_JOB_UPLOADS 8
/* The upload ids named anywhere in text (a job's JSON: "upload:" and 32
** hex digits), each once, at most max; returns how many. */
size_t serve_upload_ids(const char *text, char ids[][SERVE_UPLOAD_ID_LEN + 1], size_t max);
/* The file holding upload id inside folder dir; false when out is too short. */
bool serve_upload_file(const char *dir, const char *id, char *out, size_t size);
/* Stores an uploaded PNG or JPEG (checked: decodes, sides within max_side)
** in the upload folder under a random id (33 bytes with the NUL); keeps at
** most `keep` uploads, removing the oldest. */
enum lf_status serve_upload_store(const struct serve_roots *r, const void *data, size_t size,
                                  int max_side, int keep, char id[33], struct lf_error *err);

/* True when the listen address (host part of "HOST:PORT", "[V6]:PORT")
** is a loopback address: 127.0.0.0/8, ::1, localhost. */
bool serve_host_is_loopback(const char *host);

/* Removes the files of dir, then dir: a private working folder (the
** server's uploads, a farm worker's job folders).  Best effort. */
void serve_remove_tree(const char *dir);

/* ---- serve_graph.c ---- */

/* The job's graph from a request object: "graph" (YAML text, a JSON graph
** object, or absent for default_yaml), then "set" {"node.param": value},
** the path policy and the limits.  Errors are LF_ERR_GRAPH / LF_ERR_INVALID
** with the graph position where there is one. */
enum lf_status serve_graph_from_request(struct lf_registry *reg, const struct serve_roots *roots,
                                        const struct serve_limits *limits, const char *default_yaml,
                                        struct json_object *request, struct lf_graph **out,
                                        struct lf_error *err);

/* ---- serve_outputs.c ---- */

/* The run's per-node profile: [{"node", "ms", "state": "ran"|"cached"}]. */
struct json_object *serve_run_profile(const struct lf_run *run);
/* Writes every IMAGE output of the run (each batch item) as a PNG with the
** graph embedded, as DIR/STEM-N.png (N from 0), appending each path to
** *paths (malloc'd, as its strings; the caller frees them). */
enum lf_status serve_run_images(const struct lf_graph *g, const struct lf_run *run, const char *dir,
                                const char *stem, char ***paths, size_t *npaths,
                                struct lf_error *err);

/* ---- serve_events.c ---- */

struct serve_events;

enum lf_status serve_events_create(int max_clients, struct serve_events **out,
                                   struct lf_error *err);
void serve_events_destroy(struct serve_events *ev);
/* Registers a connection (false when full); removes it. */
bool serve_events_add(struct serve_events *ev, void *conn);
void serve_events_remove(struct serve_events *ev, const void *conn);
/* Sends to every client: a JSON text frame, or a binary frame. */
void serve_events_text(struct serve_events *ev, const char *json);
void serve_events_binary(struct serve_events *ev, const void *data, size_t size);

/* ---- serve_jobs.c ---- */

enum serve_job_state {
    SERVE_JOB_QUEUED,
    SERVE_JOB_RUNNING,
    SERVE_JOB_DONE,
    SERVE_JOB_FAILED,
    SERVE_JOB_CANCELLED,
};

struct serve_jobs;

/*
** Jobs run elsewhere (`lcmflow serve --redis`: runtime/farm/farm_serve.c
** implements it; the server itself knows nothing of Redis).  run() blocks
** until the job ends; it reports through the job's callbacks and returns
** LF_OK (its PNGs written into dir as STEM-N.png, appended to *paths, the
** profile in *profile), LF_ERR_INTERRUPTED when cancelled, else an error.
*/
struct serve_remote_job {
    const char *request; /* the job's JSON ("graph" always present, no "session") */
    const struct lf_session_observer *observer;     /* node and step progress, image previews */
    void (*started)(struct serve_remote_job *rj);   /* it runs now (queued until then) */
    bool (*cancelled)(struct serve_remote_job *rj); /* cancel asked (or the server stops) */
    /* a preview picture (8-bit RGB rows) as the remote side decoded it */
    void (*frame)(struct serve_remote_job *rj, int step, int steps, int width, int height,
                  const unsigned char *rgb);
    void *ctx; /* the table's, for the two above */
    const char *dir, *stem;
    char ***paths;
    size_t *npaths;
    struct json_object **profile;
};
struct serve_remote {
    void *user;
    int slots; /* jobs in flight at once (one thread each) */
    enum lf_status (*run)(void *user, struct serve_remote_job *rj, struct lf_error *err);
};

/* The worker starts at once; session is borrowed and used by it alone. */
enum lf_status serve_jobs_create(struct lf_session *session, const struct serve_limits *limits,
                                 const char *workdir, struct serve_events *events,
                                 struct serve_jobs **out, struct lf_error *err);
/* The same with the jobs run through remote (borrowed): `slots` threads. */
enum lf_status serve_jobs_create_remote(const struct serve_remote *remote,
                                        const struct serve_limits *limits, const char *workdir,
                                        struct serve_events *events, struct serve_jobs **out,
                                        struct lf_error *err);
/* True for a table made by serve_jobs_create_remote (jobs need their request). */
bool serve_jobs_remote(const struct serve_jobs *jobs);
/* Stops the worker (interrupting a running job) and frees every job. */
void serve_jobs_destroy(struct serve_jobs *jobs);

enum serve_submit_result {
    SERVE_SUBMIT_OK,
    SERVE_SUBMIT_QUEUE_FULL,
    SERVE_SUBMIT_TOO_MANY_SESSIONS,
    SERVE_SUBMIT_NO_MEMORY,
};

/* Queues a job (takes the graph; request, the JSON a remote table sends,
** is copied, NULL for a local one); cancels the session's queued and
** running jobs first (latest wins; session NULL or "" means none). */
enum serve_submit_result serve_jobs_submit(struct serve_jobs *jobs, struct lf_graph *graph,
                                           const char *request, const char *session, uint64_t *id);
/* false when no such job; a finished job is left as it is. */
bool serve_jobs_cancel(struct serve_jobs *jobs, uint64_t id);
/* The job as GET /api/jobs/ID shows it (NULL when unknown); caller puts it. */
struct json_object *serve_jobs_describe(struct serve_jobs *jobs, uint64_t id);
/* Output n's PNG bytes (malloc'd), false when there is none. */
bool serve_jobs_output(struct serve_jobs *jobs, uint64_t id, size_t n, unsigned char **data,
                       size_t *size);

const char *serve_job_state_name(enum serve_job_state s);

/* ---- serve_nodes.c ---- */

/* GET /api/nodes: every node type with ports, params, defaults, plugin. */
struct json_object *serve_nodes_json(struct lf_registry *reg);
/* GET /api/models: the .safetensors files (and diffusers folders) under the
** --models roots, relative to their root, for the page's pickers. */
struct json_object *serve_models_json(const struct serve_roots *roots);

/* ---- serve_http.c ---- */

struct serve_config {
    const char *listen;                       /* "HOST:PORT" */
    const char *token;                        /* required on every request when non-NULL */
    const char *allow_hosts[SERVE_MAX_ROOTS]; /* extra Host names accepted */
    size_t nallow_hosts;
    struct serve_limits limits;
    struct serve_roots roots;
    char *default_yaml; /* the graph jobs without "graph" run */
};

struct serve_http;

enum lf_status serve_http_start(const struct serve_config *cfg, struct lf_registry *reg,
                                struct serve_jobs *jobs, struct serve_events *events,
                                struct serve_http **out, struct lf_error *err);
/* The port actually bound (for --listen HOST:0). */
int serve_http_port(const struct serve_http *h);
void serve_http_stop(struct serve_http *h);

/* Embedded page (serve_page.c, generated from page/index.html). */
extern const unsigned char serve_page_html[];
extern const size_t serve_page_html_size;

#endif
