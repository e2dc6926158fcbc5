/* peak.c: this machine's clock and float32 FMA throughput, measured, for the
 * GEMM efficiency figure of bench_mobilenet.py (MEASURING.md: /proc/cpuinfo's
 * MHz is not the clock the cores run at).
 *
 * clock: a chain of dependent integer adds retires one add per cycle on every
 * x86-64 and aarch64 core, so adds per second is cycles per second.
 * fma:   12 independent chains of 8-wide FMAs (AVX2; more chains than the
 *        latency x throughput product, so the FMA ports are the limit), counted
 *        as float32 multiply-adds per second.
 * fma512: the same with 16-wide FMAs (AVX-512F, when the CPU has it, checked
 *        at run time like vnni): a core with two 512-bit FMA units (Xeons of
 *        Skylake-SP and later, most of them) does 32 a cycle where AVX2 tops at
 *        16, and Zen 4 splits each into two 256-bit halves (16 either way).
 * vnni:  12 independent chains of 512-bit vpdpbusd (AVX-512 VNNI, when the CPU
 *        has it: checked at run time, the function alone is compiled for it),
 *        counted as uint8 x int8 multiply-adds per second (64 per instruction).
 * Prints one JSON line.  Built by the bench with the host compiler; this file
 * is a measuring tool, not part of the library, so it may use -mavx2 -mfma. */
#include <stdint.h>
#include <stdio.h>
#include <time.h>

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* 100 dependent adds per iteration. */
static double adds_per_second(uint64_t iters)
{
    uint64_t x = 0;
    double t0 = now();
    for (uint64_t i = 0; i < iters; i++) {
#if defined(__x86_64__)
#define A1 "add $1, %0\n\t"
#elif defined(__aarch64__)
#define A1 "add %0, %0, #1\n\t"
#endif
#define A10 A1 A1 A1 A1 A1 A1 A1 A1 A1 A1
        __asm__ volatile(A10 A10 A10 A10 A10 A10 A10 A10 A10 A10 : "+r"(x));
    }
    double t = now() - t0;
    return (double)iters * 100.0 / t;
}

#if defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>
static double fmas_per_second(uint64_t iters)
{
    const __m256 a = _mm256_set1_ps(0.999999f), b = _mm256_set1_ps(1e-7f);
    __m256 c0 = _mm256_set1_ps(0), c1 = _mm256_set1_ps(1), c2 = _mm256_set1_ps(2);
    __m256 c3 = _mm256_set1_ps(3), c4 = _mm256_set1_ps(4), c5 = _mm256_set1_ps(5);
    __m256 c6 = _mm256_set1_ps(6), c7 = _mm256_set1_ps(7), c8 = _mm256_set1_ps(8);
    __m256 c9 = _mm256_set1_ps(9), c10 = _mm256_set1_ps(10), c11 = _mm256_set1_ps(11);
    double t0 = now();
    for (uint64_t it = 0; it < iters; it++) {
#define F(c) c = _mm256_fmadd_ps(c, a, b)
        F(c0); F(c1); F(c2); F(c3); F(c4); F(c5); F(c6); F(c7); F(c8); F(c9); F(c10); F(c11);
        __asm__ volatile("" : "+x"(c0), "+x"(c1), "+x"(c2), "+x"(c3), "+x"(c4), "+x"(c5), "+x"(c6),
                         "+x"(c7), "+x"(c8), "+x"(c9), "+x"(c10), "+x"(c11));
    }
    double t = now() - t0;
    __m256 s = _mm256_add_ps(_mm256_add_ps(_mm256_add_ps(c0, c1), _mm256_add_ps(c2, c3)),
                             _mm256_add_ps(_mm256_add_ps(c4, c5), _mm256_add_ps(c6, c7)));
    s = _mm256_add_ps(s, _mm256_add_ps(_mm256_add_ps(c8, c9), _mm256_add_ps(c10, c11)));
    if (_mm256_cvtss_f32(s) == 12345.0f)
        puts("");
    return (double)iters * 12.0 * 8.0 / t;
}
#else
static double fmas_per_second(uint64_t iters)
{
    (void)iters;
    return 0.0;
}
#endif

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
__attribute__((target("avx512f,avx512vnni"))) static double vnni_per_second(uint64_t iters)
{
    const __m512i a = _mm512_set1_epi32(0x01010101), b = _mm512_set1_epi32(0x01ff01ff);
    __m512i c0 = _mm512_set1_epi32(0), c1 = _mm512_set1_epi32(1), c2 = _mm512_set1_epi32(2);
    __m512i c3 = _mm512_set1_epi32(3), c4 = _mm512_set1_epi32(4), c5 = _mm512_set1_epi32(5);
    __m512i c6 = _mm512_set1_epi32(6), c7 = _mm512_set1_epi32(7), c8 = _mm512_set1_epi32(8);
    __m512i c9 = _mm512_set1_epi32(9), c10 = _mm512_set1_epi32(10), c11 = _mm512_set1_epi32(11);
    double t0 = now();
    for (uint64_t it = 0; it < iters; it++) {
#define D(c) c = _mm512_dpbusd_epi32(c, a, b)
        D(c0); D(c1); D(c2); D(c3); D(c4); D(c5); D(c6); D(c7); D(c8); D(c9); D(c10); D(c11);
        __asm__ volatile("" : "+v"(c0), "+v"(c1), "+v"(c2), "+v"(c3), "+v"(c4), "+v"(c5), "+v"(c6),
                         "+v"(c7), "+v"(c8), "+v"(c9), "+v"(c10), "+v"(c11));
    }
    double t = now() - t0;
    __m512i s = _mm512_add_epi32(_mm512_add_epi32(_mm512_add_epi32(c0, c1), _mm512_add_epi32(c2, c3)),
                                 _mm512_add_epi32(_mm512_add_epi32(c4, c5), _mm512_add_epi32(c6, c7)));
    s = _mm512_add_epi32(s, _mm512_add_epi32(_mm512_add_epi32(c8, c9), _mm512_add_epi32(c10, c11)));
    if (_mm512_reduce_add_epi32(s) == 12345)
        puts("");
    return (double)iters * 12.0 * 64.0 / t;
}

