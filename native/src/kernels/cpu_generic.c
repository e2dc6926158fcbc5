/* cpu_generic.c: feature bits on an architecture with no SIMD family here
 * (x86 probing arrives with its families): none, so nets use the reference. */
#if !defined(__aarch64__) && !defined(__arm__)

#include "kernels/cpu.h"

uint32_t pd_cpu_features(void)
{
    return 0;
}

#else
typedef int pd_cpu_generic_unused; /* ISO C forbids an empty translation unit */
#endif
