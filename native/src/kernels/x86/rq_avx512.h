/* rq_avx512.h: the requantizing output stage of docs/quantization.md on 16
 * int32 lanes with AVX-512F, for the int8 kernels of x86/ (included only by
 * files compiled for AVX-512).
 *
 * rq(x) = (x * m + 2^(n-1)) >> n in int64: _mm512_mul_epi32 forms the exact
 * 64-bit products of the even lanes, and of the odd ones after a 32-bit
 * shift; vpsravq is the arithmetic shift.  The clamp to [lo, hi] - zero is
 * done in int64 too (rq(x) may pass the int32 range), so every lane equals
 * pd_rq_out without a lookup table; the table, when there is one, is applied
 * to the stored bytes by the caller. */
#ifndef PD_RQ_AVX512_H
#define PD_RQ_AVX512_H

#include <immintrin.h>

#include "kernels/q8.h"

/* One group of 16 channels' multipliers, prepared once per call. */
typedef struct rq16 {
    __m512i m_even, m_odd, n_even, n_odd, r_even, r_odd;
    __m512i n_minus_32; /* n - 32 per int32 lane, for rq16_fast */
    __m512i c32;        /* 2^(n-33) + zero * 2^(n-32), for rq16_fast */
    int fast;           /* every lane's 33 <= n <= 53: rq16_fast applies */
} rq16;

/* The multipliers m[0..16) and shifts n[0..16) of 16 lanes (unused lanes:
 * any m, a shift >= 1 so 2^(n-1) stays defined: 40, so they never keep
 * rq16_fast from being used); zero is the stage's output zero point. */
static inline rq16 rq16_from(__m512i m, __m512i n, int32_t zero)
{
    const __m512i low = _mm512_set1_epi64(0xffffffffLL), one = _mm512_set1_epi64(1);
    rq16 p;
    p.m_even = m;
    p.m_odd = _mm512_srli_epi64(m, 32);
    p.n_even = _mm512_and_si512(n, low);
    p.n_odd = _mm512_srli_epi64(n, 32);
    p.r_even = _mm512_sllv_epi64(one, _mm512_sub_epi64(p.n_even, one));
    p.r_odd = _mm512_sllv_epi64(one, _mm512_sub_epi64(p.n_odd, one));
    p.fast = _mm512_cmplt_epi32_mask(n, _mm512_set1_epi32(33)) == 0 &&
             _mm512_cmpgt_epi32_mask(n, _mm512_set1_epi32(53)) == 0;
    /* only meaningful (and only used) when fast: counts 0 .. 21 */
    const __m512i n32 = _mm512_max_epi32(_mm512_sub_epi32(n, _mm512_set1_epi32(32)), _mm512_set1_epi32(1));
    p.n_minus_32 = n32;
    p.c32 = _mm512_add_epi32(_mm512_sllv_epi32(_mm512_set1_epi32(1), _mm512_sub_epi32(n32, _mm512_set1_epi32(1))),
                             _mm512_sllv_epi32(_mm512_set1_epi32(zero), n32));
    return p;
}

/* Channels [j, j + count) of rq (count <= 16; the other lanes are unused). */
static inline rq16 rq16_load(const pd_requant *rq, size_t j, size_t count)
{
    const __mmask16 mask = (__mmask16)(count >= 16 ? 0xffffu : (1u << count) - 1u);
    return rq16_from(_mm512_maskz_loadu_epi32(mask, rq->mult + j),
                     _mm512_mask_loadu_epi32(_mm512_set1_epi32(40), mask, rq->shift + j), rq->zero);
}

/* clamp(zero + rq(x), lo, hi) of 16 accumulators, as int32 lanes.  lo64 and
 * hi64 hold lo - zero and hi - zero in int64 lanes, zero32 the zero point. */
