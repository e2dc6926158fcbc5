/* gemm_f32_neon.c: the float32 GEMM of kernels.h with NEON (aarch64, armv7).
 *
 * B is the PANELS16 weight matrix read in place: a panel is k rows of 16
 * output channels, i.e. four vectors of 4, so a tile is MR rows of A by one
 * panel, MR * 4 vector accumulators, each step one scalar of A per row
 * multiplied into the panel's row (vfmaq_n / vmlaq_n).  MR is 6 on aarch64
 * (24 accumulators + 4 panel vectors of its 32 registers) and 2 on armv7
 * (8 + 4 of 16).  A narrower last panel (width bw = n mod 16) takes the same
 * code with bw / 4 vectors, and its last bw mod 4 columns in scalar code, so
 * nothing reads past the panel.  Loops as in BLIS, as in gemm_f32_avx2.c:
 * k in blocks of KC (a panel slice stays in L1), rows in blocks of MC; a
 * block after the first adds to what the previous ones left in C, the last
 * applies the output stage. */
#include "kernels/kernels.h"

#if PD_BUILD_NEON
#define PD_NEON_INTRINSICS
#include "kernels/arm/neon.h"

#include "kernels/ref/ref.h"

#if defined(__aarch64__)
#define MR 6
#else
#define MR 2
#endif
#define KC 256
#define MC 24

/* Rows [0, mr) x the first 4 * nv columns of a panel of width bw, over
 * p in [p0, p1).  Inlined with constant nv, so accumulators stay in registers. */
static inline __attribute__((always_inline)) void tile(size_t p0, size_t p1, const float *const *rows,
                                                       const float *b, size_t bw, size_t mr, int nv,
                                                       const float *bias, float *c, size_t ldc,
                                                       int first)
{
    float32x4_t acc[MR][4];
#pragma GCC unroll 6
    for (size_t r = 0; r < MR; r++) {
#pragma GCC unroll 4
        for (int v = 0; v < nv; v++) {
            const float *cr = c + (r < mr ? r : 0) * ldc;
            acc[r][v] = !first ? vld1q_f32(cr + 4 * v)
                        : bias != NULL ? vld1q_f32(bias + 4 * v) : vdupq_n_f32(0.0f);
        }
    }
    const float *bp = b + p0 * bw;
    for (size_t p = p0; p < p1; p++, bp += bw) {
        float32x4_t bv[4];
#pragma GCC unroll 4
        for (int v = 0; v < nv; v++)
            bv[v] = vld1q_f32(bp + 4 * v);
#pragma GCC unroll 6
        for (size_t r = 0; r < MR; r++) {
            const float a = rows[r][p];
#pragma GCC unroll 4
            for (int v = 0; v < nv; v++)
                acc[r][v] = pd_fma_n_f32(acc[r][v], bv[v], a);
        }
    }
#pragma GCC unroll 6
    for (size_t r = 0; r < MR; r++) {
        if (r >= mr)
            break;
#pragma GCC unroll 4
        for (int v = 0; v < nv; v++)
            vst1q_f32(c + r * ldc + 4 * v, acc[r][v]);
    }
}

/* Columns [from, bw) of a narrow panel, one at a time. */
static void tail_columns(size_t p0, size_t p1, const float *const *rows, const float *b, size_t bw,
                         size_t from, size_t mr, const float *bias, float *c, size_t ldc, int first)
{
    for (size_t r = 0; r < mr; r++) {
        for (size_t j = from; j < bw; j++) {
            float acc = !first ? c[r * ldc + j] : bias != NULL ? bias[j] : 0.0f;
            for (size_t p = p0; p < p1; p++)
                acc += rows[r][p] * b[p * bw + j];
            c[r * ldc + j] = acc;
        }
    }
}

static void panel(size_t p0, size_t p1, const float *const *rows, const float *b, size_t bw,
                  size_t mr, const float *bias, float *c, size_t ldc, int first)
{
    switch (bw / 4) {
    case 4:
        tile(p0, p1, rows, b, bw, mr, 4, bias, c, ldc, first);
        break;
    case 3:
        tile(p0, p1, rows, b, bw, mr, 3, bias, c, ldc, first);
        break;
    case 2:
        tile(p0, p1, rows, b, bw, mr, 2, bias, c, ldc, first);
        break;
    case 1:
        tile(p0, p1, rows, b, bw, mr, 1, bias, c, ldc, first);
        break;
    default:
        break;
    }
    if (bw % 4 != 0)
        tail_columns(p0, p1, rows, b, bw, bw - bw % 4, mr, bias, c, ldc, first);
}

void pd_gemm_f32_neon(size_t m, size_t n, size_t k, const float *a, size_t lda, const float *b,
                      const float *bias, float *c, size_t ldc, const pd_act_params *act)
{
    if (k == 0) {
        /* No products: the output is the bias alone (or zero). */
        for (size_t i = 0; i < m; i++) {
            for (size_t j = 0; j < n; j++)
                c[i * ldc + j] = bias != NULL ? bias[j] : 0.0f;
            pd_act_f32_neon(c + i * ldc, c + i * ldc, n, act);
        }
        return;
    }
    for (size_t p0 = 0; p0 < k; p0 += KC) {
        const size_t p1 = k - p0 < KC ? k : p0 + KC;
        const int first = p0 == 0;
        for (size_t ic = 0; ic < m; ic += MC) {
            const size_t iend = m - ic < MC ? m : ic + MC;
            for (size_t j0 = 0; j0 < n; j0 += PD_PANEL) {
                const size_t bw = n - j0 < PD_PANEL ? n - j0 : PD_PANEL;
                for (size_t i0 = ic; i0 < iend; i0 += MR) {
                    const size_t mr = iend - i0 < MR ? iend - i0 : MR;
                    /* Rows past m repeat the last one and are not stored. */
                    const float *rows[MR];
                    for (size_t r = 0; r < MR; r++)
                        rows[r] = a + (i0 + (r < mr ? r : mr - 1)) * lda;
                    panel(p0, p1, rows, b + j0 * k, bw, mr, bias != NULL ? bias + j0 : NULL,
                          c + i0 * ldc + j0, ldc, first);
                }
            }
        }
    }
    for (size_t i = 0; i < m; i++)
        pd_act_f32_neon(c + i * ldc, c + i * ldc, n, act);
}

#endif
