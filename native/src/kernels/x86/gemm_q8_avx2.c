/* gemm_q8_avx2.c: the int8 GEMM of kernels/q8.h with AVX2 (no VNNI).
 *
 * vpmaddubsw would sum two uint8 x int8 products into a saturating int16, and
 * 2 * 255 * 127 > 32767, so it is not exact on our data (docs/quantization.md).
 * Instead 16 bytes of a Q8PANELS row (4 channels x 4 k) are widened to int16
 * and multiplied by the row's 4 activations (widened, broadcast) with
 * vpmaddwd: each int32 lane gets a0*w0 + a1*w1 (or a2*w2 + a3*w3) exactly;
 * the two halves of a channel are added at the end (vphaddd).  int32 adds
 * wrap like the reference's uint32 sum, so the result is the reference's.
 * 2 rows x 16 channels per micro-tile: 8 accumulators and 4 weight registers,
 * every one a named scalar so that GCC keeps them in registers (as arrays
 * indexed in loops it kept them on the stack, a load and a store around
 * every vpmaddwd: MobileNetV2 int8 ran 10x slower than with VNNI).  The
 * output stage is rq_avx2.h's: the fast rule when every shift of the 16
 * channels is at least 33, else the general one. */
#include "kernels/kernels.h"

#if PD_BUILD_X86
#pragma GCC target("avx2,fma")
#include <immintrin.h>
#include <string.h>

#include "kernels/q8.h"
#include "kernels/x86/rq_avx2.h"
#include "kernels/x86/x86.h"

/* The first r (1..4) bytes of p widened to int16 and broadcast: the
 * operand of one k group for vpmaddwd (the bytes past r are zero). */
static inline __m256i bcast_row(const uint8_t *p, size_t r)
{
    uint32_t v = 0;
    if (r == 4) /* a constant size: one load */
        memcpy(&v, p, 4);
    else
        for (size_t i = 0; i < r; i++)
            v |= (uint32_t)p[i] << (8 * i);
    /* broadcast the 4 bytes, then one in-lane vpshufb zero-extends them to
     * int16 (vpmovzxbw of a vpshufd took two shuffles, on the port that the
     * weights' widening already keeps busy) */
    const __m256i spread = _mm256_setr_epi8(0, -1, 1, -1, 2, -1, 3, -1, 0, -1, 1, -1, 2, -1, 3, -1,
                                            0, -1, 1, -1, 2, -1, 3, -1, 0, -1, 1, -1, 2, -1, 3, -1);
    return _mm256_shuffle_epi8(_mm256_set1_epi32((int)v), spread);
}

/* The 8 int32 sums of channels c..c+3 (acc0) and c+4..c+7 (acc1), each as two halves. */
static inline __m256i fold(__m256i acc0, __m256i acc1)
{
    return _mm256_permute4x64_epi64(_mm256_hadd_epi32(acc0, acc1), 0xd8);
}

typedef struct stage {
    rq8x p[2];    /* channels 0..7 and 8..15 of the block */
    __m256i b[2]; /* their biases (0 past the block's columns) */
    const pd_requant *rq;
    int fout;  /* float output: real[j] is channel j's M = m * 2^-n */
    double real[16];
} stage;

/* Channels [j, j + count) of rq (count <= 8; the other lanes: m 0, n 40). */
static rq8x rq8x_load(const pd_requant *rq, size_t j, size_t count)
{
    int32_t m[8] = {0}, n[8] = {40, 40, 40, 40, 40, 40, 40, 40};
    memcpy(m, rq->mult + j, (count < 8 ? count : 8) * sizeof(int32_t));
    memcpy(n, rq->shift + j, (count < 8 ? count : 8) * sizeof(int32_t));
    return rq8x_from(_mm256_loadu_si256((const __m256i *)(const void *)m),
                     _mm256_loadu_si256((const __m256i *)(const void *)n), rq);
}

/* A row's 16 sums (s0: channels 0..7, s1: 8..15) as float32 into fr. */
static void float_row(const stage *st, __m256i s0, __m256i s1, float *fr, size_t cols)
{
    int32_t sums[16];
    _mm256_storeu_si256((__m256i *)(void *)sums, s0);
    _mm256_storeu_si256((__m256i *)(void *)(sums + 8), s1);
    for (size_t j = 0; j < cols; j++)
        fr[j] = pd_rq_float(sums[j], st->real[j]);
}

