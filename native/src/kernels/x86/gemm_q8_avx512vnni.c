/* gemm_q8_avx512vnni.c: the int8 GEMM of kernels/q8.h with AVX-512 VNNI.
 *
 * One 64-byte row of a Q8PANELS panel holds 4 k of 16 channels, exactly the
 * operand of vpdpbusd: 4 uint8 activations of a row broadcast to every lane,
 * times the 16 x 4 int8 weights, summed into 16 int32 accumulators.  vpdpbusd
 * does not saturate (unlike vpmaddubsw), and int32 adds wrap like the
 * reference's uint32 sum, so the accumulators equal the reference's.  The
 * micro-kernel is 4 rows x 4 panels (16 accumulators, 4 weight rows and one
 * broadcast of 32 registers: one load per vpdpbusd at most); a block of one
 * or two panels takes 8 rows at a time (tall), the last rows and panels
 * smaller variants.  The output stage
 * (rq_avx512.h) runs in registers, 16 channels at a time; the float one
 * (pd_gemm_q8f_avx512vnni) converts 8 sums at a time to double, multiplies by
 * the exact double M and narrows to float32: the same two IEEE roundings as
 * pd_rq_float. */
#include "kernels/kernels.h"

#if PD_BUILD_X86
#pragma GCC target("avx512f,avx512vl,avx512dq,avx512bw,avx512vnni,avx2,fma")
#include <immintrin.h>
#include <string.h>

#include "kernels/q8.h"
#include "kernels/x86/rq_avx512.h"
#include "kernels/x86/x86.h"

#define NP_MAX 4

static inline int32_t load4(const uint8_t *p)
{
    int32_t v;
    memcpy(&v, p, 4);
    return v;
}

/* The last r < 4 bytes of a row, zero-extended (never reads past the row). */
static inline int32_t load_tail(const uint8_t *p, size_t r)
{
    uint32_t v = p[0];
    if (r > 1)
        v |= (uint32_t)p[1] << 8;
    if (r > 2)
        v |= (uint32_t)p[2] << 16;
    return (int32_t)v;
}

/* Stage of one call: the block's channel params, the clamp vectors. */
typedef struct stage {
    rq16 p[NP_MAX];
    __m512i lo64, hi64, zero32;
    clamp8 clamp;
    int fast; /* rq16_fast applies to every channel of the block */
    int fout; /* float output: fm holds each panel's M = m * 2^-n, 8 channels a vector */
    __m512d fm[NP_MAX][2];
    const pd_requant *rq;
} stage;

/* pd_rq_float of 16 sums. */
static inline __m512 rqf16(__m512i x, const __m512d m[2])
{
    const __m256 lo = _mm512_cvtpd_ps(_mm512_mul_pd(_mm512_cvtepi32_pd(_mm512_castsi512_si256(x)), m[0]));
    const __m256 hi = _mm512_cvtpd_ps(_mm512_mul_pd(_mm512_cvtepi32_pd(_mm512_extracti64x4_epi64(x, 1)), m[1]));
    return _mm512_insertf32x8(_mm512_castps256_ps512(lo), hi, 1);
}

/* One k group (4 bytes of each row) into the accumulators c<row><panel>;
 * LOAD(r) gives row r's 4 bytes as an int32.  Every name is a scalar: GCC
 * keeps them in registers (it spills a 2-D array of 16 zmm). */
