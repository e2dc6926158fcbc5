/* depthwise_f32_neon.c: direct depthwise convolution with NEON.
 *
 * NHWC puts the channels of one pixel side by side, and the HWC weights of
 * one tap too, so each output pixel is a sum over taps of two contiguous
 * channel vectors: 16 channels (four accumulators) at a time, then 4, then
 * the last few in scalar code.  Any kernel, stride, dilation and padding:
 * taps that fall in the padding are skipped, as in the reference.  Output
 * rows [r0, r1) of one sample, so the core can split a layer over threads. */
#include "kernels/kernels.h"

#if PD_BUILD_NEON
#define PD_NEON_INTRINSICS
#include "kernels/arm/neon.h"

#include <stdbool.h>

/* Whether tap (kh, kw) of output (oh, ow) is inside the input; its pixel if so. */
static inline bool tap(const pd_window_shape *s, const float *xs, int32_t oh, int32_t ow,
                       int32_t kh, int32_t kw, const float **px)
{
    int64_t ih = (int64_t)oh * s->stride_h - s->pad_top + (int64_t)kh * s->dilation_h;
    int64_t iw = (int64_t)ow * s->stride_w - s->pad_left + (int64_t)kw * s->dilation_w;
    if (ih < 0 || ih >= s->in.h || iw < 0 || iw >= s->in.w)
        return false;
    *px = xs + ((size_t)ih * (size_t)s->in.w + (size_t)iw) * (size_t)s->in.c;
    return true;
}

static void pixel(const pd_window_shape *s, const float *xs, int32_t oh, int32_t ow,
                  const float *w, const float *bias, float *out)
{
    const size_t c = (size_t)s->in.c;
    const float *px;
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
        for (int32_t kh = 0; kh < s->kernel_h; kh++) {
            for (int32_t kw = 0; kw < s->kernel_w; kw++) {
                if (!tap(s, xs, oh, ow, kh, kw, &px))
                    continue;
                const float *wt = w + ((size_t)kh * (size_t)s->kernel_w + (size_t)kw) * c + ch;
                a0 = pd_fma_f32(a0, vld1q_f32(px + ch), vld1q_f32(wt));
                a1 = pd_fma_f32(a1, vld1q_f32(px + ch + 4), vld1q_f32(wt + 4));
                a2 = pd_fma_f32(a2, vld1q_f32(px + ch + 8), vld1q_f32(wt + 8));
                a3 = pd_fma_f32(a3, vld1q_f32(px + ch + 12), vld1q_f32(wt + 12));
            }
        }
        vst1q_f32(out + ch, a0);
        vst1q_f32(out + ch + 4, a1);
        vst1q_f32(out + ch + 8, a2);
        vst1q_f32(out + ch + 12, a3);
    }
    for (; ch + 4 <= c; ch += 4) {
        float32x4_t a0 = bias != NULL ? vld1q_f32(bias + ch) : vdupq_n_f32(0.0f);
        for (int32_t kh = 0; kh < s->kernel_h; kh++)
            for (int32_t kw = 0; kw < s->kernel_w; kw++)
                if (tap(s, xs, oh, ow, kh, kw, &px))
                    a0 = pd_fma_f32(a0, vld1q_f32(px + ch),
                                    vld1q_f32(w + ((size_t)kh * (size_t)s->kernel_w + (size_t)kw) * c + ch));
        vst1q_f32(out + ch, a0);
    }
    for (; ch < c; ch++) {
        float acc = bias != NULL ? bias[ch] : 0.0f;
        for (int32_t kh = 0; kh < s->kernel_h; kh++)
            for (int32_t kw = 0; kw < s->kernel_w; kw++)
                if (tap(s, xs, oh, ow, kh, kw, &px))
                    acc += px[ch] * w[((size_t)kh * (size_t)s->kernel_w + (size_t)kw) * c + ch];
        out[ch] = acc;
    }
}

void pd_depthwise_f32_neon(const pd_window_shape *s, const float *x, const float *w,
                           const float *bias, const pd_act_params *act, float *y, int32_t r0,
                           int32_t r1)
{
    const size_t c = (size_t)s->in.c;
    for (int32_t oh = r0; oh < r1; oh++) {
        for (int32_t ow = 0; ow < s->out.w; ow++) {
            float *out = y + ((size_t)oh * (size_t)s->out.w + (size_t)ow) * c;
            pixel(s, x, oh, ow, w, bias, out);
            pd_act_f32_neon(out, out, c, act);
        }
    }
}

#endif
