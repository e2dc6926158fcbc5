/* cpu_arm.c: the ARM feature bits (predict.h pd_cpu_feature) from the
 * kernel's hardware capabilities.
 *
 * Linux passes what the CPU supports in the auxiliary vector (AT_HWCAP);
 * reading the ID registers ourselves would trap on older kernels.  The bit
 * values are spelled out because the header that names them (asm/hwcap.h) is
 * not on every toolchain.  Elsewhere than Linux, aarch64 still always has
 * NEON (the dot product is then not assumed). */
#include "core.h"

#if PD_BUILD_NEON

#if defined(__linux__)
#include <sys/auxv.h>
#endif

#if defined(__aarch64__)
#define HWCAP_ASIMD_BIT (1ul << 1)
#define HWCAP_ASIMDDP_BIT (1ul << 20)
#define HWCAP_SHA2_BIT (1ul << 6)
#else
#define HWCAP_NEON_BIT (1ul << 12)
#endif

int32_t pd_cpu_probe_arm(void)
{
    int32_t f = 0;
#if defined(__linux__)
    unsigned long hw = getauxval(AT_HWCAP);
#if defined(__aarch64__)
    if (hw & HWCAP_ASIMD_BIT)
        f |= PD_CPU_NEON;
    if ((hw & HWCAP_ASIMD_BIT) && (hw & HWCAP_ASIMDDP_BIT))
        f |= PD_CPU_NEONDOT;
    if (hw & HWCAP_SHA2_BIT)
        f |= PD_CPU_SHA256;
#else
    if (hw & HWCAP_NEON_BIT)
        f |= PD_CPU_NEON;
#endif
#elif defined(__aarch64__)
    f |= PD_CPU_NEON;
#endif
    return f;
}

#endif
