/* depthwise_q8_avx2.c: the int8 depthwise convolution of kernels/q8.h with
 * AVX2 (x86 without AVX-512: the avx2 family).
 *
 * Products.  16 channels of a pixel (NHWC) are zero-extended to int16
 * (vpmovzxbw), the HWC weights of a tap sign-extended once per block.  Two
 * taps are interleaved (vpunpck{l,h}wd) so that vpmaddwd forms, in each
 * int32 lane, a_t w_t + a_u w_u for one channel: both products exact in
 * int16 x int16 (|a w| <= 255 * 127) and their sum, at most 64770 in
 * magnitude, exact in int32 (not vpmaddubsw, which saturates at 32767).
 * int32 adds wrap like the reference's uint32 sum.  An odd last tap is
 * paired with zeros.  Padding taps read z_in bytes (a 16-byte buffer of
 * them), as the reference multiplies z_in.  The unpacks leave channels
 * {0-3, 8-11} in one accumulator and {4-7, 12-15} in the other; the output
 * stage takes the multipliers in that order and the packs that narrow to
 * bytes restore the channel order.
 *
 * Blocking.  Blocks of 16 channels (two accumulators) over bands of output
 * rows, taps' addresses computed per pixel (with no check inside the image,
 * a branch-free select of the z_in buffer at its borders): dw_q8_plan.h.
 * The block's weights are interleaved once per band (10 registers for 3x3;
 * 5x5 reads them from the stack as memory operands).  The multiply loop has
 * no branch, fully unrolled for 3x3 and 5x5.
 *
 * Output stage: rq_avx2.h (a two-multiply fast rule when every channel's
 * shift is >= 33, the general int64 rule otherwise). */
#include "kernels/kernels.h"

#if PD_BUILD_X86
#pragma GCC target("avx2,fma")
#include <immintrin.h>
#include <string.h>

#include "kernels/dw_q8_plan.h"
#include "kernels/q8.h"
#include "kernels/x86/rq_avx2.h"
#include "kernels/x86/x86.h"

#define MAX_TAPS PD_DWQ8_MAX_TAPS
#define MAX_PAIRS ((MAX_TAPS + 1) / 2)

static inline __m256i widen_u8(const uint8_t *p)
{
    return _mm256_cvtepu8_epi16(_mm_loadu_si128((const __m128i *)(const void *)p));
}

/* 8 int32 of p[0..4) and p[8..12), then of p[4..8) and p[12..16): the
 * channel order of the accumulators. */
static inline void split_order(const int32_t *p, __m256i *lo, __m256i *hi)
{
    const __m256i a = _mm256_loadu_si256((const __m256i *)(const void *)p);
    const __m256i b = _mm256_loadu_si256((const __m256i *)(const void *)(p + 8));
    *lo = _mm256_permute2x128_si256(a, b, 0x20);
    *hi = _mm256_permute2x128_si256(a, b, 0x31);
}

