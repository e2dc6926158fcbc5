/* gemm_f32_avx512.c: the float32 GEMM of kernels.h with AVX-512F.
 *
 * A 12 x 16 micro-kernel: one zmm holds a whole PANELS16 row, so each k step
 * is one load of B and 12 broadcast FMAs into 12 accumulators (of 32
 * registers).  Partial panels use a lane mask, never a separate code path.
 * The last rows of a GEMM take an 8-, 5- or 4-row variant, so a short tail
 * does not pay for 12 rows.  Every variant sums a row in the same order (bias,
 * then k ascending, one FMA each), so a sample's result does not depend on
 * the batch it is in or the tile that computed it.  Loops as in BLIS (pd_gemm_f32_avx512 below); the
 * output stage is applied in registers for none /
 * relu / clip / leakyrelu, by the reference otherwise. */
#include "kernels/kernels.h"

#if PD_BUILD_X86
#pragma GCC target("avx512f,avx512vl,avx512dq,avx512bw,avx2,fma")
#include <immintrin.h>

#include "kernels/ref/ref.h"
#include "kernels/x86/x86.h"
#include "predict.h"

#define KC 512 /* most k per block; k is cut in equal blocks, so a panel slice is at most 32 KiB */
#define NC 256 /* columns per block: KC x NC floats of B are at most 512 KiB, in L2 */
#define MC 48  /* rows per pass over a column block (7x7 maps' 49 rows in one pass) */
#define SHORT_K 64 /* up to this k, two panels per tile (tile12x2) */

static inline int inreg(const pd_act_params *act)
{
    return act->kind == PD_ACT_NONE || act->kind == PD_ACT_RELU || act->kind == PD_ACT_CLIP ||
           act->kind == PD_ACT_LEAKYRELU;
}

/* vmaxps / vminps return the second operand when either is NaN, as the
 * reference's comparisons do (see act_avx2.h). */
static inline __m512 act16(__m512 x, const pd_act_params *act)
{
    switch (act->kind) {
    case PD_ACT_RELU:
        return _mm512_max_ps(_mm512_setzero_ps(), x);
    case PD_ACT_CLIP:
        return _mm512_min_ps(_mm512_set1_ps(act->beta), _mm512_max_ps(_mm512_set1_ps(act->alpha), x));
    case PD_ACT_LEAKYRELU: {
        __mmask16 neg = _mm512_cmp_ps_mask(x, _mm512_setzero_ps(), _CMP_LT_OQ);
        return _mm512_mask_mul_ps(x, neg, x, _mm512_set1_ps(act->alpha));
    }
    default:
        return x;
    }
}

static inline __attribute__((always_inline)) void tile(
    const int MR, size_t p0, size_t p1, const float *a, size_t lda, size_t mr, const float *b,
    size_t bw, __mmask16 mask, const float *bias, float *c, size_t ldc, const pd_act_params *act,
    int first, int last, const float *pf)
{
    const float *rows[12];
    _Pragma("GCC unroll 12")
    for (int r = 0; r < MR; r++)
        rows[r] = a + (size_t)(r < (int)mr ? r : (int)mr - 1) * lda;
    __m512 acc[12];
    const __m512 start = first && bias != NULL ? _mm512_maskz_loadu_ps(mask, bias) : _mm512_setzero_ps();
    _Pragma("GCC unroll 12")
    for (int r = 0; r < MR; r++)
        acc[r] = first ? start : _mm512_maskz_loadu_ps(mask, c + (size_t)(r < (int)mr ? r : 0) * ldc);
    const float *bp = b + p0 * bw;
    if (pf != NULL) {
        /* the same loop, fetching one 64-byte row of the next panel per k:
         * weights come from memory (a net's weights outgrow the caches), and
         * this spreads the next panel's misses over this panel's FMAs */
        for (size_t p = p0; p < p1; p++, bp += bw, pf += 16) {
            _mm_prefetch((const char *)pf, _MM_HINT_T1);
            const __m512 bv = _mm512_maskz_loadu_ps(mask, bp);
            _Pragma("GCC unroll 12")
            for (int r = 0; r < MR; r++)
                acc[r] = _mm512_fmadd_ps(_mm512_set1_ps(rows[r][p]), bv, acc[r]);
        }
    } else {
        for (size_t p = p0; p < p1; p++, bp += bw) {
            const __m512 bv = _mm512_maskz_loadu_ps(mask, bp);
            _Pragma("GCC unroll 12")
            for (int r = 0; r < MR; r++)
                acc[r] = _mm512_fmadd_ps(_mm512_set1_ps(rows[r][p]), bv, acc[r]);
        }
    }
    const int in = inreg(act);
    _Pragma("GCC unroll 12")
    for (int r = 0; r < MR; r++) {
        if (r >= (int)mr)
            break;
        float *cr = c + (size_t)r * ldc;
        _mm512_mask_storeu_ps(cr, mask, last && in ? act16(acc[r], act) : acc[r]);
        if (last && !in)
            pd_act_f32_ref(cr, cr, bw, act);
    }
}