static inline void store_bytes(const stage *st, __m128i bytes, uint8_t *cr, size_t cols)
{
    if (cols == 16) {
        _mm_storeu_si128((__m128i *)(void *)cr, bytes);
    } else {
        uint8_t tmp[16];
        _mm_storeu_si128((__m128i *)(void *)tmp, bytes);
        memcpy(cr, tmp, cols);
    }
    rq8x_lut(st->rq, cr, cols);
}

/* The output stage of MR (1 or 2) rows of 16 sums (row r: s<r>0 channels
 * 0..7, s<r>1 8..15, biases not yet added): requantized with the FAST or the general
 * rule, both rows narrowed together, into out (ldc apart). */
static inline __attribute__((always_inline)) void finish(const int MR, const int FAST, const stage *st,
                                                         __m256i s00, __m256i s01, __m256i s10,
                                                         __m256i s11, void *out, size_t ldc,
                                                         size_t cols)
{
    s00 = _mm256_add_epi32(s00, st->b[0]);
    s01 = _mm256_add_epi32(s01, st->b[1]);
    s10 = _mm256_add_epi32(s10, st->b[0]);
    s11 = _mm256_add_epi32(s11, st->b[1]);
    if (st->fout) {
        float_row(st, s00, s01, out, cols);
        if (MR > 1)
            float_row(st, s10, s11, (float *)out + ldc, cols);
        return;
    }
    const __m256i v00 = FAST ? rq8x_fast(s00, &st->p[0]) : rq8x_general(s00, &st->p[0]);
    const __m256i v01 = FAST ? rq8x_fast(s01, &st->p[1]) : rq8x_general(s01, &st->p[1]);
    const __m256i v10 = MR > 1 ? (FAST ? rq8x_fast(s10, &st->p[0]) : rq8x_general(s10, &st->p[0])) : v00;
    const __m256i v11 = MR > 1 ? (FAST ? rq8x_fast(s11, &st->p[1]) : rq8x_general(s11, &st->p[1])) : v01;
    /* int32 in [0, 255]; per 128-bit lane the packs give row 0's channels
     * 0..3, 8..11, row 1's 0..3, 8..11 (low lane) and 4..7, 12..15 (high) */
    const __m256i w = _mm256_packus_epi16(_mm256_packs_epi32(v00, v01), _mm256_packs_epi32(v10, v11));
    const __m256i rows = _mm256_permutevar8x32_epi32(w, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
    uint8_t *c = out;
    store_bytes(st, _mm256_castsi256_si128(rows), c, cols);
    if (MR > 1)
        store_bytes(st, _mm256_extracti128_si256(rows, 1), c + ldc, cols);
}

/* One k group of MR (1 or 2) rows: A0 and A1 are its broadcast operands of rows 0 and 1. */
#define GROUP(A0, A1)                                                                            \
    do {                                                                                       \
        const __m256i w0 = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(const void *)bp)); \
        const __m256i w1 = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(const void *)(bp + 16))); \
        const __m256i w2 = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(const void *)(bp + 32))); \
        const __m256i w3 = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(const void *)(bp + 48))); \
        const __m256i a0v = (A0);                                                              \
        c00 = _mm256_add_epi32(c00, _mm256_madd_epi16(a0v, w0));                               \
        c01 = _mm256_add_epi32(c01, _mm256_madd_epi16(a0v, w1));                               \
        c02 = _mm256_add_epi32(c02, _mm256_madd_epi16(a0v, w2));                               \
        c03 = _mm256_add_epi32(c03, _mm256_madd_epi16(a0v, w3));                               \
        if (MR > 1) {                                                                          \
            const __m256i a1v = (A1);                                                          \
            c10 = _mm256_add_epi32(c10, _mm256_madd_epi16(a1v, w0));                           \
            c11 = _mm256_add_epi32(c11, _mm256_madd_epi16(a1v, w1));                           \
            c12 = _mm256_add_epi32(c12, _mm256_madd_epi16(a1v, w2));                           \
            c13 = _mm256_add_epi32(c13, _mm256_madd_epi16(a1v, w3));                           \
        }                                                                                      \
    } while (0)

