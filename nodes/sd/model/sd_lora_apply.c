/*
** sd_lora_apply.c - matching LoRA modules to a model's layers, and merging
** them into new weights that share every untouched tensor with the input.
*/
#include "sd_lora_internal.h"

#include "lcmflow/ops.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void shape_text(int rank, const int64_t *shape, char *buf, size_t size)
{
    int n = snprintf(buf, size, "[");
    for (int i = 0; i < rank && n > 0 && (size_t)n < size; i++)
        n += snprintf(buf + n, size - (size_t)n, "%s%lld", i ? ", " : "", (long long)shape[i]);
    if (n > 0 && (size_t)n < size) snprintf(buf + n, size - (size_t)n, "]");
}

/* The shapes lf_op_lora_merge takes for weight w: linear up [N, r], down
** [r, K]; conv up [O, r, 1, 1], down [r, C, kh, kw].  A 1x1-conv LoRA on a
** linear layer and a linear LoRA on a conv layer are accepted (both store
** the same numbers).  false when the module does not fit. */
static bool fit(const struct sd_weight *w, const struct sd_lora_module *m, int64_t up[4],
                int64_t down[4])
{
    int64_t r = m->rank;
    if (m->up_shape[0] != w->shape[0]) return false;
    if (w->rank == 2) {
        int64_t k = m->down_shape[1];
        if (m->down_rank == 4 && (m->down_shape[2] != 1 || m->down_shape[3] != 1)) return false;
        if (k != w->shape[1]) return false;
        up[0] = w->shape[0], up[1] = r;
        down[0] = r, down[1] = k;
        return true;
    }
    if (w->rank != 4) return false;
    if (m->down_rank == 4) {
        if (memcmp(&m->down_shape[1], &w->shape[1], 3 * sizeof *w->shape) != 0) return false;
    } else if (m->down_shape[1] != w->shape[1] * w->shape[2] * w->shape[3]) {
        return false;
    }
    up[0] = w->shape[0], up[1] = r, up[2] = 1, up[3] = 1;
    down[0] = r, down[1] = w->shape[1], down[2] = w->shape[2], down[3] = w->shape[3];
    return true;
}

static enum lf_status fit_error(const struct sd_lora *lora, const struct sd_lora_module *m,
                                const struct sd_weights *w, size_t index, struct lf_error *err)
{
    char sw[96], su[96], sd[96];
    const struct sd_weight *t = &w->items[index];
    shape_text(t->rank, t->shape, sw, sizeof sw);
    shape_text(m->up_rank, m->up_shape, su, sizeof su);
    shape_text(m->down_rank, m->down_shape, sd, sizeof sd);
    return lf_error_set_at(err, LF_ERR_FORMAT, lora->path, 0, 0,
                           "LoRA module '%s' (up %s, down %s) does not fit the layer '%s' %s "
                           "(a LoRA for another model?)",
                           m->name, su, sd, w->items[index].name, sw);
}

/* ---- matching ---- */

static enum lf_status note_unmatched(struct sd_lora_report *r, char *list, size_t size,
                                     const char *key)
{
    if (r->unmatched < 5) {
        size_t n = strlen(list);
        snprintf(list + n, size - n, "%s%s", r->unmatched ? ", " : "", key);
    }
    r->unmatched++;
    return LF_OK;
}

enum lf_status sd_lora_match(const struct sd_lora *lora, const struct sd_weights *unet,
                             const struct sd_weights *clip, struct sd_lora_report *report,
                             struct lf_error *err)
{
    memset(report, 0, sizeof *report);
    struct sd_lora_table *tables[3] = {NULL, NULL, NULL};
    const struct sd_weights *weights[3] = {NULL, unet, clip};
    enum lf_status s = LF_OK;
    for (int p = SD_LORA_PART_UNET; p <= SD_LORA_PART_CLIP && !s; p++)
        if (weights[p]) s = sd_lora_table_build(weights[p], (enum sd_lora_part)p, &tables[p], err);
    if (tables[SD_LORA_PART_UNET]) report->unet_targets = sd_lora_table_targets(tables[1]);
    if (tables[SD_LORA_PART_CLIP]) report->clip_targets = sd_lora_table_targets(tables[2]);
    char list[1200] = "";
    report->modules = lora->count;
    for (size_t i = 0; i < lora->count && !s; i++) {
        const struct sd_lora_module *m = &lora->modules[i];
        struct sd_lora_table *t = tables[m->part];
        bool diffusers = false;
        size_t index = t ? sd_lora_table_find(t, m->flat, &diffusers) : SIZE_MAX;
        if (index == SIZE_MAX) {
            note_unmatched(report, list, sizeof list, m->down_key);
            continue;
        }
        int64_t up[4], down[4];
        if (!fit(&weights[m->part]->items[index], m, up, down)) {
            s = fit_error(lora, m, weights[m->part], index, err);
            break;
        }
        if (m->part == SD_LORA_PART_UNET) {
            report->matched_unet++;
            if (diffusers)
                report->matched_diffusers++;
            else
                report->matched_ldm++;
        } else {
            report->matched_clip++;
        }
    }
    for (size_t i = 0; i < lora->ignored_count && !s; i++)
        note_unmatched(report, list, sizeof list, lora->ignored[i]);
    sd_lora_table_free(tables[1]);
    sd_lora_table_free(tables[2]);
    if (!s && report->matched_unet + report->matched_clip == 0)
        s = lf_error_set_at(err, LF_ERR_NOT_FOUND, lora->path, 0, 0,
                            "none of the %zu LoRA modules matches a layer of the model "
                            "(first keys: %s) - a LoRA for another model family?",
                            lora->count, list);
    if (!s && report->unmatched) {
        size_t size = strlen(list) + strlen(lora->path) + 200;
        report->warning = malloc(size);
        if (!report->warning)
            s = lf_error_set(err, LF_ERR_OUT_OF_MEMORY, "out of host memory");
        else if (report->unmatched > 5)
            snprintf(report->warning, size,
                     "%s: %zu LoRA keys match nothing in the model and are ignored: %s (and %zu "
                     "more)",
                     lora->path, report->unmatched, list, report->unmatched - 5);
        else
            snprintf(report->warning, size,
                     "%s: %zu LoRA key%s match%s nothing in the model and %s ignored: %s",
                     lora->path, report->unmatched, report->unmatched == 1 ? "" : "s",
                     report->unmatched == 1 ? "es" : "", report->unmatched == 1 ? "is" : "are",
                     list);
    }
    if (s) sd_lora_report_clear(report);
    return s;
}

