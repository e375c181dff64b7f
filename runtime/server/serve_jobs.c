/*
** serve_jobs.c - the job table: a bounded queue, latest-wins sessions and
** the one worker thread that runs jobs on the executor session.  Request
** threads read and change jobs only under `lock`; the worker alone runs the
** session and is stopped through lf_session_interrupt (Ctrl-C's path).
** Events are formatted under the lock and sent after it is released, in
** the order of the changes they report (emit_lock is taken before `lock`
** is released).
*/
#include "image_io.h"
#include "lcmflow/tensor.h"
#include "server.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

struct job {
    uint64_t id;
    char session[65];
    enum serve_job_state state;
    struct lf_graph *graph; /* freed once it ran */
    char *request;          /* a remote job's JSON */
    char *error;
    bool cancel_requested;
    bool dispatched; /* a remote job handed to a thread (still queued until it starts) */
    char node[128];  /* progress: the node running, its index of total, its step */
    size_t index, total;
    int step, steps;
    double t_submit, t_start, t_first_preview, t_end;
    struct json_object *profile; /* [{node, ms, state}] once done */
    char **outputs;              /* PNG files in workdir */
    size_t noutputs;
};

struct serve_jobs {
    pthread_mutex_t lock, emit_lock;
    pthread_cond_t wake;
    pthread_t *workers;
    int nworkers;
    bool stop;
    struct lf_session *session;        /* local jobs */
    const struct serve_remote *remote; /* or remote ones */
    struct serve_limits limits;
    char *workdir;
    struct serve_events *events;
    struct job **jobs; /* submit order */
    size_t njobs, cap;
    uint64_t next_id;
    struct job *running;
};

const char *serve_job_state_name(enum serve_job_state s)
{
    static const char *const names[] = {"queued", "running", "done", "failed", "cancelled"};
    return (unsigned)s < sizeof names / sizeof *names ? names[s] : "?";
}

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static bool finished(const struct job *j)
{
    return j->state >= SERVE_JOB_DONE;
}

static void job_free(struct job *j)
{
    if (!j) return;
    for (size_t i = 0; i < j->noutputs; i++) {
        unlink(j->outputs[i]);
        free(j->outputs[i]);
    }
    free(j->outputs);
    lf_graph_destroy(j->graph);
    free(j->request);
    free(j->error);
    json_object_put(j->profile);
    free(j);
}

static struct job *find(struct serve_jobs *jobs, uint64_t id)
{
    for (size_t i = 0; i < jobs->njobs; i++)
        if (jobs->jobs[i]->id == id) return jobs->jobs[i];
    return NULL;
}

