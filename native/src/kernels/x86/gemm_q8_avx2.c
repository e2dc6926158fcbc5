/* gemm_q8_avx2.c: the int8 GEMM of kernels/q8.h with AVX2 (no VNNI).
 *
 * vpmaddubsw would sum two uint8 x int8 products into a saturating int16, and
 * 2 * 255 * 127 > 32767, so it is not exact on our data (docs/quantization.md).
 * Instead 16 bytes of a Q8PANELS row (4 channels x 4 k) are widened to int16
 * and multiplied by the row's 4 activations (widened, broadcast) with
 * vpmaddwd: each int32 lane gets a0*w0 + a1*w1 (or a2*w2 + a3*w3) exactly;
 * the two halves of a channel are added at the end (vphaddd).  int32 adds
 * wrap like the reference's uint32 sum, so the result is the reference's.
 * 2 rows x 16 channels per micro-tile (8 accumulators, 4 weight registers).
 * The output stage runs on 8 lanes in int64, with the arithmetic right shift
 * AVX2 lacks made of a logical one: x >> n = ((x ^ s) >>> n) ^ s, s the sign.
 * The float output stage (pd_gemm_q8f_avx2) is pd_rq_float on the stored sums. */
#include "kernels/kernels.h"

#if PD_BUILD_X86
#pragma GCC target("avx2,fma")
#include <immintrin.h>
#include <string.h>

#include "kernels/q8.h"
#include "kernels/x86/x86.h"

static inline __m256i bcast_row(const uint8_t *p, size_t r)
{
    uint32_t v = 0;
    if (r == 4) /* a constant size: one load */
        memcpy(&v, p, 4);
    else
        for (size_t i = 0; i < r; i++)
            v |= (uint32_t)p[i] << (8 * i);
    return _mm256_broadcastq_epi64(_mm_cvtepu8_epi16(_mm_cvtsi32_si128((int)v)));
}

/* Arithmetic right shift of int64 lanes by per-lane counts. */
static inline __m256i sra64(__m256i x, __m256i n)
{
    const __m256i s = _mm256_cmpgt_epi64(_mm256_setzero_si256(), x);
    return _mm256_xor_si256(_mm256_srlv_epi64(_mm256_xor_si256(x, s), n), s);
}

static inline __m256i clamp64(__m256i x, __m256i lo, __m256i hi)
{
    x = _mm256_blendv_epi8(x, lo, _mm256_cmpgt_epi64(lo, x));
    return _mm256_blendv_epi8(x, hi, _mm256_cmpgt_epi64(x, hi));
}

/* Eight channels' output stage; j indexes rq's channels. */
typedef struct rq8 {
    __m256i m_even, m_odd, n_even, n_odd, r_even, r_odd;
} rq8;

static rq8 rq8_load(const pd_requant *rq, size_t j, size_t count)
{
    int32_t m[8] = {0}, n[8] = {1, 1, 1, 1, 1, 1, 1, 1};
    memcpy(m, rq->mult + j, (count < 8 ? count : 8) * sizeof(int32_t));
    memcpy(n, rq->shift + j, (count < 8 ? count : 8) * sizeof(int32_t));
    const __m256i mv = _mm256_loadu_si256((const __m256i *)(const void *)m);
    const __m256i nv = _mm256_loadu_si256((const __m256i *)(const void *)n);
    const __m256i low = _mm256_set1_epi64x(0xffffffffLL), one = _mm256_set1_epi64x(1);
    rq8 p;
    p.m_even = mv;
    p.m_odd = _mm256_srli_epi64(mv, 32);
    p.n_even = _mm256_and_si256(nv, low);
    p.n_odd = _mm256_srli_epi64(nv, 32);
    p.r_even = _mm256_sllv_epi64(one, _mm256_sub_epi64(p.n_even, one));
    p.r_odd = _mm256_sllv_epi64(one, _mm256_sub_epi64(p.n_odd, one));
    return p;
}

typedef struct stage {
    rq8 p[2];
    __m256i lo64, hi64, zero32;
    const pd_requant *rq;
    int fout;        /* float output: real[j] is channel j's M = m * 2^-n */
    double real[16];
} stage;

/* clamp(zero + rq(x)) of 8 lanes, as 8 bytes in the low half. */
static inline __m128i rq8_apply(__m256i x, const rq8 *p, const stage *st)
{
    __m256i e = _mm256_add_epi64(_mm256_mul_epi32(x, p->m_even), p->r_even);
    __m256i o = _mm256_add_epi64(_mm256_mul_epi32(_mm256_srli_epi64(x, 32), p->m_odd), p->r_odd);
    e = clamp64(sra64(e, p->n_even), st->lo64, st->hi64);
    o = clamp64(sra64(o, p->n_odd), st->lo64, st->hi64);
    __m256i v = _mm256_blend_epi32(e, _mm256_slli_epi64(o, 32), 0xaa);
    v = _mm256_add_epi32(v, st->zero32);                   /* 0 .. 255 */
    const __m128i w = _mm_packs_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    return _mm_packus_epi16(w, w);
}

