/* depthwise_f32_avx512.c: direct depthwise convolution with AVX-512F, 16
 * channels per register (the AVX2 kernel's structure, depthwise_f32_avx2.c,
 * with half the instructions and lane masks for channel tails).
 *
 * Interior pixels of a 3x3 or 5x5 kernel with dilation 1, any stride: for a
 * block of 16 channels the taps' weights stay in registers (25 of 32 for
 * 5x5) while the block walks along the output row (a 1x1 kernel's, along a
 * chunk of it sized so its input rows stay in L1).  Border pixels and other kernels go over the taps
 * inside the input only.  Output stage in registers for none / relu / clip /
 * leakyrelu, by the reference otherwise.
 *
 * A 1x1 kernel is a per-channel affine map: at stride 1 without padding the
 * rows [r0, r1) are one contiguous run of floats, walked 16 at a time against
 * the weights and biases repeated with the period lcm(c, 16) (c <= 16, e.g.
 * the 3 channels of an image's pixel rewrite); other 1x1 cases go through the
 * interior blocks like 3x3. */
#include "kernels/kernels.h"

#if PD_BUILD_X86
#pragma GCC target("avx512f,avx512vl,avx512dq,avx512bw,avx2,fma")
#include <immintrin.h>

#include "kernels/ref/ref.h"
#include "kernels/x86/x86.h"
#include "predict.h"

static inline int inreg(const pd_act_params *act)
{
    return act->kind == PD_ACT_NONE || act->kind == PD_ACT_RELU || act->kind == PD_ACT_CLIP ||
           act->kind == PD_ACT_LEAKYRELU;
}

/* As in gemm_f32_avx512.c: vmaxps/vminps keep a NaN second operand. */
static inline __m512 act16(__m512 x, const pd_act_params *act)
{
    switch (act->kind) {
    case PD_ACT_RELU:
        return _mm512_max_ps(_mm512_setzero_ps(), x);
    case PD_ACT_CLIP:
        return _mm512_min_ps(_mm512_set1_ps(act->beta), _mm512_max_ps(_mm512_set1_ps(act->alpha), x));
    case PD_ACT_LEAKYRELU: {
        __mmask16 neg = _mm512_cmp_ps_mask(x, _mm512_setzero_ps(), _CMP_LT_OQ);
        return _mm512_mask_mul_ps(x, neg, x, _mm512_set1_ps(act->alpha));
    }
    default:
        return x;
    }
}

static inline __attribute__((always_inline)) void store(float *p, __m512 v, __mmask16 mask,
                                                        size_t nc, const pd_act_params *act)
{
    const int in = inreg(act);
    _mm512_mask_storeu_ps(p, mask, in ? act16(v, act) : v);
    if (!in)
        pd_act_f32_ref(p, p, nc, act);
}

/* store() with the output stage's kind and bounds in registers: the
 * compiler must otherwise reload them from *act after every store to y (a
 * float store may alias act->beta). */
typedef struct out_stage {
    int in, kind;
    __m512 lo, hi;
} out_stage;

static inline __attribute__((always_inline)) out_stage stage_of(const pd_act_params *act)
{
    out_stage o = {inreg(act), act->kind, _mm512_set1_ps(act->alpha), _mm512_set1_ps(act->beta)};
    return o;
}

/* The same operations as act16(), so the same floats. */
static inline __attribute__((always_inline)) void store_o(float *p, __m512 v, __mmask16 mask, size_t nc,
                                                          const out_stage *o, const pd_act_params *act)
{
    if (!o->in) {
        _mm512_mask_storeu_ps(p, mask, v);
        pd_act_f32_ref(p, p, nc, act);
        return;
    }
    switch (o->kind) {
    case PD_ACT_RELU:
        v = _mm512_max_ps(_mm512_setzero_ps(), v);
        break;
    case PD_ACT_CLIP:
        v = _mm512_min_ps(o->hi, _mm512_max_ps(o->lo, v));
        break;
    case PD_ACT_LEAKYRELU:
        v = _mm512_mask_mul_ps(v, _mm512_cmp_ps_mask(v, _mm512_setzero_ps(), _CMP_LT_OQ), v, o->lo);
        break;
    default:
        break;
    }
    _mm512_mask_storeu_ps(p, mask, v);
}

/* Channels [ch, ch + nc) of output pixels [ow0, ow1) of one row, all taps
 * inside; x0 points at the input row of the windows' top, column 0. */