#define STEP(LOAD)                                                                              \
    do {                                                                                        \
        const __m512i w0 = _mm512_loadu_si512((const void *)bp);                                \
        const __m512i w1 = NP > 1 ? _mm512_loadu_si512((const void *)(bp + panel)) : w0;        \
        const __m512i w2 = NP > 2 ? _mm512_loadu_si512((const void *)(bp + 2 * panel)) : w0;    \
        const __m512i w3 = NP > 3 ? _mm512_loadu_si512((const void *)(bp + 3 * panel)) : w0;    \
        if (MR > 0) {                                                                          \
            const __m512i av = _mm512_set1_epi32(LOAD(0));                                     \
            c00 = _mm512_dpbusd_epi32(c00, av, w0);                            \
            if (NP > 1) c01 = _mm512_dpbusd_epi32(c01, av, w1);                            \
            if (NP > 2) c02 = _mm512_dpbusd_epi32(c02, av, w2);                            \
            if (NP > 3) c03 = _mm512_dpbusd_epi32(c03, av, w3);                            \
        }                                                                                       \
        if (MR > 1) {                                                                          \
            const __m512i av = _mm512_set1_epi32(LOAD(1));                                     \
            c10 = _mm512_dpbusd_epi32(c10, av, w0);                            \
            if (NP > 1) c11 = _mm512_dpbusd_epi32(c11, av, w1);                            \
            if (NP > 2) c12 = _mm512_dpbusd_epi32(c12, av, w2);                            \
            if (NP > 3) c13 = _mm512_dpbusd_epi32(c13, av, w3);                            \
        }                                                                                       \
        if (MR > 2) {                                                                          \
            const __m512i av = _mm512_set1_epi32(LOAD(2));                                     \
            c20 = _mm512_dpbusd_epi32(c20, av, w0);                            \
            if (NP > 1) c21 = _mm512_dpbusd_epi32(c21, av, w1);                            \
            if (NP > 2) c22 = _mm512_dpbusd_epi32(c22, av, w2);                            \
            if (NP > 3) c23 = _mm512_dpbusd_epi32(c23, av, w3);                            \
        }                                                                                       \
        if (MR > 3) {                                                                          \
            const __m512i av = _mm512_set1_epi32(LOAD(3));                                     \
            c30 = _mm512_dpbusd_epi32(c30, av, w0);                            \
            if (NP > 1) c31 = _mm512_dpbusd_epi32(c31, av, w1);                            \
            if (NP > 2) c32 = _mm512_dpbusd_epi32(c32, av, w2);                            \
            if (NP > 3) c33 = _mm512_dpbusd_epi32(c33, av, w3);                            \
        }                                                                                       \
    } while (0)

/* One row's NP panels through the fast output stage into cr. */
static inline __attribute__((always_inline)) void fast_row(const int NP, const stage *st, __m512i a0,
                                                           __m512i a1, __m512i a2, __m512i a3,
                                                           uint8_t *cr, size_t cols, __mmask64 mask)
{
    const __m512i order = _mm512_setr_epi32(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15);
    const __m512i v0 = rq16_fast(a0, &st->p[0]);
    const __m512i v1 = NP > 1 ? rq16_fast(a1, &st->p[1]) : v0;
    const __m512i v2 = NP > 2 ? rq16_fast(a2, &st->p[2]) : v0;
    const __m512i v3 = NP > 3 ? rq16_fast(a3, &st->p[3]) : v0;
    const __m512i bytes = clamp8_bytes(narrow4(v0, v1, v2, v3), &st->clamp);
    _mm512_mask_storeu_epi8(cr, mask, _mm512_permutexvar_epi32(order, bytes));
    if (st->rq->lut != NULL)
        rq_lut(st->rq, cr, cols);
}

/* The output stage of an MR x NP tile (MR <= 4) from its named accumulators
 * (those past MR or NP are ignored) into out (uint8_t, or float with
 * st->fout), ldc apart. */
