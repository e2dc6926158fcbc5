/* conv_transpose_ref.c: transposed convolution, written as a gather.
 *
 * The full output of a transposed convolution scatters input pixel (ih, iw)
 * to output (ih * stride + kh * dilation - pad_top, ...).  Read backwards,
 * output (oh, ow) receives tap kh from input row ih = (oh + pad_top -
 * kh * dilation) / stride when that division is exact and ih is inside the
 * input; likewise for columns.  Each output pixel is then a plain sum, so rows
 * can be split among threads and the activation applied on the spot. */
#include "core.h"
#include "kernels/ref/ref.h"

/* The input index feeding output index o through tap k, or -1. */
static int64_t source(int64_t o, int64_t k, int32_t stride, int32_t dilation, int32_t pad, int32_t n)
{
    int64_t t = o + pad - k * dilation;
    if (t < 0 || t % stride != 0 || t / stride >= n)
        return -1;
    return t / stride;
}

void pd_conv_transpose_f32_ref(const pd_window_shape *s, const float *x, const float *w,
                               const float *bias, const pd_act_params *act, float *y, int32_t r0,
                               int32_t r1)
{
    const size_t cin = (size_t)s->in.c, cout = (size_t)s->out.c;
    const size_t groups = (size_t)s->groups, ig = cin / groups, og = cout / groups;
    const size_t kh_n = (size_t)s->kernel_h, kw_n = (size_t)s->kernel_w;
    for (int32_t oh = r0; oh < r1; oh++) {
        for (int32_t ow = 0; ow < s->out.w; ow++) {
            float *out = y + ((size_t)oh * (size_t)s->out.w + (size_t)ow) * cout;
            for (size_t co = 0; co < cout; co++)
                out[co] = bias != NULL ? bias[co] : 0.0f;
            for (size_t kh = 0; kh < kh_n; kh++) {
                int64_t ih = source(oh, (int64_t)kh, s->stride_h, s->dilation_h, s->pad_top, s->in.h);
                if (ih < 0)
                    continue;
                for (size_t kw = 0; kw < kw_n; kw++) {
                    int64_t iw = source(ow, (int64_t)kw, s->stride_w, s->dilation_w, s->pad_left, s->in.w);
                    if (iw < 0)
                        continue;
                    const float *px = x + ((size_t)ih * (size_t)s->in.w + (size_t)iw) * cin;
                    for (size_t g = 0; g < groups; g++) {
                        for (size_t i = 0; i < ig; i++) {
                            const size_t ci = g * ig + i;
                            const float v = px[ci];
                            const float *wk = w + ((ci * kh_n + kh) * kw_n + kw) * og;
                            float *o = out + g * og;
                            for (size_t j = 0; j < og; j++)
                                o[j] += v * wk[j];
                        }
                    }
                }
            }
            pd_act_f32_ref(out, out, cout, act);
        }
    }
}
