/*
** executor.c - sessions and runs: plans which nodes must execute for the
** requested outputs given what is cached, executes them in dependency
** order, and stores what they produce.
*/
#include "executor-impl.h"
#include "graph-impl.h"
#include "interrupt.h"
#include "lcmflow/device.h"
#include "lcmflow/node.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <time.h>

/* ---- sessions ---- */

size_t lf_cache_default_bytes(void)
{
    long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
    size_t half = pages > 0 && page > 0 ? (size_t)pages / 2 * (size_t)page : 0;
    return half > LF_CACHE_DEFAULT_BYTES ? half : LF_CACHE_DEFAULT_BYTES;
}

enum lf_status lf_session_create(const struct lf_session_options *options, struct lf_session **out,
                                 struct lf_error *err)
{
    struct lf_session *s = calloc(1, sizeof *s);
    size_t budget =
        options && options->cache_bytes ? options->cache_bytes : lf_cache_default_bytes();
    enum lf_status st;
    *out = NULL;
    if (!s) return lf_error_set(err, LF_ERR_OUT_OF_MEMORY, "out of memory creating a session");
    atomic_init(&s->interrupted, 0);
    if ((st = lf_cache_create(budget, &s->cache, err)) != LF_OK) {
        free(s);
        return st;
    }
    s->mode = options ? options->progress : LF_PROGRESS_NONE;
    s->registry = options ? options->registry : NULL;
    s->stream = options && options->progress_stream ? options->progress_stream : stderr;
    *out = s;
    return LF_OK;
}

void lf_session_destroy(struct lf_session *s)
{
    if (!s) return;
    lf_cache_destroy(s->cache); /* values may hold device tensors: before the device */
    if (s->device) lf_device_destroy(s->device);
    free(s);
}

void lf_session_interrupt(struct lf_session *s)
{
    atomic_store(&s->interrupted, 1);
}

void lf_session_clear_interrupt(struct lf_session *s)
{
    atomic_store(&s->interrupted, 0);
}

void lf_session_set_observer(struct lf_session *s, const struct lf_session_observer *observer)
{
    if (observer)
        s->observer = *observer;
    else
        memset(&s->observer, 0, sizeof s->observer);
}

void lf_session_set_progress(struct lf_session *s, enum lf_progress_mode mode, FILE *stream)
{
    s->mode = mode;
    if (stream) s->stream = stream;
}

void lf_session_set_cache_bytes(struct lf_session *s, size_t bytes)
{
    lf_cache_set_budget(s->cache, bytes);
}

void lf_session_cache_stats(const struct lf_session *s, size_t *count, size_t *bytes)
{
    lf_cache_stats(s->cache, count, bytes);
}

void lf_session_cache_clear(struct lf_session *s)
{
    lf_cache_clear(s->cache);
    if (s->registry) lf_registry_purge(s->registry);
}

/* ---- keys: FNV-1a 64 over a canonical encoding (no pointers, fixed byte
** order; lf_hash_* in node.h) ---- */

static uint64_t hash_value(uint64_t h, const struct lf_value *v)
{
    h = lf_hash_u64(h, (uint64_t)v->type);
    switch (v->type) {
    case LF_TYPE_INT:
        return lf_hash_u64(h, (uint64_t)v->u.i);
    case LF_TYPE_FLOAT: {
        double f = v->u.f == 0.0 ? 0.0 : v->u.f; /* -0.0 and 0.0 are one value */
        uint64_t bits;
        memcpy(&bits, &f, sizeof bits);
        return lf_hash_u64(h, bits);
    }
    case LF_TYPE_BOOL:
        return lf_hash_u64(h, v->u.b ? 1 : 0);
    case LF_TYPE_STRING:
        return lf_hash_str(h, v->u.s);
    default:
        return h;
    }
}