static inline __attribute__((always_inline)) void interior_block(
    const int K, const pd_window_shape *s, const float *x0, const float *w, const float *bias,
    const pd_act_params *act, float *yrow, int32_t ow0, int32_t ow1, size_t ch, size_t nc)
{
    const size_t c = (size_t)s->in.c, row = (size_t)s->in.w * c, step = (size_t)s->stride_w * c;
    const __mmask16 mask = (__mmask16)((1u << nc) - 1u);
    __m512 wt[25];
    _Pragma("GCC unroll 25")
    for (int t = 0; t < K * K; t++)
        wt[t] = _mm512_maskz_loadu_ps(mask, w + (size_t)t * c + ch);
    const __m512 b = bias != NULL ? _mm512_maskz_loadu_ps(mask, bias + ch) : _mm512_setzero_ps();
    const out_stage st = stage_of(act);
    const float *xp = x0 + ((size_t)ow0 * (size_t)s->stride_w - (size_t)s->pad_left) * c + ch;
    float *yp = yrow + (size_t)ow0 * c + ch;
    int32_t ow = ow0;
    if (K == 3 && s->stride_w == 1) {
        /* Four neighbours at a time: they read 6 input columns, not 12, so
         * 18 loads feed 36 FMAs (one load per FMA bound the loop).  Each
         * pixel's two chains take the same taps in the same order as below. */
        for (; ow + 4 <= ow1; ow += 4, xp += 4 * c, yp += 4 * c) {
            __m512 e[4], o[4];
            _Pragma("GCC unroll 4")
            for (int q = 0; q < 4; q++) {
                e[q] = b;
                o[q] = _mm512_setzero_ps();
            }
            _Pragma("GCC unroll 3")
            for (int kh = 0; kh < 3; kh++) {
                /* a row pointer and column offsets (not 18 offsets: they
                 * were spilled to the stack) */
                const float *r = xp + (size_t)kh * row;
                __m512 v[6];
                _Pragma("GCC unroll 6")
                for (int j = 0; j < 6; j++)
                    v[j] = _mm512_maskz_loadu_ps(mask, r + (size_t)j * c);
                _Pragma("GCC unroll 4")
                for (int q = 0; q < 4; q++) {
                    _Pragma("GCC unroll 3")
                    for (int kw = 0; kw < 3; kw++) {
                        if ((kh * 3 + kw) & 1)
                            o[q] = _mm512_fmadd_ps(v[q + kw], wt[kh * 3 + kw], o[q]);
                        else
                            e[q] = _mm512_fmadd_ps(v[q + kw], wt[kh * 3 + kw], e[q]);
                    }
                }
            }
            _Pragma("GCC unroll 4")
            for (int q = 0; q < 4; q++)
                store_o(yp + (size_t)q * c, _mm512_add_ps(e[q], o[q]), mask, nc, &st, act);
        }
    }
    for (; ow < ow1; ow++, xp += step, yp += c) {
        __m512 acc0 = b, acc1 = _mm512_setzero_ps();
        _Pragma("GCC unroll 5")
        for (int kh = 0; kh < K; kh++) {
            _Pragma("GCC unroll 5")
            for (int kw = 0; kw < K; kw++) {
                const __m512 v = _mm512_maskz_loadu_ps(mask, xp + (size_t)kh * row + (size_t)kw * c);
                if ((kh * K + kw) & 1)
                    acc1 = _mm512_fmadd_ps(v, wt[kh * K + kw], acc1);
                else
                    acc0 = _mm512_fmadd_ps(v, wt[kh * K + kw], acc0);
            }
        }
        store_o(yp, _mm512_add_ps(acc0, acc1), mask, nc, &st, act);
    }
}

/* Output pixels per pass over the channel blocks of a 1x1 kernel (see the
 * AVX2 kernel). */
static int32_t chunk(const pd_window_shape *s, int K)
{
    const size_t budget = 6144;
    size_t per_pixel = (size_t)K * (size_t)s->stride_w * (size_t)s->in.c;
    size_t n = budget / (per_pixel > 0 ? per_pixel : 1);
    return n < 4 ? 4 : n > 4096 ? 4096 : (int32_t)n;
}

