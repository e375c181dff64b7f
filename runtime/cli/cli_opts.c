/*
** cli_opts.c - the option loop of the commands whose every option is
** "--flag value" (see cli.h): --help, a flag without its value, an unknown
** flag and a bad whole number are answered the same way by each.
*/
#include "cli.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

bool lf_cli_opts_next(struct lf_cli_opts *o, const char **flag, const char **value)
{
    o->i = o->i < 1 ? 1 : o->i + 2;
    o->status = -1;
    if (o->i >= o->argc) return false;
    *flag = o->argv[o->i];
    if (!strcmp(*flag, "--help") || !strcmp(*flag, "-h")) {
        o->usage(stdout);
        o->status = 0;
        return false;
    }
    /* Asked before the flag is known: a last "--bogus" needs a value too. */
    if (o->i + 1 >= o->argc) {
        fprintf(stderr, "lcmflow %s: %s needs a value\n", o->command, *flag);
        o->status = 2;
        return false;
    }
    *value = o->argv[o->i + 1];
    return true;
}

int lf_cli_opts_unknown(const struct lf_cli_opts *o)
{
    fprintf(stderr, "lcmflow %s: unknown option '%s'\n", o->command, o->argv[o->i]);
    o->usage(stderr);
    return 2;
}

bool lf_cli_opts_count(const struct lf_cli_opts *o, const char *text, long long lo, long long hi,
                       long long *out)
{
    char *end;
    errno = 0;
    long long v = strtoll(text, &end, 10);
    if (errno || *end || end == text || v < lo || v > hi) {
        fprintf(stderr, "lcmflow %s: %s wants a whole number in %lld..%lld, not '%s'\n", o->command,
                o->argv[o->i], lo, hi, text);
        return false;
    }
    *out = v;
    return true;
}
