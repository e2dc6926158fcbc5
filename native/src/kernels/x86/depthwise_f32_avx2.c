/* depthwise_f32_avx2.c: direct depthwise convolution with AVX2 + FMA,
 * channels vectorized (NHWC keeps a pixel's channels contiguous, and HWC
 * weights a tap's).
 *
 * Interior pixels (every tap inside the input) of a 3x3 or 5x5 kernel with
 * dilation 1 and any stride take the fast loop: for a block of 8 channels the
 * taps' weights are loaded once (for 3x3 they stay in registers) and the
 * block walks along the output row, one load and one FMA per tap.  Border
 * pixels, and other kernels, go tap by tap, skipping taps in the padding.
 * Channel tails use masked loads and stores.
 *
 * A 1x1 kernel at stride 1 without padding with c <= 16 (an image's pixel
 * rewrite) is one contiguous run of floats against the weights repeated with
 * the period lcm(c, 8), as in depthwise_f32_avx512.c. */
#include "kernels/kernels.h"

#if PD_BUILD_X86
#pragma GCC target("avx2,fma")
#include <immintrin.h>

#include "kernels/ref/ref.h"
#include "kernels/x86/act_avx2.h"
#include "kernels/x86/x86.h"

static inline __attribute__((always_inline)) __m256 load(const float *p, __m256i mask, int full)
{
    return full ? _mm256_loadu_ps(p) : _mm256_maskload_ps(p, mask);
}

