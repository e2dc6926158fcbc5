/* check.h: the C kernel tests' tiny runner, no framework.
 *
 * A test is a function that reports failures through CHECK/fail(); the runner
 * (main.c) runs every test once per kernel family this CPU supports, each
 * family in its own child process so that a family that crashes (SIGILL from
 * an instruction the CPU lacks) is reported as such and the others still run.
 * Failures print every parameter of the failing case. */
#ifndef PD_CHECK_H
#define PD_CHECK_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* predict.h has no include guard (it is the cffi cdef): core.h includes it once. */
#include "core.h"

/* The family under test (its name, as PREDICT_ISA spells it). */
extern const char *pd_test_family;

/* Its table, for the tests that call kernels directly. */
extern const pd_kernels *pd_test_table;

/* Failures so far in this process. */
extern int pd_test_failures;

#define CHECK(cond, ...)                                                        \
    do {                                                                        \
        if (!(cond)) {                                                          \
            pd_test_failures++;                                                 \
            fprintf(stderr, "FAIL [%s] %s:%d: ", pd_test_family, __FILE__,      \
                    __LINE__);                                                  \
            fprintf(stderr, __VA_ARGS__);                                       \
            fputc('\n', stderr);                                                \
        }                                                                       \
    } while (0)

/* Deterministic pseudo-random numbers (xorshift32), the same on every CPU. */
uint32_t pd_test_rand(void);
void pd_test_seed(uint32_t seed);
/* Uniform in [-1, 1). */
float pd_test_uniform(void);
void pd_test_fill(float *x, size_t n);

/* Compares got with want (n floats) within rel * the largest |want|, plus a
 * tiny absolute floor for all-zero outputs; reports the first bad element
 * with what (a description of the case).  Returns 1 if they agree. */
int pd_test_close(const float *got, const float *want, size_t n, float rel, const char *what);

/* Builds desc with the family PREDICT_ISA names (via the public API), checks
 * that the net really runs with that family, runs batch samples and writes
 * the outputs.  Returns PD_OK or the failing status (already reported). */
int32_t pd_test_run(const pd_net_desc *desc, const char *family, int32_t batch,
                    const void *const *inputs, void *const *outputs, const char *what);
/* The same with threads workers (the core splits GEMM tiles and rows). */
int32_t pd_test_run_threads(const pd_net_desc *desc, const char *family, int32_t threads,
                            int32_t batch, const void *const *inputs, void *const *outputs,
                            const char *what);

/* The test groups, one file each. */
void pd_test_gemm(void);
void pd_test_gemm_tiles(void);
void pd_test_conv(void);
void pd_test_depthwise(void);
void pd_test_eltwise(void);
void pd_test_whole_net(void);
void pd_test_int8(void);
void pd_test_q8(void);
/* Once, not per family (test_sha256.c). */
void pd_test_sha256(void);
void pd_test_resample(void); /* 8-bit image resampling, per family */

#endif
