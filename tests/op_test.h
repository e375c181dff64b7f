/*
** op_test.h - helpers for the op tests: a validated device shared by a test
** program, random inputs, tensors from host arrays, and error measures.
** Every op test compares the Vulkan op with its plain-C reference (ref_ops.h).
*/
#ifndef LCMFLOW_OP_TEST_H
#define LCMFLOW_OP_TEST_H

#include "lcmflow/ops.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Opens the device once per process, with validation (the test env sets
** LCMFLOW_VALIDATION=1).  Exits 77 (skip) when no Vulkan device exists. */
struct lf_device *op_test_device(void);

/* Whether the test device is lavapipe (Vulkan on the CPU, llvmpipe): the
** Vulkan backend's CPU kernels and llvmpipe's loop limit apply there. */
bool op_test_lavapipe(void);

/* Closes the device (if one was opened) and returns rc: call it on the way
** out of main, while the driver is whole.  (An atexit handler would run
** after handlers the driver registers later for its worker threads, and
** crash now and then.) */
int op_test_finish(int rc);

/* Fails the current test when the validation layer reported errors. */
void op_test_check_validation(void);

/* Fills data with uniform values in [lo, hi) from a fixed-seed generator. */
void op_test_random(float *data, size_t count, float lo, float hi, uint32_t seed);

/* A tensor of the given dtype holding data (rounded to f16 when dtype is
** f16; data is updated in place to the rounded values so references see
** exactly what the device sees).  Fails the test on error. */
struct lf_tensor *op_test_tensor(enum lf_dtype dtype, int rank, const int64_t *shape, float *data);

/* Downloads a float tensor into a new malloc'd array (caller frees). */
float *op_test_download(struct lf_tensor *t);

/* Largest |a - b| / (atol + rtol * |b|) over count values: <= 1 means within
** tolerance.  worst_abs receives the largest absolute error. */
double op_test_compare(const float *got, const float *want, size_t count, double atol, double rtol,
                       double *worst_abs);

/* Asserts that compare() <= 1, printing the worst error and the label. */
void op_test_assert_close(const char *label, const float *got, const float *want, size_t count,
                          double atol, double rtol);

#endif
