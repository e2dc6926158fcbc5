/* cpu_arm.c: ARM feature bits from the kernel's hardware capabilities.
 *
 * Linux passes what the CPU supports in the auxiliary vector (AT_HWCAP,
 * AT_HWCAP2); reading the ID registers ourselves would trap on older kernels.
 * The bit values are spelled out because the libc headers that name them
 * (asm/hwcap.h) are not present on every toolchain. */
#if defined(__aarch64__) || defined(__arm__)

#include "kernels/cpu.h"

#if defined(__linux__)
#include <sys/auxv.h>
#endif

#if defined(__aarch64__)
#define HWCAP_ASIMD_BIT (1ul << 1)
#define HWCAP_ASIMDDP_BIT (1ul << 20)
#else
#define HWCAP_NEON_BIT (1ul << 12)
#endif

uint32_t pd_cpu_features(void)
{
    uint32_t f = 0;
#if defined(__linux__)
    unsigned long hw = getauxval(AT_HWCAP);
#if defined(__aarch64__)
    if (hw & HWCAP_ASIMD_BIT)
        f |= PD_CPU_NEON;
    if (hw & HWCAP_ASIMDDP_BIT)
        f |= PD_CPU_NEON_DOT;
#else
    if (hw & HWCAP_NEON_BIT)
        f |= PD_CPU_NEON;
#endif
#elif defined(__aarch64__)
    /* Not Linux (e.g. macOS on Apple silicon): aarch64 always has NEON. */
    f |= PD_CPU_NEON;
#endif
    return f;
}

#else
typedef int pd_cpu_arm_unused; /* ISO C forbids an empty translation unit */
#endif
