/* gemm_u8i8_neon.c: the int8 GEMM accumulator (kernels.h, pd_gemm_u8i8_fn)
 * with plain NEON, for CPUs without the dot-product instructions (Cortex-A53,
 * A72, every armv7).
 *
 * Eight k at a time, both operands are widened to int16 (uint8 <= 255 fits)
 * and multiplied-accumulated into int32 lanes by vmlal_s16: every product is
 * exact (|255 * 127| < 2^15 * 2) and lane sums wrap like the reference's
 * uint32 sum, so the result equals the reference exactly.  Tiles of 2 rows of
 * A by 4 columns (8 accumulators, fits armv7's 16 registers). */
#include "kernels/kernels.h"

#if PD_BUILD_NEON
#define PD_NEON_INTRINSICS
#include "kernels/arm/neon.h"

static inline __attribute__((always_inline)) void tile(size_t mr, size_t nr, size_t k,
                                                       const uint8_t *a, size_t lda,
                                                       const int8_t *b, size_t ldb,
                                                       const int32_t *bias, int32_t *c, size_t ldc)
{
    int32x4_t acc[2][4];
#pragma GCC unroll 2
    for (size_t r = 0; r < mr; r++)
#pragma GCC unroll 4
        for (size_t j = 0; j < nr; j++)
            acc[r][j] = vdupq_n_s32(0);

    size_t p = 0;
    for (; p + 8 <= k; p += 8) {
        int16x8_t va[2], vb[4];
#pragma GCC unroll 2
        for (size_t r = 0; r < mr; r++)
            va[r] = vreinterpretq_s16_u16(vmovl_u8(vld1_u8(a + r * lda + p)));
#pragma GCC unroll 4
        for (size_t j = 0; j < nr; j++)
            vb[j] = vmovl_s8(vld1_s8(b + j * ldb + p));
#pragma GCC unroll 2
        for (size_t r = 0; r < mr; r++) {
#pragma GCC unroll 4
            for (size_t j = 0; j < nr; j++) {
                acc[r][j] = vmlal_s16(acc[r][j], vget_low_s16(va[r]), vget_low_s16(vb[j]));
                acc[r][j] = vmlal_s16(acc[r][j], vget_high_s16(va[r]), vget_high_s16(vb[j]));
            }
        }
    }

#pragma GCC unroll 2
    for (size_t r = 0; r < mr; r++) {
#pragma GCC unroll 4
        for (size_t j = 0; j < nr; j++) {
            uint32_t s = pd_hsum_s32(acc[r][j]) + (bias != NULL ? (uint32_t)bias[j] : 0u);
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

void pd_gemm_u8i8_neon(size_t m, size_t n, size_t k, const uint8_t *a, size_t lda, const int8_t *b,
                       size_t ldb, const int32_t *bias, int32_t *c, size_t ldc)
{
    size_t i = 0;
    for (; i + 2 <= m; i += 2)
        band(2, n, k, a + i * lda, lda, b, ldb, bias, c + i * ldc, ldc);
    if (i < m)
        band(1, n, k, a + i * lda, lda, b, ldb, bias, c + i * ldc, ldc);
}

#endif
