/*
** cli.h - the lcmflow command's subcommands.  Each lives in its own
** cli_<name>.c and is listed in cli_main.c's table.
*/
#ifndef LCMFLOW_CLI_H
#define LCMFLOW_CLI_H

/* Each returns the process exit status (0 ok, 1 failure, 2 usage error). */
typedef int (*lf_cli_fn)(int argc, char **argv);

struct lf_cli_command {
    const char *name;
    const char *summary;
    lf_cli_fn run;
};

int lf_cli_devices(int argc, char **argv);
/* cli_tokenize.c */
int lf_cli_tokenize(int argc, char **argv);

/* cli_synth.c */
int lf_cli_synth_checkpoint(int argc, char **argv);
int lf_cli_synth_lora(int argc, char **argv);
int lf_cli_bench(int argc, char **argv);
/* Graph engine subcommands (cli_run.c, cli_nodes.c, cli_lua.c). */
int lf_cli_run(int argc, char **argv);
int lf_cli_nodes(int argc, char **argv);
int lf_cli_lua(int argc, char **argv);
/* cli_info.c */
int lf_cli_info(int argc, char **argv);

/* cli_bench_sd15.c */
int lf_cli_bench_sd15(int argc, char **argv);

#endif
