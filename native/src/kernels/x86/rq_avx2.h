/* rq_avx2.h: the requantizing output stage of docs/quantization.md on 8
 * int32 lanes with AVX2, for the int8 kernels of x86/ compiled for AVX2
 * (included only by files with `#pragma GCC target("avx2")`).
 *
 * General rule, any shift 1 <= n <= 62: _mm256_mul_epi32 forms the exact
 * int64 products of the even lanes, and of the odd ones after a 64-bit
 * shift; 2^(n-1) is added and the arithmetic right shift AVX2 lacks is made
 * of a logical one, x >> n = ((x ^ s) >>> n) ^ s with s the sign; the clamp
 * to [lo, hi] - zero is done in int64 (rq(x) may pass the int32 range).
 *
 * Fast rule, when every lane's n >= 33 (the usual case): with x m = 2^32 h +
 * l, 0 <= l < 2^32, (x m + 2^(n-1)) >> n = (h + 2^(n-33)) >> (n-32) (the
 * dropped l / 2^32 < 1 cannot carry into an integer); |h| <= 2^30 and
 * 2^(n-33) <= 2^29, so the int32 add cannot overflow: the high halves of the
 * two products, one add, one vpsravd, then zero and the clamp in int32. */
#ifndef PD_RQ_AVX2_H
#define PD_RQ_AVX2_H

#include <immintrin.h>

#include "kernels/q8.h"

typedef struct rq8x {
    __m256i m_even, m_odd, n_even, n_odd, r_even, r_odd; /* general rule */
    __m256i round32, shift32;                            /* fast rule: 2^(n-33), n-32 */
    __m256i lo64, hi64, lo32, hi32, zero32;
} rq8x;

/* The stage for 8 lanes with multipliers m and shifts n (1 .. 62 each). */
static inline rq8x rq8x_from(__m256i m, __m256i n, const pd_requant *rq)
{
    const __m256i low = _mm256_set1_epi64x(0xffffffffLL), one = _mm256_set1_epi64x(1);
    rq8x p;
    p.m_even = m;
    p.m_odd = _mm256_srli_epi64(m, 32);
    p.n_even = _mm256_and_si256(n, low);
    p.n_odd = _mm256_srli_epi64(n, 32);
    p.r_even = _mm256_sllv_epi64(one, _mm256_sub_epi64(p.n_even, one));
    p.r_odd = _mm256_sllv_epi64(one, _mm256_sub_epi64(p.n_odd, one));
    /* meaningful only for rq8x_fast (every n >= 33, which the caller checks) */
    const __m256i n32 = _mm256_max_epi32(_mm256_sub_epi32(n, _mm256_set1_epi32(32)), _mm256_set1_epi32(1));
    p.shift32 = n32;
    p.round32 = _mm256_sllv_epi32(_mm256_set1_epi32(1), _mm256_sub_epi32(n32, _mm256_set1_epi32(1)));
    p.lo64 = _mm256_set1_epi64x((long long)rq->lo - rq->zero);
    p.hi64 = _mm256_set1_epi64x((long long)rq->hi - rq->zero);
    p.lo32 = _mm256_set1_epi32(rq->lo);
    p.hi32 = _mm256_set1_epi32(rq->hi);
    p.zero32 = _mm256_set1_epi32(rq->zero);
    return p;
}

/* x >> n per int64 lane, arithmetic: ((x ^ s) >>> n) ^ s with s the sign. */
static inline __m256i sra64(__m256i x, __m256i n)
{
    const __m256i s = _mm256_cmpgt_epi64(_mm256_setzero_si256(), x);
    return _mm256_xor_si256(_mm256_srlv_epi64(_mm256_xor_si256(x, s), n), s);
}

/* x clamped to [lo, hi] per int64 lane. */
static inline __m256i clamp64(__m256i x, __m256i lo, __m256i hi)
{
    x = _mm256_blendv_epi8(x, lo, _mm256_cmpgt_epi64(lo, x));
    return _mm256_blendv_epi8(x, hi, _mm256_cmpgt_epi64(x, hi));
}

/* clamp(zero + rq(x), lo, hi) per lane, as int32 in [0, 255], any shift. */
static inline __m256i rq8x_general(__m256i x, const rq8x *p)
{
    __m256i e = _mm256_add_epi64(_mm256_mul_epi32(x, p->m_even), p->r_even);
    __m256i o = _mm256_add_epi64(_mm256_mul_epi32(_mm256_srli_epi64(x, 32), p->m_odd), p->r_odd);
    e = clamp64(sra64(e, p->n_even), p->lo64, p->hi64);
    o = clamp64(sra64(o, p->n_odd), p->lo64, p->hi64);
    return _mm256_add_epi32(_mm256_blend_epi32(e, _mm256_slli_epi64(o, 32), 0xaa), p->zero32);
}

/* The same when every lane's n >= 33. */
static inline __m256i rq8x_fast(__m256i x, const rq8x *p)
{
    const __m256i e = _mm256_mul_epi32(x, p->m_even);
    const __m256i o = _mm256_mul_epi32(_mm256_srli_epi64(x, 32), p->m_odd);
    const __m256i h = _mm256_blend_epi32(_mm256_srli_epi64(e, 32), o, 0xaa);
    const __m256i v = _mm256_add_epi32(_mm256_srav_epi32(_mm256_add_epi32(h, p->round32), p->shift32), p->zero32);
    return _mm256_min_epi32(_mm256_max_epi32(v, p->lo32), p->hi32);
}

/* bytes[i] = lut[bytes[i]] for i < n when the stage has a table. */
static inline void rq8x_lut(const pd_requant *rq, uint8_t *bytes, size_t n)
{
    if (rq->lut != NULL)
        for (size_t i = 0; i < n; i++)
            bytes[i] = rq->lut[bytes[i]];
}

#endif