uint64_t lf_host_cache_key(const char *plugin, uint64_t key)
{
    return lf_hash_u64(lf_hash_str(lf_hash_str(LF_HASH_INIT, "lcmflow-host-cache-1"), plugin), key);
}

static bool depends(const struct lf_output_desc *o, const char *name)
{
    if (!o->depends_on) return true;
    for (const char *const *d = o->depends_on; *d; d++)
        if (!strcmp(*d, name)) return true;
    return false;
}

/* Size and mtime of every PATH param's file (or the plugin's own hook). */
static enum lf_status file_identity(const struct lf_gnode *n, uint64_t *out, struct lf_error *err)
{
    uint64_t h = LF_HASH_INIT;
    if (n->type->file_identity) return n->type->file_identity(n->type, n->values, out, err);
    for (size_t k = 0; k < n->n_par; k++) {
        struct stat st;
        if (!(n->type->params[k].flags & LF_PARAM_PATH) || n->values[k].type != LF_TYPE_STRING)
            continue;
        if (stat(n->values[k].u.s, &st) != 0) {
            h = lf_hash_u64(h, 0); /* missing: the node itself reports it when it runs */
            continue;
        }
        h = lf_hash_u64(h, (uint64_t)st.st_size);
        h = lf_hash_u64(h, (uint64_t)st.st_mtim.tv_sec);
        h = lf_hash_u64(h, (uint64_t)st.st_mtim.tv_nsec);
        h = lf_hash_u64(h, (uint64_t)st.st_ino);
    }
    *out = h;
    return LF_OK;
}

/* ---- runs ---- */

struct run_output {
    char *ref;
    struct lf_value value;
    uint64_t key;
};

struct lf_run {
    size_t nnodes;
    char **ids;
    enum lf_node_state *state;
    double *ms;
    size_t *visit;
    size_t nvisit, executed;
    struct run_output *outputs;
    size_t noutputs;
};

void lf_run_destroy(struct lf_run *run)
{
    if (!run) return;
    for (size_t i = 0; i < run->nnodes && run->ids; i++)
        free(run->ids[i]);
    for (size_t i = 0; i < run->noutputs; i++) {
        free(run->outputs[i].ref);
        lf_value_clear(&run->outputs[i].value);
    }
    free(run->ids);
    free(run->state);
    free(run->ms);
    free(run->visit);
    free(run->outputs);
    free(run);
}

const char *lf_run_node_id(const struct lf_run *run, size_t i)
{
    return i < run->nnodes ? run->ids[i] : NULL;
}

enum lf_node_state lf_run_node_state(const struct lf_run *run, size_t i)
{
    return i < run->nnodes ? run->state[i] : LF_NODE_SKIPPED;
}

double lf_run_node_ms(const struct lf_run *run, size_t i)
{
    return i < run->nnodes ? run->ms[i] : 0.0;
}

size_t lf_run_visit_count(const struct lf_run *run)
{
    return run->nvisit;
}

size_t lf_run_visit_node(const struct lf_run *run, size_t i)
{
    return run->visit[i];
}

size_t lf_run_executed_count(const struct lf_run *run)
{
    return run->executed;
}

const struct lf_value *lf_run_output(const struct lf_run *run, const char *ref)
{
    for (size_t i = 0; i < run->noutputs; i++)
        if (!strcmp(run->outputs[i].ref, ref)) return &run->outputs[i].value;
    return NULL;
}

uint64_t lf_run_output_key(const struct lf_run *run, const char *ref)
{
    for (size_t i = 0; i < run->noutputs; i++)
        if (!strcmp(run->outputs[i].ref, ref)) return run->outputs[i].key;
    return 0;
}

void lf_run_print_profile(const struct lf_run *run, FILE *f)
{
    for (size_t i = 0; i < run->nvisit; i++) {
        size_t v = run->visit[i];
        fprintf(f, "%s %.3f ms %s\n", run->ids[v], run->ms[v],
                run->state[v] == LF_NODE_RAN ? "ran" : "cached");
    }
}