void sd_lora_report_clear(struct sd_lora_report *report)
{
    free(report->warning);
    memset(report, 0, sizeof *report);
}

/* ---- merging ---- */

static int job_cmp(const void *a, const void *b)
{
    const struct sd_lora_job *x = a, *y = b;
    if (x->index != y->index) return x->index < y->index ? -1 : 1;
    return x->order < y->order ? -1 : x->order > y->order;
}

/* The jobs for part, in LoRA order. */
static enum lf_status plan(const struct sd_weights *in, enum sd_lora_part part,
                           const struct sd_lora *const *loras, const float *strengths, size_t n,
                           struct sd_lora_job **out, size_t *count, struct lf_error *err)
{
    struct sd_lora_table *table;
    enum lf_status s = sd_lora_table_build(in, part, &table, err);
    if (s) return s;
    size_t total = 0, used = 0;
    for (size_t i = 0; i < n; i++)
        total += loras[i]->count;
    struct sd_lora_job *jobs = malloc((total ? total : 1) * sizeof *jobs);
    if (!jobs) s = lf_error_set(err, LF_ERR_OUT_OF_MEMORY, "out of host memory");
    for (size_t i = 0; i < n && !s; i++) {
        const struct sd_lora *lora = loras[i];
        size_t for_part = 0, matched = 0;
        const char *example = NULL;
        if (strengths[i] == 0.0f) continue; /* W + 0 * delta is W: skip it exactly */
        for (size_t j = 0; j < lora->count && !s; j++) {
            const struct sd_lora_module *m = &lora->modules[j];
            if (m->part != part) continue;
            for_part++;
            if (!example) example = m->down_key;
            size_t index = sd_lora_table_find(table, m->flat, NULL);
            if (index == SIZE_MAX) continue;
            int64_t up[4], down[4];
            if (!fit(&in->items[index], m, up, down)) {
                s = fit_error(lora, m, in, index, err);
                break;
            }
            if (!m->up || !m->down) {
                s = lf_error_set_at(err, LF_ERR_INVALID, lora->path, 0, 0,
                                    "LoRA was loaded without a device: it can only be inspected");
                break;
            }
            jobs[used] =
                (struct sd_lora_job){index, used, m, strengths[i] * (m->alpha / (float)m->rank)};
            used++;
            matched++;
        }
        if (!s && for_part && !matched)
            s = lf_error_set_at(err, LF_ERR_NOT_FOUND, lora->path, 0, 0,
                                "none of the %zu %s modules of this LoRA (e.g. '%s') matches a "
                                "layer of the model",
                                for_part, part == SD_LORA_PART_UNET ? "UNet" : "text-encoder",
                                example);
    }
    sd_lora_table_free(table);
    if (s) {
        free(jobs);
        return s;
    }
    qsort(jobs, used, sizeof *jobs, job_cmp);
    *out = jobs;
    *count = used;
    return LF_OK;
}

/* Whether the base keeps its copy of every touched layer beside the merged
** one: only when LCMFLOW_LORA_KEEP_BASE=1.  By default a touched layer is
** held once (the merge takes the base's memory) and a strength change reads
** it from the file again; a kept base costs the touched layers' memory
** twice and makes the first apply copy them into fresh memory, for a
** strength change that copies from memory instead (figures:
** runtime/cpu/README.md). */
static bool keep_base(void)
{
    const char *v = getenv("LCMFLOW_LORA_KEEP_BASE");
    return v && *v && strcmp(v, "0") != 0;
}

