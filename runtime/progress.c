/*
** progress.c - progress on stderr: a redrawn bar on a terminal, one plain
** line per node and per step otherwise, nothing when quiet.
*/
#include "executor-impl.h"

#include <unistd.h>

#define BAR_WIDTH 24

void lf_progress_begin(struct lf_progress *p, enum lf_progress_mode mode, FILE *stream,
                       size_t total)
{
    p->stream = stream ? stream : stderr;
    if (mode == LF_PROGRESS_AUTO)
        mode = isatty(fileno(p->stream)) ? LF_PROGRESS_BAR : LF_PROGRESS_LINES;
    p->mode = mode;
    p->total = total;
    p->index = 0;
    p->node_id = p->type_name = NULL;
    p->bar_drawn = false;
}

static void draw_bar(struct lf_progress *p, int step, int steps)
{
    /* Whole nodes done plus the fraction of the current one. */
    double done = p->total ? ((double)(p->index - 1) + (steps > 0 ? (double)step / steps : 0)) /
                                 (double)p->total
                           : 1.0;
    int fill = (int)(done * BAR_WIDTH + 0.5);
    fprintf(p->stream, "\r\033[K[");
    for (int i = 0; i < BAR_WIDTH; i++)
        fputc(i < fill ? '#' : '-', p->stream);
    fprintf(p->stream, "] %zu/%zu %s", p->index, p->total, p->node_id ? p->node_id : "");
    if (steps > 0) fprintf(p->stream, " step %d/%d", step, steps);
    fflush(p->stream);
    p->bar_drawn = true;
}

void lf_progress_node(struct lf_progress *p, size_t index, const char *node_id,
                      const char *type_name)
{
    p->index = index;
    p->node_id = node_id;
    p->type_name = type_name;
    if (p->mode == LF_PROGRESS_LINES)
        fprintf(p->stream, "[%zu/%zu] %s (%s)\n", index, p->total, node_id, type_name);
    else if (p->mode == LF_PROGRESS_BAR)
        draw_bar(p, 0, 0);
}

void lf_progress_step(struct lf_progress *p, int step, int total)
{
    if (p->mode == LF_PROGRESS_LINES)
        fprintf(p->stream, "[%zu/%zu] %s: step %d/%d\n", p->index, p->total,
                p->node_id ? p->node_id : "?", step, total);
    else if (p->mode == LF_PROGRESS_BAR)
        draw_bar(p, step, total);
}

void lf_progress_message(struct lf_progress *p, const char *text)
{
    if (p->bar_drawn) {
        fprintf(p->stream, "\r\033[K");
        p->bar_drawn = false;
    }
    fprintf(p->stream, "%s\n", text);
}

void lf_progress_end(struct lf_progress *p)
{
    if (p->mode == LF_PROGRESS_BAR && p->bar_drawn) fprintf(p->stream, "\r\033[K");
    p->bar_drawn = false;
    fflush(p->stream);
}
