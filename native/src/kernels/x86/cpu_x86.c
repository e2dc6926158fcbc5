/* cpu_x86.c: which x86 SIMD families this CPU and OS can run.
 *
 * cpuid says what the CPU has; xgetbv (XCR0) says whether the OS saves the
 * wider registers on a context switch.  Both are needed: AVX2 needs the
 * YMM state (XCR0 bits 1-2), AVX-512 also the opmask and ZMM states (bits
 * 5-7).  The SHA extensions (sha256_shani.c) use XMM registers only, so
 * they need no AVX: an Atom may have them without it.  Called once by
 * select.c.  Compiles to nothing off x86/GCC/Clang. */
#include "kernels/kernels.h"

#if PD_BUILD_X86
#include <cpuid.h>

#include "predict.h"

static uint64_t xgetbv0(void)
{
    uint32_t lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return ((uint64_t)hi << 32) | lo;
}

/* SHA (leaf 7 EBX bit 29) with SSSE3 and SSE4.1 (leaf 1 ECX bits 9, 19). */
static int32_t probe_sha(unsigned leaf1_ecx)
{
    unsigned a, b, c, d;
    if (!((leaf1_ecx >> 9) & 1) || !((leaf1_ecx >> 19) & 1) || __get_cpuid_max(0, NULL) < 7)
        return 0;
    __cpuid_count(7, 0, a, b, c, d);
    return (b >> 29) & 1 ? PD_CPU_SHA256 : 0;
}

/* AVX2 + FMA, AVX-512 (VNNI), from leaf 1 ECX, XCR0 and leaf 7. */
static int32_t probe_avx(unsigned c)
{
    unsigned a, b, d;
    const int fma = (c >> 12) & 1, osxsave = (c >> 27) & 1, avx = (c >> 28) & 1;
    if (!osxsave || !avx)
        return 0;
    const uint64_t xcr0 = xgetbv0();
    if ((xcr0 & 0x6) != 0x6) /* SSE and AVX state */
        return 0;
    if (__get_cpuid_max(0, NULL) < 7)
        return 0;
    __cpuid_count(7, 0, a, b, c, d);
    int32_t features = 0;
    const int avx2 = (b >> 5) & 1;
    if (avx2 && fma)
        features |= PD_CPU_AVX2;
    /* F (16), DQ (17), BW (30), VL (31); opmask, ZMM_Hi256, Hi16_ZMM state. */
    const int avx512 = ((b >> 16) & 1) && ((b >> 17) & 1) && ((b >> 30) & 1) && ((b >> 31) & 1);
    if (avx512 && (xcr0 & 0xe6) == 0xe6) {
        features |= PD_CPU_AVX512;
        if ((c >> 11) & 1)
            features |= PD_CPU_AVX512VNNI;
    }
    return features;
}

int32_t pd_cpu_probe_x86(void)
{
    unsigned a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d))
        return 0;
    return probe_avx(c) | probe_sha(c);
}
#endif