/* The merged value of one weight, put into out in place of the shared one:
** W' = W + sum scale * up @ down by lf_op_lora_merge (in place, f32
** accumulation) into W's memory when in holds it alone and the file gives
** it back (sd_weights_take: the layer stays held once, and in loads it from
** the file when it is used again), into W loaded from the file when in's
** copy was taken before (a strength change: loaded plain and prepared
** after the merge, which saves packing it twice; backends add the product
** the same way in either form), else into a copy of W.  All three start
** from the same bits, so the result does not depend on which.
** Several LoRAs on a 16-bit weight sum in an f32 copy, rounded once at the
** end; one LoRA merges straight into W's dtype (one rounding).  The backend
** picks how (runtime/cpu/, runtime/vulkan/). */
static enum lf_status merge_one(struct sd_weights *in, struct sd_weights *out,
                                const struct sd_lora_job *jobs, size_t count, bool keep,
                                struct lf_error *err)
{
    size_t index = jobs[0].index;
    struct sd_weight *item = &out->items[index];
    struct lf_tensor *acc = NULL, *base = NULL, *result = NULL;
    enum lf_dtype acc_dtype = count > 1 ? LF_DTYPE_F32 : out->dtype;
    enum lf_status s = LF_OK;
    /* out shares in's tensor (sd_weights_derive): let it go first, so that
    ** in's reference may be the only one */
    lf_tensor_release(item->tensor);
    item->tensor = NULL;
    if (!in->items[index].tensor)
        s = sd_weights_load_source(in, index, false, &base, err);
    else
        base = lf_tensor_retain(in->items[index].tensor);
    if (!s && acc_dtype == base->dtype && lf_tensor_is_exclusive(base)) {
        acc = base; /* loaded from the file just now: ours alone */
        base = NULL;
    } else if (!s && acc_dtype == base->dtype && !keep) {
        lf_tensor_release(base);
        base = NULL;
        acc = sd_weights_take(in, index);
        if (!acc) base = lf_tensor_retain(in->items[index].tensor);
    }
    if (!s && !acc &&
        !(s = lf_tensor_create(base->device, acc_dtype, item->rank, item->shape, &acc, err)))
        s = lf_op_copy(acc, base, err);
    lf_tensor_release(base);
    for (size_t i = 0; i < count && !s; i++) {
        const struct sd_lora_module *m = jobs[i].module;
        int64_t up_shape[4], down_shape[4];
        struct lf_tensor *up = NULL, *down = NULL;
        fit(item, m, up_shape, down_shape); /* checked in plan() */
        if (!(s = lf_tensor_reshape(m->up, item->rank, up_shape, &up, err)) &&
            !(s = lf_tensor_reshape(m->down, item->rank, down_shape, &down, err)))
            s = lf_op_lora_merge(acc, up, down, jobs[i].scale, err);
        lf_tensor_release(up);
        lf_tensor_release(down);
    }
    if (!s && acc->dtype != out->dtype)
        s = lf_op_cast(acc, out->dtype, &result, err);
    else if (!s)
        result = lf_tensor_retain(acc);
    lf_tensor_release(acc);
    if (!s) lf_tensor_prepare_weight(result);
    if (!s && (s = sd_weights_replace(out, index, result, err))) lf_tensor_release(result);
    /* in's copy, when nobody else holds it, goes too: in loads it again if used */
    if (!s && !keep) lf_tensor_release(sd_weights_take(in, index));
    if (s) lf_error_prefix(err, "merging LoRA into %s", out->items[index].name);
    return s;
}

enum lf_status sd_lora_apply(struct sd_weights *in, enum sd_lora_part part,
                             const struct sd_lora *const *loras, const float *strengths, size_t n,
                             struct sd_weights **out, struct lf_error *err)
{
    *out = NULL;
    if (part != SD_LORA_PART_UNET && part != SD_LORA_PART_CLIP)
        return lf_error_set(err, LF_ERR_INVALID, "sd_lora_apply: part must be UNet or CLIP");
    struct sd_lora_job *jobs;
    size_t count;
    enum lf_status s = plan(in, part, loras, strengths, n, &jobs, &count, err);
    if (s) return s;
    if (count == 0) {
        free(jobs);
        *out = sd_weights_retain(in);
        return LF_OK;
    }
    struct sd_weights *w;
    bool keep = keep_base();
    s = sd_weights_derive(in, &w, err);
    for (size_t i = 0; i < count && !s;) {
        size_t j = i;
        while (j < count && jobs[j].index == jobs[i].index)
            j++;
        s = merge_one(in, w, jobs + i, j - i, keep, err);
        i = j;
    }
    free(jobs);
    if (s) {
        sd_weights_release(w);
        return s;
    }
    *out = w;
    return LF_OK;
}