/* 3x3 and 5x5: each block of 16 channels walks the whole row.  Chunks of a
 * few pixels (as the AVX2 kernel and 1x1 here take) reload the block's
 * weights once a chunk, and at 14x14 or 7x7 with hundreds of channels a
 * chunk was 2 to 5 pixels; nothing is reused across the blocks of a chunk
 * (each reads its own 64 bytes of every pixel).  MobileNetV2's depthwise
 * layers at 14x14 and 7x7, 0.029 -> 0.026 and 0.024 -> 0.022 ms; its fused
 * blocks 2 to 4 0.01 to 0.02 ms each. */
static void interior3(const pd_window_shape *s, const float *x0, const float *w, const float *bias,
                      const pd_act_params *act, float *yrow, int32_t ow0, int32_t ow1)
{
    const size_t c = (size_t)s->in.c;
    for (size_t ch = 0; ch < c; ch += 16)
        interior_block(3, s, x0, w, bias, act, yrow, ow0, ow1, ch, c - ch < 16 ? c - ch : 16);
}

static void interior5(const pd_window_shape *s, const float *x0, const float *w, const float *bias,
                      const pd_act_params *act, float *yrow, int32_t ow0, int32_t ow1)
{
    const size_t c = (size_t)s->in.c;
    for (size_t ch = 0; ch < c; ch += 16)
        interior_block(5, s, x0, w, bias, act, yrow, ow0, ow1, ch, c - ch < 16 ? c - ch : 16);
}

static void interior1(const pd_window_shape *s, const float *x0, const float *w, const float *bias,
                      const pd_act_params *act, float *yrow, int32_t ow0, int32_t ow1)
{
    const size_t c = (size_t)s->in.c;
    const int32_t step = chunk(s, 1);
    for (int32_t a = ow0; a < ow1; a += step) {
        const int32_t e = ow1 - a < step ? ow1 : a + step;
        for (size_t ch = 0; ch < c; ch += 16)
            interior_block(1, s, x0, w, bias, act, yrow, a, e, ch, c - ch < 16 ? c - ch : 16);
    }
}

/* The 1x1, stride 1, unpadded case with c <= 16: n = pixels * c contiguous
 * floats, y[i] = act(x[i] * w[i % c] + bias[i % c]). */
static void affine_run(size_t c, const float *x, const float *w, const float *bias,
                       const pd_act_params *act, float *y, size_t n)
{
    /* period lcm(c, 16) floats: at most 16 registers of weights and biases */
    size_t period = 16;
    while (period % c != 0)
        period += 16;
    const size_t regs = period / 16;
    float wp[256], bp[256];
    for (size_t i = 0; i < period; i++) {
        wp[i] = w[i % c];
        bp[i] = bias != NULL ? bias[i % c] : 0.0f;
    }
    const int in = inreg(act);
    size_t i = 0;
    while (i < n) {
        for (size_t r = 0; r < regs && i < n; r++, i += 16) {
            const size_t left = n - i;
            const __mmask16 mask = left >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << left) - 1u);
            const __m512 v = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(mask, x + i),
                                             _mm512_loadu_ps(wp + 16 * r), _mm512_loadu_ps(bp + 16 * r));
            _mm512_mask_storeu_ps(y + i, mask, in ? act16(v, act) : v);
        }
    }
    if (!in)
        pd_act_f32_ref(y, y, n, act);
}

/* [lo, hi) of the taps t < k whose coordinate start + t * dilation is in [0, n). */
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

