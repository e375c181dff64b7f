/*
** serve_events.c - the WebSocket clients of /api/events.  Connections are
** added when their handshake completes and removed by CivetWeb's close
** handler; a broadcast holds the lock while it writes, so a connection is
** never written after its close handler returned.
*/
#include "server.h"

#include <civetweb.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

struct serve_events {
    pthread_mutex_t lock;
    struct mg_connection **conns;
    int count, max;
};

enum lf_status serve_events_create(int max_clients, struct serve_events **out, struct lf_error *err)
{
    struct serve_events *ev = calloc(1, sizeof *ev);
    *out = NULL;
    if (!ev || !(ev->conns = calloc((size_t)max_clients + 1, sizeof *ev->conns))) {
        free(ev);
        return lf_error_set(err, LF_ERR_OUT_OF_MEMORY, "out of memory");
    }
    pthread_mutex_init(&ev->lock, NULL);
    ev->max = max_clients;
    *out = ev;
    return LF_OK;
}

void serve_events_destroy(struct serve_events *ev)
{
    if (!ev) return;
    pthread_mutex_destroy(&ev->lock);
    free(ev->conns);
    free(ev);
}

bool serve_events_add(struct serve_events *ev, void *conn)
{
    bool ok;
    pthread_mutex_lock(&ev->lock);
    ok = ev->count < ev->max;
    if (ok) ev->conns[ev->count++] = conn;
    pthread_mutex_unlock(&ev->lock);
    return ok;
}

void serve_events_remove(struct serve_events *ev, const void *conn)
{
    pthread_mutex_lock(&ev->lock);
    for (int i = 0; i < ev->count; i++)
        if (ev->conns[i] == conn) {
            ev->conns[i] = ev->conns[--ev->count];
            break;
        }
    pthread_mutex_unlock(&ev->lock);
}

static void broadcast(struct serve_events *ev, int opcode, const void *data, size_t size)
{
    if (!ev) return;
    pthread_mutex_lock(&ev->lock);
    for (int i = 0; i < ev->count; i++)
        mg_websocket_write(ev->conns[i], opcode, data, size);
    pthread_mutex_unlock(&ev->lock);
}

void serve_events_text(struct serve_events *ev, const char *json)
{
    broadcast(ev, MG_WEBSOCKET_OPCODE_TEXT, json, strlen(json));
}

void serve_events_binary(struct serve_events *ev, const void *data, size_t size)
{
    broadcast(ev, MG_WEBSOCKET_OPCODE_BINARY, data, size);
}