/*
** The working state of one run.  Outputs are flattened: output o of node n
** is slot base[n] + o.
*/
struct plan {
    const struct lf_graph *g;
    struct lf_session *s;
    size_t *base, nslots;
    uint64_t *key;
    bool *volatile_; /* output can never come from the cache */
    bool *needed;    /* slot value must exist during the run */
    bool *target;    /* slot is a requested output */
    unsigned *uses;  /* executing consumers still to run, + 1 for targets */
    struct lf_value *slot;
    bool *reach;     /* node feeds a requested output */
    bool *run_whole; /* node targeted as a whole and has side effects or no outputs */
    bool *exec;
    uint64_t *ident; /* per node: file identity of READS_FILES nodes */
};

static void plan_free(struct plan *p)
{
    for (size_t i = 0; p->slot && i < p->nslots; i++)
        lf_value_clear(&p->slot[i]);
    free(p->base);
    free(p->key);
    free(p->volatile_);
    free(p->needed);
    free(p->target);
    free(p->uses);
    free(p->slot);
    free(p->reach);
    free(p->run_whole);
    free(p->exec);
    free(p->ident);
}

static bool cacheable(const struct lf_node_type *t)
{
    return (t->flags & LF_NODE_DETERMINISTIC) && !(t->flags & LF_NODE_SIDE_EFFECT);
}

/* Marks node v and everything feeding it as reachable. */
static void reach_from(struct plan *p, size_t v)
{
    const struct lf_gnode *n = &p->g->nodes[v];
    if (p->reach[v]) return;
    p->reach[v] = true;
    for (size_t k = 0; k < n->n_in; k++)
        if (n->src_node[k] >= 0) reach_from(p, (size_t)n->src_node[k]);
}

static enum lf_status add_target(struct plan *p, long node, int output, struct lf_error *err)
{
    const struct lf_gnode *n = &p->g->nodes[node];
    if (output >= 0) {
        p->target[p->base[node] + (size_t)output] = true;
    } else {
        for (size_t o = 0; o < n->n_out; o++)
            p->target[p->base[node] + o] = true;
        if (n->n_out == 0 || (n->type->flags & LF_NODE_SIDE_EFFECT)) p->run_whole[node] = true;
    }
    reach_from(p, (size_t)node);
    (void)err;
    return LF_OK;
}

static enum lf_status parse_target(struct plan *p, const char *ref, struct lf_error *err)
{
    const struct lf_graph *g = p->g;
    const char *dot = strrchr(ref, '.');
    char id[256];
    size_t len = dot ? (size_t)(dot - ref) : strlen(ref);
    if (len >= sizeof id)
        return lf_error_set(err, LF_ERR_NOT_FOUND, "no node for output '%s'", ref);
    memcpy(id, ref, len);
    id[len] = '\0';
    long node = lf_graph_find_node(g, id);
    if (node < 0)
        return lf_error_set(err, LF_ERR_NOT_FOUND, "output '%s': no node '%s' in %s", ref, id,
                            g->path);
    int o = -1;
    if (dot && (o = lf_type_output_index(g->nodes[node].type, dot + 1)) < 0)
        return lf_error_set(err, LF_ERR_NOT_FOUND, "output '%s': node '%s' (%s) has no output '%s'",
                            ref, id, g->nodes[node].type_name, dot + 1);
    return add_target(p, node, o, err);
}