static inline __attribute__((always_inline)) void tile(
    const int MR, const int FAST, size_t k, const uint8_t *a, size_t lda, const int8_t *b,
    size_t cols, const stage *st, void *out, size_t ldc)
{
    __m256i c00 = _mm256_setzero_si256(), c01 = c00, c02 = c00, c03 = c00;
    __m256i c10 = c00, c11 = c00, c12 = c00, c13 = c00;
    const uint8_t *a1 = a + (MR > 1 ? lda : 0);
    const size_t full = k / 4;
    const int8_t *bp = b;
    for (size_t g = 0; g < full; g++, bp += 64)
        GROUP(bcast_row(a + 4 * g, 4), bcast_row(a1 + 4 * g, 4));
    if (k % 4 != 0) /* the panel's weights past k are zero; A's bytes past k are not read */
        GROUP(bcast_row(a + 4 * full, k % 4), bcast_row(a1 + 4 * full, k % 4));
    finish(MR, FAST, st, fold(c00, c01), fold(c02, c03), fold(c10, c11), fold(c12, c13), out, ldc, cols);
}
#undef GROUP

typedef void (*tile_fn)(size_t k, const uint8_t *a, size_t lda, const int8_t *b, size_t cols,
                        const stage *st, void *c, size_t ldc);

#define TILE(NAME, MR, FAST)                                                                   \
    static void NAME(size_t k, const uint8_t *a, size_t lda, const int8_t *b, size_t cols,    \
                     const stage *st, void *c, size_t ldc)                                    \
    {                                                                                         \
        tile(MR, FAST, k, a, lda, b, cols, st, c, ldc);                                       \
    }
TILE(tile2_fast, 2, 1)
TILE(tile1_fast, 1, 1)
TILE(tile2_general, 2, 0)
TILE(tile1_general, 1, 0)
#undef TILE

/* c is uint8_t (fout 0) or float (fout 1). */
static void gemm(size_t m, size_t n, size_t k, const uint8_t *a, size_t lda, const int8_t *b,
                 const int32_t *bias, const pd_requant *rq, void *c, size_t ldc, int fout)
{
    const size_t kp = pd_q8_kpad(k);
    const size_t size = fout ? sizeof(float) : 1;
    stage st;
    st.rq = rq;
    st.fout = fout;
    for (size_t j0 = 0; j0 < n; j0 += 16) {
        const size_t cols = n - j0 < 16 ? n - j0 : 16;
        st.p[0] = rq8x_load(rq, j0, cols);
        st.p[1] = rq8x_load(rq, j0 + 8, cols > 8 ? cols - 8 : 0);
        int32_t start[16] = {0};
        if (bias != NULL)
            memcpy(start, bias + j0, cols * sizeof(int32_t));
        st.b[0] = _mm256_loadu_si256((const __m256i *)(const void *)start);
        st.b[1] = _mm256_loadu_si256((const __m256i *)(const void *)(start + 8));
        int fast = 1;
        for (size_t j = 0; j < cols; j++)
            fast &= rq->shift[j0 + j] >= 33;
        for (size_t j = 0; fout && j < cols; j++)
            st.real[j] = pd_rq_real(rq->mult[j0 + j], rq->shift[j0 + j]);
        const tile_fn two = fast ? tile2_fast : tile2_general, one = fast ? tile1_fast : tile1_general;
        const int8_t *bj = b + j0 * kp;
        size_t i = 0;
        for (; i + 2 <= m; i += 2)
            two(k, a + i * lda, lda, bj, cols, &st, (unsigned char *)c + (i * ldc + j0) * size, ldc);
        if (i < m)
            one(k, a + i * lda, lda, bj, cols, &st, (unsigned char *)c + (i * ldc + j0) * size, ldc);
    }
}

void pd_gemm_q8_avx2(size_t m, size_t n, size_t k, const uint8_t *a, size_t lda, const int8_t *b,
                     const int32_t *bias, const pd_requant *rq, uint8_t *c, size_t ldc)
{
    gemm(m, n, k, a, lda, b, bias, rq, c, ldc, 0);
}

void pd_gemm_q8f_avx2(size_t m, size_t n, size_t k, const uint8_t *a, size_t lda, const int8_t *b,
                      const int32_t *bias, const pd_requant *rq, float *c, size_t ldc)
{
    gemm(m, n, k, a, lda, b, bias, rq, c, ldc, 1);
}
#endif
