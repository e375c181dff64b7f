/*
** sd_arch_check.c - a component's tensors against its architecture (see
** sd_arch_check.h).
*/
#include "sd_arch_check.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *component_label(enum sd_component c)
{
    return sd_diffusers_parts[c].label;
}

static void shape_text(int rank, const int64_t *shape, char *buf, size_t size)
{
    int n = snprintf(buf, size, "[");
    for (int i = 0; i < rank && n > 0 && (size_t)n < size; i++)
        n += snprintf(buf + n, size - (size_t)n, "%s%lld", i ? ", " : "", (long long)shape[i]);
    if (n > 0 && (size_t)n < size) snprintf(buf + n, size - (size_t)n, "]");
}

static bool float_dtype(const struct lf_safetensors_tensor *t)
{
    return t->st_dtype == LF_ST_DTYPE_F16 || t->st_dtype == LF_ST_DTYPE_BF16 ||
           t->st_dtype == LF_ST_DTYPE_F32;
}

/* The VAE's mid-block attention q/k/v/proj_out are 1x1 convolutions
** [C, C, 1, 1]; diffusers (and some converted single files) store them as
** linear weights [C, C], which the loader reshapes. */
static bool shape_fits(const struct sd_arch_tensor *want, const struct lf_safetensors_tensor *t)
{
    if (t->rank == want->rank &&
        !memcmp(t->shape, want->shape, (size_t)want->rank * sizeof *want->shape))
        return true;
    return want->rank == 4 && want->shape[2] == 1 && want->shape[3] == 1 && t->rank == 2 &&
           t->shape[0] == want->shape[0] && t->shape[1] == want->shape[1] &&
           strstr(want->name, ".mid.attn_1.") != NULL;
}

struct walk {
    const struct sd_file_view *view;
    enum sd_component c;
    struct sd_arch_audit *out;
    char **names; /* the expected tensors' stored names, for the unexpected ones */
    size_t count, cap;
    bool oom;
};

static void note(struct sd_arch_audit *a, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

static void note(struct sd_arch_audit *a, const char *fmt, ...)
{
    if (a->problem_count == SD_ARCH_AUDIT_LIST) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(a->problems[a->problem_count++], sizeof a->problems[0], fmt, ap);
    va_end(ap);
}

static void expect(const struct sd_arch_tensor *want, void *user)
{
    struct walk *w = user;
    struct sd_arch_audit *a = w->out;
    char stored[256], ws[96], ts[96];
    if (!sd_file_view_name(w->view, want->name, stored, sizeof stored))
        snprintf(stored, sizeof stored, "%s", want->name); /* no counterpart in the table */
    a->expected++;
    if (w->count == w->cap) {
        size_t cap = w->cap ? 2 * w->cap : 256;
        char **names = realloc(w->names, cap * sizeof *names);
        if (!names) {
            w->oom = true;
            return;
        }
        w->names = names, w->cap = cap;
    }
    if (!(w->names[w->count] = strdup(stored))) {
        w->oom = true;
        return;
    }
    w->count++;
    const char *what = component_label(w->c);
    shape_text(want->rank, want->shape, ws, sizeof ws);
    const struct lf_safetensors_tensor *t = lf_safetensors_find(w->view->st, stored);
    if (!t) {
        a->missing++;
        note(a, "tensor '%s' is missing (the %s needs it: %s)", stored, what, ws);
        return;
    }
    shape_text(t->rank, t->shape, ts, sizeof ts);
    if (!float_dtype(t)) {
        a->wrong_dtype++;
        note(a, "tensor '%s' has dtype %s; the %s needs F16, BF16 or F32 (shape %s)", stored,
             lf_st_dtype_name(t->st_dtype), what, ws);
    } else if (!shape_fits(want, t)) {
        a->misshaped++;
        note(a, "tensor '%s' has shape %s; the %s needs %s", stored, ts, what, ws);
    }
}

static int name_cmp(const void *x, const void *y)
{
    return strcmp(*(char *const *)x, *(char *const *)y);
}

/* Whether the file tensor called name belongs to the component. */
static bool in_component(const struct sd_file_view *v, enum sd_component c, const char *name)
{
    size_t n = strlen(name);
    if (c == SD_COMPONENT_TEXT && n >= 12 && !strcmp(name + n - 12, "position_ids"))
        return false; /* a buffer the text encoder computes */
    return v->names || !v->prefix || !strncmp(name, v->prefix, strlen(v->prefix));
}

void sd_arch_audit_component(const struct sd_arch *arch, enum sd_component c,
                             const struct sd_file_view *view, struct sd_arch_audit *out)
{
    memset(out, 0, sizeof *out);
    struct walk w = {.view = view, .c = c, .out = out};
    sd_arch_each_component(arch, c, expect, &w);
    out->out_of_memory = w.oom;
    if (!w.oom) {
        qsort(w.names, w.count, sizeof *w.names, name_cmp);
        for (size_t i = 0; i < lf_safetensors_count(view->st); i++) {
            const char *name = lf_safetensors_tensor_at(view->st, i)->name;
            if (!in_component(view, c, name) ||
                (w.count && bsearch(&name, w.names, w.count, sizeof *w.names, name_cmp)))
                continue;
            if (out->unexpected_count < SD_ARCH_AUDIT_LIST)
                snprintf(out->unexpected_names[out->unexpected_count++],
                         sizeof out->unexpected_names[0], "%s", name);
            out->unexpected++;
        }
    }
    for (size_t i = 0; i < w.count; i++)
        free(w.names[i]);
    free(w.names);
}

enum lf_status sd_arch_check(const struct sd_arch *arch, enum sd_component c,
                             const struct sd_file_view *view, struct lf_error *err)
{
    struct sd_arch_audit *a = malloc(sizeof *a);
    if (!a) return lf_error_set(err, LF_ERR_OUT_OF_MEMORY, "out of host memory");
    sd_arch_audit_component(arch, c, view, a);
    int64_t bad = a->missing + a->misshaped + a->wrong_dtype;
    enum lf_status s = LF_OK;
    if (a->out_of_memory)
        s = lf_error_set(err, LF_ERR_OUT_OF_MEMORY, "out of host memory");
    else if (bad == 1)
        s = lf_error_set_at(err, LF_ERR_FORMAT, lf_safetensors_path(view->st), 0, 0, "%s",
                            a->problems[0]);
    else if (bad > 1)
        s = lf_error_set_at(err, LF_ERR_FORMAT, lf_safetensors_path(view->st), 0, 0,
                            "%s (and %lld more: %lld missing, %lld misshaped, %lld not float in "
                            "all; 'lcmflow info' lists them)",
                            a->problems[0], (long long)(bad - 1), (long long)a->missing,
                            (long long)a->misshaped, (long long)a->wrong_dtype);
    free(a);
    return s;
}
