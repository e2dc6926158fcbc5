/* select_sha256.c: which SHA-256 compression function hashes (sha256.h).
 *
 * The CPU probe is select.c's, done once per process; PREDICT_ISA is read at
 * every call, as for the net families, so a test can hash with each
 * implementation in one process. */
#include <stdlib.h>
#include <string.h>

#include "core.h"
#include "kernels/sha256.h"

/* Reference first, then the one instruction-set path this architecture has. */
static const pd_sha256_kernel kernels[] = {
    {"ref", pd_sha256_blocks_ref},
#if PD_BUILD_SHANI
    {"shani", pd_sha256_blocks_shani},
#endif
#if PD_BUILD_SHA256_ARMV8
    {"armv8", pd_sha256_blocks_armv8},
#endif
};

#define N_KERNELS (sizeof(kernels) / sizeof(kernels[0]))

const pd_sha256_kernel *pd_sha256_kernel_at(size_t i, int *supported)
{
    if (i >= N_KERNELS)
        return NULL;
    *supported = i == 0 || (pd_cpu_features_cached() & PD_CPU_SHA256) != 0;
    return &kernels[i];
}

const pd_sha256_kernel *pd_sha256_select(void)
{
    const char *want = getenv("PREDICT_ISA");
    if (N_KERNELS == 1 || (want != NULL && strcmp(want, "ref") == 0) ||
        !(pd_cpu_features_cached() & PD_CPU_SHA256))
        return &kernels[0];
    return &kernels[N_KERNELS - 1];
}

const char *pd_sha256_impl(void)
{
    return pd_sha256_select()->name;
}
