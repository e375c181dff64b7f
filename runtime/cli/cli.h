/*
** cli.h - the lcmflow command's subcommands.  Each lives in its own
** cli_<name>.c and is listed in cli_main.c's table.
*/
#ifndef LCMFLOW_CLI_H
#define LCMFLOW_CLI_H

#include "lcmflow/graph.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

/* Each returns the process exit status (0 ok, 1 failure, 2 usage error). */
typedef int (*lf_cli_fn)(int argc, char **argv);

struct lf_cli_command {
    const char *name;
    const char *summary;
    lf_cli_fn run;
};

/* cli_devices.c */
int lf_cli_devices(int argc, char **argv);
/* The device a command uses: value (a --device value; NULL when none was
** given) or LCMFLOW_DEVICE, parsed by lf_device_select into an index for
** lf_device_options (-1: the best device).  On a bad choice prints
** "lcmflow COMMAND: device 'abc' not found: ..." and returns false. */
bool lf_cli_device_choice(const char *command, const char *value, int *index);
/* The same, then sets LCMFLOW_DEVICE to the index for the sessions the
** command creates (run, lua: the host opens the device on first use). */
bool lf_cli_device_export(const char *command, const char *value);
/* cli_opts.c: the options of a command whose every option is "--flag
** value", in any order:
**     struct lf_cli_opts o = {.command = "synth-lora", .usage = lora_usage,
**                             .argc = argc, .argv = argv};
**     while (lf_cli_opts_next(&o, &flag, &value))
**         if (!strcmp(flag, "--out")) out = value;
**         else return lf_cli_opts_unknown(&o);
**     if (o.status >= 0) return o.status; */
struct lf_cli_opts {
    const char *command;    /* for messages: "lcmflow COMMAND: ..." */
    void (*usage)(FILE *f); /* the command's usage text */
    int argc;
    char **argv;
    int i;      /* argv index of the current flag (0 before the first) */
    int status; /* once next returned false: -1 at the end of the options,
                   else the exit status (0 after --help, 2 after an error) */
};
/* The next flag and its value; false at the end, after --help/-h (usage on
** stdout) or for a flag without a value ("FLAG needs a value"). */
bool lf_cli_opts_next(struct lf_cli_opts *o, const char **flag, const char **value);
/* "unknown option 'FLAG'" and the usage on stderr; returns 2. */
int lf_cli_opts_unknown(const struct lf_cli_opts *o);
/* The current flag's value text as a whole number in [lo, hi] into *out;
** false after "FLAG wants a whole number in LO..HI, not 'TEXT'". */
bool lf_cli_opts_count(const struct lf_cli_opts *o, const char *text, long long lo, long long hi,
                       long long *out);

/* cli_tokenize.c */
int lf_cli_tokenize(int argc, char **argv);

/* cli_synth.c */
int lf_cli_synth_checkpoint(int argc, char **argv);
int lf_cli_synth_lora(int argc, char **argv);
int lf_cli_synth_taesd(int argc, char **argv);
int lf_cli_bench(int argc, char **argv);
/* Graph engine subcommands (cli_run.c, cli_nodes.c, cli_lua.c). */
struct lf_registry;
/* Prints "lcmflow: warning: plugin skipped: MESSAGE" on stderr for each
** plugin lf_registry_load_default could not load (cli_nodes.c). */
void lf_cli_plugin_warnings(const struct lf_registry *reg);
int lf_cli_run(int argc, char **argv);
int lf_cli_nodes(int argc, char **argv);
int lf_cli_lua(int argc, char **argv);
/* cli_sweep.c: --sweep NODE.PARAM=V1,V2,... (run, submit). */
struct lf_cli_sweep {
    char *key;     /* NODE.PARAM */
    char **values; /* point into text */
    size_t nvalues;
    char *text;
};
/* 0, or an exit status after a message naming the command. */
int lf_cli_sweep_parse(const char *command, const char *spec, struct lf_cli_sweep *out);
void lf_cli_sweep_free(struct lf_cli_sweep *s);
/* A string param whose written text holds "{value}", filled per value. */
struct lf_cli_template {
    char key[512]; /* node.param */
    char *text;
};
size_t lf_cli_sweep_templates(const struct lf_graph *g, struct lf_cli_template **out);
void lf_cli_sweep_templates_free(struct lf_cli_template *t, size_t n);
/* text with every needle replaced (malloc'd; NULL when out of memory). */
char *lf_cli_replace_all(const char *text, const char *needle, const char *with);

/* cli_info.c */
int lf_cli_info(int argc, char **argv);

/* cli_serve.c */
int lf_cli_serve(int argc, char **argv);

/* cli_bench_sd15.c */
int lf_cli_bench_sd15(int argc, char **argv);

/* cli_bench_peak.c: the fp32 FMA peak (GFLOP/s; 0 without the CPU backend). */
int lf_cli_bench_peak(int argc, char **argv);
double lf_cli_fp32_peak(double seconds);

#endif