static inline __attribute__((always_inline)) void finish(
    const int MR, const int NP, const stage *st, __m512i c00, __m512i c01, __m512i c02, __m512i c03,
    __m512i c10, __m512i c11, __m512i c12, __m512i c13, __m512i c20, __m512i c21, __m512i c22,
    __m512i c23, __m512i c30, __m512i c31, __m512i c32, __m512i c33, size_t cols, void *out, size_t ldc)
{
    uint8_t *c = out;
    if (!st->fout && st->fast) {
        /* rq16_fast for every channel, and one narrowing for the panels
         * (packs work per 128-bit lane, a dword permute restores the
         * order; missing panels are copies, never stored).  Row by row
         * from the named accumulators: an array of them here made GCC
         * spill all 16 to the stack on every tile, for the other paths. */
        const __mmask64 mask = cols >= 64 ? ~(__mmask64)0 : ((__mmask64)1 << cols) - 1;
        fast_row(NP, st, c00, c01, c02, c03, c, cols, mask);
        if (MR > 1)
            fast_row(NP, st, c10, c11, c12, c13, c + ldc, cols, mask);
        if (MR > 2)
            fast_row(NP, st, c20, c21, c22, c23, c + 2 * ldc, cols, mask);
        if (MR > 3)
            fast_row(NP, st, c30, c31, c32, c33, c + 3 * ldc, cols, mask);
        return;
    }
    const __m512i acc[4][4] = {
        {c00, c01, c02, c03},
        {c10, c11, c12, c13},
        {c20, c21, c22, c23},
        {c30, c31, c32, c33},
    };
    if (st->fout) {
        for (int r = 0; r < MR; r++) {
            float *cr = (float *)out + (size_t)r * ldc;
            for (int j = 0; j < NP; j++) {
                const size_t left = cols - (size_t)j * 16;
                const __mmask16 mask = (__mmask16)(left >= 16 ? 0xffffu : (1u << left) - 1u);
                _mm512_mask_storeu_ps(cr + j * 16, mask, rqf16(acc[r][j], st->fm[j]));
            }
        }
        return;
    }
    for (int r = 0; r < MR; r++) {
        uint8_t *cr = c + (size_t)r * ldc;
        for (int j = 0; j < NP; j++) {
            const size_t left = cols - (size_t)j * 16;
            const __mmask16 mask = (__mmask16)(left >= 16 ? 0xffffu : (1u << left) - 1u);
            _mm_mask_storeu_epi8(cr + j * 16, mask,
                                 rq16_apply(acc[r][j], &st->p[j], st->lo64, st->hi64, st->zero32));
        }
        if (st->rq->lut != NULL)
            rq_lut(st->rq, cr, cols);
    }
}

static inline __attribute__((always_inline)) void tile(
    const int MR, const int NP, size_t k, const uint8_t *a, size_t lda, const int8_t *b, size_t kp,
    size_t cols, const int32_t *bias, const stage *st, void *out, size_t ldc, const int8_t *pf)
{
    __m512i start[NP_MAX];
    for (int j = 0; j < NP_MAX; j++) {
        const size_t left = j < NP ? cols - (size_t)j * 16 : 0;
        const __mmask16 mask = (__mmask16)(left >= 16 ? 0xffffu : (1u << left) - 1u);
        start[j] = bias != NULL && j < NP ? _mm512_maskz_loadu_epi32(mask, bias + j * 16)
                                          : _mm512_setzero_si512();
    }
    __m512i c00 = start[0], c01 = start[1], c02 = start[2], c03 = start[3];
    __m512i c10 = start[0], c11 = start[1], c12 = start[2], c13 = start[3];
    __m512i c20 = start[0], c21 = start[1], c22 = start[2], c23 = start[3];
    __m512i c30 = start[0], c31 = start[1], c32 = start[2], c33 = start[3];
    const size_t full = k / 4, panel = 16 * kp;
    const int8_t *bp = b;
    const uint8_t *ap = a;
#define FULL(r) load4(ap + (size_t)(r) * lda)
#define TAIL(r) load_tail(ap + (size_t)(r) * lda, k % 4)
    if (pf != NULL) {
        /* the next block's weights, a 64-byte row of each of its panels per
         * k group, while this block's first rows are computed (as the float
         * GEMM does: a net's weights come from memory) */
        for (size_t g = 0; g < full; g++, bp += 64, ap += 4, pf += 64) {
            _mm_prefetch((const char *)pf, _MM_HINT_T1);
            _mm_prefetch((const char *)(pf + panel), _MM_HINT_T1);
            _mm_prefetch((const char *)(pf + 2 * panel), _MM_HINT_T1);
            _mm_prefetch((const char *)(pf + 3 * panel), _MM_HINT_T1);
            STEP(FULL);
        }
    } else {
        for (size_t g = 0; g < full; g++, bp += 64, ap += 4)
            STEP(FULL);
    }
    if (k % 4 != 0)
        STEP(TAIL);
#undef FULL
#undef TAIL
    finish(MR, NP, st, c00, c01, c02, c03, c10, c11, c12, c13, c20, c21, c22, c23, c30, c31, c32,
           c33, cols, out, ldc);
}

/* Four vectors of sums through the fast output stage with the channel
 * parameters of panels j0 .. j3, as 64 bytes in the order of the four. */
