/*
** value.h - copying, clearing and sizing the values that travel on a
** graph's edges and in its params (struct lf_value, plugin.h).
**
**     struct lf_value copy;
**     if (lf_value_copy(&copy, v, &err) == LF_OK) { ... lf_value_clear(&copy); }
*/
#ifndef LCMFLOW_VALUE_H
#define LCMFLOW_VALUE_H

#include "lcmflow/error.h"
#include "lcmflow/plugin.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Copies src into *dst (a new reference for tensors and objects, a new
** string for STRING).  *dst is overwritten, not cleared first. */
enum lf_status lf_value_copy(struct lf_value *dst, const struct lf_value *src,
                             struct lf_error *err);
/* Releases what v owns and sets it to type NONE.  NULL allowed. */
void lf_value_clear(struct lf_value *v);
/* Bytes the value holds, for the cache budget. */
size_t lf_value_nbytes(const struct lf_value *v);

/* ---- INT params: 64-bit, signed or LF_PARAM_UNSIGNED (plugin.h) ----
** Values and bounds travel as int64_t bits; these read them by the param's
** declaration, so every reader (graphs, --set, Lua, `lcmflow nodes`) agrees. */

/* The inclusive bounds of INT param d, however the plugin declared them
** (min_int/max_int, doubles, or none: the whole signed or unsigned range). */
void lf_param_int_bounds(const struct lf_param_desc *d, int64_t *min, int64_t *max);
/* Parses decimal text as an integer of d's signedness into *out (no sign
** for UNSIGNED params); false when the text is none.  Bounds are not
** checked: lf_param_int_in_range. */
bool lf_param_int_parse(const struct lf_param_desc *d, const char *text, int64_t *out);
/* Whether v lies within lf_param_int_bounds(d). */
bool lf_param_int_in_range(const struct lf_param_desc *d, int64_t v);
/* Writes v as d declares it ("18446744073709551615" for an UNSIGNED
** param's -1 bits) into buf; returns buf. */
const char *lf_param_int_format(const struct lf_param_desc *d, int64_t v, char *buf, size_t size);

#endif