/* Output rows [r0, r1) of channels [c0, c0 + 16), T = KH * KW taps. */
static inline __attribute__((always_inline)) void block(const int KH, const int KW, const int FAST,
                                                        const pd_dwq8_call *cl, size_t c0, int32_t r0, int32_t r1)
{
    const pd_window_shape *s = cl->plan.s;
    const int T = KH * KW, P = (T + 1) / 2;
    const size_t c = (size_t)s->in.c;
    __m256i wlo[MAX_PAIRS], whi[MAX_PAIRS];
    _Pragma("GCC unroll 13")
    for (int p = 0; p < P; p++) {
        const __m256i w0 = _mm256_cvtepi8_epi16(
            _mm_loadu_si128((const __m128i *)(const void *)(cl->w + (size_t)(2 * p) * c + c0)));
        const __m256i w1 = 2 * p + 1 < T
            ? _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(const void *)(cl->w + (size_t)(2 * p + 1) * c + c0)))
            : _mm256_setzero_si256();
        wlo[p] = _mm256_unpacklo_epi16(w0, w1);
        whi[p] = _mm256_unpackhi_epi16(w0, w1);
    }
    int32_t b16[16] = {0};
    if (cl->bias != NULL)
        memcpy(b16, cl->bias + c0, sizeof b16);
    __m256i start_lo, start_hi;
    split_order(b16, &start_lo, &start_hi);
    int32_t m16[16], n16[16];
    memcpy(m16, cl->rq->mult + c0, sizeof m16);
    memcpy(n16, cl->rq->shift + c0, sizeof n16);
    __m256i mlo, mhi, nlo, nhi;
    split_order(m16, &mlo, &mhi);
    split_order(n16, &nlo, &nhi);
    const rq8x rqlo = rq8x_from(mlo, nlo, cl->rq), rqhi = rq8x_from(mhi, nhi, cl->rq);
    const __m256i zero = _mm256_setzero_si256();
    for (int32_t oh = r0; oh < r1; oh++) {
        ptrdiff_t rowoff[MAX_TAPS];
        int rowok[MAX_TAPS];
        const int rows_in = pd_dwq8_rows(&cl->plan, oh, c0, rowoff, rowok);
        uint8_t *out = cl->y + (size_t)oh * (size_t)s->out.w * c + c0;
        for (int32_t ow = 0; ow < s->out.w; ow++, out += c) {
            const uint8_t *tp[MAX_TAPS];
            pd_dwq8_taps(KH, KW, &cl->plan, rowoff, rowok, rows_in, ow, tp);
            __m256i acc_lo = start_lo, acc_hi = start_hi;
            _Pragma("GCC unroll 13")
            for (int p = 0; p < P; p++) {
                const __m256i a0 = widen_u8(tp[2 * p]);
                const __m256i a1 = 2 * p + 1 < T ? widen_u8(tp[2 * p + 1]) : zero;
                acc_lo = _mm256_add_epi32(acc_lo, _mm256_madd_epi16(_mm256_unpacklo_epi16(a0, a1), wlo[p]));
                acc_hi = _mm256_add_epi32(acc_hi, _mm256_madd_epi16(_mm256_unpackhi_epi16(a0, a1), whi[p]));
            }
            /* FAST is a constant (the caller checked the block's shifts) */
            const __m256i vlo = FAST ? rq8x_fast(acc_lo, &rqlo) : rq8x_general(acc_lo, &rqlo);
            const __m256i vhi = FAST ? rq8x_fast(acc_hi, &rqhi) : rq8x_general(acc_hi, &rqhi);
            /* int32 in [0, 255]: channel order back by the per-lane packs */
            const __m256i b = _mm256_packus_epi16(_mm256_packs_epi32(vlo, vhi), zero);
            _mm_storeu_si128((__m128i *)(void *)out,
                             _mm256_castsi256_si128(_mm256_permute4x64_epi64(b, 0x08)));
            rq8x_lut(cl->rq, out, 16);
        }
    }
}

/* Whether every shift of channels [c0, c0 + 16) is >= 33 (rq_avx2.h's fast rule). */
static int fast16(const pd_requant *rq, size_t c0)
{
    int fast = 1;
    for (size_t j = c0; j < c0 + 16; j++)
        fast &= rq->shift[j] >= 33;
    return fast;
}

static void block33(const pd_dwq8_call *cl, size_t c0, int32_t r0, int32_t r1)
{
    if (fast16(cl->rq, c0))
        block(3, 3, 1, cl, c0, r0, r1);
    else
        block(3, 3, 0, cl, c0, r0, r1);
}

static void block55(const pd_dwq8_call *cl, size_t c0, int32_t r0, int32_t r1)
{
    if (fast16(cl->rq, c0))
        block(5, 5, 1, cl, c0, r0, r1);
    else
        block(5, 5, 0, cl, c0, r0, r1);
}

static void block_any(const pd_dwq8_call *cl, size_t c0, int32_t r0, int32_t r1)
{
    const int kh = cl->plan.s->kernel_h, kw = cl->plan.s->kernel_w;
    if (fast16(cl->rq, c0))
        block(kh, kw, 1, cl, c0, r0, r1);
    else
        block(kh, kw, 0, cl, c0, r0, r1);
}

void pd_depthwise_q8_avx2(const pd_window_shape *s, const uint8_t *x, int32_t z_in, const int8_t *w,
                          const int32_t *bias, const pd_requant *rq, uint8_t *y, int32_t r0,
                          int32_t r1)
{
    if (!pd_dwq8_run(s, x, z_in, w, bias, rq, y, r0, r1, block33, block55, block_any))
        pd_depthwise_q8_ref(s, x, z_in, w, bias, rq, y, r0, r1);
}
#endif