static inline __m512i fast_bytes(const stage *st, __m512i a0, int j0, __m512i a1, int j1, __m512i a2, int j2,
                                 __m512i a3, int j3)
{
    const __m512i order = _mm512_setr_epi32(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15);
    const __m512i v0 = rq16_fast(a0, &st->p[j0]);
    const __m512i v1 = rq16_fast(a1, &st->p[j1]);
    const __m512i v2 = rq16_fast(a2, &st->p[j2]);
    const __m512i v3 = rq16_fast(a3, &st->p[j3]);
    return _mm512_permutexvar_epi32(order, clamp8_bytes(narrow4(v0, v1, v2, v3), &st->clamp));
}

/* The fast output stage of 4 rows of one panel (cols <= 16), narrowed
 * together: one narrowing for 64 bytes where fast_row narrows 16. */
static inline __attribute__((always_inline)) void fast_rows4(const stage *st, __m512i a0, __m512i a1,
                                                             __m512i a2, __m512i a3, uint8_t *c,
                                                             size_t ldc, size_t cols)
{
    const __m512i b = fast_bytes(st, a0, 0, a1, 0, a2, 0, a3, 0); /* row r: 16 bytes at 16 r */
    const __mmask16 mask = (__mmask16)(cols >= 16 ? 0xffffu : (1u << cols) - 1u);
    _mm_mask_storeu_epi8(c, mask, _mm512_castsi512_si128(b));
    _mm_mask_storeu_epi8(c + ldc, mask, _mm512_extracti32x4_epi32(b, 1));
    _mm_mask_storeu_epi8(c + 2 * ldc, mask, _mm512_extracti32x4_epi32(b, 2));
    _mm_mask_storeu_epi8(c + 3 * ldc, mask, _mm512_extracti32x4_epi32(b, 3));
    for (int r = 0; r < 4 && st->rq->lut != NULL; r++)
        rq_lut(st->rq, c + (size_t)r * ldc, cols);
}

/* The same for 2 rows of two panels (16 < cols <= 32): row r in bytes
 * [32 r, 32 r + 32) of one narrowing. */
static inline __attribute__((always_inline)) void fast_rows2(const stage *st, __m512i a00, __m512i a01,
                                                             __m512i a10, __m512i a11, uint8_t *c,
                                                             size_t ldc, size_t cols)
{
    const __m512i b = fast_bytes(st, a00, 0, a01, 1, a10, 0, a11, 1);
    const __mmask32 mask = (__mmask32)(cols >= 32 ? 0xffffffffu : (1u << cols) - 1u);
    _mm256_mask_storeu_epi8(c, mask, _mm512_castsi512_si256(b));
    _mm256_mask_storeu_epi8(c + ldc, mask, _mm512_extracti64x4_epi64(b, 1));
    for (int r = 0; r < 2 && st->rq->lut != NULL; r++)
        rq_lut(st->rq, c + (size_t)r * ldc, cols);
}

/* 8 rows x NP <= 2 panels: a block of 32 columns or fewer (MobileNetV2's
 * projections to 24 and 32 channels, its stem, the 32-column tails) has 8
 * accumulators in a 4-row tile, fewer than vpdpbusd's latency times its
 * throughput keeps busy; 8 rows give 16 chains.  Each row's sums are those
 * of the 4-row tiles, and its output stage is theirs (finish). */
