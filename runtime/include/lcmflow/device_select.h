/*
** device_select.h - the one parser of device choices: `--device` of every
** command and LCMFLOW_DEVICE take the same text.
**
**     int index;
**     if (lf_device_select(opt_device, &index, &err)) ... // "device 'abc' not found; ..."
**     struct lf_device_options o = {.index = index};      // -1: the best device
**
** A choice is an index in `lcmflow devices` order, or a name matched
** case-insensitively: a device's type ("cpu", "discrete GPU"), or a part of
** its name or driver name ("llvmpipe", "nvidia"); "lavapipe" names Mesa's
** software device (whose driver calls itself llvmpipe).  The first device
** in enumeration order that matches is taken.  Anything else is an error
** that lists the available devices.
*/
#ifndef LCMFLOW_DEVICE_SELECT_H
#define LCMFLOW_DEVICE_SELECT_H

#include "lcmflow/error.h"

/* Parses text into *index (>= 0).  LF_ERR_INVALID naming text and every
** available device when nothing matches; LF_ERR_NO_DEVICE when there is
** no device at all. */
enum lf_status lf_device_parse(const char *text, int *index, struct lf_error *err);

/* The device asked for: text when not NULL (a --device value), else
** LCMFLOW_DEVICE when set and not empty (errors prefixed with its name),
** else -1 (let lf_device_create pick the best device). */
enum lf_status lf_device_select(const char *text, int *index, struct lf_error *err);

#endif