/* Writes an accumulator with the output stage applied. */
static inline __attribute__((always_inline)) void store(float *p, __m256 v, __m256i mask, int full, size_t nc,
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

/* Channels [ch, ch + nc) of output pixels [ow0, ow1) of one row, all taps
 * inside; K x K, dilation 1.  x0 points at the input row of the window's top,
 * column 0.  full (nc == 8) is a constant after inlining, so the common case
 * has no masked loads (slow on some CPUs) and masked stores only in tails. */
static inline __attribute__((always_inline)) void interior_block(
    const int K, const int full, const pd_window_shape *s, const float *x0, const float *w,
    const float *bias, const pd_act_params *act, float *yrow, int32_t ow0, int32_t ow1, size_t ch,
    size_t nc)
{
    const size_t c = (size_t)s->in.c, row = (size_t)s->in.w * c, step = (size_t)s->stride_w * c;
    const __m256i mask = pd_mask8_avx2(nc);
    __m256 wt[25];
    _Pragma("GCC unroll 25")
    for (int t = 0; t < K * K; t++)
        wt[t] = load(w + (size_t)t * c + ch, mask, full);
    const __m256 b = bias != NULL ? load(bias + ch, mask, full) : _mm256_setzero_ps();
    const float *xp = x0 + ((size_t)ow0 * (size_t)s->stride_w - (size_t)s->pad_left) * c + ch;
    float *yp = yrow + (size_t)ow0 * c + ch;
    for (int32_t ow = ow0; ow < ow1; ow++, xp += step, yp += c) {
        __m256 acc0 = b, acc1 = _mm256_setzero_ps();
        _Pragma("GCC unroll 5")
        for (int kh = 0; kh < K; kh++) {
            _Pragma("GCC unroll 5")
            for (int kw = 0; kw < K; kw++) {
                const __m256 v = load(xp + (size_t)kh * row + (size_t)kw * c, mask, full);
                if ((kh * K + kw) & 1)
                    acc1 = _mm256_fmadd_ps(v, wt[kh * K + kw], acc1);
                else
                    acc0 = _mm256_fmadd_ps(v, wt[kh * K + kw], acc0);
            }
        }
        store(yp, _mm256_add_ps(acc0, acc1), mask, full, nc, act);
    }
}

/* Output pixels per pass over the channel blocks: the kernel's input rows
 * under them (K rows x the window span x C floats) stay in L1 (32 KiB) while
 * every block of 8 channels walks along. */
static int32_t chunk(const pd_window_shape *s, int K)
{
    const size_t budget = 6144; /* floats: 24 KiB */
    size_t per_pixel = (size_t)K * (size_t)s->stride_w * (size_t)s->in.c;
    size_t n = budget / (per_pixel > 0 ? per_pixel : 1);
    return n < 4 ? 4 : n > 4096 ? 4096 : (int32_t)n;
}

static void interior3(const pd_window_shape *s, const float *x0, const float *w, const float *bias,
                      const pd_act_params *act, float *yrow, int32_t ow0, int32_t ow1)
{
    const size_t c = (size_t)s->in.c;
    const int32_t step = chunk(s, 3);
    for (int32_t a = ow0; a < ow1; a += step) {
        const int32_t b = ow1 - a < step ? ow1 : a + step;
        size_t ch = 0;
        for (; ch + 8 <= c; ch += 8)
            interior_block(3, 1, s, x0, w, bias, act, yrow, a, b, ch, 8);
        if (ch < c)
            interior_block(3, 0, s, x0, w, bias, act, yrow, a, b, ch, c - ch);
    }
}

static void interior5(const pd_window_shape *s, const float *x0, const float *w, const float *bias,
                      const pd_act_params *act, float *yrow, int32_t ow0, int32_t ow1)
{
    const size_t c = (size_t)s->in.c;
    const int32_t step = chunk(s, 5);
    for (int32_t a = ow0; a < ow1; a += step) {
        const int32_t b = ow1 - a < step ? ow1 : a + step;
        size_t ch = 0;
        for (; ch + 8 <= c; ch += 8)
            interior_block(5, 1, s, x0, w, bias, act, yrow, a, b, ch, 8);
        if (ch < c)
            interior_block(5, 0, s, x0, w, bias, act, yrow, a, b, ch, c - ch);
    }
}

/* y[i] = act(x[i] * w[i % c] + bias[i % c]) for i < n, c <= 16. */
static void affine_run(size_t c, const float *x, const float *w, const float *bias,
                       const pd_act_params *act, float *y, size_t n)
{
    size_t period = 8; /* lcm(c, 8): at most 16 registers' worth */
    while (period % c != 0)
        period += 8;
    float wp[128], bp[128];
    for (size_t i = 0; i < period; i++) {
        wp[i] = w[i % c];
        bp[i] = bias != NULL ? bias[i % c] : 0.0f;
    }
    const size_t whole = n / period * period;
    size_t i = 0;
    for (; i < whole; i += period)
        for (size_t r = 0; r < period; r += 8) {
            const __m256 v = _mm256_fmadd_ps(_mm256_loadu_ps(x + i + r), _mm256_loadu_ps(wp + r),
                                             _mm256_loadu_ps(bp + r));
            _mm256_storeu_ps(y + i + r, pd_act_inreg_avx2(act) ? pd_act8_avx2(v, act) : v);
        }
    for (size_t r = 0; i < n; i += 8, r += 8) { /* the tail: less than one period */
        const size_t left = n - i < 8 ? n - i : 8;
        const __m256i mask = pd_mask8_avx2(left);
        const __m256 v = _mm256_fmadd_ps(_mm256_maskload_ps(x + i, mask), _mm256_loadu_ps(wp + r),
                                         _mm256_loadu_ps(bp + r));
        _mm256_maskstore_ps(y + i, mask, pd_act_inreg_avx2(act) ? pd_act8_avx2(v, act) : v);
    }
    if (!pd_act_inreg_avx2(act))
        pd_act_f32_ref(y, y, n, act);
}

/* [lo, hi) of the taps t < k whose coordinate start + t * dilation is in
 * [0, n). */
static void tap_range(int64_t start, int32_t k, int32_t dilation, int32_t n, int32_t *lo, int32_t *hi)
{
    int32_t t = 0;
    while (t < k && start + (int64_t)t * dilation < 0)
        t++;
    *lo = t;
    while (t < k && start + (int64_t)t * dilation < n)
        t++;
    *hi = t;
}

/* Channels [ch, ch + nc) of one output pixel over the taps [kh0, kh1) x
 * [kw0, kw1); x points at the window's top-left input coordinate (maybe in
 * the padding: only taps in range are read). */
static inline __attribute__((always_inline)) void border_block(
    const int full, const pd_window_shape *s, const float *x, const float *w, const float *bias,
    const pd_act_params *act, float *out, int32_t kh0, int32_t kh1, int32_t kw0, int32_t kw1,
    size_t ch, size_t nc)
{
    const size_t c = (size_t)s->in.c;
    const ptrdiff_t row = (ptrdiff_t)s->in.w * (ptrdiff_t)c;
    const __m256i mask = pd_mask8_avx2(nc);
    __m256 acc = bias != NULL ? load(bias + ch, mask, full) : _mm256_setzero_ps();
    for (int32_t kh = kh0; kh < kh1; kh++) {
        const float *xr = x + (ptrdiff_t)kh * s->dilation_h * row + (ptrdiff_t)ch;
        const float *wr = w + (size_t)kh * (size_t)s->kernel_w * c + ch;
        for (int32_t kw = kw0; kw < kw1; kw++)
            acc = _mm256_fmadd_ps(load(xr + (ptrdiff_t)kw * s->dilation_w * (ptrdiff_t)c, mask, full),
                                  load(wr + (size_t)kw * c, mask, full), acc);
    }
    store(out + ch, acc, mask, full, nc, act);
}

/* One output pixel, all channels, any kernel, skipping taps in the padding. */
static void border(const pd_window_shape *s, const float *x, const float *w, const float *bias,
                   const pd_act_params *act, float *out, int32_t oh, int32_t ow)
{
    const size_t c = (size_t)s->in.c;
    const int64_t ih0 = (int64_t)oh * s->stride_h - s->pad_top;
    const int64_t iw0 = (int64_t)ow * s->stride_w - s->pad_left;
    int32_t kh0, kh1, kw0, kw1;
    tap_range(ih0, s->kernel_h, s->dilation_h, s->in.h, &kh0, &kh1);
    tap_range(iw0, s->kernel_w, s->dilation_w, s->in.w, &kw0, &kw1);
    /* Pointer arithmetic stays inside the input: the window origin may be in
     * the padding, so step to the first valid tap first. */
    const float *xo = x + ((ih0 + (int64_t)kh0 * s->dilation_h) * s->in.w +
                           (iw0 + (int64_t)kw0 * s->dilation_w)) * (int64_t)c;
    const float *wo = w + ((size_t)kh0 * (size_t)s->kernel_w + (size_t)kw0) * c;
    size_t ch = 0;
    for (; ch + 8 <= c; ch += 8)
        border_block(1, s, xo, wo, bias, act, out, 0, kh1 - kh0, 0, kw1 - kw0, ch, 8);
    if (ch < c)
        border_block(0, s, xo, wo, bias, act, out, 0, kh1 - kh0, 0, kw1 - kw0, ch, c - ch);
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
    if (K == 1 && s->kernel_w == 1 && c <= 16 && s->stride_h == 1 && s->stride_w == 1 &&
        s->pad_top == 0 && s->pad_left == 0 && s->in.w == s->out.w) {
        const size_t row = (size_t)s->out.w * c;
        affine_run(c, x + (size_t)r0 * row, w, bias, act, y + (size_t)r0 * row, (size_t)(r1 - r0) * row);
        return;
    }
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
            interior3(s, x0, w, bias, act, yrow, wlo, whi);
        else
            interior5(s, x0, w, bias, act, yrow, wlo, whi);
        for (int32_t ow = whi; ow < s->out.w; ow++)
            border(s, x, w, bias, act, yrow + (size_t)ow * c, oh, ow);
    }
}
#endif
