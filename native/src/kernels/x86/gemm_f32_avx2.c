/* gemm_f32_avx2.c: the float32 GEMM of kernels.h with AVX2 + FMA.
 *
 * A 6 x 16 register-blocked micro-kernel (12 ymm accumulators, 2 for the B
 * row, 1 broadcast of A: 15 of 16 registers), in the manner of BLIS.  B is the
 * PANELS16 weight matrix read in place: one panel is k rows of 16 (the last
 * panel narrower, read with masked loads), exactly one micro-kernel's width.
 * A is read in place too (NHWC activations, or im2col rows), one broadcast
 * per row and k.  Loops as in BLIS (pd_gemm_f32_avx2 below).  Rows past m
 * read a duplicate of the last row and are not stored. */
#include "kernels/kernels.h"

#if PD_BUILD_X86
#pragma GCC target("avx2,fma")
#include <immintrin.h>

#include "kernels/ref/ref.h"
#include "kernels/x86/act_avx2.h"
#include "kernels/x86/x86.h"

#define MR 6
#define KC 256 /* k per block: a panel slice is 16 KiB, in L1 */
#define NC 256 /* columns per block: KC x NC floats of B are 256 KiB, in L2 */
#define MC 24  /* rows per pass over a column block: their KC floats stay in L1 */

/* C rows [0, mr) x cols [0, nr) of the tile, over p in [p0, p1): acc starts
 * from bias (first block) or C (later blocks); the last block applies the
 * output stage.  full: nr == 16, no masks. */
static inline __attribute__((always_inline)) void tile(
    size_t p0, size_t p1, const float *const *rows, const float *b, size_t bw, size_t mr, size_t nr,
    const float *bias, float *c, size_t ldc, const pd_act_params *act, int first, int last, int full)
{
    const __m256i mlo = pd_mask8_avx2(nr), mhi = pd_mask8_avx2(nr > 8 ? nr - 8 : 0);
    __m256 acc[MR][2];
    _Pragma("GCC unroll 6")
    for (int r = 0; r < MR; r++) {
        if (!first) {
            const float *cr = c + (size_t)(r < (int)mr ? r : 0) * ldc;
            acc[r][0] = full ? _mm256_loadu_ps(cr) : _mm256_maskload_ps(cr, mlo);
            acc[r][1] = full ? _mm256_loadu_ps(cr + 8) : _mm256_maskload_ps(cr + 8, mhi);
        } else if (bias != NULL) {
            acc[r][0] = full ? _mm256_loadu_ps(bias) : _mm256_maskload_ps(bias, mlo);
            acc[r][1] = full ? _mm256_loadu_ps(bias + 8) : _mm256_maskload_ps(bias + 8, mhi);
        } else {
            acc[r][0] = acc[r][1] = _mm256_setzero_ps();
        }
    }
    const float *bp = b + p0 * bw;
    for (size_t p = p0; p < p1; p++, bp += bw) {
        const __m256 b0 = full ? _mm256_loadu_ps(bp) : _mm256_maskload_ps(bp, mlo);
        const __m256 b1 = full ? _mm256_loadu_ps(bp + 8) : _mm256_maskload_ps(bp + 8, mhi);
        _Pragma("GCC unroll 6")
        for (int r = 0; r < MR; r++) {
            const __m256 a = _mm256_broadcast_ss(rows[r] + p);
            acc[r][0] = _mm256_fmadd_ps(a, b0, acc[r][0]);
            acc[r][1] = _mm256_fmadd_ps(a, b1, acc[r][1]);
        }
    }
    const int inreg = pd_act_inreg_avx2(act);
    _Pragma("GCC unroll 6")
    for (int r = 0; r < (int)mr; r++) {
        float *cr = c + (size_t)r * ldc;
        __m256 v0 = acc[r][0], v1 = acc[r][1];
        if (last && inreg) {
            v0 = pd_act8_avx2(v0, act);
            v1 = pd_act8_avx2(v1, act);
        }
        if (full) {
            _mm256_storeu_ps(cr, v0);
            _mm256_storeu_ps(cr + 8, v1);
        } else {
            _mm256_maskstore_ps(cr, mlo, v0);
            _mm256_maskstore_ps(cr + 8, mhi, v1);
        }
        if (last && !inreg)
            pd_act_f32_ref(cr, cr, nr, act);
    }
}

static void tile_full(size_t p0, size_t p1, const float *const *rows, const float *b, size_t mr,
                      const float *bias, float *c, size_t ldc, const pd_act_params *act, int first,
                      int last)
{
    tile(p0, p1, rows, b, 16, mr, 16, bias, c, ldc, act, first, last, 1);
}

static void tile_part(size_t p0, size_t p1, const float *const *rows, const float *b, size_t nr,
                      size_t mr, const float *bias, float *c, size_t ldc, const pd_act_params *act,
                      int first, int last)
{
    tile(p0, p1, rows, b, nr, mr, nr, bias, c, ldc, act, first, last, 0);
}

/* BLIS loop order without packing A (see gemm_f32_avx512.c): columns in
 * blocks of NC, k in blocks of KC, rows in blocks of MC, then each panel of
 * the column block against the MC rows, 6 at a time. */
void pd_gemm_f32_avx2(size_t m, size_t n, size_t k, const float *a, size_t lda, const float *b,
                      const float *bias, float *c, size_t ldc, const pd_act_params *act)
{
    for (size_t jc = 0; jc < n; jc += NC) {
        const size_t jend = n - jc < NC ? n : jc + NC;
        for (size_t p0 = 0; p0 < k; p0 += KC) {
            const size_t p1 = k - p0 < KC ? k : p0 + KC;
            const int first = p0 == 0, last = p1 == k;
            for (size_t ic = 0; ic < m; ic += MC) {
                const size_t iend = m - ic < MC ? m : ic + MC;
                for (size_t j0 = jc; j0 < jend; j0 += 16) {
                    const size_t nr = jend - j0 < 16 ? jend - j0 : 16;
                    const float *panel = b + j0 * k;
                    const float *pb = bias != NULL ? bias + j0 : NULL;
                    for (size_t i0 = ic; i0 < iend; i0 += MR) {
                        const size_t mr = iend - i0 < MR ? iend - i0 : MR;
                        const float *rows[MR];
                        for (size_t r = 0; r < MR; r++)
                            rows[r] = a + (i0 + (r < mr ? r : mr - 1)) * lda;
                        float *ct = c + i0 * ldc + j0;
                        if (nr == 16)
                            tile_full(p0, p1, rows, panel, mr, pb, ct, ldc, act, first, last);
                        else
                            tile_part(p0, p1, rows, panel, nr, mr, pb, ct, ldc, act, first, last);
                    }
                }
            }
        }
    }
}
#endif