/* A panel of at most 8 columns (n = 24, 40, ... ends in one) with 256-bit
 * FMAs, which cost Zen 4 half a 512-bit one: the same sums in the same order. */
static inline __attribute__((always_inline)) void tile_narrow(
    const int MR, size_t p0, size_t p1, const float *a, size_t lda, size_t mr, const float *b,
    size_t bw, const float *bias, float *c, size_t ldc, const pd_act_params *act, int first, int last)
{
    const __mmask8 mask = (__mmask8)((1u << bw) - 1u);
    const float *rows[12];
    _Pragma("GCC unroll 12")
    for (int r = 0; r < MR; r++)
        rows[r] = a + (size_t)(r < (int)mr ? r : (int)mr - 1) * lda;
    __m256 acc[12];
    const __m256 start = first && bias != NULL ? _mm256_maskz_loadu_ps(mask, bias) : _mm256_setzero_ps();
    _Pragma("GCC unroll 12")
    for (int r = 0; r < MR; r++)
        acc[r] = first ? start : _mm256_maskz_loadu_ps(mask, c + (size_t)(r < (int)mr ? r : 0) * ldc);
    const float *bp = b + p0 * bw;
    for (size_t p = p0; p < p1; p++, bp += bw) {
        const __m256 bv = _mm256_maskz_loadu_ps(mask, bp);
        _Pragma("GCC unroll 12")
        for (int r = 0; r < MR; r++)
            acc[r] = _mm256_fmadd_ps(_mm256_set1_ps(rows[r][p]), bv, acc[r]);
    }
    const int in = inreg(act);
    _Pragma("GCC unroll 12")
    for (int r = 0; r < MR; r++) {
        if (r >= (int)mr)
            break;
        float *cr = c + (size_t)r * ldc;
        __m256 v = acc[r];
        if (last && in)
            v = _mm512_castps512_ps256(act16(_mm512_castps256_ps512(v), act));
        _mm256_mask_storeu_ps(cr, mask, v);
        if (last && !in)
            pd_act_f32_ref(cr, cr, bw, act);
    }
}

static void narrow12(size_t p0, size_t p1, const float *a, size_t lda, size_t mr, const float *b,
                     size_t bw, const float *bias, float *c, size_t ldc, const pd_act_params *act,
                     int first, int last)
{
    tile_narrow(12, p0, p1, a, lda, mr, b, bw, bias, c, ldc, act, first, last);
}

static void narrow8(size_t p0, size_t p1, const float *a, size_t lda, size_t mr, const float *b,
                    size_t bw, const float *bias, float *c, size_t ldc, const pd_act_params *act,
                    int first, int last)
{
    tile_narrow(8, p0, p1, a, lda, mr, b, bw, bias, c, ldc, act, first, last);
}

static void narrow4(size_t p0, size_t p1, const float *a, size_t lda, size_t mr, const float *b,
                    size_t bw, const float *bias, float *c, size_t ldc, const pd_act_params *act,
                    int first, int last)
{
    tile_narrow(4, p0, p1, a, lda, mr, b, bw, bias, c, ldc, act, first, last);
}

static void tile12(size_t p0, size_t p1, const float *a, size_t lda, size_t mr, const float *b,
                   size_t bw, __mmask16 mask, const float *bias, float *c, size_t ldc,
                   const pd_act_params *act, int first, int last, const float *pf)
{
    tile(12, p0, p1, a, lda, mr, b, bw, mask, bias, c, ldc, act, first, last, pf);
}

static void tile8(size_t p0, size_t p1, const float *a, size_t lda, size_t mr, const float *b,
                  size_t bw, __mmask16 mask, const float *bias, float *c, size_t ldc,
                  const pd_act_params *act, int first, int last, const float *pf)
{
    tile(8, p0, p1, a, lda, mr, b, bw, mask, bias, c, ldc, act, first, last, pf);
}

