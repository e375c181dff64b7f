/*
** hello.c - an lcmflow plugin built out of tree against an installed
** lcmflow (see Makefile): one node type, HelloGreeting, that makes a
** greeting from a name and a repeat count.
**
**     make && LCMFLOW_PLUGIN_PATH=$PWD lcmflow nodes HelloGreeting
**
** The plugin exports only lcmflow_plugin_entry (built with
** -fvisibility=hidden; LF_PLUGIN_DEFINE writes it, LF_EXPORT opens that one
** symbol), and reaches the host only through the table it is given.
*/
#include <lcmflow/node.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { PARAM_NAME, PARAM_TIMES };

static enum lf_status greeting_execute(const struct lf_node_call *c, struct lf_error *err)
{
    const char *name = lf_node_param_string(c, PARAM_NAME);
    int64_t times = lf_node_param_int(c, PARAM_TIMES);
    size_t size = (size_t)times * (strlen(name) + 8) + 1;
    char *text = malloc(size);
    if (!text) return c->host->error_set(err, LF_ERR_OUT_OF_MEMORY, "out of memory");
    text[0] = '\0';
    for (int64_t i = 0; i < times; i++)
        snprintf(text + strlen(text), size - strlen(text), "%shello %s", i ? ", " : "", name);
    c->outputs[0] = (struct lf_value){.type = LF_TYPE_STRING, .u.s = text};
    return LF_OK;
}

static const struct lf_node_type greeting_type = {
    .name = "HelloGreeting",
    .description = "Greets a name, a number of times (an out-of-tree plugin).",
    .flags = LF_NODE_DETERMINISTIC,
    .outputs = (const struct lf_output_desc[]){{.name = "text", .type = LF_TYPE_STRING}, {0}},
    .params =
        (const struct lf_param_desc[]){
            [PARAM_NAME] = {.name = "name", .type = LF_TYPE_STRING, .default_string = "world"},
            [PARAM_TIMES] = {.name = "times",
                             .type = LF_TYPE_INT,
                             .flags = LF_PARAM_HAS_RANGE | LF_PARAM_INT_RANGE,
                             .default_int = 1,
                             .min_int = 1,
                             .max_int = 100},
            {0}},
    .execute = greeting_execute,
};

static const struct lf_node_type *const types[] = {&greeting_type, NULL};

LF_PLUGIN_DEFINE("hello", "1.0.0", types)