static enum lf_status plan_init(struct plan *p, struct lf_session *s, const struct lf_graph *g,
                                struct lf_error *err)
{
    size_t n = g->nnodes;
    memset(p, 0, sizeof *p);
    p->g = g;
    p->s = s;
    p->base = calloc(n + 1, sizeof *p->base);
    if (!p->base) return lf_error_set(err, LF_ERR_OUT_OF_MEMORY, "out of memory");
    for (size_t i = 0; i < n; i++) {
        p->base[i] = p->nslots;
        p->nslots += g->nodes[i].n_out;
    }
    size_t m = p->nslots + 1;
    p->key = calloc(m, sizeof *p->key);
    p->volatile_ = calloc(m, sizeof *p->volatile_);
    p->needed = calloc(m, sizeof *p->needed);
    p->target = calloc(m, sizeof *p->target);
    p->uses = calloc(m, sizeof *p->uses);
    p->slot = calloc(m, sizeof *p->slot);
    p->reach = calloc(n + 1, sizeof *p->reach);
    p->run_whole = calloc(n + 1, sizeof *p->run_whole);
    p->exec = calloc(n + 1, sizeof *p->exec);
    p->ident = calloc(n + 1, sizeof *p->ident);
    if (!p->key || !p->volatile_ || !p->needed || !p->target || !p->uses || !p->slot || !p->reach ||
        !p->run_whole || !p->exec || !p->ident)
        return lf_error_set(err, LF_ERR_OUT_OF_MEMORY, "out of memory");
    return LF_OK;
}

/* Keys of every reachable node's outputs, dependencies first. */
static enum lf_status compute_keys(struct plan *p, struct lf_error *err)
{
    const struct lf_graph *g = p->g;
    for (size_t i = 0; i < g->nnodes; i++) {
        size_t v = g->order[i];
        const struct lf_gnode *n = &g->nodes[v];
        uint64_t ident = 0;
        enum lf_status st;
        if (!p->reach[v]) continue;
        if ((n->type->flags & LF_NODE_READS_FILES) && (st = file_identity(n, &ident, err)))
            return st;
        p->ident[v] = ident;
        for (size_t o = 0; o < n->n_out; o++) {
            const struct lf_output_desc *od = &n->type->outputs[o];
            size_t slot = p->base[v] + o;
            uint64_t h = lf_hash_str(LF_HASH_INIT, "lcmflow-key-1");
            bool vol = !cacheable(n->type);
            h = lf_hash_str(h, n->type->name);
            h = lf_hash_str(h, n->plugin ? n->plugin->name : "");
            h = lf_hash_str(h, n->plugin ? n->plugin->version : "");
            h = lf_hash_str(h, od->name);
            for (size_t k = 0; k < n->n_par; k++) {
                if (!depends(od, n->type->params[k].name)) continue;
                h = lf_hash_str(h, n->type->params[k].name);
                h = hash_value(h, &n->values[k]);
            }
            for (size_t k = 0; k < n->n_in; k++) {
                if (!depends(od, n->type->inputs[k].name)) continue;
                h = lf_hash_str(h, n->type->inputs[k].name);
                if (n->src_node[k] < 0) {
                    h = lf_hash_str(h, "(unconnected)");
                } else {
                    size_t src = p->base[n->src_node[k]] + (size_t)n->src_output[k];
                    h = lf_hash_u64(h, p->key[src]);
                    vol = vol || p->volatile_[src];
                }
            }
            if (n->type->flags & LF_NODE_READS_FILES) h = lf_hash_u64(h, ident);
            if (vol) /* unique to this run: never matches a cached value */
                h = lf_hash_u64(lf_hash_u64(h, p->s->run_counter), (uint64_t)slot);
            p->key[slot] = h;
            p->volatile_[slot] = vol;
        }
    }
    return LF_OK;
}