/* The 8 int32 sums of channels c..c+3 (acc0) and c+4..c+7 (acc1), each as two halves. */
static inline __m256i fold(__m256i acc0, __m256i acc1)
{
    return _mm256_permute4x64_epi64(_mm256_hadd_epi32(acc0, acc1), 0xd8);
}

static inline __attribute__((always_inline)) void tile(
    const int MR, size_t k, const uint8_t *a, size_t lda, const int8_t *b, size_t cols,
    const int32_t *bias, const stage *st, void *out, size_t ldc)
{
    uint8_t *c = out;
    __m256i acc[2][4];
    _Pragma("GCC unroll 2")
    for (int r = 0; r < MR; r++)
        for (int q = 0; q < 4; q++)
            acc[r][q] = _mm256_setzero_si256();
    const size_t groups = (k + 3) / 4;
    for (size_t g = 0; g < groups; g++) {
        const int8_t *bp = b + g * 64;
        const size_t take = g * 4 + 4 <= k ? 4 : k - g * 4;
        __m256i w[4];
        for (int q = 0; q < 4; q++)
            w[q] = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(const void *)(bp + q * 16)));
        _Pragma("GCC unroll 2")
        for (int r = 0; r < MR; r++) {
            const __m256i av = bcast_row(a + (size_t)r * lda + g * 4, take);
            for (int q = 0; q < 4; q++)
                acc[r][q] = _mm256_add_epi32(acc[r][q], _mm256_madd_epi16(av, w[q]));
        }
    }
    int32_t start[16] = {0};
    if (bias != NULL)
        memcpy(start, bias, (cols < 16 ? cols : 16) * sizeof(int32_t));
    const __m256i b0 = _mm256_loadu_si256((const __m256i *)(const void *)start);
    const __m256i b1 = _mm256_loadu_si256((const __m256i *)(const void *)(start + 8));
    _Pragma("GCC unroll 2")
    for (int r = 0; r < MR; r++) {
        const __m256i s0 = _mm256_add_epi32(b0, fold(acc[r][0], acc[r][1]));
        const __m256i s1 = _mm256_add_epi32(b1, fold(acc[r][2], acc[r][3]));
        if (st->fout) {
            int32_t sums[16];
            _mm256_storeu_si256((__m256i *)(void *)sums, s0);
            _mm256_storeu_si256((__m256i *)(void *)(sums + 8), s1);
            float *fr = (float *)out + (size_t)r * ldc;
            for (size_t j = 0; j < cols; j++)
                fr[j] = pd_rq_float(sums[j], st->real[j]);
            continue;
        }
        uint8_t bytes[16];
        _mm_storel_epi64((__m128i *)(void *)bytes, rq8_apply(s0, &st->p[0], st));
        _mm_storel_epi64((__m128i *)(void *)(bytes + 8), rq8_apply(s1, &st->p[1], st));
        uint8_t *cr = c + (size_t)r * ldc;
        if (st->rq->lut != NULL)
            for (size_t j = 0; j < cols; j++)
                cr[j] = st->rq->lut[bytes[j]];
        else
            memcpy(cr, bytes, cols);
    }
}

static void tile2(size_t k, const uint8_t *a, size_t lda, const int8_t *b, size_t cols,
                  const int32_t *bias, const stage *st, void *c, size_t ldc)
{
    tile(2, k, a, lda, b, cols, bias, st, c, ldc);
}

static void tile1(size_t k, const uint8_t *a, size_t lda, const int8_t *b, size_t cols,
                  const int32_t *bias, const stage *st, void *c, size_t ldc)
{
    tile(1, k, a, lda, b, cols, bias, st, c, ldc);
}

/* c is uint8_t (fout 0) or float (fout 1). */
static void gemm(size_t m, size_t n, size_t k, const uint8_t *a, size_t lda, const int8_t *b,
                 const int32_t *bias, const pd_requant *rq, void *c, size_t ldc, int fout)
{
    const size_t kp = pd_q8_kpad(k);
    const size_t size = fout ? sizeof(float) : 1;
    stage st;
    st.rq = rq;
    st.fout = fout;
    st.lo64 = _mm256_set1_epi64x((long long)rq->lo - rq->zero);
    st.hi64 = _mm256_set1_epi64x((long long)rq->hi - rq->zero);
    st.zero32 = _mm256_set1_epi32(rq->zero);
    for (size_t j0 = 0; j0 < n; j0 += 16) {
        const size_t cols = n - j0 < 16 ? n - j0 : 16;
        st.p[0] = rq8_load(rq, j0, cols);
        st.p[1] = rq8_load(rq, j0 + 8, cols > 8 ? cols - 8 : 0);
        for (size_t j = 0; fout && j < cols; j++)
            st.real[j] = pd_rq_real(rq->mult[j0 + j], rq->shift[j0 + j]);
        const int8_t *bj = b + j0 * kp;
        const int32_t *biasj = bias != NULL ? bias + j0 : NULL;
        size_t i = 0;
        for (; i + 2 <= m; i += 2)
            tile2(k, a + i * lda, lda, bj, cols, biasj, &st, (unsigned char *)c + (i * ldc + j0) * size, ldc);
        if (i < m)
            tile1(k, a + i * lda, lda, bj, cols, biasj, &st, (unsigned char *)c + (i * ldc + j0) * size, ldc);
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
