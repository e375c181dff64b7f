/*
** cli_devices.c - `lcmflow devices`: every device of every backend and
** what it can do.
*/
#include "cli.h"
#include "lcmflow/device.h"
#include "lcmflow/device_select.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct {
    uint32_t cap;
    const char *name;
} caps[] = {
    {LF_DEVICE_CAP_SUPPORTED, "supported"},           {LF_DEVICE_CAP_F16_STORAGE, "f16-storage"},
    {LF_DEVICE_CAP_F16_ARITHMETIC, "f16-arithmetic"}, {LF_DEVICE_CAP_BF16, "bf16"},
    {LF_DEVICE_CAP_BF16_NATIVE, "bf16-native"},       {LF_DEVICE_CAP_HOST_MEMORY, "host-memory"},
    {LF_DEVICE_CAP_F16_WEIGHTS, "f16-weights"},
};

static void print_device(const struct lf_device_info *d, bool chosen)
{
    printf("%s%u: %s (%s, %s)\n", chosen ? "* " : "  ", d->index, d->name,
           lf_backend_kind_name(d->backend), lf_device_type_name(d->type));
    printf("    memory            %.1f GiB\n", (double)d->memory_size / (1024.0 * 1024 * 1024));
    printf("    capabilities     ");
    for (size_t i = 0; i < sizeof caps / sizeof *caps; i++)
        if (d->caps & caps[i].cap) printf(" %s", caps[i].name);
    printf("\n");
    /* details: lines of free text from the backend. */
    for (const char *line = d->details; *line;) {
        size_t n = strcspn(line, "\n");
        printf("    %.*s\n", (int)n, line);
        line += n + (line[n] == '\n');
    }
}

bool lf_cli_device_choice(const char *command, const char *value, int *index)
{
    struct lf_error err = {0};
    char text[1200];
    if (lf_device_select(value, index, &err) == LF_OK) return true;
    fprintf(stderr, "lcmflow %s: %s\n", command, lf_error_text(&err, text, sizeof text));
    return false;
}

bool lf_cli_device_export(const char *command, const char *value)
{
    char number[16];
    int index;
    if (!lf_cli_device_choice(command, value, &index)) return false;
    snprintf(number, sizeof number, "%d", index);
    if (index >= 0) setenv("LCMFLOW_DEVICE", number, 1);
    return true;
}

int lf_cli_devices(int argc, char **argv)
{
    const char *choice = NULL;
    int index;
    if (argc > 1 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
        printf("usage: lcmflow devices [--device N|NAME]\n\n"
               "Lists every device of every backend with its type, memory, capabilities\n"
               "and the backend's details (Vulkan: driver, API version, subgroup size,\n"
               "memory heaps...; CPU: instruction sets, threads, oneDNN).  '*' marks the\n"
               "device lcmflow picks: a GPU first, else the native CPU backend, lavapipe\n"
               "only when asked for or alone.  LCMFLOW_DEVICE or --device takes an index\n"
               "or a name: cpu, lavapipe, vulkan, or part of a device's name.\n");
        return 0;
    }
    if (argc == 3 && !strcmp(argv[1], "--device")) {
        choice = argv[2];
    } else if (argc > 1) {
        fprintf(stderr, "lcmflow devices: unknown or incomplete option '%s'\n", argv[1]);
        return 2;
    }
    if (!lf_cli_device_choice("devices", choice, &index)) return 2;
    struct lf_error err = {0};
    char text[1200];
    uint32_t count = 0;
    struct lf_device_info *infos = NULL;
    if (lf_device_list_alloc(&infos, &count, &err) != LF_OK) {
        fprintf(stderr, "lcmflow devices: %s\n", lf_error_text(&err, text, sizeof text));
        return 1;
    }
    if (count == 0) {
        fprintf(stderr, "lcmflow devices: no device found (no Vulkan device: install "
                        "mesa-vulkan-drivers for lavapipe, or a GPU driver)\n");
        return 1;
    }
    struct lf_device *device = NULL;
    int chosen = -1;
    if (lf_device_create(&(struct lf_device_options){.index = index}, &device, &err) == LF_OK) {
        chosen = (int)lf_device_get_info(device)->index;
        lf_device_destroy(device);
    } else {
        fprintf(stderr, "lcmflow devices: no device can be opened: %s\n",
                lf_error_text(&err, text, sizeof text));
    }
    for (uint32_t i = 0; i < count; i++)
        print_device(&infos[i], (int)i == chosen);
    free(infos);
    return 0;
}