static inline __m512i rq16_dwords(__m512i x, const rq16 *p, __m512i lo64, __m512i hi64, __m512i zero32)
{
    __m512i e = _mm512_add_epi64(_mm512_mul_epi32(x, p->m_even), p->r_even);
    __m512i o = _mm512_add_epi64(_mm512_mul_epi32(_mm512_srli_epi64(x, 32), p->m_odd), p->r_odd);
    e = _mm512_min_epi64(_mm512_max_epi64(_mm512_srav_epi64(e, p->n_even), lo64), hi64);
    o = _mm512_min_epi64(_mm512_max_epi64(_mm512_srav_epi64(o, p->n_odd), lo64), hi64);
    return _mm512_add_epi32(_mm512_mask_blend_epi32((__mmask16)0xaaaa, e, _mm512_slli_epi64(o, 32)), zero32);
}

/* zero + rq(x) when p->fast (33 <= n <= 53; the usual case: the real
 * multiplier is below 1/2 and not tiny), in fewer steps, all exact.  With
 * P = x m = 2^32 h + l (0 <= l < 2^32), h the high half of the product:
 * (P + 2^(n-1)) >> n = (h + 2^(n-33)) >> (n-32), since the dropped l / 2^32
 * < 1 cannot carry, and adding zero * 2^(n-32) before the shift adds zero
 * after it: one add of c32, one shift.  |h| <= 2^30 and c32 < 2^29, so no
 * int32 overflow.  The narrowing and the clamp to [lo, hi] are left to the
 * caller (narrow4, then clamp8_bytes). */
static inline __m512i rq16_fast(__m512i x, const rq16 *p)
{
    const __m512i e = _mm512_mul_epi32(x, p->m_even);
    const __m512i o = _mm512_mul_epi32(_mm512_srli_epi64(x, 32), p->m_odd);
    /* the high halves of e and o, in lane order, with one two-source permute */
    const __m512i high = _mm512_setr_epi32(1, 17, 3, 19, 5, 21, 7, 23, 9, 25, 11, 27, 13, 29, 15, 31);
    return _mm512_srav_epi32(_mm512_add_epi32(_mm512_permutex2var_epi32(e, high, o), p->c32), p->n_minus_32);
}

/* The clamp of a stage to [lo, hi], applied to the narrowed bytes: narrow4
 * saturates to [0, 255], and the core keeps 0 <= lo <= hi <= 255 (shape_q8.c),
 * so clamping after the narrowing gives the bytes clamping before it would,
 * in 2 instructions for 64 outputs instead of up to 2 for each 16. */
typedef struct clamp8 {
    __m512i lo, hi;
} clamp8;

static inline clamp8 clamp8_of(const pd_requant *rq)
{
    clamp8 c;
    c.lo = _mm512_set1_epi8((char)rq->lo);
    c.hi = _mm512_set1_epi8((char)rq->hi);
    return c;
}

static inline __m512i clamp8_bytes(__m512i bytes, const clamp8 *c)
{
    return _mm512_min_epu8(_mm512_max_epu8(bytes, c->lo), c->hi);
}

/* Four vectors of int32 lanes to 64 bytes, saturating to [0, 255] (signed
 * packs to int16, then unsigned packs to bytes), per 128-bit lane: lane L of
 * the result holds 4 lanes of a, then of b, c, d. */
static inline __m512i narrow4(__m512i a, __m512i b, __m512i c, __m512i d)
{
    return _mm512_packus_epi16(_mm512_packs_epi32(a, b), _mm512_packs_epi32(c, d));
}

/* The same as 16 bytes.  Narrowed by packs (no-ops on 0 .. 255) and one dword
 * permute: vpmovdb, above all its store form, is slow on Zen 4. */
static inline __m128i rq16_apply(__m512i x, const rq16 *p, __m512i lo64, __m512i hi64, __m512i zero32)
{
    const __m512i v = rq16_dwords(x, p, lo64, hi64, zero32);
    const __m512i w = _mm512_packus_epi32(v, v);
    const __m512i b = _mm512_packus_epi16(w, w);
    return _mm512_castsi512_si128(_mm512_permutexvar_epi32(_mm512_setr_epi32(0, 4, 8, 12, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0), b));
}

/* bytes[i] = lut[bytes[i]] for i < n when the stage has a table. */
static inline void rq_lut(const pd_requant *rq, uint8_t *bytes, size_t n)
{
    if (rq->lut != NULL)
        for (size_t i = 0; i < n; i++)
            bytes[i] = rq->lut[bytes[i]];
}

#endif
