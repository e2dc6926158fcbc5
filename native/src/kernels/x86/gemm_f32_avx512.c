/* gemm_f32_avx512.c: the float32 GEMM of kernels.h with AVX-512F.
 *
 * A 12 x 32 micro-kernel (tile12x2): one zmm holds a whole PANELS16 row, so
 * each k step is two loads of B and 12 broadcasts of A, each feeding two FMAs,
 * into 24 accumulators (of 32 registers); a lone or partial panel takes the
 * 12 x 16 one (tile), with a lane mask, never a separate code path.  The
 * last rows of a GEMM take an 8-, 5- or 4-row variant, so a short tail does
 * not pay for 12 rows.  Every variant sums a row in the same order (bias,
 * then k ascending, one FMA each), so a sample's result does not depend on
 * the batch it is in or the tile that computed it.  Loops as in BLIS
 * (pd_gemm_f32_avx512 below); the output stage is applied in registers for
 * none / relu / clip / leakyrelu, by the reference otherwise. */
#include "kernels/kernels.h"

#if PD_BUILD_X86
#pragma GCC target("avx512f,avx512vl,avx512dq,avx512bw,avx2,fma")
#include <immintrin.h>
#include <string.h>

#include "kernels/ref/ref.h"
#include "kernels/x86/x86.h"
#include "predict.h"

#define KC 512 /* most k per block; k is cut in equal blocks, so a panel slice is at most 32 KiB */
#define NC 256 /* columns per block: KC x NC floats of B are at most 512 KiB, in L2 */
#define MC 48  /* rows per pass over a column block (7x7 maps' 49 rows in one pass) */
/* packed_rows may copy a 12-row tile of A to the stack: 12 x (KC + 16) floats, 25 KiB */
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
    int first, int last)
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
    for (size_t p = p0; p < p1; p++, bp += bw) {
        const __m512 bv = _mm512_maskz_loadu_ps(mask, bp);
        _Pragma("GCC unroll 12")
        for (int r = 0; r < MR; r++)
            acc[r] = _mm512_fmadd_ps(_mm512_set1_ps(rows[r][p]), bv, acc[r]);
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
                   const pd_act_params *act, int first, int last)
{
    tile(12, p0, p1, a, lda, mr, b, bw, mask, bias, c, ldc, act, first, last);
}

static void tile8(size_t p0, size_t p1, const float *a, size_t lda, size_t mr, const float *b,
                  size_t bw, __mmask16 mask, const float *bias, float *c, size_t ldc,
                  const pd_act_params *act, int first, int last)
{
    tile(8, p0, p1, a, lda, mr, b, bw, mask, bias, c, ldc, act, first, last);
}

static void tile5(size_t p0, size_t p1, const float *a, size_t lda, size_t mr, const float *b,
                  size_t bw, __mmask16 mask, const float *bias, float *c, size_t ldc,
                  const pd_act_params *act, int first, int last)
{
    tile(5, p0, p1, a, lda, mr, b, bw, mask, bias, c, ldc, act, first, last);
}

