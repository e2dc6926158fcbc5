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

/* Narrowest first; each is also the cap that its PREDICT_ISA name sets. */
static const pd_sha256_lanes_kernel lane_kernels[] = {
#if PD_BUILD_NEON
    {"neon", "neonx4", 4, pd_sha256_lanes_neon, PD_CPU_NEON},
#endif
#if PD_BUILD_X86
    {"avx2", "avx2x8", 8, pd_sha256_lanes_avx2, PD_CPU_AVX2},
    {"avx512", "avx512x16", 16, pd_sha256_lanes_avx512, PD_CPU_AVX2 | PD_CPU_AVX512},
#endif
};

#define N_LANE_KERNELS (sizeof(lane_kernels) / sizeof(lane_kernels[0]))

const pd_sha256_lanes_kernel *pd_sha256_lanes_at(size_t i, int *supported)
{
    if (i >= N_LANE_KERNELS)
        return NULL;
    *supported = (pd_cpu_features_cached() & lane_kernels[i].cpu) == lane_kernels[i].cpu;
    return &lane_kernels[i];
}

const pd_sha256_lanes_kernel *pd_sha256_lanes_select(void)
{
    const int32_t cpu = pd_cpu_features_cached();
    const char *want = getenv("PREDICT_ISA");
    if (cpu & PD_CPU_SHA256 || (want != NULL && strcmp(want, "ref") == 0))
        return NULL;
    const pd_sha256_lanes_kernel *best = NULL;
    for (size_t i = 0; i < N_LANE_KERNELS; i++) {
        if ((cpu & lane_kernels[i].cpu) != lane_kernels[i].cpu)
            continue;
        best = &lane_kernels[i];
        if (want != NULL && strncmp(want, best->name, strlen(best->name)) == 0)
            break;  /* the cap: "neondot" caps at "neon" too */
    }
    return best;
}