static inline __attribute__((always_inline)) void tall(const int NP, size_t k, const uint8_t *a,
                                                       size_t lda, const int8_t *b, size_t kp,
                                                       size_t cols, const int32_t *bias,
                                                       const stage *st, void *out, size_t ldc)
{
    __m512i s0 = _mm512_setzero_si512(), s1 = s0;
    if (bias != NULL) {
        const size_t left = NP > 1 ? cols - 16 : 0;
        s0 = _mm512_maskz_loadu_epi32((__mmask16)(cols >= 16 ? 0xffffu : (1u << cols) - 1u), bias);
        if (NP > 1)
            s1 = _mm512_maskz_loadu_epi32((__mmask16)(left >= 16 ? 0xffffu : (1u << left) - 1u), bias + 16);
    }
    __m512i c00 = s0, c01 = s1, c10 = s0, c11 = s1, c20 = s0, c21 = s1, c30 = s0, c31 = s1;
    __m512i c40 = s0, c41 = s1, c50 = s0, c51 = s1, c60 = s0, c61 = s1, c70 = s0, c71 = s1;
    const size_t full = k / 4, panel = 16 * kp;
    const int8_t *bp = b;
    const uint8_t *ap = a;
#define ROW(r, LOAD)                                                   \
    do {                                                               \
        const __m512i av = _mm512_set1_epi32(LOAD(r));                 \
        c##r##0 = _mm512_dpbusd_epi32(c##r##0, av, w0);                \
        if (NP > 1)                                                    \
            c##r##1 = _mm512_dpbusd_epi32(c##r##1, av, w1);            \
    } while (0)
#define STEP8(LOAD)                                                                         \
    do {                                                                                    \
        const __m512i w0 = _mm512_loadu_si512((const void *)bp);                            \
        const __m512i w1 = NP > 1 ? _mm512_loadu_si512((const void *)(bp + panel)) : w0;    \
        ROW(0, LOAD); ROW(1, LOAD); ROW(2, LOAD); ROW(3, LOAD);                             \
        ROW(4, LOAD); ROW(5, LOAD); ROW(6, LOAD); ROW(7, LOAD);                             \
    } while (0)
#define FULL(r) load4(ap + (size_t)(r) * lda)
#define TAIL(r) load_tail(ap + (size_t)(r) * lda, k % 4)
    for (size_t g = 0; g < full; g++, bp += 64, ap += 4)
        STEP8(FULL);
    if (k % 4 != 0)
        STEP8(TAIL);
#undef FULL
#undef TAIL
#undef STEP8
#undef ROW
    if (!st->fout && st->fast) {
        uint8_t *c = out;
        if (NP == 1) {
            fast_rows4(st, c00, c10, c20, c30, c, ldc, cols);
            fast_rows4(st, c40, c50, c60, c70, c + 4 * ldc, ldc, cols);
        } else {
            fast_rows2(st, c00, c01, c10, c11, c, ldc, cols);
            fast_rows2(st, c20, c21, c30, c31, c + 2 * ldc, ldc, cols);
            fast_rows2(st, c40, c41, c50, c51, c + 4 * ldc, ldc, cols);
            fast_rows2(st, c60, c61, c70, c71, c + 6 * ldc, ldc, cols);
        }
        return;
    }
    const size_t size = st->fout ? sizeof(float) : 1;
    finish(4, NP, st, c00, c01, c01, c01, c10, c11, c11, c11, c20, c21, c21, c21, c30, c31, c31, c31,
           cols, out, ldc);
    finish(4, NP, st, c40, c41, c41, c41, c50, c51, c51, c51, c60, c61, c61, c61, c70, c71, c71, c71,
           cols, (unsigned char *)out + 4 * ldc * size, ldc);
}

static void tall8x1(size_t k, const uint8_t *a, size_t lda, const int8_t *b, size_t kp, size_t cols,
                    const int32_t *bias, const stage *st, void *c, size_t ldc)
{
    tall(1, k, a, lda, b, kp, cols, bias, st, c, ldc);
}

static void tall8x2(size_t k, const uint8_t *a, size_t lda, const int8_t *b, size_t kp, size_t cols,
                    const int32_t *bias, const stage *st, void *c, size_t ldc)
{
    tall(2, k, a, lda, b, kp, cols, bias, st, c, ldc);
}

typedef void (*tile_fn)(size_t k, const uint8_t *a, size_t lda, const int8_t *b, size_t kp, size_t cols,
                        const int32_t *bias, const stage *st, void *c, size_t ldc, const int8_t *pf);

#define TILE(MR, NP)                                                                                   \
    static void tile##MR##x##NP(size_t k, const uint8_t *a, size_t lda, const int8_t *b, size_t kp,    \
                                size_t cols, const int32_t *bias, const stage *st, void *c,            \
                                size_t ldc, const int8_t *pf)                                          \
    {                                                                                                  \
        tile(MR, NP, k, a, lda, b, kp, cols, bias, st, c, ldc, pf);                                    \
    }