static void tile4(size_t p0, size_t p1, const float *a, size_t lda, size_t mr, const float *b,
                  size_t bw, __mmask16 mask, const float *bias, float *c, size_t ldc,
                  const pd_act_params *act, int first, int last)
{
    tile(4, p0, p1, a, lda, mr, b, bw, mask, bias, c, ldc, act, first, last);
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

/* Rows [0, m) of columns [j0, j0 + bw) (one panel) over k in [p0, p1). */
static void panel_rows(size_t m, size_t k, size_t p0, size_t p1, const float *a, size_t lda,
                       const float *b, size_t j0, size_t bw, const float *bias, float *c,
                       size_t ldc, const pd_act_params *act)
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
    /* m = 12q + 1 (a 7x7 map has 49 pixels): the last 13 rows as 8 + 5
     * rather than 12 + a 4-row tile holding 3 duplicates. */
    const size_t full = m % 12 == 1 && m > 12 ? m - 13 : m;
    for (; i0 + 12 <= full; i0 += 12)
        tile12(p0, p1, a + i0 * lda, lda, 12, panel, bw, mask, pb, c + i0 * ldc + j0, ldc, act,
               first, last);
    if (full != m) {
        tile8(p0, p1, a + i0 * lda, lda, 8, panel, bw, mask, pb, c + i0 * ldc + j0, ldc, act, first,
              last);
        tile5(p0, p1, a + (i0 + 8) * lda, lda, 5, panel, bw, mask, pb, c + (i0 + 8) * ldc + j0, ldc,
              act, first, last);
        i0 = m;
    }
    while (i0 < m) {
        const size_t rest = m - i0;
        const size_t mr = rest > 8 ? 12 : rest > 4 ? 8 : 4;
        const size_t rows = rest < mr ? rest : mr;
        if (mr == 12)
            tile12(p0, p1, a + i0 * lda, lda, rows, panel, bw, mask, pb, c + i0 * ldc + j0, ldc, act,
                   first, last);
        else if (mr == 8)
            tile8(p0, p1, a + i0 * lda, lda, rows, panel, bw, mask, pb, c + i0 * ldc + j0, ldc, act,
                  first, last);
        else
            tile4(p0, p1, a + i0 * lda, lda, rows, panel, bw, mask, pb, c + i0 * ldc + j0, ldc, act,
                  first, last);
        i0 += rows;
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
        panel_rows(m, k, 0, k, a, lda, b, j0, n - j0 < 16 ? n - j0 : 16, bias, c, ldc, act);
}

/* Rows [0, rows) of columns [jc, jend) over k in [p0, p1), k > SHORT_K: each
 * tile of 12 rows is run against every panel of the block, two panels per
 * broadcast of A (tile12x2), then the rows left over panel by panel.
 * BLIS's order: the A tile stays in L1, B streams from L2.
 *
 * Against the panel by panel order (each panel's slice in L1, A streamed
 * past it), on a Cascade Lake Xeon: m784_k256_n256 and m784_k512_n512 from
 * 76-78% to 100-104% of 16 FMAs a cycle, and m196_k1024_n1024 from 62% to
 * 98%.  A 12 x 1 tile loads 13 times per 12 FMAs (12 broadcasts and B), more
 * than two load ports feed two FMA ports, where 12 x 2 loads 14 times per 24.
 * Rows of A lying a multiple of 4 KiB apart (k = 1024) all map to one L1
 * set, 12 lines in 8 ways, each evicted before its 16 floats are used: such
 * a tile is copied once to a stack buffer whose rows are 64 bytes longer.
 * Other tiles are read in place: copying every tile cost MobileNetV2's
 * narrow projections up to a fifth of their time (m784 n32 k144: 47 -> 58
 * GMAC/s in place) and gained nothing on wide ones.  The sums are the same,
 * in the same order, as every other tile's (bias, then k ascending). */
static void packed_rows(size_t rows, size_t k, size_t p0, size_t p1, const float *a, size_t lda,
                        const float *b, size_t jc, size_t jend, const float *bias, float *c,
                        size_t ldc, const pd_act_params *act)
{
    float tile_a[12 * (KC + 16)];
    const size_t kc = p1 - p0, stride = kc + 16;
    const int first = p0 == 0, last = p1 == k;
    /* 12q + 1 rows (a 7x7 map): the last 13 go to panel_rows, as 8 + 5 */
    const size_t whole = rows % 12 == 1 && rows > 12 ? rows - 13 : rows / 12 * 12;
    const int copy = (lda * sizeof(float)) % 4096 == 0;
    for (size_t r0 = 0; r0 < whole; r0 += 12) {
        const float *ta = a + r0 * lda + p0;
        size_t ts = lda;
        if (copy) {
            for (size_t r = 0; r < 12; r++)
                memcpy(tile_a + r * stride, a + (r0 + r) * lda + p0, kc * sizeof(float));
            ta = tile_a;
            ts = stride;
        }
        size_t j0 = jc;
        for (; j0 + 24 < jend; j0 += 32) { /* a narrow last panel goes alone */
            const size_t bw1 = jend - j0 - 16 < 16 ? jend - j0 - 16 : 16;
            tile12x2(0, kc, ta, ts, b + j0 * k + p0 * 16, b + (j0 + 16) * k + p0 * bw1, bw1,
                     (__mmask16)((1u << bw1) - 1u), bias != NULL ? bias + j0 : NULL,
                     c + r0 * ldc + j0, ldc, act, first, last);
        }
        for (; j0 < jend; j0 += 16) {
            const size_t bw = jend - j0 < 16 ? jend - j0 : 16;
            const float *slice = b + j0 * k + p0 * bw; /* the panel's rows [p0, p1) */
            const float *pb = bias != NULL ? bias + j0 : NULL;
            float *ci = c + r0 * ldc + j0;
            if (bw <= 8)
                narrow12(0, kc, ta, ts, 12, slice, bw, pb, ci, ldc, act, first, last);
            else
                tile12(0, kc, ta, ts, 12, slice, bw, (__mmask16)((1u << bw) - 1u), pb, ci,
                       ldc, act, first, last);
        }
    }
    for (size_t j0 = jc; whole < rows && j0 < jend; j0 += 16)
        panel_rows(rows - whole, k, p0, p1, a + whole * lda, lda, b, j0,
                   jend - j0 < 16 ? jend - j0 : 16, bias, c + whole * ldc, ldc, act);
}

/* BLIS's loop order: columns in blocks of NC (a KC x NC block of B stays in
 * L2), k in blocks of KC, then rows: when k is long, in tiles of 12, each
 * against every panel of the block (packed_rows); when it is short, panel
 * pair by panel pair over the rows. */
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
                if (k > SHORT_K) {
                    packed_rows(rows, k, p0, p1, a + i0 * lda, lda, b, jc, jend, bias,
                                c + i0 * ldc, ldc, act);
                    continue;
                }
                /* short k: two panels at a time for the 12-row tiles */
                const size_t whole = rows / 12 * 12;
                size_t j0 = jc;
                for (; j0 + 24 < jend; j0 += 32) { /* a narrow last panel goes alone */
                    const size_t bw1 = jend - j0 - 16 < 16 ? jend - j0 - 16 : 16;
                    for (size_t r0 = 0; r0 < whole; r0 += 12)
                        tile12x2(p0, p1, a + (i0 + r0) * lda, lda, b + j0 * k, b + (j0 + 16) * k,
                                 bw1, (__mmask16)((1u << bw1) - 1u),
                                 bias != NULL ? bias + j0 : NULL, c + (i0 + r0) * ldc + j0, ldc,
                                 act, p0 == 0, p1 == k);
                    if (whole < rows) {
                        panel_rows(rows - whole, k, p0, p1, a + (i0 + whole) * lda, lda, b, j0,
                                   16, bias, c + (i0 + whole) * ldc, ldc, act);
                        panel_rows(rows - whole, k, p0, p1, a + (i0 + whole) * lda, lda, b,
                                   j0 + 16, bw1, bias, c + (i0 + whole) * ldc, ldc, act);
                    }
                }
                for (; j0 < jend; j0 += 16)
                    panel_rows(rows, k, p0, p1, a + i0 * lda, lda, b, j0,
                               jend - j0 < 16 ? jend - j0 : 16, bias, c + i0 * ldc, ldc, act);
            }
        }
    }
}
#endif