static void tile5(size_t p0, size_t p1, const float *a, size_t lda, size_t mr, const float *b,
                  size_t bw, __mmask16 mask, const float *bias, float *c, size_t ldc,
                  const pd_act_params *act, int first, int last, const float *pf)
{
    tile(5, p0, p1, a, lda, mr, b, bw, mask, bias, c, ldc, act, first, last, pf);
}

static void tile4(size_t p0, size_t p1, const float *a, size_t lda, size_t mr, const float *b,
                  size_t bw, __mmask16 mask, const float *bias, float *c, size_t ldc,
                  const pd_act_params *act, int first, int last, const float *pf)
{
    tile(4, p0, p1, a, lda, mr, b, bw, mask, bias, c, ldc, act, first, last, pf);
}

/* 12 rows x two panels (32 columns; the second maybe narrower, mask1): each
 * broadcast of A feeds two FMAs, which halves the loads and the per-tile
 * cost next to the FMAs when k is short (24 accumulators of 32 registers).
 * Each element is summed in the same order as by tile(). */
static void tile12x2(size_t p0, size_t p1, const float *a, size_t lda, const float *b0,
                     const float *b1, size_t bw1, __mmask16 mask1, const float *bias, float *c,
                     size_t ldc, const pd_act_params *act, int first, int last)
{
    const float *rows[12];
    _Pragma("GCC unroll 12")
    for (int r = 0; r < 12; r++)
        rows[r] = a + (size_t)r * lda;
    __m512 acc0[12], acc1[12];
    const __m512 s0 = first && bias != NULL ? _mm512_loadu_ps(bias) : _mm512_setzero_ps();
    const __m512 s1 = first && bias != NULL ? _mm512_maskz_loadu_ps(mask1, bias + 16) : _mm512_setzero_ps();
    _Pragma("GCC unroll 12")
    for (int r = 0; r < 12; r++) {
        acc0[r] = first ? s0 : _mm512_loadu_ps(c + (size_t)r * ldc);
        acc1[r] = first ? s1 : _mm512_maskz_loadu_ps(mask1, c + (size_t)r * ldc + 16);
    }
    const float *bp0 = b0 + p0 * 16, *bp1 = b1 + p0 * bw1;
    for (size_t p = p0; p < p1; p++, bp0 += 16, bp1 += bw1) {
        const __m512 v0 = _mm512_loadu_ps(bp0), v1 = _mm512_maskz_loadu_ps(mask1, bp1);
        _Pragma("GCC unroll 12")
        for (int r = 0; r < 12; r++) {
            const __m512 av = _mm512_set1_ps(rows[r][p]);
            acc0[r] = _mm512_fmadd_ps(av, v0, acc0[r]);
            acc1[r] = _mm512_fmadd_ps(av, v1, acc1[r]);
        }
    }
    const int in = inreg(act);
    _Pragma("GCC unroll 12")
    for (int r = 0; r < 12; r++) {
        float *cr = c + (size_t)r * ldc;
        _mm512_storeu_ps(cr, last && in ? act16(acc0[r], act) : acc0[r]);
        _mm512_mask_storeu_ps(cr + 16, mask1, last && in ? act16(acc1[r], act) : acc1[r]);
        if (last && !in)
            pd_act_f32_ref(cr, cr, 16 + bw1, act);
    }
}

/* Rows [0, m) of columns [j0, j0 + bw) (one panel) over k in [p0, p1).  With
 * next (the following panel's rows [p0, p1), or NULL) the first tile
 * prefetches it. */
