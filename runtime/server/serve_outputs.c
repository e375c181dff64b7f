/*
** serve_outputs.c - what a finished job hands back, the same for `lcmflow
** serve` and the farm's workers: the per-node profile as JSON, and every
** IMAGE output of the run as a PNG with the graph embedded (as SaveImage
** writes them).
*/
#include "image_io.h"
#include "server.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct json_object *serve_run_profile(const struct lf_run *run)
{
    struct json_object *a = json_object_new_array();
    for (size_t i = 0; i < lf_run_visit_count(run); i++) {
        size_t v = lf_run_visit_node(run, i);
        struct json_object *e = json_object_new_object();
        json_object_object_add(e, "node", json_object_new_string(lf_run_node_id(run, v)));
        json_object_object_add(e, "ms", json_object_new_double(lf_run_node_ms(run, v)));
        json_object_object_add(
            e, "state",
            json_object_new_string(lf_run_node_state(run, v) == LF_NODE_RAN ? "ran" : "cached"));
        json_object_array_add(a, e);
    }
    return a;
}

static enum lf_status save_one(struct lf_tensor *image, int64_t item, const char *yaml,
                               const char *node, const char *path, struct lf_error *err)
{
    uint8_t *px;
    struct lf_image_text text[3] = {
        {"Software", "lcmflow"}, {"lcmflow.graph", yaml}, {"lcmflow.node", node}};
    enum lf_status st = lf_image_to_rgb8(image, item, &px, err);
    if (st) return st;
    st = lf_image_save(path, (int)image->shape[2], (int)image->shape[1], px, text, yaml ? 3 : 1,
                       err);
    free(px);
    return st;
}

static enum lf_status append_path(char ***paths, size_t *npaths, const char *path,
                                  struct lf_error *err)
{
    char **grown = realloc(*paths, (*npaths + 1) * sizeof *grown);
    if (grown) *paths = grown;
    if (!grown || !(grown[*npaths] = strdup(path)))
        return lf_error_set(err, LF_ERR_OUT_OF_MEMORY, "out of memory");
    (*npaths)++;
    return LF_OK;
}

enum lf_status serve_run_images(const struct lf_graph *g, const struct lf_run *run, const char *dir,
                                const char *stem, char ***paths, size_t *npaths,
                                struct lf_error *err)
{
    char *yaml = NULL;
    enum lf_status st = LF_OK;
    size_t n = 0;
    lf_graph_to_yaml(g, &yaml, NULL);
    for (size_t i = 0; st == LF_OK && i < lf_graph_node_count(g); i++) {
        const struct lf_node_type *t = lf_graph_node_type(g, i);
        for (const struct lf_output_desc *o = t->outputs; st == LF_OK && o && o->name; o++) {
            char ref[512];
            const struct lf_value *v;
            snprintf(ref, sizeof ref, "%s.%s", lf_graph_node_id(g, i), o->name);
            if (!(v = lf_run_output(run, ref)) || v->type != LF_TYPE_IMAGE || !v->u.tensor ||
                v->u.tensor->rank != 4)
                continue;
            for (int64_t b = 0; st == LF_OK && b < v->u.tensor->shape[0]; b++) {
                char path[4096];
                snprintf(path, sizeof path, "%s/%s-%zu.png", dir, stem, n++);
                st = save_one(v->u.tensor, b, yaml, lf_graph_node_id(g, i), path, err);
                if (st == LF_OK && (st = append_path(paths, npaths, path, err)) != LF_OK)
                    unlink(path);
            }
        }
    }
    free(yaml);
    return st;
}
