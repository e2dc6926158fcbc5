/* depthwise_ref.c: direct depthwise convolution (groups = channels), any
 * kernel, stride, dilation and padding, output rows [r0, r1) of one sample.
 * Weights HWC [kh][kw][c], so for each tap the weights of all channels are
 * contiguous, like the input pixel. */
#include "core.h"
#include "kernels/ref/ref.h"

void pd_depthwise_f32_ref(const pd_window_shape *s, const float *x, const float *w,
                          const float *bias, const pd_act_params *act, float *y, int32_t r0,
                          int32_t r1)
{
    const size_t c = (size_t)s->in.c;
    for (int32_t oh = r0; oh < r1; oh++) {
        for (int32_t ow = 0; ow < s->out.w; ow++) {
            float *out = y + ((size_t)oh * (size_t)s->out.w + (size_t)ow) * c;
            for (size_t ch = 0; ch < c; ch++)
                out[ch] = bias != NULL ? bias[ch] : 0.0f;
            for (int32_t kh = 0; kh < s->kernel_h; kh++) {
                int64_t ih = (int64_t)oh * s->stride_h - s->pad_top + (int64_t)kh * s->dilation_h;
                if (ih < 0 || ih >= s->in.h)
                    continue;
                for (int32_t kw = 0; kw < s->kernel_w; kw++) {
                    int64_t iw = (int64_t)ow * s->stride_w - s->pad_left + (int64_t)kw * s->dilation_w;
                    if (iw < 0 || iw >= s->in.w)
                        continue;
                    const float *px = x + ((size_t)ih * (size_t)s->in.w + (size_t)iw) * c;
                    const float *wt = w + ((size_t)kh * (size_t)s->kernel_w + (size_t)kw) * c;
                    for (size_t ch = 0; ch < c; ch++)
                        out[ch] += px[ch] * wt[ch];
                }
            }
            pd_act_f32_ref(out, out, c, act);
        }
    }
}
