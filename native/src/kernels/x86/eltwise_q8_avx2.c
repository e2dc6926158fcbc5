/* eltwise_q8_avx2.c: int8 add and sub of kernels/q8.h with AVX2, 8
 * elements per step (the x86 family without AVX-512 ran the reference).
 *
 * docs/quantization.md: x = (qa - za) * ma +- (qb - zb) * mb in int64, then
 * (x + 2^(n-1)) >> n, clamped.  _mm256_mul_epi32 forms the exact int64
 * products of the even lanes, and of the odd ones after a 64-bit shift
 * (|q - z| <= 255 and |m| < 2^31); the arithmetic right shift AVX2 lacks is
 * made of a logical one and the clamp to [lo, hi] - zero is done in int64
 * (rq_avx2.h's sra64 and clamp64).  Inputs
 * of the same dims only (no broadcast); others, and mul, run the reference. */
#include "kernels/kernels.h"

#if PD_BUILD_X86
#pragma GCC target("avx2,fma")
#include <immintrin.h>
#include <string.h>

#include "kernels/q8.h"
#include "kernels/x86/rq_avx2.h"
#include "kernels/x86/x86.h"
#include "predict.h"

/* n (<= 8) bytes at p as int32 lanes (the others zero). */
static inline __m256i load8(const uint8_t *p, size_t n)
{
    uint64_t v = 0;
    if (n == 8) /* a constant size: one load */
        memcpy(&v, p, 8);
    else
        memcpy(&v, p, n);
    return _mm256_cvtepu8_epi32(_mm_cvtsi64_si128((long long)v));
}

static void add_sub(int32_t kind, size_t n, const uint8_t *a, int32_t za, const uint8_t *b, int32_t zb,
                    const pd_requant *rq, uint8_t *y)
{
    const __m256i zav = _mm256_set1_epi32(za), zbv = _mm256_set1_epi32(zb);
    const __m256i ma = _mm256_set1_epi64x(rq->mult[0]);
    const __m256i mb = _mm256_set1_epi64x(kind == PD_BIN_SUB ? -(int64_t)rq->mult[1] : rq->mult[1]);
    const __m256i sh = _mm256_set1_epi64x(rq->shift[0]);
    const __m256i rnd = _mm256_set1_epi64x((int64_t)1 << (rq->shift[0] - 1));
    const __m256i lo64 = _mm256_set1_epi64x((long long)rq->lo - rq->zero);
    const __m256i hi64 = _mm256_set1_epi64x((long long)rq->hi - rq->zero);
    const __m256i zero32 = _mm256_set1_epi32(rq->zero);
    for (size_t i = 0; i < n; i += 8) {
        const size_t count = n - i < 8 ? n - i : 8;
        const __m256i da = _mm256_sub_epi32(load8(a + i, count), zav);
        const __m256i db = _mm256_sub_epi32(load8(b + i, count), zbv);
        /* vpmuldq multiplies the signed low dwords of each int64 lane: ma and
         * mb hold m in their low dwords (and -m for sub, |m| < 2^31). */
        const __m256i da_o = _mm256_srli_epi64(da, 32), db_o = _mm256_srli_epi64(db, 32);
        __m256i e = _mm256_add_epi64(_mm256_mul_epi32(da, ma), _mm256_mul_epi32(db, mb));
        __m256i o = _mm256_add_epi64(_mm256_mul_epi32(da_o, ma), _mm256_mul_epi32(db_o, mb));
        e = clamp64(sra64(_mm256_add_epi64(e, rnd), sh), lo64, hi64);
        o = clamp64(sra64(_mm256_add_epi64(o, rnd), sh), lo64, hi64);
        const __m256i v = _mm256_add_epi32(_mm256_blend_epi32(e, _mm256_slli_epi64(o, 32), 0xaa), zero32);
        /* int32 in [0, 255] -> 8 bytes */
        const __m128i w = _mm_packs_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
        const __m128i bytes = _mm_packus_epi16(w, w);
        if (count == 8) {
            _mm_storel_epi64((__m128i *)(void *)(y + i), bytes);
        } else {
            uint8_t tmp[16];
            _mm_storeu_si128((__m128i *)(void *)tmp, bytes);
            memcpy(y + i, tmp, count);
        }
        rq8x_lut(rq, y + i, count);
    }
}

void pd_binary_q8_avx2(int32_t kind, size_t batch, pd_dims ad, const uint8_t *a, int32_t za,
                       pd_dims bd, const uint8_t *b, int32_t zb, const pd_requant *rq, uint8_t *y)
{
    if (kind == PD_BIN_MUL || ad.h != bd.h || ad.w != bd.w || ad.c != bd.c) {
        pd_binary_q8_ref(kind, batch, ad, a, za, bd, b, zb, rq, y);
        return;
    }
    add_sub(kind, batch * (size_t)ad.h * (size_t)ad.w * (size_t)ad.c, a, za, b, zb, rq, y);
}
#endif