/* An event as JSON text (caller frees): {"type", "job", "session", ...extra}. */
static char *event_text(const struct job *j, const char *type, struct json_object *extra)
{
    struct json_object *o = extra ? extra : json_object_new_object();
    char *text;
    json_object_object_add(o, "type", json_object_new_string(type));
    json_object_object_add(o, "job", json_object_new_uint64(j->id));
    json_object_object_add(o, "session", json_object_new_string(j->session));
    text = strdup(
        json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
    json_object_put(o);
    return text;
}

/* Releases `lock` (held) and sends the events (freeing them) in order. */
static void unlock_emit(struct serve_jobs *jobs, char **texts, size_t n)
{
    pthread_mutex_lock(&jobs->emit_lock);
    pthread_mutex_unlock(&jobs->lock);
    for (size_t i = 0; i < n; i++) {
        if (texts[i]) serve_events_text(jobs->events, texts[i]);
        free(texts[i]);
    }
    pthread_mutex_unlock(&jobs->emit_lock);
}

/* ---- the worker's observer: progress and previews ---- */

struct observe {
    struct serve_jobs *jobs;
    struct job *job;
};

static void on_node(void *user, const char *node_id, const char *type_name, size_t index,
                    size_t total)
{
    struct observe *o = user;
    struct json_object *e = json_object_new_object();
    pthread_mutex_lock(&o->jobs->lock);
    snprintf(o->job->node, sizeof o->job->node, "%s", node_id);
    o->job->index = index, o->job->total = total, o->job->step = 0, o->job->steps = 0;
    json_object_object_add(e, "node", json_object_new_string(node_id));
    json_object_object_add(e, "node_type", json_object_new_string(type_name));
    json_object_object_add(e, "index", json_object_new_uint64(index));
    json_object_object_add(e, "total", json_object_new_uint64(total));
    char *text = event_text(o->job, "node", e);
    unlock_emit(o->jobs, &text, 1);
}

static void on_step(void *user, const char *node_id, int step, int total)
{
    struct observe *o = user;
    struct json_object *e = json_object_new_object();
    pthread_mutex_lock(&o->jobs->lock);
    o->job->step = step, o->job->steps = total;
    json_object_object_add(e, "node", json_object_new_string(node_id));
    json_object_object_add(e, "step", json_object_new_int(step));
    json_object_object_add(e, "steps", json_object_new_int(total));
    char *text = event_text(o->job, "step", e);
    unlock_emit(o->jobs, &text, 1);
}

static void put16(unsigned char *p, unsigned v)
{
    p[0] = (unsigned char)v, p[1] = (unsigned char)(v >> 8);
}

/*
** A preview frame: "LFPV", job id (u32 LE), step, steps, width, height
** (u16 LE each), then width*height RGB bytes (batch item 0).  Sent to
** every events client; the first one of a job sets its first_preview time.
*/
static void send_frame(struct observe *o, int step, int total, int64_t w, int64_t h,
                       const unsigned char *rgb)
{
    if (h <= 0 || w <= 0 || h > 65535 || w > 65535) return;
    size_t size = 16 + (size_t)(w * h) * 3;
    unsigned char *frame = malloc(size);
    if (!frame) return;
    memcpy(frame, "LFPV", 4);
    for (int i = 0; i < 4; i++)
        frame[4 + i] = (unsigned char)(o->job->id >> (8 * i));
    put16(frame + 8, (unsigned)step), put16(frame + 10, (unsigned)total);
    put16(frame + 12, (unsigned)w), put16(frame + 14, (unsigned)h);
    memcpy(frame + 16, rgb, size - 16);
    pthread_mutex_lock(&o->jobs->lock);
    if (!o->job->t_first_preview) o->job->t_first_preview = now_ms();
    pthread_mutex_unlock(&o->jobs->lock);
    serve_events_binary(o->jobs->events, frame, size);
    free(frame);
}

/* Without a decoder: a linear map of the 4 latent channels to RGB (a
** rounded fit for SD 1.5's latent space), one pixel per latent cell. */
static void on_latent(void *user, const char *node_id, int step, int total, const float *latent,
                      const int64_t shape[4])
{
    static const float map[4][3] = {{0.30f, 0.19f, 0.21f},
                                    {0.19f, 0.29f, 0.17f},
                                    {-0.16f, 0.19f, 0.26f},
                                    {-0.18f, -0.27f, -0.47f}};
    int64_t c = shape[1], h = shape[2], w = shape[3];
    if (c != 4 || h <= 0 || w <= 0 || h > 4096 || w > 4096) return;
    size_t plane = (size_t)(h * w);
    unsigned char *rgb = malloc(plane * 3);
    if (!rgb) return;
    for (size_t p = 0; p < plane; p++)
        for (int k = 0; k < 3; k++) {
            float v = 0.0f;
            for (int ch = 0; ch < 4; ch++)
                v += map[ch][k] * latent[(size_t)ch * plane + p];
            v = (v + 1.0f) * 127.5f;
            rgb[p * 3 + (size_t)k] = (unsigned char)(v < 0 ? 0 : v > 255 ? 255 : v + 0.5f);
        }
    send_frame(user, step, total, w, h, rgb);
    free(rgb);
    (void)node_id;
}

/* A node's own decode of its estimate (TAESD): the picture as it is, in
** 8-bit as the final PNG quantises it. */
static void on_image(void *user, const char *node_id, int step, int total, struct lf_tensor *image)
{
    uint8_t *rgb = NULL;
    if (image->rank != 4 || lf_image_to_rgb8(image, 0, &rgb, NULL) != LF_OK) return;
    send_frame(user, step, total, image->shape[2], image->shape[1], rgb);
    free(rgb);
    (void)node_id;
}

static char *started_event_locked(struct serve_jobs *jobs, struct job *j)
{
    j->state = SERVE_JOB_RUNNING;
    j->t_start = now_ms();
    if (!jobs->remote) jobs->running = j;
    return event_text(j, "started", NULL);
}

/* A remote job's callbacks (serve_remote_job). */
static void remote_started(struct serve_remote_job *rj)
{
    struct observe *o = rj->ctx;
    char *event = NULL;
    pthread_mutex_lock(&o->jobs->lock);
    if (o->job->state == SERVE_JOB_QUEUED) event = started_event_locked(o->jobs, o->job);
    unlock_emit(o->jobs, &event, 1);
}

static bool remote_cancelled(struct serve_remote_job *rj)
{
    struct observe *o = rj->ctx;
    pthread_mutex_lock(&o->jobs->lock);
    bool yes = o->job->cancel_requested || o->jobs->stop;
    pthread_mutex_unlock(&o->jobs->lock);
    return yes;
}

static void remote_frame(struct serve_remote_job *rj, int step, int steps, int width, int height,
                         const unsigned char *rgb)
{
    send_frame(rj->ctx, step, steps, width, height, rgb);
}

/* Runs one job (no lock held) and sends its finishing event. */
static void run_job(struct serve_jobs *jobs, struct job *j)
{
    struct observe obs = {jobs, j};
    struct lf_session_observer observer = {
        .user = &obs, .node = on_node, .step = on_step, .latent = on_latent, .image = on_image};
    struct lf_error err = {0};
    struct lf_run *run = NULL;
    struct json_object *profile = NULL;
    char text[2048], stem[32];
    enum lf_status st;
    snprintf(stem, sizeof stem, "job%llu", (unsigned long long)j->id);
    /* Only this thread touches j->outputs before the job is marked finished. */
    if (jobs->remote) {
        struct serve_remote_job rj = {.request = j->request,
                                      .observer = &observer,
                                      .started = remote_started,
                                      .cancelled = remote_cancelled,
                                      .frame = remote_frame,
                                      .ctx = &obs,
                                      .dir = jobs->workdir,
                                      .stem = stem,
                                      .paths = &j->outputs,
                                      .npaths = &j->noutputs,
                                      .profile = &profile};
        st = jobs->remote->run(jobs->remote->user, &rj, &err);
    } else {
        lf_session_set_observer(jobs->session, &observer);
        st = lf_session_run(jobs->session, j->graph, &run, &err);
        lf_session_set_observer(jobs->session, NULL);
        profile = run ? serve_run_profile(run) : NULL;
        if (st == LF_OK)
            st = serve_run_images(j->graph, run, jobs->workdir, stem, &j->outputs, &j->noutputs,
                                  &err);
        lf_run_destroy(run);
    }

    pthread_mutex_lock(&jobs->lock);
    j->t_end = now_ms();
    if (!j->t_start) j->t_start = j->t_end; /* a remote job cancelled before it started */
    j->profile = profile;
    if (st == LF_OK) {
        j->state = SERVE_JOB_DONE;
    } else if (st == LF_ERR_INTERRUPTED && (j->cancel_requested || jobs->stop)) {
        j->state = SERVE_JOB_CANCELLED;
    } else {
        j->state = SERVE_JOB_FAILED;
        j->error = strdup(lf_error_text(&err, text, sizeof text));
    }
    lf_graph_destroy(j->graph);
    j->graph = NULL;
    if (jobs->running == j) jobs->running = NULL;
    struct json_object *e = json_object_new_object();
    if (j->error) json_object_object_add(e, "error", json_object_new_string(j->error));
    json_object_object_add(e, "ms", json_object_new_double(j->t_end - j->t_start));
    json_object_object_add(e, "outputs", json_object_new_uint64(j->noutputs));
    char *event = event_text(j, serve_job_state_name(j->state), e);
    unlock_emit(jobs, &event, 1);
}

static struct job *next_queued(struct serve_jobs *jobs)
{
    for (size_t i = 0; i < jobs->njobs; i++)
        if (jobs->jobs[i]->state == SERVE_JOB_QUEUED && !jobs->jobs[i]->dispatched)
            return jobs->jobs[i];
    return NULL;
}

static void *worker_main(void *arg)
{
    struct serve_jobs *jobs = arg;
    for (;;) {
        struct job *j;
        pthread_mutex_lock(&jobs->lock);
        while (!jobs->stop && !(j = next_queued(jobs)))
            pthread_cond_wait(&jobs->wake, &jobs->lock);
        if (jobs->stop) {
            pthread_mutex_unlock(&jobs->lock);
            break;
        }
        char *started = NULL;
        if (jobs->remote) {
            j->dispatched = true; /* "started" comes when a farm worker takes it */
        } else {
            lf_session_clear_interrupt(jobs->session);
            started = started_event_locked(jobs, j);
        }
        unlock_emit(jobs, &started, 1);
        run_job(jobs, j);
    }
    return NULL;
}

/* ---- the request side ---- */

static enum lf_status create(struct lf_session *session, const struct serve_remote *remote,
                             const struct serve_limits *limits, const char *workdir,
                             struct serve_events *events, struct serve_jobs **out,
                             struct lf_error *err)
{
    struct serve_jobs *jobs = calloc(1, sizeof *jobs);
    int nworkers = remote ? (remote->slots > 0 ? remote->slots : 1) : 1;
    *out = NULL;
    if (!jobs) return lf_error_set(err, LF_ERR_OUT_OF_MEMORY, "out of memory");
    jobs->session = session;
    jobs->remote = remote;
    jobs->limits = *limits;
    jobs->events = events;
    jobs->next_id = 1;
    jobs->cap = (size_t)limits->history + (size_t)limits->queue + 1;
    jobs->workdir = strdup(workdir);
    jobs->jobs = calloc(jobs->cap, sizeof *jobs->jobs);
    jobs->workers = calloc((size_t)nworkers, sizeof *jobs->workers);
    pthread_mutex_init(&jobs->lock, NULL);
    pthread_mutex_init(&jobs->emit_lock, NULL);
    pthread_cond_init(&jobs->wake, NULL);
    if (!jobs->workdir || !jobs->jobs || !jobs->workers) {
        serve_jobs_destroy(jobs);
        return lf_error_set(err, LF_ERR_OUT_OF_MEMORY, "out of memory");
    }
    for (; jobs->nworkers < nworkers; jobs->nworkers++)
        if (pthread_create(&jobs->workers[jobs->nworkers], NULL, worker_main, jobs) != 0) {
            serve_jobs_destroy(jobs);
            return lf_error_set(err, LF_ERR_INVALID, "cannot start the worker thread");
        }
    *out = jobs;
    return LF_OK;
}

enum lf_status serve_jobs_create(struct lf_session *session, const struct serve_limits *limits,
                                 const char *workdir, struct serve_events *events,
                                 struct serve_jobs **out, struct lf_error *err)
{
    return create(session, NULL, limits, workdir, events, out, err);
}

enum lf_status serve_jobs_create_remote(const struct serve_remote *remote,
                                        const struct serve_limits *limits, const char *workdir,
                                        struct serve_events *events, struct serve_jobs **out,
                                        struct lf_error *err)
{
    return create(NULL, remote, limits, workdir, events, out, err);
}

bool serve_jobs_remote(const struct serve_jobs *jobs)
{
    return jobs->remote != NULL;
}

void serve_jobs_destroy(struct serve_jobs *jobs)
{
    if (!jobs) return;
    pthread_mutex_lock(&jobs->lock);
    jobs->stop = true;
    if (jobs->running) lf_session_interrupt(jobs->session);
    pthread_cond_broadcast(&jobs->wake);
    pthread_mutex_unlock(&jobs->lock);
    for (int i = 0; i < jobs->nworkers; i++)
        pthread_join(jobs->workers[i], NULL);
    for (size_t i = 0; i < jobs->njobs; i++)
        job_free(jobs->jobs[i]);
    pthread_cond_destroy(&jobs->wake);
    pthread_mutex_destroy(&jobs->lock);
    pthread_mutex_destroy(&jobs->emit_lock);
    free(jobs->jobs);
    free(jobs->workers);
    free(jobs->workdir);
    free(jobs);
}

/* Cancels j (lock held); returns the event to send, if any. */
static char *cancel_locked(struct serve_jobs *jobs, struct job *j)
{
    if (j->state == SERVE_JOB_QUEUED && !j->dispatched) {
        j->state = SERVE_JOB_CANCELLED;
        j->t_end = now_ms();
        lf_graph_destroy(j->graph);
        j->graph = NULL;
        return event_text(j, "cancelled", NULL);
    }
    /* A running or dispatched (remote) job: its thread ends it, cancelled. */
    if ((j->state == SERVE_JOB_RUNNING || j->dispatched) && !j->cancel_requested) {
        j->cancel_requested = true;
        if (jobs->running == j) lf_session_interrupt(jobs->session);
    }
    return NULL;
}

/* Drops the oldest finished jobs while the table is full (lock held). */
static void evict(struct serve_jobs *jobs)
{
    while (jobs->njobs >= jobs->cap) {
        size_t i = 0;
        while (i < jobs->njobs && !finished(jobs->jobs[i]))
            i++;
        if (i == jobs->njobs) return;
        job_free(jobs->jobs[i]);
        memmove(&jobs->jobs[i], &jobs->jobs[i + 1], (jobs->njobs - i - 1) * sizeof *jobs->jobs);
        jobs->njobs--;
    }
}

static bool session_known(const struct serve_jobs *jobs, const char *session)
{
    for (size_t i = 0; i < jobs->njobs; i++)
        if (!strcmp(jobs->jobs[i]->session, session)) return true;
    return false;
}

static size_t session_count(const struct serve_jobs *jobs)
{
    size_t n = 0;
    for (size_t i = 0; i < jobs->njobs; i++) {
        bool seen = !jobs->jobs[i]->session[0];
        for (size_t k = 0; k < i && !seen; k++)
            seen = !strcmp(jobs->jobs[k]->session, jobs->jobs[i]->session);
        n += !seen;
    }
    return n;
}

enum serve_submit_result serve_jobs_submit(struct serve_jobs *jobs, struct lf_graph *graph,
                                           const char *request, const char *session, uint64_t *id)
{
    char *events[64];
    size_t nevents = 0, queued = 0;
    enum serve_submit_result r = SERVE_SUBMIT_OK;
    struct job *j = calloc(1, sizeof *j);
    if (!j) {
        lf_graph_destroy(graph);
        return SERVE_SUBMIT_NO_MEMORY;
    }
    snprintf(j->session, sizeof j->session, "%s", session ? session : "");
    j->graph = graph;
    if (request && !(j->request = strdup(request))) {
        job_free(j);
        return SERVE_SUBMIT_NO_MEMORY;
    }
    j->t_submit = now_ms();
    pthread_mutex_lock(&jobs->lock);
    for (size_t i = 0; j->session[0] && i < jobs->njobs; i++)
        if (!strcmp(jobs->jobs[i]->session, j->session)) {
            char *e = cancel_locked(jobs, jobs->jobs[i]);
            if (e && nevents < 64)
                events[nevents++] = e;
            else
                free(e);
        }
    evict(jobs);
    for (size_t i = 0; i < jobs->njobs; i++)
        queued += jobs->jobs[i]->state == SERVE_JOB_QUEUED;
    if (queued >= (size_t)jobs->limits.queue || jobs->njobs >= jobs->cap)
        r = SERVE_SUBMIT_QUEUE_FULL;
    else if (j->session[0] && !session_known(jobs, j->session) &&
             session_count(jobs) >= (size_t)jobs->limits.sessions)
        r = SERVE_SUBMIT_TOO_MANY_SESSIONS;
    if (r == SERVE_SUBMIT_OK) {
        j->id = *id = jobs->next_id++;
        jobs->jobs[jobs->njobs++] = j;
        events[nevents < 64 ? nevents++ : 63] = event_text(j, "queued", NULL);
        pthread_cond_signal(&jobs->wake);
    }
    unlock_emit(jobs, events, nevents);
    if (r != SERVE_SUBMIT_OK) job_free(j);
    return r;
}

bool serve_jobs_cancel(struct serve_jobs *jobs, uint64_t id)
{
    char *event = NULL;
    pthread_mutex_lock(&jobs->lock);
    struct job *j = find(jobs, id);
    if (j) event = cancel_locked(jobs, j);
    unlock_emit(jobs, &event, 1);
    return j != NULL;
}

static struct json_object *describe_locked(const struct job *j)
{
    struct json_object *o = json_object_new_object(), *p = json_object_new_object(),
                       *outs = json_object_new_array(), *t = json_object_new_object();
    double now = now_ms();
    json_object_object_add(o, "id", json_object_new_uint64(j->id));
    json_object_object_add(o, "session", json_object_new_string(j->session));
    json_object_object_add(o, "state", json_object_new_string(serve_job_state_name(j->state)));
    json_object_object_add(p, "node", json_object_new_string(j->node));
    json_object_object_add(p, "index", json_object_new_uint64(j->index));
    json_object_object_add(p, "total", json_object_new_uint64(j->total));
    json_object_object_add(p, "step", json_object_new_int(j->step));
    json_object_object_add(p, "steps", json_object_new_int(j->steps));
    json_object_object_add(o, "progress", p);
    json_object_object_add(o, "error", j->error ? json_object_new_string(j->error) : NULL);
    for (size_t i = 0; i < j->noutputs; i++) {
        char url[96];
        snprintf(url, sizeof url, "/api/jobs/%llu/outputs/%zu", (unsigned long long)j->id, i);
        json_object_array_add(outs, json_object_new_string(url));
    }
    json_object_object_add(o, "outputs", outs);
    json_object_object_add(o, "profile", j->profile ? json_object_get(j->profile) : NULL);
    if (j->t_start) {
        json_object_object_add(t, "wait_ms", json_object_new_double(j->t_start - j->t_submit));
        json_object_object_add(t, "run_ms",
                               json_object_new_double((j->t_end ? j->t_end : now) - j->t_start));
    }
    if (j->t_first_preview)
        json_object_object_add(t, "first_preview_ms",
                               json_object_new_double(j->t_first_preview - j->t_submit));
    if (j->t_end)
        json_object_object_add(t, "total_ms", json_object_new_double(j->t_end - j->t_submit));
    json_object_object_add(o, "times", t);
    return o;
}

struct json_object *serve_jobs_describe(struct serve_jobs *jobs, uint64_t id)
{
    struct json_object *o = NULL;
    pthread_mutex_lock(&jobs->lock);
    struct job *j = find(jobs, id);
    if (j) o = describe_locked(j);
    pthread_mutex_unlock(&jobs->lock);
    return o;
}

bool serve_jobs_output(struct serve_jobs *jobs, uint64_t id, size_t n, unsigned char **data,
                       size_t *size)
{
    bool ok = false;
    *data = NULL;
    *size = 0;
    pthread_mutex_lock(&jobs->lock);
    struct job *j = find(jobs, id);
    if (j && j->state == SERVE_JOB_DONE && n < j->noutputs) {
        FILE *f = fopen(j->outputs[n], "rb");
        long len = -1;
        if (f && fseek(f, 0, SEEK_END) == 0 && (len = ftell(f)) > 0 && fseek(f, 0, SEEK_SET) == 0 &&
            (*data = malloc((size_t)len)) != NULL)
            ok = fread(*data, 1, (size_t)len, f) == (size_t)len;
        if (f) fclose(f);
        if (ok) *size = (size_t)len;
    }
    pthread_mutex_unlock(&jobs->lock);
    if (!ok) {
        free(*data);
        *data = NULL;
    }
    return ok;
}
