/*
** cli_sweep.c - `--sweep NODE.PARAM=V1,V2,...` as `lcmflow run` and
** `lcmflow submit` read it: the key and its values, and the string params
** whose text holds "{value}" (filled with each value, e.g. output paths).
*/
#include "cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int lf_cli_sweep_parse(const char *command, const char *spec, struct lf_cli_sweep *out)
{
    const char *eq = strchr(spec, '=');
    char *save = NULL;
    *out = (struct lf_cli_sweep){0};
    if (!eq || eq == spec || !eq[1]) {
        fprintf(stderr, "lcmflow %s: --sweep wants NODE.PARAM=V1,V2,...\n", command);
        return 2;
    }
    out->key = strndup(spec, (size_t)(eq - spec));
    out->text = strdup(eq + 1);
    out->values = calloc(strlen(eq + 1) / 2 + 2, sizeof *out->values);
    if (!out->key || !out->text || !out->values) {
        fprintf(stderr, "lcmflow: out of memory\n");
        lf_cli_sweep_free(out);
        return 1;
    }
    for (char *v = strtok_r(out->text, ",", &save); v; v = strtok_r(NULL, ",", &save))
        out->values[out->nvalues++] = v;
    return 0;
}

void lf_cli_sweep_free(struct lf_cli_sweep *s)
{
    free(s->key);
    free(s->text);
    free(s->values);
    *s = (struct lf_cli_sweep){0};
}

char *lf_cli_replace_all(const char *text, const char *needle, const char *with)
{
    size_t n = 0, ln = strlen(needle), lw = strlen(with);
    for (const char *p = strstr(text, needle); p; p = strstr(p + ln, needle))
        n++;
    char *out = malloc(strlen(text) + n * lw + 1), *o = out;
    if (!out) return NULL;
    for (const char *p = text;;) {
        const char *hit = strstr(p, needle);
        size_t len = hit ? (size_t)(hit - p) : strlen(p);
        memcpy(o, p, len);
        o += len;
        if (!hit) break;
        memcpy(o, with, lw);
        o += lw;
        p = hit + ln;
    }
    *o = '\0';
    return out;
}

size_t lf_cli_sweep_templates(const struct lf_graph *g, struct lf_cli_template **out)
{
    size_t n = 0, cap = 0;
    *out = NULL;
    for (size_t i = 0; i < lf_graph_node_count(g); i++) {
        const char *id = lf_graph_node_id(g, i);
        const struct lf_node_type *t = lf_graph_node_type(g, i);
        for (const struct lf_param_desc *d = t->params; d && d->name; d++) {
            const char *text = lf_graph_param_text(g, id, d->name);
            if (d->type != LF_TYPE_STRING || !text || !strstr(text, "{value}")) continue;
            if (n == cap) {
                cap = cap ? 2 * cap : 8;
                struct lf_cli_template *p = realloc(*out, cap * sizeof *p);
                if (!p) return n;
                *out = p;
            }
            snprintf((*out)[n].key, sizeof(*out)[n].key, "%s.%s", id, d->name);
            if (((*out)[n].text = strdup(text)) != NULL) n++;
        }
    }
    return n;
}

void lf_cli_sweep_templates_free(struct lf_cli_template *t, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(t[i].text);
    free(t);
}
