/*
** device_select.c - parsing a device choice (device_select.h) against the
** devices lf_device_list reports.
*/
#include "lcmflow/device_select.h"
#include "lcmflow/device.h"

#include <ctype.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Whether needle occurs in haystack, ignoring case. */
static bool contains(const char *haystack, const char *needle)
{
    size_t n = strlen(needle);
    for (; *haystack; haystack++) {
        size_t i = 0;
        while (i < n && haystack[i] &&
               tolower((unsigned char)haystack[i]) == tolower((unsigned char)needle[i]))
            i++;
        if (i == n) return true;
    }
    return n == 0;
}

static bool matches(const struct lf_device_info *d, const char *text)
{
    if (!strcasecmp(text, lf_device_type_name(d->type)) ||
        !strcasecmp(text, lf_backend_kind_name(d->backend)))
        return true;
    if (contains(d->name, text) || contains(d->details, text)) return true;
    return !strcasecmp(text, "lavapipe") &&
           (contains(d->name, "llvmpipe") || contains(d->details, "llvmpipe"));
}

/* Whether text is a plain decimal index, written to *value. */
static bool parse_number(const char *text, long *value)
{
    char *end;
    if (!isdigit((unsigned char)text[0])) return false;
    *value = strtol(text, &end, 10);
    return *end == '\0';
}

/* "0 'llvmpipe (LLVM 15.0.6, 256 bits)' (CPU), 1 ..." into buf. */
static void list_devices(const struct lf_device_info *infos, uint32_t count, char *buf, size_t size)
{
    size_t len = 0;
    buf[0] = '\0';
    for (uint32_t i = 0; i < count && len < size; i++)
        len += (size_t)snprintf(buf + len, size - len, "%s%u '%s' (%s)", i ? ", " : "", i,
                                infos[i].name, lf_device_type_name(infos[i].type));
}

enum lf_status lf_device_parse(const char *text, int *index, struct lf_error *err)
{
    struct lf_device_info *infos = NULL;
    uint32_t count = 0;
    enum lf_status st = lf_device_list_alloc(&infos, &count, err);
    long number;
    if (st) {
        lf_error_prefix(err, "device '%s'", text);
        return st;
    }
    if (count == 0)
        return lf_error_set(err, LF_ERR_NO_DEVICE, "device '%s': no device found", text);
    *index = -1;
    if (parse_number(text, &number)) {
        if (number < (long)count) *index = (int)number;
    } else {
        /* A backend's name first ("cpu": the native CPU backend, not a
        ** Vulkan device of type CPU such as lavapipe), then any match. */
        for (uint32_t i = 0; i < count && *index < 0; i++)
            if (!strcasecmp(text, lf_backend_kind_name(infos[i].backend))) *index = (int)i;
        for (uint32_t i = 0; i < count && *index < 0; i++)
            if (text[0] && matches(&infos[i], text)) *index = (int)i;
    }
    if (*index < 0) {
        char names[700];
        list_devices(infos, count, names, sizeof names);
        st = lf_error_set(err, LF_ERR_INVALID,
                          "device '%s' not found: give an index or a name of %s (see 'lcmflow "
                          "devices')",
                          text, names);
    }
    free(infos);
    return st;
}

enum lf_status lf_device_select(const char *text, int *index, struct lf_error *err)
{
    const char *env = getenv("LCMFLOW_DEVICE");
    enum lf_status st;
    *index = -1;
    if (text) return lf_device_parse(text, index, err);
    if (!env || !env[0]) return LF_OK;
    if ((st = lf_device_parse(env, index, err)) != LF_OK) lf_error_prefix(err, "LCMFLOW_DEVICE");
    return st;
}
