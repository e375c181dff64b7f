/*
** cli_main.c - the lcmflow command: dispatches to one subcommand.
*/
#include "cli.h"
#include "lcmflow/plugin.h"
#ifdef LCMFLOW_FARM
#include "farm.h"
#endif

#include <stdbool.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct lf_cli_command commands[] = {
    {"devices", "list the devices (Vulkan, CPU) and their capabilities", lf_cli_devices},
    {"tokenize", "print the CLIP token ids of a prompt", lf_cli_tokenize},
    {"synth-checkpoint", "write a random-weight SD 1.5 checkpoint", lf_cli_synth_checkpoint},
    {"synth-lora", "write a random LoRA in the LCM-LoRA layout", lf_cli_synth_lora},
    {"synth-taesd", "write a random-weight TAESD (tiny autoencoder) for SD 1.5",
     lf_cli_synth_taesd},
    {"bench", "time the compute ops ('lcmflow bench ops')", lf_cli_bench},
    {"run", "run a graph (YAML), reusing cached values", lf_cli_run},
    {"nodes", "list node types, or show one: nodes [TYPE]", lf_cli_nodes},
    {"serve", "the live page and the HTTP/WebSocket API", lf_cli_serve},
#ifdef LCMFLOW_FARM
    {"worker", "run jobs from a Redis stream (the render farm)", lf_cli_worker},
    {"submit", "queue a graph as farm jobs (one per --sweep value)", lf_cli_submit},
#endif
    {"lua", "run a Lua script with the lcmflow module", lf_cli_lua},
    {"info", "say what a model file is (checkpoint, LoRA, TAESD)", lf_cli_info},
    {NULL, NULL, NULL},
};

static void usage(FILE *f)
{
    fprintf(f, "usage: lcmflow <command> [options]\n\ncommands:\n");
    for (const struct lf_cli_command *c = commands; c->name; c++)
        fprintf(f, "  %-16s %s\n", c->name, c->summary);
    fprintf(f, "\n'lcmflow <command> --help' describes one command; 'lcmflow --version' "
               "prints the version.\n"
               "--threads N (any command): threads of the CPU backend (LCMFLOW_THREADS; default:\n"
               "all cores).\n");
}

/* Takes "--threads N" out of argv (every command accepts it) into
** LCMFLOW_THREADS, which the CPU backend reads when a device opens.
** Returns false (after a message) when N is not a positive integer. */
static bool take_threads(int *argc, char **argv)
{
    for (int i = 1; i < *argc; i++) {
        if (strcmp(argv[i], "--threads")) continue;
        char *end = NULL;
        long n = i + 1 < *argc ? strtol(argv[i + 1], &end, 10) : 0;
        if (n < 1 || n > 4096 || !end || *end) {
            fprintf(stderr, "lcmflow: --threads takes a number of threads from 1 to 4096%s%s\n",
                    i + 1 < *argc ? ", not " : "", i + 1 < *argc ? argv[i + 1] : "");
            return false;
        }
        setenv("LCMFLOW_THREADS", argv[i + 1], 1);
        memmove(argv + i, argv + i + 2, (size_t)(*argc - i - 1) * sizeof *argv);
        *argc -= 2;
        i--;
    }
    return true;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        usage(stdout);
        return 0;
    }
    if (!strcmp(argv[1], "--version") || !strcmp(argv[1], "-V")) {
        printf("lcmflow %s (plugin ABI %d)\n", LCMFLOW_VERSION, LF_PLUGIN_ABI_VERSION);
        return 0;
    }
    if (!take_threads(&argc, argv)) return 2;
    for (const struct lf_cli_command *c = commands; c->name; c++)
        if (!strcmp(argv[1], c->name)) return c->run(argc - 1, argv + 1);
    fprintf(stderr, "lcmflow: unknown command '%s'\n", argv[1]);
    usage(stderr);
    return 2;
}