/*
** Walks reachable nodes from the outputs back: a node executes when it is
** run as a whole, or when a needed output of it is not cached; then its
** inputs become needed.  Cached values are copied into their slots now,
** which pins them for the run even if the cache evicts them meanwhile.
*/
static void decide(struct plan *p)
{
    const struct lf_graph *g = p->g;
    for (size_t s = 0; s < p->nslots; s++)
        if (p->target[s]) {
            p->needed[s] = true;
            p->uses[s] = 1;
        }
    for (size_t i = g->nnodes; i-- > 0;) {
        size_t v = g->order[i];
        const struct lf_gnode *n = &g->nodes[v];
        if (!p->reach[v]) continue;
        bool exec = p->run_whole[v];
        for (size_t o = 0; o < n->n_out; o++) {
            size_t slot = p->base[v] + o;
            if (!p->needed[slot]) continue;
            if (p->volatile_[slot] || !lf_cache_get(p->s->cache, p->key[slot], &p->slot[slot]))
                exec = true;
        }
        p->exec[v] = exec;
        if (!exec) continue;
        for (size_t k = 0; k < n->n_in; k++)
            if (n->src_node[k] >= 0) {
                size_t src = p->base[n->src_node[k]] + (size_t)n->src_output[k];
                p->needed[src] = true;
                p->uses[src]++;
            }
    }
}

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* NONE is allowed: a node may leave an output absent (LoraLoader's clip
** without a clip input); a required input fed by it is refused before its
** consumer runs. */
static bool value_matches(enum lf_value_type declared, const struct lf_value *v)
{
    if (v->type == declared || v->type == LF_TYPE_NONE) return true;
    return declared == LF_TYPE_TENSOR && v->type >= LF_TYPE_TENSOR && v->type <= LF_TYPE_IMAGE;
}

/* Who made an output, across runs: its node's id and its index (never 0).
** Graphs that share a node id share it: LF_NODE_REPLACES keeps one result
** for both. */
static uint64_t owner_of(const struct lf_gnode *n, size_t output)
{
    return lf_hash_u64(lf_hash_str(LF_HASH_INIT, n->id), (uint64_t)output) | 1u;
}

static enum lf_status execute_node(struct plan *p, size_t v, struct lf_run *run,
                                   struct lf_error *err)
{
    const struct lf_gnode *n = &p->g->nodes[v];
    struct lf_value *inputs = calloc(n->n_in + 1, sizeof *inputs);
    struct lf_value *outputs = calloc(n->n_out + 1, sizeof *outputs);
    struct lf_host_ctx ctx = {p->s, n->id, n->plugin, p->g, NULL};
    enum lf_status st = LF_OK;
    if (!inputs || !outputs) {
        free(inputs);
        free(outputs);
        return lf_error_set(err, LF_ERR_OUT_OF_MEMORY, "out of memory");
    }
    /* Borrowed views of the input slots: execute must not keep them. */
    for (size_t k = 0; k < n->n_in; k++)
        if (n->src_node[k] >= 0)
            inputs[k] = p->slot[p->base[n->src_node[k]] + (size_t)n->src_output[k]];
    for (size_t k = 0; k < n->n_in; k++)
        if (inputs[k].type == LF_TYPE_NONE && !(n->type->inputs[k].flags & LF_PORT_OPTIONAL)) {
            free(inputs);
            free(outputs);
            return lf_error_set(
                err, LF_ERR_GRAPH, "node '%s' (%s): input '%s' got no value from %s.%s", n->id,
                n->type_name, n->type->inputs[k].name, p->g->nodes[n->src_node[k]].id,
                p->g->nodes[n->src_node[k]].type->outputs[n->src_output[k]].name);
        }
    struct lf_node_call call = {
        .struct_size = sizeof call,
        .file_identity = p->ident[v],
        .host = lf_host_api_get(),
        .ctx = &ctx,
        .node_id = n->id,
        .type = n->type,
        .params = n->values,
        .inputs = inputs,
        .outputs = outputs,
    };
    if (n->type->flags & LF_NODE_REPLACES)
        for (size_t o = 0; o < n->n_out; o++)
            lf_cache_drop_owner(p->s->cache, owner_of(n, o), p->key[p->base[v] + o]);
    double t0 = now_ms();
    const atomic_int *outer = lf_interrupt_publish(&p->s->interrupted);
    st = n->type->execute(&call, err);
    lf_interrupt_publish(outer);
    run->ms[v] = now_ms() - t0;
    free(ctx.graph_yaml);
    if (st == LF_OK) {
        for (size_t o = 0; o < n->n_out; o++)
            if (!value_matches(n->type->outputs[o].type, &outputs[o])) {
                st = lf_error_set(
                    err, LF_ERR_PLUGIN, "node '%s' (%s) returned %s for output '%s', declared %s",
                    n->id, n->type_name, lf_value_type_name(outputs[o].type),
                    n->type->outputs[o].name, lf_value_type_name(n->type->outputs[o].type));
                break;
            }
    } else if (err && st != LF_ERR_INTERRUPTED) {
        lf_error_prefix(err, "node '%s' (%s)", n->id, n->type_name);
    }
    for (size_t o = 0; o < n->n_out; o++) {
        size_t slot = p->base[v] + o;
        if (st == LF_OK) {
            if (!p->volatile_[slot])
                lf_cache_put(p->s->cache, p->key[slot], owner_of(n, o), &outputs[o]);
            lf_value_clear(&p->slot[slot]);
            if (p->needed[slot])
                p->slot[slot] = outputs[o]; /* moved */
            else
                lf_value_clear(&outputs[o]);
        } else {
            lf_value_clear(&outputs[o]);
        }
    }
    /* Inputs no later node needs are dropped now, to bound memory. */
    for (size_t k = 0; st == LF_OK && k < n->n_in; k++)
        if (n->src_node[k] >= 0) {
            size_t src = p->base[n->src_node[k]] + (size_t)n->src_output[k];
            if (p->uses[src] > 0 && --p->uses[src] == 0) lf_value_clear(&p->slot[src]);
        }
    free(inputs);
    free(outputs);
    return st;
}