static double vnni_if_supported(uint64_t iters)
{
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512vnni") ? vnni_per_second(iters) : 0.0;
}

__attribute__((target("avx512f"))) static double fma512_per_second(uint64_t iters)
{
    const __m512 a = _mm512_set1_ps(0.999999f), b = _mm512_set1_ps(1e-7f);
    __m512 c0 = _mm512_set1_ps(0), c1 = _mm512_set1_ps(1), c2 = _mm512_set1_ps(2);
    __m512 c3 = _mm512_set1_ps(3), c4 = _mm512_set1_ps(4), c5 = _mm512_set1_ps(5);
    __m512 c6 = _mm512_set1_ps(6), c7 = _mm512_set1_ps(7), c8 = _mm512_set1_ps(8);
    __m512 c9 = _mm512_set1_ps(9), c10 = _mm512_set1_ps(10), c11 = _mm512_set1_ps(11);
    double t0 = now();
    for (uint64_t it = 0; it < iters; it++) {
#define G(c) c = _mm512_fmadd_ps(c, a, b)
        G(c0); G(c1); G(c2); G(c3); G(c4); G(c5); G(c6); G(c7); G(c8); G(c9); G(c10); G(c11);
        __asm__ volatile("" : "+v"(c0), "+v"(c1), "+v"(c2), "+v"(c3), "+v"(c4), "+v"(c5), "+v"(c6),
                         "+v"(c7), "+v"(c8), "+v"(c9), "+v"(c10), "+v"(c11));
    }
    double t = now() - t0;
    __m512 s = _mm512_add_ps(_mm512_add_ps(_mm512_add_ps(c0, c1), _mm512_add_ps(c2, c3)),
                             _mm512_add_ps(_mm512_add_ps(c4, c5), _mm512_add_ps(c6, c7)));
    s = _mm512_add_ps(s, _mm512_add_ps(_mm512_add_ps(c8, c9), _mm512_add_ps(c10, c11)));
    if (_mm512_reduce_add_ps(s) == 12345.0f)
        puts("");
    return (double)iters * 12.0 * 16.0 / t;
}

static double fma512_if_supported(uint64_t iters)
{
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f") ? fma512_per_second(iters) : 0.0;
}
#else
static double fma512_if_supported(uint64_t iters)
{
    (void)iters;
    return 0.0;
}

static double vnni_if_supported(uint64_t iters)
{
    (void)iters;
    return 0.0;
}
#endif

int main(void)
{
    double best_hz = 0, best_fma = 0, best_fma512 = 0, best_vnni = 0;
    for (int r = 0; r < 5; r++) { /* best of 5: interference only ever slows it */
        double hz = adds_per_second(2000000);
        double fma = fmas_per_second(20000000);
        double vnni = vnni_if_supported(10000000);
        double fma512 = fma512_if_supported(10000000);
        if (fma512 > best_fma512)
            best_fma512 = fma512;
        if (hz > best_hz)
            best_hz = hz;
        if (fma > best_fma)
            best_fma = fma;
        if (vnni > best_vnni)
            best_vnni = vnni;
    }
    printf("{\"clock_hz\": %.0f, \"fma_per_second\": %.0f, \"fma_per_cycle\": %.3f, "
           "\"fma512_per_second\": %.0f, \"fma512_per_cycle\": %.3f, "
           "\"vnni_per_second\": %.0f, \"vnni_per_cycle\": %.3f}\n", best_hz, best_fma,
           best_fma / best_hz, best_fma512, best_fma512 / best_hz, best_vnni, best_vnni / best_hz);
    return 0;
}
