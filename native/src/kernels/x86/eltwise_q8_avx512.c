/* eltwise_q8_avx512.c: int8 add / sub and the float32 -> uint8 quantize of
 * kernels/q8.h with AVX-512 (F, BW, VL), 16 elements per step.
 *
 * add / sub (docs/quantization.md): x = (qa - za) * ma +- (qb - zb) * mb in
 * int64, then (x + 2^(n-1)) >> n, clamped: the products are formed exactly by
 * _mm512_mul_epi32 on the even and the odd lanes, as rq_avx512.h does.  Only
 * inputs of the same dims (no broadcast) take this path; others, and mul, run
 * the reference.  quantize: a division and a round-to-nearest-even, the same
 * IEEE operations as the reference's x / s and nearbyintf, then the clamp. */
#include "kernels/kernels.h"

#if PD_BUILD_X86
#pragma GCC target("avx512f,avx512vl,avx512dq,avx512bw,avx2,fma")
#include <immintrin.h>
#include <math.h>

#include "kernels/q8.h"
#include "kernels/x86/rq_avx512.h"
#include "kernels/x86/x86.h"
#include "predict.h"

static inline __m512i load16(const uint8_t *p, __mmask16 mask)
{
    return _mm512_cvtepu8_epi32(_mm_maskz_loadu_epi8(mask, p));
}

static inline __m128i narrow16(__m512i v)
{
    const __m512i w = _mm512_packus_epi32(v, v);
    const __m512i b = _mm512_packus_epi16(w, w);
    return _mm512_castsi512_si128(
        _mm512_permutexvar_epi32(_mm512_setr_epi32(0, 4, 8, 12, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0), b));
}

static void add_sub(int32_t kind, size_t n, const uint8_t *a, int32_t za, const uint8_t *b, int32_t zb,
                    const pd_requant *rq, uint8_t *y)
{
    const __m512i zav = _mm512_set1_epi32(za), zbv = _mm512_set1_epi32(zb);
    const __m512i ma = _mm512_set1_epi64(rq->mult[0]);
    const __m512i mb = _mm512_set1_epi64(kind == PD_BIN_SUB ? -(int64_t)rq->mult[1] : rq->mult[1]);
    const __m512i sh = _mm512_set1_epi64(rq->shift[0]);
    const __m512i rnd = _mm512_set1_epi64((int64_t)1 << (rq->shift[0] - 1));
    const __m512i lo64 = _mm512_set1_epi64((long long)rq->lo - rq->zero);
    const __m512i hi64 = _mm512_set1_epi64((long long)rq->hi - rq->zero);
    const __m512i zero32 = _mm512_set1_epi32(rq->zero);
    for (size_t i = 0; i < n; i += 16) {
        const size_t count = n - i < 16 ? n - i : 16;
        const __mmask16 mask = (__mmask16)(count == 16 ? 0xffffu : (1u << count) - 1u);
        const __m512i da = _mm512_sub_epi32(load16(a + i, mask), zav);
        const __m512i db = _mm512_sub_epi32(load16(b + i, mask), zbv);
        /* vpmuldq multiplies the signed low dwords of each int64 lane: the
         * even elements as they are, the odd ones shifted down; ma and mb
         * hold m (|m| < 2^31) in their low dwords too.  |d| <= 255, so the
         * exact int64 products are those of the reference (vpmullq on
         * sign-extended lanes gave the same, slower). */
        const __m512i da_o = _mm512_srli_epi64(da, 32), db_o = _mm512_srli_epi64(db, 32);
        __m512i e = _mm512_add_epi64(_mm512_mul_epi32(da, ma), _mm512_mul_epi32(db, mb));
        __m512i o = _mm512_add_epi64(_mm512_mul_epi32(da_o, ma), _mm512_mul_epi32(db_o, mb));
        e = _mm512_srav_epi64(_mm512_add_epi64(e, rnd), sh);
        o = _mm512_srav_epi64(_mm512_add_epi64(o, rnd), sh);
        e = _mm512_min_epi64(_mm512_max_epi64(e, lo64), hi64);
        o = _mm512_min_epi64(_mm512_max_epi64(o, lo64), hi64);
        const __m512i v = _mm512_add_epi32(_mm512_mask_blend_epi32((__mmask16)0xaaaa, e, _mm512_slli_epi64(o, 32)), zero32);
        _mm_mask_storeu_epi8(y + i, mask, narrow16(v));
        rq_lut(rq, y + i, count);
    }
}

void pd_binary_q8_avx512(int32_t kind, size_t batch, pd_dims ad, const uint8_t *a, int32_t za,
                         pd_dims bd, const uint8_t *b, int32_t zb, const pd_requant *rq, uint8_t *y)
{
    if (kind == PD_BIN_MUL || ad.h != bd.h || ad.w != bd.w || ad.c != bd.c) {
        pd_binary_q8_ref(kind, batch, ad, a, za, bd, b, zb, rq, y);
        return;
    }
    add_sub(kind, batch * (size_t)ad.h * (size_t)ad.w * (size_t)ad.c, a, za, b, zb, rq, y);
}

void pd_quantize_avx512(size_t n, const float *x, float scale, int32_t zero, uint8_t *y)
{
    const __m512 s = _mm512_set1_ps(scale), zf = _mm512_set1_ps((float)zero);
    const __m512 lo = _mm512_setzero_ps(), hi = _mm512_set1_ps(255.0f);
    /* A power-of-two scale (an image's pixels have scale 1) has an exact
     * reciprocal: x * (1 / scale) is then the correctly rounded x / scale,
     * the same float as the division, without vdivps (slow on every x86). */
    int e;
    const int pow2 = frexpf(scale, &e) == 0.5f && e >= -124 && e <= 126;
    const __m512 inv = _mm512_set1_ps(pow2 ? 1.0f / scale : 1.0f);
    for (size_t i = 0; i < n; i += 16) {
        const size_t count = n - i < 16 ? n - i : 16;
        const __mmask16 mask = (__mmask16)(count == 16 ? 0xffffu : (1u << count) - 1u);
        const __m512 v = _mm512_maskz_loadu_ps(mask, x + i);
        const __m512 r = _mm512_roundscale_ps(pow2 ? _mm512_mul_ps(v, inv) : _mm512_div_ps(v, s),
                                              _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
        const __mmask16 nan = _mm512_cmp_ps_mask(r, r, _CMP_UNORD_Q);
        /* r + zero in float like the reference (exact below 2^24; beyond, it clamps anyway) */
        __m512 q = _mm512_min_ps(_mm512_max_ps(_mm512_add_ps(r, zf), lo), hi);
        q = _mm512_mask_blend_ps(nan, q, zf);
        _mm_mask_storeu_epi8(y + i, mask, narrow16(_mm512_cvttps_epi32(q)));
    }
}
#endif