static enum lf_status make_run(const struct lf_graph *g, struct lf_run **out, struct lf_error *err)
{
    struct lf_run *run = calloc(1, sizeof *run);
    size_t n = g->nnodes;
    *out = run;
    if (!run) return lf_error_set(err, LF_ERR_OUT_OF_MEMORY, "out of memory");
    run->nnodes = n;
    run->ids = calloc(n + 1, sizeof *run->ids);
    run->state = calloc(n + 1, sizeof *run->state);
    run->ms = calloc(n + 1, sizeof *run->ms);
    run->visit = calloc(n + 1, sizeof *run->visit);
    if (!run->ids || !run->state || !run->ms || !run->visit)
        return lf_error_set(err, LF_ERR_OUT_OF_MEMORY, "out of memory");
    for (size_t i = 0; i < n; i++)
        if (!(run->ids[i] = strdup(g->nodes[i].id)))
            return lf_error_set(err, LF_ERR_OUT_OF_MEMORY, "out of memory");
    return LF_OK;
}

/* Moves the target slots into the run as its outputs. */
static enum lf_status collect_outputs(struct plan *p, struct lf_run *run, struct lf_error *err)
{
    size_t count = 0;
    for (size_t s = 0; s < p->nslots; s++)
        count += p->target[s];
    run->outputs = calloc(count + 1, sizeof *run->outputs);
    if (!run->outputs) return lf_error_set(err, LF_ERR_OUT_OF_MEMORY, "out of memory");
    for (size_t v = 0; v < p->g->nnodes; v++) {
        const struct lf_gnode *n = &p->g->nodes[v];
        for (size_t o = 0; o < n->n_out; o++) {
            size_t slot = p->base[v] + o;
            struct run_output *ro = &run->outputs[run->noutputs];
            size_t len;
            if (!p->target[slot]) continue;
            len = strlen(n->id) + strlen(n->type->outputs[o].name) + 2;
            if (!(ro->ref = malloc(len)))
                return lf_error_set(err, LF_ERR_OUT_OF_MEMORY, "out of memory");
            snprintf(ro->ref, len, "%s.%s", n->id, n->type->outputs[o].name);
            ro->value = p->slot[slot];
            ro->key = p->key[slot];
            memset(&p->slot[slot], 0, sizeof p->slot[slot]);
            run->noutputs++;
        }
    }
    return LF_OK;
}

