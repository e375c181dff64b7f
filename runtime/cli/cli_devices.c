/*
** cli_devices.c - `lcmflow devices`: every Vulkan device and what it can do.
*/
#include "cli.h"
#include "lcmflow/device.h"
#include "lcmflow/device_select.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void print_device(const struct lf_device_info *d, bool chosen)
{
    printf("%s%u: %s (%s)\n", chosen ? "* " : "  ", d->index, d->name,
           lf_device_type_name(d->type));
    printf("    driver            %s %s\n", d->driver_name, d->driver_info);
    printf("    Vulkan            %u.%u.%u\n", (d->api_version >> 22) & 0x7fu,
           (d->api_version >> 12) & 0x3ffu, d->api_version & 0xfffu);
    printf("    vendor/device id  0x%04x / 0x%04x\n", d->vendor_id, d->device_id);
    for (uint32_t h = 0; h < d->heap_count; h++)
        printf("    memory heap %u     %.1f GiB%s\n", h,
               (double)d->heap_size[h] / (1024.0 * 1024 * 1024),
               d->heap_device_local[h] ? " device-local" : "");
    printf("    subgroup size     %u\n", d->subgroup_size);
    printf("    fp16              %s\n", d->fp16 ? "yes" : "no");
    printf("    int8              %s\n", d->int8 ? "yes" : "no");
    printf("    cooperative matrix %s\n", d->cooperative_matrix ? "yes" : "no");
    printf("    buffer device address %s\n", d->buffer_device_address ? "yes" : "no");
    printf("    maxStorageBufferRange %.1f MiB\n",
           (double)d->max_storage_buffer_range / (1024.0 * 1024));
    printf("    max shared memory %u KiB\n", d->max_shared_memory / 1024);
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
               "Lists every Vulkan device with its type, driver, API version, memory heaps,\n"
               "subgroup size, fp16/int8 and cooperative-matrix support, maxStorageBufferRange\n"
               "and shared memory.  '*' marks the device lcmflow picks (discrete GPU first,\n"
               "lavapipe last; --device or LCMFLOW_DEVICE, an index or a name such as\n"
               "'lavapipe' or 'cpu', overrides).\n");
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
    if (lf_device_list(NULL, 0, &count, &err) != LF_OK) {
        fprintf(stderr, "lcmflow devices: %s\n", lf_error_text(&err, text, sizeof text));
        return 1;
    }
    if (count == 0) {
        fprintf(stderr, "lcmflow devices: no Vulkan device found (install mesa-vulkan-drivers "
                        "for lavapipe, or a GPU driver)\n");
        return 1;
    }
    struct lf_device_info *infos = calloc(count, sizeof *infos);
    if (!infos || lf_device_list(infos, count, &count, &err) != LF_OK) {
        fprintf(stderr, "lcmflow devices: %s\n", lf_error_text(&err, text, sizeof text));
        free(infos);
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
