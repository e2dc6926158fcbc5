/* runner.c: helpers of check.h that talk to the core. */
/* setenv, unsetenv, strsignal, fork: POSIX.1-2008. */
#define _POSIX_C_SOURCE 200809L

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "core.h"

const char *pd_test_family = "?";
const pd_kernels *pd_test_table = NULL;
int pd_test_failures = 0;

static uint32_t state = 2463534242u;

void pd_test_seed(uint32_t seed)
{
    state = seed != 0 ? seed : 2463534242u;
}

uint32_t pd_test_rand(void)
{
    state ^= state << 13;
    state ^= state >> 17;
    state ^= state << 5;
    return state;
}

float pd_test_uniform(void)
{
    return (float)(pd_test_rand() >> 8) / (float)(1u << 23) - 1.0f;
}

void pd_test_fill(float *x, size_t n)
{
    for (size_t i = 0; i < n; i++)
        x[i] = pd_test_uniform();
}

int pd_test_close(const float *got, const float *want, size_t n, float rel, const char *what)
{
    float peak = 0.0f;
    for (size_t i = 0; i < n; i++)
        peak = fmaxf(peak, fabsf(want[i]));
    const float tol = rel * fmaxf(peak, 1e-6f);
    for (size_t i = 0; i < n; i++) {
        float err = fabsf(got[i] - want[i]);
        if (!(err <= tol) && !(isnan(got[i]) && isnan(want[i]))) {
            CHECK(0, "%s: element %zu of %zu is %.9g, reference %.9g (error %.3g > %.3g = %.0e x peak %.6g)",
                  what, i, n, (double)got[i], (double)want[i], (double)err, (double)tol, (double)rel,
                  (double)peak);
            return 0;
        }
    }
    return 1;
}

/* PREDICT_ISA is read at every net build (kernels.h, "Choosing"), so one
 * process builds the reference net and the family's net side by side. */
int32_t pd_test_run(const pd_net_desc *desc, const char *family, int32_t batch,
                    const void *const *inputs, void *const *outputs, const char *what)
{
    return pd_test_run_threads(desc, family, 1, batch, inputs, outputs, what);
}

int32_t pd_test_run_threads(const pd_net_desc *desc, const char *family, int32_t threads,
                            int32_t batch, const void *const *inputs, void *const *outputs,
                            const char *what)
{
    char err[256];
    pd_net *net = NULL;
    setenv("PREDICT_ISA", family, 1);
    int32_t st = pd_net_build(desc, &net, err, sizeof err);
    CHECK(st == PD_OK, "%s: build with %s: %s: %s", what, family, pd_status_name(st), err);
    if (st != PD_OK)
        return st;
    CHECK(strcmp(pd_net_isa_name(net), family) == 0, "%s: PREDICT_ISA=%s built a net with family %s",
          what, family, pd_net_isa_name(net));
    if (threads != 1) {
        st = pd_net_set_threads(net, threads, err, sizeof err);
        CHECK(st == PD_OK, "%s: %d threads: %s: %s", what, threads, pd_status_name(st), err);
    }
    if (st == PD_OK)
        st = pd_net_run(net, batch, inputs, outputs, err, sizeof err);
    CHECK(st == PD_OK, "%s: run with %s: %s: %s", what, family, pd_status_name(st), err);
    pd_net_free(net);
    return st;
}
