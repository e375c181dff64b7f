/*
** test_interrupt_latency.c - an interruption stops a long node quickly on
** every backend: the sampler, VAE decode and VAE encode are each run on the
** tiny-sd15 fixture at a size where the node takes seconds, interrupted
** from another thread DELAY_MS after the node started (the way Ctrl-C, Lua
** and the server's cancel set the session's flag), and the time from the
** interruption to lf_session_run_targets returning LF_ERR_INTERRUPTED must
** stay under BOUND_MS (in one of ATTEMPTS tries).  Nothing of the
** interrupted node may enter the cache.
**
** Without bounded submission a Vulkan decode ran its whole recorded batch
** (seconds at 256 px on lavapipe) before the flag was looked at; on the CPU
** backend the VAE only looked between its stages.  The driver's pipeline
** compilation is excluded (each node runs once first, at the same size): it
** cannot be interrupted (runtime/vulkan/README.md).
*/
#include "image_io.h"
#include "test_util.h"
#include "lcmflow/executor.h"
#include "lcmflow/graph.h"

#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

/* The bound is 0.5 s; measured latencies are printed. */
#define BOUND_MS 500.0
#define DELAY_MS 300.0

static char fixtures[512], tmp[] = "/tmp/lcmflow-interrupt-XXXXXX";
static struct lf_registry *reg;
static struct lf_session *session;
static int size; /* image side in pixels, chosen per backend in main */

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* ---- the interrupter: waits for the target node to start ---- */

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cond = PTHREAD_COND_INITIALIZER;
static const char *target;
static bool started;
static double interrupted_at;

static void on_node(void *user, const char *node_id, const char *type_name, size_t index,
                    size_t total)
{
    (void)user, (void)type_name, (void)index, (void)total;
    pthread_mutex_lock(&lock);
    if (target && !strcmp(node_id, target)) {
        started = true;
        pthread_cond_signal(&cond);
    }
    pthread_mutex_unlock(&lock);
}

static void *interrupter(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&lock);
    while (!started)
        pthread_cond_wait(&cond, &lock);
    pthread_mutex_unlock(&lock);
    struct timespec d = {0, (long)(DELAY_MS * 1e6)};
    nanosleep(&d, NULL);
    interrupted_at = now_ms();
    lf_session_interrupt(session);
    return NULL;
}

static struct lf_graph *graph;

static void run_targets(const char *node)
{
    struct lf_run *r = NULL;
    struct lf_error err = {0};
    char text[1600];
    const char *targets[] = {node};
    if (lf_session_run_targets(session, graph, targets, 1, &r, &err))
        fail_msg("%s", lf_error_text(&err, text, sizeof text));
    lf_run_destroy(r);
}

/* Runs node (its inputs cached), interrupted DELAY_MS after it starts;
** returns the latency in ms. */
static double interrupt_once(const char *node)
{
    pthread_t thread;
    size_t values_before, values_after, bytes;
    lf_session_cache_stats(session, &values_before, &bytes);
    target = node;
    started = false;
    assert_int_equal(pthread_create(&thread, NULL, interrupter, NULL), 0);
    struct lf_run *r = NULL;
    struct lf_error err = {0};
    const char *targets[] = {node};
    enum lf_status st = lf_session_run_targets(session, graph, targets, 1, &r, &err);
    double returned_at = now_ms();
    pthread_join(thread, NULL);
    lf_run_destroy(r);
    lf_session_clear_interrupt(session);
    double latency = returned_at - interrupted_at;
    printf("  %s at %d px: returned %.0f ms after the interruption (%s)\n", node, size, latency,
           st ? err.message : "finished first");
    if (st == LF_OK) fail_msg("%s finished within %.0f ms: make it bigger", node, DELAY_MS);
    assert_int_equal(st, LF_ERR_INTERRUPTED);
    lf_session_cache_stats(session, &values_after, &bytes);
    assert_int_equal(values_after, values_before);
    return latency;
}

/* The bound must hold in one of ATTEMPTS tries: on this shared 2-core
** machine another job can stall the device's threads for seconds now and
** then; a node that does not stop in time stops late every time. */
#define ATTEMPTS 3
static void interrupt_node(const char *node)
{
    double best = 1e30;
    for (int i = 0; i < ATTEMPTS && best >= BOUND_MS; i++) {
        double latency = interrupt_once(node);
        best = latency < best ? latency : best;
    }
    assert_true(best < BOUND_MS);
}

static void sampler_stops(void **state)
{
    (void)state;
    interrupt_node("sample");
}