TILE(4, 1) TILE(4, 2) TILE(4, 3) TILE(4, 4)
TILE(3, 1) TILE(3, 2) TILE(3, 3) TILE(3, 4)
TILE(2, 1) TILE(2, 2) TILE(2, 3) TILE(2, 4)
TILE(1, 1) TILE(1, 2) TILE(1, 3) TILE(1, 4)

/* [4 - rows][panels - 1] */
static const tile_fn tiles[4][NP_MAX] = {
    {tile4x1, tile4x2, tile4x3, tile4x4},
    {tile3x1, tile3x2, tile3x3, tile3x4},
    {tile2x1, tile2x2, tile2x3, tile2x4},
    {tile1x1, tile1x2, tile1x3, tile1x4},
};

/* c is uint8_t (fout 0) or float (fout 1). */
static void gemm(size_t m, size_t n, size_t k, const uint8_t *a, size_t lda, const int8_t *b,
                 const int32_t *bias, const pd_requant *rq, void *c, size_t ldc, int fout)
{
    const size_t kp = pd_q8_kpad(k);
    const size_t size = fout ? sizeof(float) : 1;
    stage st;
    st.rq = rq;
    st.fout = fout;
    st.lo64 = _mm512_set1_epi64((long long)rq->lo - rq->zero);
    st.hi64 = _mm512_set1_epi64((long long)rq->hi - rq->zero);
    st.zero32 = _mm512_set1_epi32(rq->zero);
    st.clamp = clamp8_of(rq);
    /* Blocks of up to 4 panels (64 columns); their weights stay in L1/L2
     * while every row passes. */
    for (size_t j0 = 0; j0 < n; j0 += 16 * NP_MAX) {
        const size_t cols = n - j0 < 16 * NP_MAX ? n - j0 : 16 * NP_MAX;
        const int np = (int)((cols + 15) / 16);
        st.fast = 1;
        for (int j = 0; j < np; j++) {
            st.p[j] = rq16_load(rq, j0 + (size_t)j * 16, cols - (size_t)j * 16);
            st.fast = st.fast && st.p[j].fast;
            if (fout) {
                double real[16] = {0};
                for (size_t i = 0; i < 16 && (size_t)j * 16 + i < cols; i++)
                    real[i] = pd_rq_real(rq->mult[j0 + (size_t)j * 16 + i], rq->shift[j0 + (size_t)j * 16 + i]);
                st.fm[j][0] = _mm512_loadu_pd(real);
                st.fm[j][1] = _mm512_loadu_pd(real + 8);
            }
        }
        const int8_t *bj = b + j0 * kp;
        const int32_t *biasj = bias != NULL ? bias + j0 : NULL;
        /* with k long enough to hide it, the first row tile prefetches the
         * next block (its panels past n are not read: prefetches never fault,
         * but only the next block's own rows are asked for when it is whole) */
        const int8_t *next = k > 64 && j0 + 16 * NP_MAX + 16 * NP_MAX <= n ? b + (j0 + 16 * NP_MAX) * kp : NULL;
        size_t i = 0;
        if (np <= 2) /* (next is NULL: this is the last block) */
            for (; i + 8 <= m; i += 8)
                (np == 1 ? tall8x1 : tall8x2)(k, a + i * lda, lda, bj, kp, cols, biasj, &st,
                                              (unsigned char *)c + (i * ldc + j0) * size, ldc);
        for (; i < m; i += 4, next = NULL) {
            const size_t rows = m - i < 4 ? m - i : 4;
            tiles[4 - rows][np - 1](k, a + i * lda, lda, bj, kp, cols, biasj, &st,
                                    (unsigned char *)c + (i * ldc + j0) * size, ldc, next);
        }
    }
}

void pd_gemm_q8_avx512vnni(size_t m, size_t n, size_t k, const uint8_t *a, size_t lda,
                           const int8_t *b, const int32_t *bias, const pd_requant *rq, uint8_t *c,
                           size_t ldc)
{
    gemm(m, n, k, a, lda, b, bias, rq, c, ldc, 0);
}

void pd_gemm_q8f_avx512vnni(size_t m, size_t n, size_t k, const uint8_t *a, size_t lda,
                            const int8_t *b, const int32_t *bias, const pd_requant *rq, float *c,
                            size_t ldc)
{
    gemm(m, n, k, a, lda, b, bias, rq, c, ldc, 1);
}
#endif
