/*
** sd_arch_check.h - whether a checkpoint component holds the tensors its
** architecture needs: every weight, bias and norm parameter present, of the
** expected shape, in a float dtype.  The architecture is read from the same
** tensors (sd_arch_read_*); this check is what makes a tensor that is
** missing, misshaped or stored as integers an error naming that tensor,
** instead of a model that runs without it or an error about another one.
**
** The checkpoint loader refuses a component that fails (sd_arch_check);
** `lcmflow info` lists the problems and the tensors nothing reads
** (sd_arch_audit).
*/
#ifndef LCMFLOW_SD_ARCH_CHECK_H
#define LCMFLOW_SD_ARCH_CHECK_H

#include "lcmflow/error.h"
#include "sd_arch.h"
#include "sd_diffusers.h"
#include "sd_names.h"

/* Calls fn for every tensor of component c of arch, named relative to the
** component (the names sd_unet.c, sd_vae.c and sd_clip.c read). */
void sd_arch_each_component(const struct sd_arch *arch, enum sd_component c, sd_arch_fn fn,
                            void *user);

#define SD_ARCH_AUDIT_LIST 6 /* problems and unexpected names kept for messages */

struct sd_arch_audit {
    int64_t expected;                        /* tensors the architecture needs */
    int64_t missing, misshaped, wrong_dtype; /* of those */
    int64_t unexpected;                      /* the component's tensors nothing reads */
    /* The first problems in the architecture's order: "tensor 'x' is
    ** missing (the UNet needs [4])" and so on; names as stored. */
    char problems[SD_ARCH_AUDIT_LIST][320];
    int problem_count;
    char unexpected_names[SD_ARCH_AUDIT_LIST][160];
    int unexpected_count;
    bool out_of_memory; /* the counts are incomplete */
};

/* Audits component c of the file seen through view (the prefix or name
** table its loader uses) against arch (read from the same view).  The
** component's tensors are, for a prefix, those under it; with a name table
** (a diffusers file) or an empty prefix, all of the file's.  The text
** encoder's position_ids (a buffer) is neither expected nor unexpected. */
void sd_arch_audit_component(const struct sd_arch *arch, enum sd_component c,
                             const struct sd_file_view *view, struct sd_arch_audit *out);

/* The same as an error: LF_OK when nothing is missing, misshaped or of
** another dtype; otherwise LF_ERR_FORMAT at the file naming the first bad
** tensor, what it is and what was expected.  Unexpected tensors are no
** error (EMA copies, extra buffers). */
enum lf_status sd_arch_check(const struct sd_arch *arch, enum sd_component c,
                             const struct sd_file_view *view, struct lf_error *err);

#endif