static void vae_decode_stops(void **state)
{
    (void)state;
    interrupt_node("decode");
}

static void vae_encode_stops(void **state)
{
    (void)state;
    interrupt_node("encode");
}

static const char yaml[] =
    "version: 1\n"
    "nodes:\n"
    "  ckpt:   { type: CheckpointLoader, params: { path: m.safetensors, dtype: f32 } }\n"
    "  pos:    { type: TextEncode, inputs: { clip: ckpt.clip }, params: { text: a horse } }\n"
    "  empty:  { type: EmptyLatent, params: { width: 64, height: 64 } }\n"
    "  sample: { type: LcmSampler, inputs: { model: ckpt.model, positive: pos.conditioning,\n"
    "                                        latent: empty.latent },\n"
    "            params: { seed: 1, steps: 8, cfg: 1.0 } }\n"
    "  decode: { type: VaeDecode, inputs: { vae: ckpt.vae, latent: empty.latent } }\n"
    "  img:    { type: LoadImage, params: { path: i.png } }\n"
    "  encode: { type: VaeEncode, inputs: { vae: ckpt.vae, image: img.image } }\n"
    "outputs: [sample.latent, decode.image, encode.latent]\n";

/* Writes an image of side x side pixels (any pixels do) to tmp/NAME. */
static int write_image(const char *name, int side, char *path, size_t size)
{
    struct lf_error err = {0};
    uint8_t *pixels = malloc((size_t)side * (size_t)side * 3);
    if (!pixels) return 1;
    for (size_t i = 0; i < (size_t)side * (size_t)side * 3; i++)
        pixels[i] = (uint8_t)(i * 7919u >> 5);
    snprintf(path, size, "%s/%s", tmp, name);
    enum lf_status s = lf_image_save(path, side, side, pixels, NULL, 0, &err);
    free(pixels);
    if (s) fprintf(stderr, "%s\n", err.message);
    return s != LF_OK;
}

static void set_size(int side, const char *image)
{
    test_graph_set(graph, "empty.width=%d", side);
    test_graph_set(graph, "empty.height=%d", side);
    test_graph_set(graph, "img.path=%s", image);
}

static int setup(void **state)
{
    (void)state;
    char text[1600], path[700];
    struct lf_error err = {0};
    if (lf_graph_load_string(reg, "interrupt.yaml", yaml, strlen(yaml), &graph, &err)) {
        fprintf(stderr, "%s\n", lf_error_text(&err, text, sizeof text));
        return 1;
    }
    if (write_image("in.png", size, path, sizeof path)) return 1;
    test_graph_set(graph, "ckpt.path=%s/tiny-sd15/model.safetensors", fixtures);
    test_graph_set(graph, "ckpt.tokenizer=%s/clip", fixtures);
    /* Each node once at the measured size, the sampler for one step: the
    ** driver's pipeline compilation, which no one can interrupt (lavapipe:
    ** up to a second per pipeline even from its disk cache, and the kernel
    ** variants depend on the shapes), is not what is measured.  Then the
    ** cache is emptied, so the measured runs compute again. */
    set_size(size, path);
    test_graph_set(graph, "sample.steps=1");
    run_targets("sample");
    run_targets("decode");
    run_targets("encode");
    lf_session_cache_clear(session);
    test_graph_set(graph, "sample.steps=8");
    /* The inputs of the interrupted nodes come from the cache. */
    run_targets("pos");
    run_targets("empty");
    run_targets("img");
    lf_session_set_observer(session, &(struct lf_session_observer){.node = on_node});
    return 0;
}

int main(void)
{
    if (!test_fixtures_find(fixtures, sizeof fixtures, "tiny-sd15/model.safetensors")) return 77;
    if (!test_engine_open(tmp, &reg, &session)) return 1;
    /* Sizes where each node runs for well over a second on this machine
    ** (lavapipe is several times slower than the CPU backend) and single
    ** CPU ops stay short: at 512 px one attention op of the sampler takes
    ** 0.3-1 s on 2 loaded cores. */
    const char *device = getenv("LCMFLOW_DEVICE");
    size = device && strstr(device, "lavapipe") ? 256 : 384;
    printf("device %s: %d px\n", device ? device : "default", size);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(sampler_stops),
        cmocka_unit_test(vae_decode_stops),
        cmocka_unit_test(vae_encode_stops),
    };
    int failed = cmocka_run_group_tests(tests, setup, NULL);
    lf_graph_destroy(graph);
    test_engine_close(tmp, reg, session);
    return failed;
}
