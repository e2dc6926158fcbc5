/* depthwise_f32_neon.c: direct depthwise convolution with NEON.
 *
 * NHWC puts the channels of one pixel side by side, and the HWC weights of
 * one tap too, so each output pixel is a sum over taps of two contiguous
 * channel vectors: 16 channels (four accumulators) at a time, then 4, then
 * the last few in scalar code.  Any kernel, stride, dilation and padding: the
 * taps inside the input form a rectangle [kh0, kh1) x [kw0, kw1), computed
 * once per pixel, so the inner loops carry no bounds checks and the taps in
 * the padding are skipped, as in the reference (same order of the sums).
 * Output rows [r0, r1) of one sample, so the core can split a layer over
 * threads. */
#include "kernels/kernels.h"

#if PD_BUILD_NEON
#define PD_NEON_INTRINSICS
#include "kernels/arm/neon.h"

/* The taps k in [0, kernel) with 0 <= o*stride - pad + k*dil < in, as [*lo, *hi). */
static void taps(int32_t o, int32_t stride, int32_t pad, int32_t dil, int32_t in, int32_t kernel,
                 int32_t *lo, int32_t *hi)
{
    const int64_t start = (int64_t)o * stride - pad; /* input index of tap 0 */
    int64_t l = start >= 0 ? 0 : (-start + dil - 1) / dil;
    int64_t h = start >= in ? 0 : (in - 1 - start) / dil + 1;
    if (h > kernel)
        h = kernel;
    if (l > h)
        l = h;
    *lo = (int32_t)l;
    *hi = (int32_t)h;
}

typedef struct window {
    const float *x;
    ptrdiff_t at0; /* offset in x of tap (0, 0)'s pixel, maybe outside the input (< 0 ...) */
    int32_t kh0, kh1, kw0, kw1;
    ptrdiff_t row, col; /* floats between taps along h and along w */
} window;

static void pixel(const pd_window_shape *s, const window *v, const float *w, const float *bias,
                  float *out)
{
    const size_t c = (size_t)s->in.c;
    const size_t wrow = (size_t)s->kernel_w * c; /* floats between weight rows */
    size_t ch = 0;
    for (; ch + 16 <= c; ch += 16) {
        float32x4_t a0, a1, a2, a3;
        if (bias != NULL) {
            a0 = vld1q_f32(bias + ch);
            a1 = vld1q_f32(bias + ch + 4);
            a2 = vld1q_f32(bias + ch + 8);
            a3 = vld1q_f32(bias + ch + 12);
        } else {
            a0 = a1 = a2 = a3 = vdupq_n_f32(0.0f);
        }
        for (int32_t kh = v->kh0; kh < v->kh1; kh++) {
            const float *px = v->x + (v->at0 + kh * v->row + v->kw0 * v->col + (ptrdiff_t)ch);
            const float *wt = w + (size_t)kh * wrow + (size_t)v->kw0 * c + ch;
            for (int32_t kw = v->kw0; kw < v->kw1; kw++, px += v->col, wt += c) {
                a0 = pd_fma_f32(a0, vld1q_f32(px), vld1q_f32(wt));
                a1 = pd_fma_f32(a1, vld1q_f32(px + 4), vld1q_f32(wt + 4));
                a2 = pd_fma_f32(a2, vld1q_f32(px + 8), vld1q_f32(wt + 8));
                a3 = pd_fma_f32(a3, vld1q_f32(px + 12), vld1q_f32(wt + 12));
            }
        }
        vst1q_f32(out + ch, a0);
        vst1q_f32(out + ch + 4, a1);
        vst1q_f32(out + ch + 8, a2);
        vst1q_f32(out + ch + 12, a3);
    }
    for (; ch + 4 <= c; ch += 4) {
        float32x4_t a0 = bias != NULL ? vld1q_f32(bias + ch) : vdupq_n_f32(0.0f);
        for (int32_t kh = v->kh0; kh < v->kh1; kh++) {
            const float *px = v->x + (v->at0 + kh * v->row + v->kw0 * v->col + (ptrdiff_t)ch);
            const float *wt = w + (size_t)kh * wrow + (size_t)v->kw0 * c + ch;
            for (int32_t kw = v->kw0; kw < v->kw1; kw++, px += v->col, wt += c)
                a0 = pd_fma_f32(a0, vld1q_f32(px), vld1q_f32(wt));
        }
        vst1q_f32(out + ch, a0);
    }
    for (; ch < c; ch++) {
        float acc = bias != NULL ? bias[ch] : 0.0f;
        for (int32_t kh = v->kh0; kh < v->kh1; kh++) {
            const float *px = v->x + (v->at0 + kh * v->row + v->kw0 * v->col + (ptrdiff_t)ch);
            const float *wt = w + (size_t)kh * wrow + (size_t)v->kw0 * c + ch;
            for (int32_t kw = v->kw0; kw < v->kw1; kw++, px += v->col, wt += c)
                acc += *px * *wt;
        }
        out[ch] = acc;
    }
}

void pd_depthwise_f32_neon(const pd_window_shape *s, const float *x, const float *w,
                           const float *bias, const pd_act_params *act, float *y, int32_t r0,
                           int32_t r1)
{
    const size_t c = (size_t)s->in.c;
    window v;
    v.x = x;
    v.row = (ptrdiff_t)s->dilation_h * s->in.w * (ptrdiff_t)c;
    v.col = (ptrdiff_t)s->dilation_w * (ptrdiff_t)c;
    for (int32_t oh = r0; oh < r1; oh++) {
        taps(oh, s->stride_h, s->pad_top, s->dilation_h, s->in.h, s->kernel_h, &v.kh0, &v.kh1);
        const ptrdiff_t ih0 = (ptrdiff_t)oh * s->stride_h - s->pad_top;
        for (int32_t ow = 0; ow < s->out.w; ow++) {
            taps(ow, s->stride_w, s->pad_left, s->dilation_w, s->in.w, s->kernel_w, &v.kw0, &v.kw1);
            const ptrdiff_t iw0 = (ptrdiff_t)ow * s->stride_w - s->pad_left;
            /* An offset, not a pointer: only the taps inside the input become pointers. */
            v.at0 = (ih0 * s->in.w + iw0) * (ptrdiff_t)c;
            float *out = y + ((size_t)oh * (size_t)s->out.w + (size_t)ow) * c;
            pixel(s, &v, w, bias, out);
            pd_act_f32_neon(out, out, c, act);
        }
    }
}

#endif