static enum lf_status run_plan(struct plan *p, struct lf_run *run, struct lf_error *err)
{
    const struct lf_graph *g = p->g;
    struct lf_session *s = p->s;
    size_t total = 0, index = 0;
    enum lf_status st = LF_OK;
    for (size_t v = 0; v < g->nnodes; v++)
        total += p->exec[v];
    lf_progress_begin(&s->progress, s->mode, s->stream, total);
    for (size_t i = 0; i < g->nnodes && st == LF_OK; i++) {
        size_t v = g->order[i];
        if (!p->reach[v]) continue;
        run->visit[run->nvisit++] = v;
        run->state[v] = LF_NODE_CACHED;
        if (!p->exec[v]) continue;
        if (atomic_load(&s->interrupted)) {
            st = lf_error_set(err, LF_ERR_INTERRUPTED, "interrupted before node '%s'",
                              g->nodes[v].id);
            break;
        }
        lf_progress_node(&s->progress, ++index, g->nodes[v].id, g->nodes[v].type_name);
        if (s->observer.node)
            s->observer.node(s->observer.user, g->nodes[v].id, g->nodes[v].type_name, index, total);
        st = execute_node(p, v, run, err);
        if (st == LF_ERR_INTERRUPTED && err && !err->message[0])
            lf_error_set(err, st, "interrupted in node '%s'", g->nodes[v].id);
        run->state[v] = LF_NODE_RAN;
        run->executed++;
    }
    lf_progress_end(&s->progress);
    return st;
}

enum lf_status lf_session_run_targets(struct lf_session *s, const struct lf_graph *g,
                                      const char *const *targets, size_t count, struct lf_run **out,
                                      struct lf_error *err)
{
    struct plan p;
    struct lf_run *run = NULL;
    enum lf_status st;
    *out = NULL;
    if (!g->validated)
        return lf_error_set(err, LF_ERR_INVALID, "%s: the graph is not validated", g->path);
    s->run_counter++;
    if ((st = plan_init(&p, s, g, err)) != LF_OK) goto done;
    if (targets) {
        for (size_t i = 0; i < count && st == LF_OK; i++)
            st = parse_target(&p, targets[i], err);
    } else if (g->ntargets) {
        for (size_t i = 0; i < g->ntargets && st == LF_OK; i++)
            st = add_target(&p, g->targets[i].node, g->targets[i].output, err);
    } else {
        /* Default: every sink, i.e. every node whose outputs nothing consumes. */
        bool *consumed = calloc(g->nnodes + 1, sizeof *consumed);
        if (!consumed) st = lf_error_set(err, LF_ERR_OUT_OF_MEMORY, "out of memory");
        for (size_t v = 0; consumed && v < g->nnodes; v++)
            for (size_t k = 0; k < g->nodes[v].n_in; k++)
                if (g->nodes[v].src_node[k] >= 0) consumed[g->nodes[v].src_node[k]] = true;
        for (size_t v = 0; consumed && v < g->nnodes && st == LF_OK; v++)
            if (!consumed[v]) st = add_target(&p, (long)v, -1, err);
        free(consumed);
    }
    if (st || (st = compute_keys(&p, err)) != LF_OK) goto done;
    decide(&p);
    if ((st = make_run(g, &run, err)) != LF_OK || (st = run_plan(&p, run, err)) != LF_OK ||
        (st = collect_outputs(&p, run, err)) != LF_OK)
        goto done;
    *out = run;
    run = NULL;
done:
    lf_run_destroy(run);
    plan_free(&p);
    return st;
}

enum lf_status lf_session_run(struct lf_session *s, const struct lf_graph *g, struct lf_run **out,
                              struct lf_error *err)
{
    return lf_session_run_targets(s, g, NULL, 0, out, err);
}
