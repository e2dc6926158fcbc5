/* gemm_u8i8_neondot.c: the int8 GEMM accumulator with the armv8.2-a
 * dot-product instruction SDOT (aarch64 only).
 *
 * SDOT multiplies signed by signed bytes, four products into each int32 lane.
 * The activations are unsigned, so each is flipped to a' = a - 128 (XOR 0x80
 * as a byte) and the identity  sum a*w = sum a'*w + 128 * sum w  restores the
 * product; sum w is one more SDOT of the weights against a vector of ones per
 * column.  All of it is wrapping int32 arithmetic, equal to the reference.
 *
 * This file alone is compiled for armv8.2-a+dotprod (the pragma below; the
 * short "+dotprod" form fails to inline vdotq_s32 with GCC 12).  Its code
 * raises SIGILL on a CPU without the extension, e.g. a Cortex-A53: select.c
 * only uses it when getauxval reports HWCAP_ASIMDDP. */
#include "kernels/kernels.h"

#if PD_BUILD_NEONDOT
#pragma GCC target("arch=armv8.2-a+dotprod")
#define PD_NEON_INTRINSICS
#include "kernels/arm/neon.h"

/* Tiles of 4 rows of A by 4 columns, 16 k per step. */
static inline __attribute__((always_inline)) void tile(size_t mr, size_t nr, size_t k,
                                                       const uint8_t *a, size_t lda,
                                                       const int8_t *b, size_t ldb,
                                                       const int32_t *bias, int32_t *c, size_t ldc)
{
    const uint8x16_t flip = vdupq_n_u8(0x80);
    const int8x16_t ones = vdupq_n_s8(1);
    int32x4_t acc[4][4], wsum[4];
#pragma GCC unroll 4
    for (size_t j = 0; j < nr; j++) {
        wsum[j] = vdupq_n_s32(0);
#pragma GCC unroll 4
        for (size_t r = 0; r < mr; r++)
            acc[r][j] = vdupq_n_s32(0);
    }

    size_t p = 0;
    for (; p + 16 <= k; p += 16) {
        int8x16_t va[4], vb[4];
#pragma GCC unroll 4
        for (size_t r = 0; r < mr; r++)
            va[r] = vreinterpretq_s8_u8(veorq_u8(vld1q_u8(a + r * lda + p), flip));
#pragma GCC unroll 4
        for (size_t j = 0; j < nr; j++) {
            vb[j] = vld1q_s8(b + j * ldb + p);
            wsum[j] = vdotq_s32(wsum[j], vb[j], ones);
        }
#pragma GCC unroll 4
        for (size_t r = 0; r < mr; r++)
#pragma GCC unroll 4
            for (size_t j = 0; j < nr; j++)
                acc[r][j] = vdotq_s32(acc[r][j], va[r], vb[j]);
    }

#pragma GCC unroll 4
    for (size_t j = 0; j < nr; j++) {
        uint32_t corr = 128u * pd_hsum_s32(wsum[j]) + (bias != NULL ? (uint32_t)bias[j] : 0u);
#pragma GCC unroll 4
        for (size_t r = 0; r < mr; r++) {
            uint32_t s = pd_hsum_s32(acc[r][j]) + corr;
            for (size_t q = p; q < k; q++)
                s += (uint32_t)((int32_t)a[r * lda + q] * (int32_t)b[j * ldb + q]);
            c[r * ldc + j] = (int32_t)s;
        }
    }
}

static inline __attribute__((always_inline)) void band(size_t mr, size_t n, size_t k,
                                                       const uint8_t *a, size_t lda,
                                                       const int8_t *b, size_t ldb,
                                                       const int32_t *bias, int32_t *c, size_t ldc)
{
    size_t j = 0;
    for (; j + 4 <= n; j += 4)
        tile(mr, 4, k, a, lda, b + j * ldb, ldb, bias != NULL ? bias + j : NULL, c + j, ldc);
    for (; j < n; j++)
        tile(mr, 1, k, a, lda, b + j * ldb, ldb, bias != NULL ? bias + j : NULL, c + j, ldc);
}

void pd_gemm_u8i8_neondot(size_t m, size_t n, size_t k, const uint8_t *a, size_t lda,
                          const int8_t *b, size_t ldb, const int32_t *bias, int32_t *c, size_t ldc)
{
    size_t i = 0;
    for (; i + 4 <= m; i += 4)
        band(4, n, k, a + i * lda, lda, b, ldb, bias, c + i * ldc, ldc);
    for (; i < m; i++)
        band(1, n, k, a + i * lda, lda, b, ldb, bias, c + i * ldc, ldc);
}

#endif
