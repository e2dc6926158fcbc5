/* gemm_f32_neon.c: C = act(A * B^T + bias) with NEON, on the weights as they
 * lie ([n][k], one output column per row, like the reference).
 *
 * Both operands run along k, so a tile of MR rows of A by NR = 4 rows of B is
 * MR * 4 vector dot products: each step loads MR + 4 vectors of 4 floats and
 * does MR * 4 multiply-adds into as many accumulators, which are summed
 * across lanes once at the end.  MR is 4 on aarch64 (16 accumulators + 8
 * operands fit its 32 vector registers) and 2 on armv7 (16 registers).
 * Rows and columns left over take the same code with MR or NR = 1; k's
 * remainder (k mod 4) is added in scalar code.  The lane-parallel sums add in
 * another order than the reference loop, hence a tolerance, not equality. */
#define PD_NEON_INTRINSICS
#include "kernels/arm/neon.h"

#if defined(PD_NEON_BUILD)

#if defined(__aarch64__)
#define MR 4
#else
#define MR 2
#endif
#define NR 4

/* The mr x nr tile at (a, b) into c (row stride ldc), plus bias (or 0).  Meant
 * to be inlined with constant mr, nr, so the loops unroll and the
 * accumulators live in registers. */
static inline __attribute__((always_inline)) void tile(size_t mr, size_t nr, size_t k,
                                                       const float *a, size_t lda, const float *b,
                                                       size_t ldb, const float *bias, float *c,
                                                       size_t ldc)
{
    float32x4_t acc[MR][NR];
#pragma GCC unroll 4
    for (size_t r = 0; r < mr; r++)
#pragma GCC unroll 4
        for (size_t j = 0; j < nr; j++)
            acc[r][j] = vdupq_n_f32(0.0f);

    size_t p = 0;
    for (; p + 4 <= k; p += 4) {
        float32x4_t va[MR], vb[NR];
#pragma GCC unroll 4
        for (size_t r = 0; r < mr; r++)
            va[r] = vld1q_f32(a + r * lda + p);
#pragma GCC unroll 4
        for (size_t j = 0; j < nr; j++)
            vb[j] = vld1q_f32(b + j * ldb + p);
#pragma GCC unroll 4
        for (size_t r = 0; r < mr; r++)
#pragma GCC unroll 4
            for (size_t j = 0; j < nr; j++)
                acc[r][j] = pd_fma_f32(acc[r][j], va[r], vb[j]);
    }

#pragma GCC unroll 4
    for (size_t r = 0; r < mr; r++) {
        float sums[NR];
        if (nr == NR) {
            vst1q_f32(sums, pd_hsum4_f32(acc[r][0], acc[r][1], acc[r][2], acc[r][3]));
        } else {
#pragma GCC unroll 4
            for (size_t j = 0; j < nr; j++)
                sums[j] = pd_hsum_f32(acc[r][j]);
        }
#pragma GCC unroll 4
        for (size_t j = 0; j < nr; j++) {
            float s = sums[j];
            for (size_t q = p; q < k; q++)
                s += a[r * lda + q] * b[j * ldb + q];
            c[r * ldc + j] = (bias != NULL ? bias[j] : 0.0f) + s;
        }
    }
}

/* One band of mr rows of A against every column. */
static inline __attribute__((always_inline)) void band(size_t mr, size_t n, size_t k,
                                                       const float *a, size_t lda, const float *b,
                                                       size_t ldb, const float *bias, float *c,
                                                       size_t ldc)
{
    size_t j = 0;
    for (; j + NR <= n; j += NR)
        tile(mr, NR, k, a, lda, b + j * ldb, ldb, bias != NULL ? bias + j : NULL, c + j, ldc);
    for (; j < n; j++)
        tile(mr, 1, k, a, lda, b + j * ldb, ldb, bias != NULL ? bias + j : NULL, c + j, ldc);
}

void pd_gemm_f32_neon(size_t m, size_t n, size_t k, const float *a, size_t lda, const float *b,
                      size_t ldb, const float *bias, float *c, size_t ldc, const pd_act_params *act)
{
    size_t i = 0;
    for (; i + MR <= m; i += MR) {
        band(MR, n, k, a + i * lda, lda, b, ldb, bias, c + i * ldc, ldc);
        for (size_t r = 0; r < MR; r++)
            pd_act_f32_neon(c + (i + r) * ldc, c + (i + r) * ldc, n, act);
    }
    for (; i < m; i++) {
        band(1, n, k, a + i * lda, lda, b, ldb, bias, c + i * ldc, ldc);
        pd_act_f32_neon(c + i * ldc, c + i * ldc, n, act);
    }
}

#else
typedef int pd_gemm_f32_neon_unused; /* ISO C forbids an empty translation unit */
#endif