static void panel_rows(size_t m, size_t k, size_t p0, size_t p1, const float *a, size_t lda,
                       const float *b, size_t j0, size_t bw, const float *bias, float *c,
                       size_t ldc, const pd_act_params *act, const float *next)
{
    const __mmask16 mask = (__mmask16)((1u << bw) - 1u);
    const float *panel = b + j0 * k;
    const float *pb = bias != NULL ? bias + j0 : NULL;
    const int first = p0 == 0, last = p1 == k;
    size_t i0 = 0;
    if (bw <= 8) {
        for (; i0 < m;) {
            const size_t rest = m - i0;
            const size_t mr = rest > 8 ? 12 : rest > 4 ? 8 : 4;
            const size_t rows = rest < mr ? rest : mr;
            float *ci = c + i0 * ldc + j0;
            if (mr == 12)
                narrow12(p0, p1, a + i0 * lda, lda, rows, panel, bw, pb, ci, ldc, act, first, last);
            else if (mr == 8)
                narrow8(p0, p1, a + i0 * lda, lda, rows, panel, bw, pb, ci, ldc, act, first, last);
            else
                narrow4(p0, p1, a + i0 * lda, lda, rows, panel, bw, pb, ci, ldc, act, first, last);
            i0 += rows;
        }
        return;
    }
    const float *pf = next; /* the first tile's, then none */
    /* m = 12q + 1 (a 7x7 map has 49 pixels): the last 13 rows as 8 + 5
     * rather than 12 + a 4-row tile holding 3 duplicates. */
    const size_t full = m % 12 == 1 && m > 12 ? m - 13 : m;
    for (; i0 + 12 <= full; i0 += 12, pf = NULL)
        tile12(p0, p1, a + i0 * lda, lda, 12, panel, bw, mask, pb, c + i0 * ldc + j0, ldc, act,
               first, last, pf);
    if (full != m) {
        tile8(p0, p1, a + i0 * lda, lda, 8, panel, bw, mask, pb, c + i0 * ldc + j0, ldc, act, first,
              last, pf);
        tile5(p0, p1, a + (i0 + 8) * lda, lda, 5, panel, bw, mask, pb, c + (i0 + 8) * ldc + j0, ldc,
              act, first, last, NULL);
        pf = NULL;
        i0 = m;
    }
    while (i0 < m) {
        const size_t rest = m - i0;
        const size_t mr = rest > 8 ? 12 : rest > 4 ? 8 : 4;
        const size_t rows = rest < mr ? rest : mr;
        if (mr == 12)
            tile12(p0, p1, a + i0 * lda, lda, rows, panel, bw, mask, pb, c + i0 * ldc + j0, ldc, act,
                   first, last, pf);
        else if (mr == 8)
            tile8(p0, p1, a + i0 * lda, lda, rows, panel, bw, mask, pb, c + i0 * ldc + j0, ldc, act,
                  first, last, pf);
        else
            tile4(p0, p1, a + i0 * lda, lda, rows, panel, bw, mask, pb, c + i0 * ldc + j0, ldc, act,
                  first, last, pf);
        i0 += rows;
        pf = NULL;
    }
}

/* At most 3 rows (a classifier's one sample) x four whole panels (64
 * columns), all of k in one pass: no row tile reuses a panel, so the weights
 * are one stream read once, front to back, and four panels give four
 * independent chains per row where one panel's chain would wait on the FMA
 * latency at every k.  Each element is summed as by tile() (bias, then k
 * ascending, one FMA each). */
static inline __attribute__((always_inline)) void few_rows_x4(
    const int MR, size_t k, const float *a, size_t lda, const float *b, const float *bias, float *c,
    size_t ldc, const pd_act_params *act)
{
    __m512 acc[3][4];
    _Pragma("GCC unroll 4")
    for (int j = 0; j < 4; j++) {
        const __m512 start = bias != NULL ? _mm512_loadu_ps(bias + 16 * j) : _mm512_setzero_ps();
        _Pragma("GCC unroll 3")
        for (int r = 0; r < MR; r++)
            acc[r][j] = start;
    }
    const float *b0 = b, *b1 = b + 16 * k, *b2 = b + 32 * k, *b3 = b + 48 * k;
    for (size_t p = 0; p < k; p++) {
        const __m512 v0 = _mm512_loadu_ps(b0 + 16 * p), v1 = _mm512_loadu_ps(b1 + 16 * p);
        const __m512 v2 = _mm512_loadu_ps(b2 + 16 * p), v3 = _mm512_loadu_ps(b3 + 16 * p);
        _Pragma("GCC unroll 3")
        for (int r = 0; r < MR; r++) {
            const __m512 av = _mm512_set1_ps(a[(size_t)r * lda + p]);
            acc[r][0] = _mm512_fmadd_ps(av, v0, acc[r][0]);
            acc[r][1] = _mm512_fmadd_ps(av, v1, acc[r][1]);
            acc[r][2] = _mm512_fmadd_ps(av, v2, acc[r][2]);
            acc[r][3] = _mm512_fmadd_ps(av, v3, acc[r][3]);
        }
    }
    const int in = inreg(act);
    _Pragma("GCC unroll 3")
    for (int r = 0; r < MR; r++) {
        float *cr = c + (size_t)r * ldc;
        _Pragma("GCC unroll 4")
        for (int j = 0; j < 4; j++)
            _mm512_storeu_ps(cr + 16 * j, in ? act16(acc[r][j], act) : acc[r][j]);
        if (!in)
            pd_act_f32_ref(cr, cr, 64, act);
    }
}

