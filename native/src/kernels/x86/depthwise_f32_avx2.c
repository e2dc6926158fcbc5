/* depthwise_f32_avx2.c: direct depthwise convolution with AVX2 + FMA,
 * channels vectorized (NHWC keeps a pixel's channels contiguous, and HWC
 * weights a tap's).
 *
 * Interior pixels (every tap inside the input) of a 3x3 or 5x5 kernel with
 * dilation 1 and any stride take the fast loop: for a block of 8 channels the
 * taps' weights are loaded once (for 3x3 they stay in registers) and the
 * block walks along the output row, one load and one FMA per tap.  Border
 * pixels, and other kernels, go tap by tap, skipping taps in the padding.
 * Channel tails use masked loads and stores. */
#include "kernels/kernels.h"

#if PD_BUILD_X86
#pragma GCC target("avx2,fma")
#include <immintrin.h>

#include "kernels/ref/ref.h"
#include "kernels/x86/act_avx2.h"
#include "kernels/x86/x86.h"

static inline __m256 load(const float *p, __m256i mask, int full)
{
    return full ? _mm256_loadu_ps(p) : _mm256_maskload_ps(p, mask);
}

/* Writes an accumulator with the output stage applied. */
static inline void store(float *p, __m256 v, __m256i mask, int full, size_t nc,
                         const pd_act_params *act)
{
    if (pd_act_inreg_avx2(act))
        v = pd_act8_avx2(v, act);
    if (full)
        _mm256_storeu_ps(p, v);
    else
        _mm256_maskstore_ps(p, mask, v);
    if (!pd_act_inreg_avx2(act))
        pd_act_f32_ref(p, p, nc, act);
}

/* Output pixels [ow0, ow1) of row oh, all taps inside; K x K, dilation 1.
 * x0 points at input row ih0 = oh * sh - pad_top, column 0. */
static inline __attribute__((always_inline)) void interior(
    int K, const pd_window_shape *s, const float *x0, const float *w, const float *bias,
    const pd_act_params *act, float *yrow, int32_t ow0, int32_t ow1)
{
    const size_t c = (size_t)s->in.c, row = (size_t)s->in.w * c, step = (size_t)s->stride_w * c;
    for (size_t ch = 0; ch < c; ch += 8) {
        const size_t nc = c - ch < 8 ? c - ch : 8;
        const int full = nc == 8;
        const __m256i mask = pd_mask8_avx2(nc);
        __m256 wt[25];
        for (int t = 0; t < K * K; t++)
            wt[t] = load(w + (size_t)t * c + ch, mask, full);
        const __m256 b = bias != NULL ? load(bias + ch, mask, full) : _mm256_setzero_ps();
        const float *xp = x0 + ((size_t)ow0 * (size_t)s->stride_w - (size_t)s->pad_left) * c + ch;
        float *yp = yrow + (size_t)ow0 * c + ch;
        for (int32_t ow = ow0; ow < ow1; ow++, xp += step, yp += c) {
            __m256 acc0 = b, acc1 = _mm256_setzero_ps();
            for (int kh = 0; kh < K; kh++)
                for (int kw = 0; kw < K; kw++) {
                    const __m256 v = load(xp + (size_t)kh * row + (size_t)kw * c, mask, full);
                    if ((kh * K + kw) & 1)
                        acc1 = _mm256_fmadd_ps(v, wt[kh * K + kw], acc1);
                    else
                        acc0 = _mm256_fmadd_ps(v, wt[kh * K + kw], acc0);
                }
            store(yp, _mm256_add_ps(acc0, acc1), mask, full, nc, act);
        }
    }
}

/* One output pixel, any kernel, skipping taps in the padding. */
static void border(const pd_window_shape *s, const float *x, const float *w, const float *bias,
                   const pd_act_params *act, float *out, int32_t oh, int32_t ow)
{
    const size_t c = (size_t)s->in.c;
    for (size_t ch = 0; ch < c; ch += 8) {
        const size_t nc = c - ch < 8 ? c - ch : 8;
        const int full = nc == 8;
        const __m256i mask = pd_mask8_avx2(nc);
        __m256 acc = bias != NULL ? load(bias + ch, mask, full) : _mm256_setzero_ps();
        for (int32_t kh = 0; kh < s->kernel_h; kh++) {
            int64_t ih = (int64_t)oh * s->stride_h - s->pad_top + (int64_t)kh * s->dilation_h;
            if (ih < 0 || ih >= s->in.h)
                continue;
            for (int32_t kw = 0; kw < s->kernel_w; kw++) {
                int64_t iw = (int64_t)ow * s->stride_w - s->pad_left + (int64_t)kw * s->dilation_w;
                if (iw < 0 || iw >= s->in.w)
                    continue;
                const float *px = x + ((size_t)ih * (size_t)s->in.w + (size_t)iw) * c + ch;
                const float *wt = w + ((size_t)kh * (size_t)s->kernel_w + (size_t)kw) * c + ch;
                acc = _mm256_fmadd_ps(load(px, mask, full), load(wt, mask, full), acc);
            }
        }
        store(out + ch, acc, mask, full, nc, act);
    }
}

/* First output index whose window starts at or after 0, and the end of those
 * whose window ends inside the input: [lo, hi) are interior along an axis. */
static void interior_range(int32_t out, int32_t in, int32_t k, int32_t stride, int32_t pad,
                           int32_t *lo, int32_t *hi)
{
    int32_t a = (pad + stride - 1) / stride;
    int64_t last = (int64_t)in - k + pad; /* o * stride <= last */
    int32_t b = last < 0 ? 0 : (int32_t)(last / stride) + 1;
    if (b > out)
        b = out;
    if (a > b)
        a = b;
    *lo = a;
    *hi = b;
}

void pd_depthwise_f32_avx2(const pd_window_shape *s, const float *x, const float *w,
                           const float *bias, const pd_act_params *act, float *y, int32_t r0,
                           int32_t r1)
{
    const int K = s->kernel_h;
    const int fast = s->kernel_h == s->kernel_w && (K == 3 || K == 5) && s->dilation_h == 1 &&
                     s->dilation_w == 1;
    const size_t c = (size_t)s->in.c;
    int32_t hlo = 0, hhi = 0, wlo = 0, whi = 0;
    if (fast) {
        interior_range(s->out.h, s->in.h, K, s->stride_h, s->pad_top, &hlo, &hhi);
        interior_range(s->out.w, s->in.w, K, s->stride_w, s->pad_left, &wlo, &whi);
    }
    for (int32_t oh = r0; oh < r1; oh++) {
        float *yrow = y + (size_t)oh * (size_t)s->out.w * c;
        if (!fast || oh < hlo || oh >= hhi || wlo >= whi) {
            for (int32_t ow = 0; ow < s->out.w; ow++)
                border(s, x, w, bias, act, yrow + (size_t)ow * c, oh, ow);
            continue;
        }
        for (int32_t ow = 0; ow < wlo; ow++)
            border(s, x, w, bias, act, yrow + (size_t)ow * c, oh, ow);
        const float *x0 = x + (size_t)((int64_t)oh * s->stride_h - s->pad_top) * (size_t)s->in.w * c;
        if (K == 3)
            interior(3, s, x0, w, bias, act, yrow, wlo, whi);
        else
            interior(5, s, x0, w, bias, act, yrow, wlo, whi);
        for (int32_t ow = whi; ow < s->out.w; ow++)
            border(s, x, w, bias, act, yrow + (size_t)ow * c, oh, ow);
    }
}
#endif
