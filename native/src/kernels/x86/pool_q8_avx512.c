/* pool_q8_avx512.c: the int8 global average pooling of kernels/q8.h with
 * AVX-512 (F, BW): 64 channels per step, their bytes widened to int32 lanes
 * and summed over the pixels in order, rather than the reference's channel by
 * channel walk with a stride of c bytes.  The sum of (q - z_in) is the same
 * integer (it fits int32: up to 2^23 pixels of at most 255), and the
 * requantization is the reference's own, channel by channel, so every byte
 * equals the reference's.  Larger maps run the reference. */
#include "kernels/kernels.h"

#if PD_BUILD_X86
#pragma GCC target("avx512f,avx512vl,avx512dq,avx512bw,avx2,fma")
#include <immintrin.h>

#include "kernels/q8.h"
#include "kernels/x86/x86.h"

void pd_global_avgpool_q8_avx512(pd_dims in, size_t batch, const uint8_t *x, int32_t z_in,
                                 const pd_requant *rq, uint8_t *y)
{
    const size_t c = (size_t)in.c, hw = (size_t)in.h * (size_t)in.w;
    if (hw >= ((size_t)1 << 23)) {
        pd_global_avgpool_q8_ref(in, batch, x, z_in, rq, y);
        return;
    }
    const int32_t offset = -(int32_t)hw * z_in; /* |hw * z_in| < 2^31 */
    for (size_t n = 0; n < batch; n++) {
        const uint8_t *xs = x + n * hw * c;
        for (size_t c0 = 0; c0 < c; c0 += 64) {
            const size_t nc = c - c0 < 64 ? c - c0 : 64;
            const __mmask64 mask = nc == 64 ? ~(__mmask64)0 : ((__mmask64)1 << nc) - 1;
            __m512i s0 = _mm512_set1_epi32(offset), s1 = s0, s2 = s0, s3 = s0;
            for (size_t p = 0; p < hw; p++) {
                const __m512i v = _mm512_maskz_loadu_epi8(mask, xs + p * c + c0);
                s0 = _mm512_add_epi32(s0, _mm512_cvtepu8_epi32(_mm512_castsi512_si128(v)));
                s1 = _mm512_add_epi32(s1, _mm512_cvtepu8_epi32(_mm512_extracti32x4_epi32(v, 1)));
                s2 = _mm512_add_epi32(s2, _mm512_cvtepu8_epi32(_mm512_extracti32x4_epi32(v, 2)));
                s3 = _mm512_add_epi32(s3, _mm512_cvtepu8_epi32(_mm512_extracti32x4_epi32(v, 3)));
            }
            int32_t sums[64];
            _mm512_storeu_si512((void *)sums, s0);
            _mm512_storeu_si512((void *)(sums + 16), s1);
            _mm512_storeu_si512((void *)(sums + 32), s2);
            _mm512_storeu_si512((void *)(sums + 48), s3);
            for (size_t i = 0; i < nc; i++)
                y[n * c + c0 + i] = pd_rq_out(pd_rq(sums[i], rq->mult[0], rq->shift[0]), rq);
        }
    }
}
#endif