/* One output pixel, all channels, any kernel, over the taps inside the input. */
static void border(const pd_window_shape *s, const float *x, const float *w, const float *bias,
                   const pd_act_params *act, float *out, int32_t oh, int32_t ow)
{
    const size_t c = (size_t)s->in.c;
    const ptrdiff_t row = (ptrdiff_t)s->in.w * (ptrdiff_t)c;
    const int64_t ih0 = (int64_t)oh * s->stride_h - s->pad_top;
    const int64_t iw0 = (int64_t)ow * s->stride_w - s->pad_left;
    int32_t kh0, kh1, kw0, kw1;
    tap_range(ih0, s->kernel_h, s->dilation_h, s->in.h, &kh0, &kh1);
    tap_range(iw0, s->kernel_w, s->dilation_w, s->in.w, &kw0, &kw1);
    const float *xo = x + ((ih0 + (int64_t)kh0 * s->dilation_h) * s->in.w +
                           (iw0 + (int64_t)kw0 * s->dilation_w)) * (int64_t)c;
    const float *wo = w + ((size_t)kh0 * (size_t)s->kernel_w + (size_t)kw0) * c;
    size_t ch = 0;
    /* 64 channels at a time: four independent chains of FMAs (one chain of a
     * 9-tap window waits on the FMA latency at every tap); each channel's
     * sum is the same, in the same order, as below. */
    for (; ch + 64 <= c; ch += 64) {
        __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
        if (bias != NULL) {
            a0 = _mm512_loadu_ps(bias + ch);
            a1 = _mm512_loadu_ps(bias + ch + 16);
            a2 = _mm512_loadu_ps(bias + ch + 32);
            a3 = _mm512_loadu_ps(bias + ch + 48);
        }
        for (int32_t kh = 0; kh < kh1 - kh0; kh++) {
            const float *xr = xo + (ptrdiff_t)kh * s->dilation_h * row + (ptrdiff_t)ch;
            const float *wr = wo + (size_t)kh * (size_t)s->kernel_w * c + ch;
            for (int32_t kw = 0; kw < kw1 - kw0; kw++) {
                const float *xp = xr + (ptrdiff_t)kw * s->dilation_w * (ptrdiff_t)c;
                const float *wp = wr + (size_t)kw * c;
                a0 = _mm512_fmadd_ps(_mm512_loadu_ps(xp), _mm512_loadu_ps(wp), a0);
                a1 = _mm512_fmadd_ps(_mm512_loadu_ps(xp + 16), _mm512_loadu_ps(wp + 16), a1);
                a2 = _mm512_fmadd_ps(_mm512_loadu_ps(xp + 32), _mm512_loadu_ps(wp + 32), a2);
                a3 = _mm512_fmadd_ps(_mm512_loadu_ps(xp + 48), _mm512_loadu_ps(wp + 48), a3);
            }
        }
        store(out + ch, a0, 0xffff, 16, act);
        store(out + ch + 16, a1, 0xffff, 16, act);
        store(out + ch + 32, a2, 0xffff, 16, act);
        store(out + ch + 48, a3, 0xffff, 16, act);
    }
    for (; ch < c; ch += 16) {
        const size_t nc = c - ch < 16 ? c - ch : 16;
        const __mmask16 mask = (__mmask16)((1u << nc) - 1u);
        __m512 acc = bias != NULL ? _mm512_maskz_loadu_ps(mask, bias + ch) : _mm512_setzero_ps();
        for (int32_t kh = 0; kh < kh1 - kh0; kh++) {
            const float *xr = xo + (ptrdiff_t)kh * s->dilation_h * row + (ptrdiff_t)ch;
            const float *wr = wo + (size_t)kh * (size_t)s->kernel_w * c + ch;
            for (int32_t kw = 0; kw < kw1 - kw0; kw++)
                acc = _mm512_fmadd_ps(
                    _mm512_maskz_loadu_ps(mask, xr + (ptrdiff_t)kw * s->dilation_w * (ptrdiff_t)c),
                    _mm512_maskz_loadu_ps(mask, wr + (size_t)kw * c), acc);
        }
        store(out + ch, acc, mask, nc, act);
    }
}

/* [lo, hi): the outputs along an axis whose window lies inside the input. */
static void interior_range(int32_t out, int32_t in, int32_t k, int32_t stride, int32_t pad,
                           int32_t *lo, int32_t *hi)
{
    int32_t a = (pad + stride - 1) / stride;
    int64_t last = (int64_t)in - k + pad;
    int32_t b = last < 0 ? 0 : (int32_t)(last / stride) + 1;
    if (b > out)
        b = out;
    if (a > b)
        a = b;
    *lo = a;
    *hi = b;
}

void pd_depthwise_f32_avx512(const pd_window_shape *s, const float *x, const float *w,
                             const float *bias, const pd_act_params *act, float *y, int32_t r0,
                             int32_t r1)
{
    const int K = s->kernel_h;
    const int fast = s->kernel_h == s->kernel_w && (K == 1 || K == 3 || K == 5) && s->dilation_h == 1 &&
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
        if (K == 1)
            interior1(s, x0, w, bias, act, yrow, wlo, whi);
        else if (K == 3)
            interior3(s, x0, w, bias, act, yrow, wlo, whi);
        else
            interior5(s, x0, w, bias, act, yrow, wlo, whi);
        for (int32_t ow = whi; ow < s->out.w; ow++)
            border(s, x, w, bias, act, yrow + (size_t)ow * c, oh, ow);
    }
}
#endif
