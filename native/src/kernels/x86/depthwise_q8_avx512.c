/* depthwise_q8_avx512.c: the int8 depthwise convolution of kernels/q8.h with
 * AVX-512 (F, BW, VL; no VNNI needed).
 *
 * 16 channels per vector: activations zero-extended and weights sign-extended
 * to 32-bit lanes, multiplied with vpmaddwd (lanes seen as int16 pairs: the
 * activation's high half is 0, so the pair sum is exactly a * w, which fits
 * int16 x int16), summed with wrapping int32 adds like the reference's uint32
 * sum.  Padding taps multiply z_in, as the reference does.  A channel block's
 * weights are widened once and stay in registers while the rows pass; 3x3
 * and 5x5 windows are unrolled at compile time.  Output stage: rq_avx512.h. */
#include "kernels/kernels.h"

#if PD_BUILD_X86
#pragma GCC target("avx512f,avx512vl,avx512dq,avx512bw,avx2,fma")
#include <immintrin.h>

#include "kernels/q8.h"
#include "kernels/ref/ref.h"
#include "kernels/x86/rq_avx512.h"
#include "kernels/x86/x86.h"

#define MAX_TAPS 25

static inline __attribute__((always_inline)) void rows(
    const int KH, const int KW, const pd_window_shape *s, const uint8_t *x, int32_t z_in,
    const int8_t *w, const int32_t *bias, const pd_requant *rq, uint8_t *y, int32_t r0, int32_t r1)
{
    const size_t c = (size_t)s->in.c, in_row = (size_t)s->in.w * c;
    const __m512i zvec = _mm512_set1_epi32(z_in);
    const __m512i lo64 = _mm512_set1_epi64((long long)rq->lo - rq->zero);
    const __m512i hi64 = _mm512_set1_epi64((long long)rq->hi - rq->zero);
    const __m512i zero32 = _mm512_set1_epi32(rq->zero);
    for (size_t c0 = 0; c0 < c; c0 += 16) {
        const size_t count = c - c0 < 16 ? c - c0 : 16;
        const __mmask16 mask = (__mmask16)(count == 16 ? 0xffffu : (1u << count) - 1u);
        const rq16 p = rq16_load(rq, c0, count);
        const __m512i start = bias != NULL ? _mm512_maskz_loadu_epi32(mask, bias + c0) : _mm512_setzero_si512();
        __m512i wv[MAX_TAPS];
        _Pragma("GCC unroll 25")
        for (int t = 0; t < KH * KW; t++)
            wv[t] = _mm512_cvtepi8_epi32(_mm_maskz_loadu_epi8(mask, w + (size_t)t * c + c0));
        for (int32_t oh = r0; oh < r1; oh++) {
            const int64_t ih0 = (int64_t)oh * s->stride_h - s->pad_top;
            uint8_t *out = y + (size_t)oh * (size_t)s->out.w * c + c0;
            for (int32_t ow = 0; ow < s->out.w; ow++, out += c) {
                const int64_t iw0 = (int64_t)ow * s->stride_w - s->pad_left;
                __m512i acc = start;
                _Pragma("GCC unroll 5")
                for (int kh = 0; kh < KH; kh++) {
                    const int64_t ih = ih0 + (int64_t)kh * s->dilation_h;
                    const int row_in = ih >= 0 && ih < s->in.h;
                    const uint8_t *xr = x + (row_in ? (size_t)ih : 0) * in_row + c0;
                    _Pragma("GCC unroll 5")
                    for (int kw = 0; kw < KW; kw++) {
                        const int64_t iw = iw0 + (int64_t)kw * s->dilation_w;
                        const __m512i xv = row_in && iw >= 0 && iw < s->in.w
                            ? _mm512_cvtepu8_epi32(_mm_maskz_loadu_epi8(mask, xr + (size_t)iw * c))
                            : zvec;
                        acc = _mm512_add_epi32(acc, _mm512_madd_epi16(xv, wv[kh * KW + kw]));
                    }
                }
                _mm_mask_storeu_epi8(out, mask, rq16_apply(acc, &p, lo64, hi64, zero32));
                rq_lut(rq, out, count);
            }
        }
    }
}

void pd_depthwise_q8_avx512(const pd_window_shape *s, const uint8_t *x, int32_t z_in,
                            const int8_t *w, const int32_t *bias, const pd_requant *rq, uint8_t *y,
                            int32_t r0, int32_t r1)
{
    if (s->kernel_h == 3 && s->kernel_w == 3)
        rows(3, 3, s, x, z_in, w, bias, rq, y, r0, r1);
    else if (s->kernel_h == 5 && s->kernel_w == 5)
        rows(5, 5, s, x, z_in, w, bias, rq, y, r0, r1);
    else
        pd_depthwise_q8_ref(s, x, z_in, w, bias, rq, y, r0, r1);
}
#endif
