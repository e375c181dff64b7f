/*
** test_cli.c - the lcmflow command as a user meets it: run (outputs,
** profile, progress, --set, --sweep with {value} paths, error texts and exit
** codes, Ctrl-C), nodes, lua (examples and error positions), --help, and
** the C embedding example.
**
** Arguments: the lcmflow and embed executables, the build folder of
** tests/plugins, and the source folders tests/graphs and lua.
*/
#include "test_util.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static const char *lcmflow, *embed, *plugin_dir, *graphs_dir, *lua_dir;
static char tmp[] = "/tmp/lftest-cli-XXXXXX";
static char *out_text, *err_text;

static char *read_all(const char *path)
{
    FILE *f = fopen(path, "rb");
    char *text = calloc(1, 1 << 16);
    if (f && text) {
        size_t n = fread(text, 1, (1 << 16) - 1, f);
        text[n] = '\0';
    }
    if (f) fclose(f);
    return text;
}

/* Runs "cd graphs_dir && <command>" with stdout and stderr captured into
** out_text and err_text; returns the exit status. */
static int sh(const char *fmt, ...)
{
    char cmd[4096], line[8192], path[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    snprintf(line, sizeof line, "cd '%s' && %s >'%s/out' 2>'%s/err'", graphs_dir, cmd, tmp, tmp);
    int st = system(line);
    free(out_text);
    free(err_text);
    snprintf(path, sizeof path, "%s/out", tmp);
    out_text = read_all(path);
    snprintf(path, sizeof path, "%s/err", tmp);
    err_text = read_all(path);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static void write_file(const char *name, const char *text)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", tmp, name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static void test_help(void **state)
{
    (void)state;
    assert_int_equal(sh("%s --help", lcmflow), 0);
    assert_non_null(strstr(out_text, "  run "));
    assert_non_null(strstr(out_text, "  nodes "));
    assert_non_null(strstr(out_text, "  lua "));
    assert_int_equal(sh("%s run --help", lcmflow), 0);
    assert_non_null(strstr(out_text, "--sweep NODE.PARAM=V1,V2,..."));
    assert_non_null(strstr(out_text, "--cache-mb N"));
    assert_int_equal(sh("%s nodes --help", lcmflow), 0);
    assert_int_equal(sh("%s lua --help", lcmflow), 0);
    assert_int_equal(sh("%s --version", lcmflow), 0);
    assert_int_equal(strncmp(out_text, "lcmflow 0.", 10), 0);
    assert_non_null(strstr(out_text, "(plugin ABI "));
    assert_int_equal(sh("%s run", lcmflow), 2);
    assert_int_equal(sh("%s run ok.yaml --bogus", lcmflow), 2);
    assert_non_null(strstr(err_text, "unknown or incomplete option '--bogus'"));
    /* --threads is taken by every command, and checked. */
    assert_int_equal(sh("%s run ok.yaml --threads 1 --quiet", lcmflow), 0);
    assert_string_equal(out_text, "sum.sum = 5.5\ntwice.value = 11\n");
    assert_int_equal(sh("%s run ok.yaml --threads 0", lcmflow), 2);
    assert_non_null(strstr(err_text, "--threads takes a number of threads from 1 to 4096, not 0"));
    assert_int_equal(sh("%s run ok.yaml --threads", lcmflow), 2);
}

static void test_run(void **state)
{
    char id[32], word[32];
    double ms;
    (void)state;
    assert_int_equal(sh("%s run ok.yaml --quiet --profile", lcmflow), 0);
    assert_string_equal(err_text, "");
    /* Outputs first, then one profile line per node. */
    const char *p = out_text;
    assert_int_equal(strncmp(p, "sum.sum = 5.5\ntwice.value = 11\n", 31), 0);
    p += 31;
    static const char *const ids[] = {"x", "y", "sum", "twice"};
    for (int i = 0; i < 4; i++) {
        assert_int_equal(sscanf(p, "%31s %lf ms %31s", id, &ms, word), 3);
        assert_string_equal(id, ids[i]);
        assert_string_equal(word, "ran");
        p = strchr(p, '\n') + 1;
    }
    /* Then the peak memory so far. */
    double gib = 0;
    assert_int_equal(sscanf(p, "peak host memory (RSS) %lf GiB", &gib), 1);
    assert_true(gib > 0.0);
    p = strchr(p, '\n') + 1;
    assert_string_equal(p, "");
    /* Progress: plain lines when stderr is not a terminal. */
    assert_int_equal(sh("%s run ok.yaml --set twice.factor=-1", lcmflow), 0);
    assert_string_equal(out_text, "sum.sum = 5.5\ntwice.value = -5.5\n");
    assert_string_equal(err_text, "[1/4] x (TestNumber)\n[2/4] y (TestNumber)\n"
                                  "[3/4] sum (TestAdd)\n[4/4] twice (TestScale)\n");
    assert_int_equal(sh("%s run ok.yaml --quiet --output x.value", lcmflow), 0);
    assert_string_equal(out_text, "x.value = 2\n");
}

static void test_errors(void **state)
{
    (void)state;
    assert_int_equal(sh("%s run cycle.yaml", lcmflow), 1);
    assert_string_equal(err_text, "lcmflow: cycle.yaml:4:3: cycle: a -> b -> c -> a\n");
    assert_string_equal(out_text, "");
    assert_int_equal(sh("%s run unknown_type.yaml", lcmflow), 1);
    assert_string_equal(err_text, "lcmflow: unknown_type.yaml:4:16: unknown node type 'TestAd' "
                                  "(did you mean 'TestAdd'?)\n");
    assert_int_equal(sh("%s run ok.yaml --set twice.factor=abc", lcmflow), 1);
    assert_string_equal(err_text, "lcmflow: --set: param 'factor' of node 'twice' (TestScale) "
                                  "expects a number, got 'abc'\n");
    assert_int_equal(sh("%s run ok.yaml --set twice.fctor=2", lcmflow), 1);
    assert_string_equal(err_text, "lcmflow: --set: twice.fctor: node 'twice' (TestScale) has no "
                                  "param 'fctor' (did you mean 'factor'?)\n");
    /* A folder given as the graph is named as such. */
    assert_int_equal(sh("%s run .", lcmflow), 1);
    assert_string_equal(err_text, "lcmflow: .: is a folder, not a graph file (a .yaml file)\n");
    assert_int_equal(sh("%s run missing.yaml", lcmflow), 1);
    assert_string_equal(err_text,
                        "lcmflow: missing.yaml: cannot open: No such file or directory\n");
}

static void test_sweep(void **state)
{
    char yaml[1024], path[512];
    (void)state;
    assert_int_equal(sh("%s run ok.yaml --quiet --profile --sweep x.value=1,2", lcmflow), 0);
    /* The second run reuses y (its key did not change). */
    assert_non_null(strstr(out_text, "# x.value=1\nsum.sum = 4.5\ntwice.value = 9\nx "));
    const char *second = strstr(out_text, "# x.value=2\n");
    assert_non_null(second);
    assert_non_null(strstr(second, "\ny "));
    assert_non_null(strstr(strstr(second, "\ny "), " cached\n"));
    assert_non_null(strstr(second, "twice.value = 11\n"));

    /* {value} in a path: one file per swept value. */
    snprintf(
        yaml, sizeof yaml,
        "version: 1\n"
        "nodes:\n"
        "  t: { type: TestText, params: { text: x } }\n"
        "  w: { type: TestWrite, inputs: { text: t.text }, params: { path: \"out_{value}.txt\" } "
        "}\n");
    write_file("sweep.yaml", yaml);
    assert_int_equal(sh("%s run %s/sweep.yaml --quiet --sweep t.text=cat,dog", lcmflow, tmp), 0);
    snprintf(path, sizeof path, "%s/out_cat.txt", tmp);
    char *text = read_all(path);
    assert_string_equal(text, "cat");
    free(text);
    snprintf(path, sizeof path, "%s/out_dog.txt", tmp);
    text = read_all(path);
    assert_string_equal(text, "dog");
    free(text);
    /* Every value is checked before the first run: nothing ran. */
    assert_int_equal(sh("%s run ok.yaml --sweep twice.factor=1,abc --quiet", lcmflow), 1);
    assert_non_null(strstr(err_text, "expects a number, got 'abc'"));
    assert_string_equal(out_text, "");

    /* Runs that would write the same file are refused before the first run. */
    write_file("collide.yaml", "version: 1\n"
                               "nodes:\n"
                               "  t: { type: TestText, params: { text: x } }\n"
                               "  w: { type: TestWrite, inputs: { text: t.text }, "
                               "params: { path: same.txt } }\n");
    assert_int_equal(sh("%s run %s/collide.yaml --quiet --sweep t.text=a,b", lcmflow, tmp), 1);
    assert_non_null(strstr(err_text, "every run would write w.path"));
    assert_non_null(strstr(err_text, "{value}"));
    assert_string_equal(out_text, "");
    snprintf(path, sizeof path, "%s/same.txt", tmp);
    assert_int_equal(access(path, F_OK), -1);
    /* Sweeping the path itself, or a single value, is fine. */
    assert_int_equal(
        sh("%s run %s/collide.yaml --quiet --sweep w.path=p1.txt,p2.txt", lcmflow, tmp), 0);
    assert_int_equal(sh("%s run %s/collide.yaml --quiet --sweep t.text=a", lcmflow, tmp), 0);
}

/* Sampler and SaveImage values that used to act silently are refused when
** the graph is validated (the SD and image plugins from the build tree;
** nothing is loaded or run). */
static void test_honest_ranges(void **state)
{
    (void)state;
    assert_int_equal(sh("%s run ../../graphs/txt2img.yaml --quiet --set sample.cfg=0.5", lcmflow),
                     1);
    assert_non_null(strstr(err_text, "param 'cfg' of node 'sample' (LcmSampler) is 0.5, out of "
                                     "range [1, 30]"));
    assert_int_equal(sh("%s run ../../graphs/txt2img.yaml --quiet --set sample.denoise=0", lcmflow),
                     1);
    assert_non_null(strstr(err_text, "sample.denoise: LCM scheduler: denoise 0 is not in (0, 1]"));
    assert_int_equal(
        sh("%s run ../../graphs/txt2img.yaml --quiet --sweep sample.denoise=1,0.1", lcmflow), 1);
    assert_non_null(strstr(err_text, "denoise 0.1 leaves no step of 4"));
    assert_string_equal(out_text, "");
    assert_int_equal(sh("%s run ../../graphs/txt2img.yaml --quiet --set save.path=x.gif", lcmflow),
                     1);
    assert_non_null(strstr(err_text, "must end in .png, .jpg, .jpeg or .bmp"));
}

/* The image plugin's ContactSheet (host only, no device): the file written
** is named on stderr, its extension picks the format, and a path longer
** than the old fixed buffers is written under its whole name. */
static void test_written_files(void **state)
{
    char yaml[8192], src[PATH_MAX], path[2048], dirs[1600];
    (void)state;
    snprintf(path, sizeof path, "%s/../../examples/sketch.png", graphs_dir);
    assert_non_null(realpath(path, src));
    int n = snprintf(dirs, sizeof dirs, "%s", tmp);
    while (n < 1150)
        n += snprintf(dirs + n, sizeof dirs - (size_t)n, "/%0200d", 3);
    snprintf(path, sizeof path, "%s/sheet.jpg", dirs);
    snprintf(yaml, sizeof yaml,
             "version: 1\n"
             "nodes:\n"
             "  sheet: { type: ContactSheet, params: { images: \"%s,%s\", columns: 2,\n"
             "           path: \"%s\" } }\n",
             src, src, path);
    write_file("sheet.yaml", yaml);
    assert_int_equal(sh("%s run %s/sheet.yaml", lcmflow, tmp), 0);
    char want[600];
    snprintf(want, sizeof want, "sheet: info: wrote %s/", tmp); /* log lines are cut at 1 KiB */
    assert_non_null(strstr(err_text, want));
    FILE *f = fopen(path, "rb");
    unsigned char magic[3] = {0};
    assert_non_null(f);
    assert_int_equal(fread(magic, 1, 3, f), 3);
    fclose(f);
    assert_memory_equal(magic, "\xff\xd8\xff", 3);
}

/* A FIFO given as a vocabulary is named as such (it blocked in open()). */
static void test_not_regular_files(void **state)
{
    char path[600];
    (void)state;
    snprintf(path, sizeof path, "%s/vocab.txt.gz", tmp);
    assert_int_equal(mkfifo(path, 0600), 0);
    assert_int_equal(sh("%s tokenize --vocab %s cat", lcmflow, path), 1);
    assert_non_null(strstr(err_text, "cannot open vocabulary: not a regular file but a FIFO"));
    unlink(path);
}

/* Runs argv with stderr to tmp/interrupt.err, sends SIGINT once started
** appears on stderr; returns the exit status, stderr in err_text. */
static int interrupt_when(char *const argv[], const char *started)
{
    char path[512];
    snprintf(path, sizeof path, "%s/interrupt.err", tmp);
    unlink(path);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        if (!freopen(path, "w", stderr) || chdir(graphs_dir)) _exit(99);
        execv(argv[0], argv);
        _exit(98);
    }
    for (int i = 0; i < 1000; i++) {
        char *text = read_all(path);
        bool seen = strstr(text, started) != NULL;
        free(text);
        if (seen) break;
        nanosleep(&(struct timespec){.tv_nsec = 10 * 1000000L}, NULL);
    }
    kill(pid, SIGINT);
    int st = 0;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    free(err_text);
    err_text = read_all(path);
    assert_true(WIFEXITED(st));
    return WEXITSTATUS(st);
}

static void test_interrupt(void **state)
{
    char path[512];
    (void)state;
    write_file("slow.yaml", "version: 1\n"
                            "nodes:\n"
                            "  a: { type: TestSteps, params: { steps: 1000, delay_ms: 5 } }\n"
                            "  b: { type: TestSteps, inputs: { after: a.value } }\n");
    snprintf(path, sizeof path, "%s/slow.yaml", tmp);
    /* Once node a has started (its progress line is out), Ctrl-C. */
    assert_int_equal(
        interrupt_when((char *[]){(char *)lcmflow, "run", path, NULL}, "[1/2] a (TestSteps)\n"),
        130);
    assert_non_null(strstr(err_text, "\nlcmflow: interrupted at step "));
    assert_null(strstr(err_text, "[2/2] b"));
}

/* lcmflow lua: Ctrl-C exits 130 like run, in a graph and in Lua code;
** progress on stderr unless --quiet; errors name script:line, no traceback. */
static void test_lua_cli(void **state)
{
    char path[512];
    (void)state;
    write_file("slow.lua", "local lf = require 'lcmflow'\n"
                           "local g = lf.load(arg[1])\n"
                           "g:run()\n"
                           "print('not reached')\n");
    snprintf(path, sizeof path, "%s/slow.lua", tmp);
    char yaml[512];
    snprintf(yaml, sizeof yaml, "%s/slow.yaml", tmp);
    write_file("slow.yaml", "version: 1\n"
                            "nodes:\n"
                            "  a: { type: TestSteps, params: { steps: 1000, delay_ms: 5 } }\n"
                            "  b: { type: TestSteps, inputs: { after: a.value } }\n");
    assert_int_equal(interrupt_when((char *[]){(char *)lcmflow, "lua", path, yaml, NULL},
                                    "[1/2] a (TestSteps)\n"),
                     130);
    assert_non_null(strstr(err_text, "lcmflow lua: interrupted\n"));
    assert_null(strstr(err_text, "[2/2] b"));
    write_file("loop.lua", "io.stderr:write('looping\\n')\nlocal n = 0\n"
                           "while true do n = n + 1 end\n");
    snprintf(path, sizeof path, "%s/loop.lua", tmp);
    assert_int_equal(interrupt_when((char *[]){(char *)lcmflow, "lua", path, NULL}, "looping\n"),
                     130);

    write_file("p.lua", "local lf = require 'lcmflow'\nlf.load('ok.yaml'):run()\n");
    assert_int_equal(sh("%s lua %s/p.lua", lcmflow, tmp), 0);
    assert_non_null(strstr(err_text, "[4/4] twice (TestScale)\n"));
    assert_int_equal(sh("%s lua --quiet %s/p.lua", lcmflow, tmp), 0);
    assert_string_equal(err_text, "");
    assert_int_equal(sh("%s lua -q --nope %s/p.lua", lcmflow, tmp), 2);

    /* A bad argument raised in C gets the script's line; no traceback. */
    write_file("bad4.lua", "local lf = require 'lcmflow'\n"
                           "local g = lf.load('ok.yaml')\n"
                           "\n"
                           "g:set(42)\n");
    assert_int_equal(sh("%s lua %s/bad4.lua", lcmflow, tmp), 1);
    assert_non_null(strstr(err_text, "/bad4.lua:4: bad argument #2 to 'set'"));
    assert_null(strstr(err_text, "traceback"));
    assert_null(strstr(err_text, "[C]"));
    write_file("bad5.lua", "local x = nil\nprint(x.y)\n");
    assert_int_equal(sh("%s lua %s/bad5.lua", lcmflow, tmp), 1);
    assert_non_null(strstr(err_text, "/bad5.lua:2: attempt to index a nil value"));
    assert_null(strstr(err_text, "traceback"));
}

/* A relative path typed with --set means the current folder; one written
** in the graph file means the graph's folder. */
static void test_set_path_cwd(void **state)
{
    (void)state;
    write_file("words.txt", "in tmp");
    char sub[600], path[700];
    snprintf(sub, sizeof sub, "%s/g", tmp);
    mkdir(sub, 0700);
    write_file("g/words.txt", "beside the graph");
    write_file("g/read.yaml", "version: 1\nnodes:\n"
                              "  r: { type: TestReadFile, params: { path: words.txt } }\n");
    snprintf(path, sizeof path, "%s/g/read.yaml", tmp);
    assert_int_equal(sh("cd '%s' && %s run %s -q", tmp, lcmflow, path), 0);
    assert_non_null(strstr(out_text, "r.text = beside the graph\n"));
    assert_int_equal(sh("cd '%s' && %s run %s -q --set r.path=words.txt", tmp, lcmflow, path), 0);
    assert_non_null(strstr(out_text, "r.text = in tmp\n"));
    assert_int_equal(
        sh("cd '%s' && %s run %s -q --sweep r.path=words.txt,g/words.txt", tmp, lcmflow, path), 0);
    assert_non_null(strstr(out_text, "r.text = in tmp\n"));
    assert_non_null(strstr(out_text, "r.text = beside the graph\n"));
}

/* A plugin that cannot be loaded is reported and skipped: commands work. */
static void test_broken_plugin(void **state)
{
    (void)state;
    assert_int_equal(
        sh("LCMFLOW_PLUGIN_PATH='%s/broken:%s' %s nodes", plugin_dir, plugin_dir, lcmflow), 0);
    assert_non_null(strstr(err_text, "lcmflow: warning: plugin skipped: "));
    assert_non_null(strstr(err_text, "/bad_abi.so: plugin ABI 999"));
    assert_non_null(strstr(out_text, "TestAdd - "));
    /* A graph needing a type the skipped plugin might define names it. */
    assert_int_equal(sh("LCMFLOW_PLUGIN_PATH='%s/broken:%s' %s run unknown_type.yaml", plugin_dir,
                        plugin_dir, lcmflow),
                     1);
    assert_non_null(strstr(err_text, "plugins could not be loaded: "));
    assert_non_null(strstr(err_text, "bad_abi.so: plugin ABI 999"));
}

static void test_nodes(void **state)
{
    (void)state;
    assert_int_equal(sh("%s nodes", lcmflow), 0);
    assert_non_null(strstr(out_text, "TestAdd - Adds two numbers. [lftest_counting 1.0.0]\n"
                                     "    inputs: a FLOAT, b FLOAT?\n"
                                     "    outputs: sum FLOAT\n"
                                     "    params: -\n"));
    assert_non_null(strstr(out_text, "TestScale - "));
    /* The list shows ranges too. */
    assert_non_null(strstr(out_text, "    params: factor FLOAT=1 in [-1000, 1000]\n"));
    assert_int_equal(sh("%s nodes TestScale", lcmflow), 0);
    assert_non_null(strstr(out_text, "TestScale - Multiplies a number by a factor.\n"));
    assert_non_null(strstr(out_text, "plugin: lftest_counting 1.0.0 ("));
    assert_non_null(
        strstr(out_text, "  factor           FLOAT         default 1, range [-1000, 1000]\n"));
    assert_int_equal(sh("%s nodes TestScal", lcmflow), 1);
    assert_string_equal(
        err_text, "lcmflow nodes: unknown node type 'TestScal' (did you mean 'TestScale'?)\n");
}

static void test_lua(void **state)
{
    (void)state;
    assert_int_equal(sh("%s lua %s/seed_sweep.lua 5,6", lcmflow, lua_dir), 0);
    const char *second = strstr(out_text, "\nsample.seed=6 ");
    assert_non_null(strstr(out_text, "sample.seed=5  decode.value="));
    assert_non_null(strstr(out_text, "ran: model prompt sample decode  cached: \n"));
    assert_non_null(second);
    assert_non_null(strstr(second, "ran: sample decode  cached: model prompt\n"));
    assert_int_equal(sh("%s lua %s/param_grid.lua", lcmflow, lua_dir), 0);
    assert_non_null(strstr(out_text, "(3 ran)"));
    assert_non_null(strstr(out_text, "(1 ran)"));

    /* Errors carry the script position, and the graph's when there is one. */
    write_file("bad1.lua", "local lf = require 'lcmflow'\nlocal g = lf.load('nope.yaml')\n");
    assert_int_equal(sh("%s lua %s/bad1.lua", lcmflow, tmp), 1);
    assert_non_null(strstr(err_text, "lcmflow lua: "));
    assert_non_null(strstr(err_text, "/bad1.lua:2: nope.yaml: cannot open: No such file or "
                                     "directory\n"));
    write_file("bad2.lua", "local lf = require 'lcmflow'\n"
                           "local g = lf.load('cycle.yaml')\n");
    assert_int_equal(sh("%s lua %s/bad2.lua", lcmflow, tmp), 1);
    assert_non_null(strstr(err_text, "/bad2.lua:2: cycle.yaml:4:3: cycle: a -> b -> c -> a\n"));
    write_file("bad3.lua", "local lf = require 'lcmflow'\n"
                           "\n"
                           "local g = lf.graph{ nodes = { a = { type = 'TestAd' } } }\n");
    assert_int_equal(sh("%s lua %s/bad3.lua", lcmflow, tmp), 1);
    assert_non_null(
        strstr(err_text, "/bad3.lua:3: unknown node type 'TestAd' (did you mean 'TestAdd'?)\n"));
    write_file("api.lua",
               "local lf = require 'lcmflow'\n"
               "local g = lf.load('ok.yaml')\n"
               "local r = g:run()\n"
               "assert(r:output('twice.value') == 11, 'first run')\n"
               "assert(#r:ran() == 4 and r:state('y') == 'ran')\n"
               "g:set('twice.factor', 3)\n"
               "assert(g:get('twice.factor') == 3.0)\n"
               "r = g:run()\n"
               "assert(r:output('twice.value') == 16.5)\n"
               "assert(#r:ran() == 1 and r:ran()[1] == 'twice', 'only twice re-ran')\n"
               "assert(r:state('sum') == 'cached')\n"
               "r = g:run({'x.value'})\n"
               "assert(r:output('x.value') == 2 and r:output('twice.value') == nil)\n"
               "local b = lf.graph{ nodes = { m = { type = 'TestBlob', params = { kb = 4 } } },\n"
               "                    outputs = { 'm.blob' } }\n"
               "local blob = b:run():output('m.blob')\n"
               "assert(blob.type == 'UNET' and blob.kind == 'lftest.blob' and blob.bytes == 4096)\n"
               "local found\n"
               "for _, t in ipairs(lf.nodes()) do\n"
               "  if t.name == 'TestScale' then found = t end\n"
               "end\n"
               "assert(found.plugin == 'lftest_counting' and found.params[1].name == 'factor')\n"
               "assert(found.params[1].default == 1.0 and found.params[1].max == 1000)\n"
               "local ok, msg = pcall(function() g:set('twice.factor', 'abc') end)\n"
               "assert(not ok and msg:find('api.lua:24: param .factor. of node .twice.'), msg)\n"
               "lf.progress('lines')\n"
               "g:set('twice.factor', 4)\n"
               "g:run()\n"
               "local ok2, msg2 = pcall(r.values, r, 'x.value')\n"
               "assert(not ok2 and msg2:find('not a tensor output'), msg2)\n"
               "local ok3, msg3 = pcall(lf.cache_mb, 1 << 44)\n"
               "assert(not ok3 and msg3:find('out of range'), msg3)\n"
               "local ok4, msg4 = pcall(g.set, g, 'twice.factor', 'a\\0b')\n"
               "assert(not ok4 and msg4:find('twice.factor: the value contains a NUL'), msg4)\n"
               "local ok5, msg5 = pcall(lf.graph, { nodes = { t = { type = 'TestText',\n"
               "                        params = { text = 'a\\0b' } } } })\n"
               "assert(not ok5 and msg5:find('t.text: the value contains a NUL'), msg5)\n"
               "print('api ok')\n");
    assert_int_equal(sh("%s lua --quiet %s/api.lua", lcmflow, tmp), 0);
    assert_string_equal(out_text, "api ok\n");
    assert_string_equal(err_text, "[1/1] twice (TestScale)\n");
}

/* A seed of 2^64-1 (plugin ABI 1.2 unsigned INT) through YAML, --set,
** `nodes` and Lua. */
static void test_big_seed(void **state)
{
    (void)state;
    write_file("seed.yaml", "version: 1\nnodes:\n"
                            "  s: { type: TestSeed, params: { seed: 18446744073709551615 } }\n");
    assert_int_equal(sh("%s run %s/seed.yaml --quiet", lcmflow, tmp), 0);
    assert_string_equal(out_text, "s.bits = -1\n"); /* the output is a plain (signed) INT */
    assert_int_equal(sh("%s run %s/seed.yaml -q --set s.seed=18446744073709551614", lcmflow, tmp),
                     0);
    assert_string_equal(out_text, "s.bits = -2\n");
    assert_int_equal(sh("%s run %s/seed.yaml -q --set s.seed=-1", lcmflow, tmp), 1);
    assert_non_null(strstr(err_text, "expects an unsigned integer, got '-1'"));
    assert_int_equal(sh("%s nodes TestSeed", lcmflow), 0);
    assert_non_null(strstr(out_text, "  seed             INT           default 0, range [0, "
                                     "18446744073709551615]\n"));
    write_file("seed.lua",
               "local lf = require 'lcmflow'\n"
               "local g = lf.load(arg[1])\n"
               "assert(g:get('s.seed') == '18446744073709551615', tostring(g:get('s.seed')))\n"
               "g:set('s.seed', '18446744073709551614')\n"
               "assert(g:get('s.seed') == '18446744073709551614')\n"
               "assert(g:run():output('s.bits') == -2)\n"
               "g:set('s.seed', g:get('s.seed'))\n"
               "assert(g:run():output('s.bits') == -2)\n"
               "g:set('s.seed', 7)\n"
               "assert(g:get('s.seed') == 7)\n"
               "local h = lf.graph{nodes = {s = {type = 'TestSeed', params = {\n"
               "  seed = '18446744073709551615', offset = math.mininteger + 1}}}}\n"
               "assert(h:get('s.seed') == '18446744073709551615')\n"
               "assert(h:get('s.offset') == math.mininteger + 1)\n"
               "assert(not pcall(g.set, g, 's.seed', 2^64))\n"
               "assert(not pcall(g.set, g, 's.seed', -1))\n"
               "for _, t in ipairs(lf.nodes()) do\n"
               "  for _, p in ipairs(t.params) do\n"
               "    if t.name == 'TestSeed' and p.name == 'high' then\n"
               "      assert(p.min == '9223372036854775808' and p.max == '18446744073709551614')\n"
               "      assert(p.default == '9223372036854775808')\n"
               "    end\n"
               "  end\n"
               "end\n"
               "print('seed ok')\n");
    assert_int_equal(sh("%s lua %s/seed.lua %s/seed.yaml", lcmflow, tmp, tmp), 0);
    assert_string_equal(out_text, "seed ok\n");
}

/* One --device parser: an index or a name; anything else is an error
** naming the devices, for every command and LCMFLOW_DEVICE. */
static void test_device_choice(void **state)
{
    (void)state;
    assert_int_equal(sh("%s bench ops --device abc", lcmflow), 2);
    assert_non_null(strstr(err_text, "lcmflow bench ops: device 'abc'"));
    assert_int_equal(sh("%s bench ops --device 99", lcmflow), 2);
    assert_non_null(strstr(err_text, "lcmflow bench ops: device '99'"));
    assert_int_equal(sh("%s bench sd15 --device abc", lcmflow), 2);
    assert_non_null(strstr(err_text, "lcmflow bench sd15: device 'abc'"));
    assert_int_equal(sh("%s run ok.yaml --device abc", lcmflow), 2);
    assert_non_null(strstr(err_text, "lcmflow run: device 'abc'"));
    assert_int_equal(sh("%s lua --device abc x.lua", lcmflow), 2);
    assert_non_null(strstr(err_text, "lcmflow lua: device 'abc'"));
    assert_int_equal(sh("LCMFLOW_DEVICE=abc %s devices", lcmflow), 2);
    assert_non_null(strstr(err_text, "lcmflow devices: LCMFLOW_DEVICE: device 'abc'"));
    /* A bad LCMFLOW_DEVICE is a device error before anything runs, not an
    ** error of the first node that needs a device. */
    assert_int_equal(sh("LCMFLOW_DEVICE=99 %s run ok.yaml", lcmflow), 2);
    assert_non_null(strstr(err_text, "lcmflow run: LCMFLOW_DEVICE: device '99'"));
    assert_null(strstr(err_text, "node"));
    assert_int_equal(sh("LCMFLOW_DEVICE=99 %s lua x.lua", lcmflow), 2);
    assert_non_null(strstr(err_text, "lcmflow lua: LCMFLOW_DEVICE: device '99'"));
    if (sh("%s devices", lcmflow) != 0 || !strstr(out_text, "llvmpipe")) return; /* no lavapipe */
    assert_int_equal(sh("%s bench ops --device abc", lcmflow), 2);
    assert_non_null(strstr(err_text, "not found: give an index or a name of 0 '"));
    assert_non_null(strstr(err_text, "llvmpipe"));
    assert_int_equal(sh("%s devices --device LavaPipe", lcmflow), 0);
    assert_non_null(strstr(out_text, "* "));
    assert_non_null(strstr(strstr(out_text, "* "), "llvmpipe"));
    assert_int_equal(sh("LCMFLOW_DEVICE=cpu %s devices", lcmflow), 0);
    /* "cpu" names the native CPU backend where it is built (a backend's name
    ** wins), else the first device of type CPU. */
    const char *cpu = strstr(out_text, "native CPU backend") ? "native CPU backend" : "llvmpipe";
    assert_non_null(strstr(strstr(out_text, "* "), cpu));
}

static void test_embed(void **state)
{
    (void)state;
    assert_int_equal(sh("%s ok.yaml twice.factor=3 twice.value %s", embed, plugin_dir), 0);
    assert_string_equal(out_text, "first run: twice.value = 11 (4 nodes executed)\n"
                                  "after set: twice.value = 16.5 (1 nodes executed)\n");
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_help),
        cmocka_unit_test(test_run),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_sweep),
        cmocka_unit_test(test_honest_ranges),
        cmocka_unit_test(test_written_files),
        cmocka_unit_test(test_not_regular_files),
        cmocka_unit_test(test_interrupt),
        cmocka_unit_test(test_lua_cli),
        cmocka_unit_test(test_broken_plugin),
        cmocka_unit_test(test_set_path_cwd),
        cmocka_unit_test(test_nodes),
        cmocka_unit_test(test_lua),
        cmocka_unit_test(test_embed),
        cmocka_unit_test(test_big_seed),
        cmocka_unit_test(test_device_choice),
    };
    if (argc < 6) {
        fprintf(stderr, "usage: test-cli LCMFLOW EMBED PLUGIN_DIR GRAPHS_DIR LUA_DIR\n");
        return 1;
    }
    lcmflow = realpath(argv[1], NULL);
    embed = realpath(argv[2], NULL);
    plugin_dir = realpath(argv[3], NULL);
    graphs_dir = argv[4];
    lua_dir = realpath(argv[5], NULL);
    if (!lcmflow || !embed || !plugin_dir || !lua_dir || !mkdtemp(tmp)) {
        fprintf(stderr, "test-cli: missing executable or folder\n");
        return 1;
    }
    setenv("LCMFLOW_PLUGIN_PATH", plugin_dir, 1);
    int status = cmocka_run_group_tests(tests, NULL, NULL);
    test_remove_tree(tmp);
    return status;
}