static void few_rows(size_t m, size_t n, size_t k, const float *a, size_t lda, const float *b,
                     const float *bias, float *c, size_t ldc, const pd_act_params *act)
{
    size_t j0 = 0;
    for (; j0 + 64 <= n; j0 += 64) {
        const float *pb = bias != NULL ? bias + j0 : NULL;
        if (m == 1)
            few_rows_x4(1, k, a, lda, b + j0 * k, pb, c + j0, ldc, act);
        else if (m == 2)
            few_rows_x4(2, k, a, lda, b + j0 * k, pb, c + j0, ldc, act);
        else
            few_rows_x4(3, k, a, lda, b + j0 * k, pb, c + j0, ldc, act);
    }
    for (; j0 < n; j0 += 16)
        panel_rows(m, k, 0, k, a, lda, b, j0, n - j0 < 16 ? n - j0 : 16, bias, c, ldc, act, NULL);
}

/* BLIS loop order without packing A: columns in blocks of NC (a KC x NC block
 * of B stays in L2), k in blocks of KC, then rows of 12 (their KC floats stay
 * in L1) against every panel of the block. */
void pd_gemm_f32_avx512(size_t m, size_t n, size_t k, const float *a, size_t lda, const float *b,
                        const float *bias, float *c, size_t ldc, const pd_act_params *act)
{
    if (m >= 1 && m <= 3) {
        few_rows(m, n, k, a, lda, b, bias, c, ldc, act);
        return;
    }
    for (size_t jc = 0; jc < n; jc += NC) {
        const size_t jend = n - jc < NC ? n : jc + NC;
        const size_t blocks = (k + KC - 1) / KC, kc = (k + blocks - 1) / blocks;
        for (size_t p0 = 0; p0 < k; p0 += kc) {
            const size_t p1 = k - p0 < kc ? k : p0 + kc;
            size_t rows;
            for (size_t i0 = 0; i0 < m; i0 += rows) {
                /* a short remainder joins the last block (panel_rows splits it well) */
                rows = m - i0 < MC + 12 ? m - i0 : MC;
                size_t j0 = jc;
                if (k <= SHORT_K) {
                    /* short k: two panels at a time for the 12-row tiles */
                    const size_t whole = rows / 12 * 12;
                    for (; j0 + 24 < jend; j0 += 32) { /* a narrow last panel goes alone */
                        const size_t bw1 = jend - j0 - 16 < 16 ? jend - j0 - 16 : 16;
                        for (size_t r0 = 0; r0 < whole; r0 += 12)
                            tile12x2(p0, p1, a + (i0 + r0) * lda, lda, b + j0 * k, b + (j0 + 16) * k,
                                     bw1, (__mmask16)((1u << bw1) - 1u),
                                     bias != NULL ? bias + j0 : NULL, c + (i0 + r0) * ldc + j0, ldc,
                                     act, p0 == 0, p1 == k);
                        if (whole < rows) {
                            panel_rows(rows - whole, k, p0, p1, a + (i0 + whole) * lda, lda, b, j0,
                                       16, bias, c + (i0 + whole) * ldc, ldc, act, NULL);
                            panel_rows(rows - whole, k, p0, p1, a + (i0 + whole) * lda, lda, b,
                                       j0 + 16, bw1, bias, c + (i0 + whole) * ldc, ldc, act, NULL);
                        }
                    }
                }
                for (; j0 < jend; j0 += 16) {
                    /* the next panel's slice, while this one is computed: only
                     * on the first pass over the panels (later row blocks find
                     * them in L2) and when k is long enough to hide it */
                    const float *next = i0 == 0 && k > SHORT_K && j0 + 16 < n ? b + (j0 + 16) * k + p0 *
                                        (n - j0 - 16 < 16 ? n - j0 - 16 : 16) : NULL;
                    panel_rows(rows, k, p0, p1, a + i0 * lda, lda, b, j0,
                               jend - j0 < 16 ? jend - j0 : 16, bias, c + i0 * ldc, ldc, act, next);
                }
            }
        }
    }
}
#endif
