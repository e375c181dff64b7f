/*
** cli_main.c - the lcmflow command: dispatches to one subcommand.
*/
#include "cli.h"

#include <stdio.h>
#include <string.h>

static const struct lf_cli_command commands[] = {
    {"devices", "list Vulkan devices and their capabilities", lf_cli_devices},
    {"tokenize", "print the CLIP token ids of a prompt", lf_cli_tokenize},
    {"synth-checkpoint", "write a random-weight SD 1.5 checkpoint", lf_cli_synth_checkpoint},
    {"synth-lora", "write a random LoRA in the LCM-LoRA layout", lf_cli_synth_lora},
    {"bench", "time the compute ops ('lcmflow bench ops')", lf_cli_bench},
    {"run", "run a graph (YAML), reusing cached values", lf_cli_run},
    {"nodes", "list node types, or show one: nodes [TYPE]", lf_cli_nodes},
    {"serve", "the live page and the HTTP/WebSocket API", lf_cli_serve},
    {"lua", "run a Lua script with the lcmflow module", lf_cli_lua},
    {"info", "say what a model file is (checkpoint, LoRA, TAESD)", lf_cli_info},
    {NULL, NULL, NULL},
};

static void usage(FILE *f)
{
    fprintf(f, "usage: lcmflow <command> [options]\n\ncommands:\n");
    for (const struct lf_cli_command *c = commands; c->name; c++)
        fprintf(f, "  %-16s %s\n", c->name, c->summary);
    fprintf(f, "\n'lcmflow <command> --help' describes one command.\n");
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
    for (const struct lf_cli_command *c = commands; c->name; c++)
        if (!strcmp(argv[1], c->name)) return c->run(argc - 1, argv + 1);
    fprintf(stderr, "lcmflow: unknown command '%s'\n", argv[1]);
    usage(stderr);
    return 2;
}
