/* gemm_q8_avx512vnni.c: the int8 GEMM of kernels/q8.h with AVX-512 VNNI.
 *
 * One 64-byte row of a Q8PANELS panel holds 4 k of 16 channels, exactly the
 * operand of vpdpbusd: 4 uint8 activations of a row broadcast to every lane,
 * times the 16 x 4 int8 weights, summed into 16 int32 accumulators.  vpdpbusd
 * does not saturate (unlike vpmaddubsw), and int32 adds wrap like the
 * reference's uint32 sum, so the accumulators equal the reference's.  The
 * micro-kernel is 6 rows x 4 panels (24 accumulators of 32 registers); the
 * last rows and panels take smaller variants.  The output stage
 * (rq_avx512.h) runs in registers, 16 channels at a time. */
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
    int32_t v = 0;
    memcpy(&v, p, r);
    return v;
}

/* Stage of one call: the block's channel params, the clamp vectors. */
typedef struct stage {
    rq16 p[NP_MAX];
    __m512i lo64, hi64, zero32;
    const pd_requant *rq;
} stage;

static inline __attribute__((always_inline)) void tile(
    const int MR, const int NP, size_t k, const uint8_t *a, size_t lda, const int8_t *b, size_t kp,
    size_t cols, const int32_t *bias, const stage *st, uint8_t *c, size_t ldc)
{
    __m512i acc[6][NP_MAX];
    _Pragma("GCC unroll 4")
    for (int j = 0; j < NP; j++) {
        const size_t left = cols - (size_t)j * 16;
        const __mmask16 mask = (__mmask16)(left >= 16 ? 0xffffu : (1u << left) - 1u);
        const __m512i start = bias != NULL ? _mm512_maskz_loadu_epi32(mask, bias + j * 16) : _mm512_setzero_si512();
        _Pragma("GCC unroll 6")
        for (int r = 0; r < MR; r++)
            acc[r][j] = start;
    }
    const size_t groups = k / 4;
    const int8_t *bp = b;
    for (size_t g = 0; g < groups; g++, bp += 64) {
        __m512i w[NP_MAX];
        _Pragma("GCC unroll 4")
        for (int j = 0; j < NP; j++)
            w[j] = _mm512_loadu_si512((const void *)(bp + (size_t)j * 16 * kp));
        _Pragma("GCC unroll 6")
        for (int r = 0; r < MR; r++) {
            const __m512i av = _mm512_set1_epi32(load4(a + (size_t)r * lda + g * 4));
            _Pragma("GCC unroll 4")
            for (int j = 0; j < NP; j++)
                acc[r][j] = _mm512_dpbusd_epi32(acc[r][j], av, w[j]);
        }
    }
    if (k % 4 != 0) {
        __m512i w[NP_MAX];
        _Pragma("GCC unroll 4")
        for (int j = 0; j < NP; j++)
            w[j] = _mm512_loadu_si512((const void *)(bp + (size_t)j * 16 * kp));
        _Pragma("GCC unroll 6")
        for (int r = 0; r < MR; r++) {
            const __m512i av = _mm512_set1_epi32(load_tail(a + (size_t)r * lda + groups * 4, k % 4));
            _Pragma("GCC unroll 4")
            for (int j = 0; j < NP; j++)
                acc[r][j] = _mm512_dpbusd_epi32(acc[r][j], av, w[j]);
        }
    }
    _Pragma("GCC unroll 6")
    for (int r = 0; r < MR; r++) {
        uint8_t *cr = c + (size_t)r * ldc;
        _Pragma("GCC unroll 4")
        for (int j = 0; j < NP; j++) {
            const size_t left = cols - (size_t)j * 16;
            const __mmask16 mask = (__mmask16)(left >= 16 ? 0xffffu : (1u << left) - 1u);
            _mm_mask_storeu_epi8(cr + j * 16, mask, rq16_apply(acc[r][j], &st->p[j], st->lo64, st->hi64, st->zero32));
        }
        if (st->rq->lut != NULL)
            rq_lut(st->rq, cr, cols);
    }
}

typedef void (*tile_fn)(size_t k, const uint8_t *a, size_t lda, const int8_t *b, size_t kp, size_t cols,
                        const int32_t *bias, const stage *st, uint8_t *c, size_t ldc);

#define TILE(MR, NP)                                                                                   \
    static void tile##MR##x##NP(size_t k, const uint8_t *a, size_t lda, const int8_t *b, size_t kp,    \
                                size_t cols, const int32_t *bias, const stage *st, uint8_t *c,         \
                                size_t ldc)                                                            \
    {                                                                                                  \
        tile(MR, NP, k, a, lda, b, kp, cols, bias, st, c, ldc);                                        \
    }
TILE(6, 1) TILE(6, 2) TILE(6, 3) TILE(6, 4)
TILE(4, 1) TILE(4, 2) TILE(4, 3) TILE(4, 4)
TILE(2, 1) TILE(2, 2) TILE(2, 3) TILE(2, 4)
TILE(1, 1) TILE(1, 2) TILE(1, 3) TILE(1, 4)

static const tile_fn tiles[4][NP_MAX] = {
    {tile6x1, tile6x2, tile6x3, tile6x4},
    {tile4x1, tile4x2, tile4x3, tile4x4},
    {tile2x1, tile2x2, tile2x3, tile2x4},
    {tile1x1, tile1x2, tile1x3, tile1x4},
};

void pd_gemm_q8_avx512vnni(size_t m, size_t n, size_t k, const uint8_t *a, size_t lda,
                           const int8_t *b, const int32_t *bias, const pd_requant *rq, uint8_t *c,
                           size_t ldc)
{
    const size_t kp = pd_q8_kpad(k);
    stage st;
    st.rq = rq;
    st.lo64 = _mm512_set1_epi64((long long)rq->lo - rq->zero);
    st.hi64 = _mm512_set1_epi64((long long)rq->hi - rq->zero);
    st.zero32 = _mm512_set1_epi32(rq->zero);
    /* Blocks of up to 4 panels (64 columns); their weights stay in L1/L2
     * while every row passes. */
    for (size_t j0 = 0; j0 < n; j0 += 16 * NP_MAX) {
        const size_t cols = n - j0 < 16 * NP_MAX ? n - j0 : 16 * NP_MAX;
        const int np = (int)((cols + 15) / 16);
        for (int j = 0; j < np; j++)
            st.p[j] = rq16_load(rq, j0 + (size_t)j * 16, cols - (size_t)j * 16);
        const int8_t *bj = b + j0 * kp;
        const int32_t *biasj = bias != NULL ? bias + j0 : NULL;
        size_t i = 0;
        while (i < m) {
            const size_t left = m - i;
            const int v = left >= 6 ? 0 : left >= 4 ? 1 : left >= 2 ? 2 : 3;
            const size_t rows = v == 0 ? 6 : v == 1 ? 4 : v == 2 ? 2 : 1;
            tiles[v][np - 1](k, a + i * lda, lda, bj, kp, cols, biasj, &st, c + i * ldc + j0, ldc);
            i += rows;
        }
    }
}
#endif
