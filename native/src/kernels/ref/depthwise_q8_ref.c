/* depthwise_q8_ref.c: direct int8 depthwise convolution.  Padding taps count
 * as the zero point byte, like im2col does, so the folded bias stays exact. */
#include "kernels/q8.h"

void pd_depthwise_q8_ref(const pd_window_shape *s, const uint8_t *x, int32_t z_in, const int8_t *w,
                         const int32_t *bias, const pd_requant *rq, uint8_t *y, int32_t r0,
                         int32_t r1)
{
    const size_t c = (size_t)s->in.c;
    for (int32_t oh = r0; oh < r1; oh++) {
        for (int32_t ow = 0; ow < s->out.w; ow++) {
            uint8_t *out = y + ((size_t)oh * (size_t)s->out.w + (size_t)ow) * c;
            for (size_t ch = 0; ch < c; ch++) {
                uint32_t acc = bias != NULL ? (uint32_t)bias[ch] : 0u;
                for (int32_t kh = 0; kh < s->kernel_h; kh++) {
                    int64_t ih = (int64_t)oh * s->stride_h - s->pad_top + (int64_t)kh * s->dilation_h;
                    for (int32_t kw = 0; kw < s->kernel_w; kw++) {
                        int64_t iw = (int64_t)ow * s->stride_w - s->pad_left + (int64_t)kw * s->dilation_w;
                        int32_t a = z_in;
                        if (ih >= 0 && ih < s->in.h && iw >= 0 && iw < s->in.w)
                            a = x[((size_t)ih * (size_t)s->in.w + (size_t)iw) * c + ch];
                        int32_t wt = w[((size_t)kh * (size_t)s->kernel_w + (size_t)kw) * c + ch];
                        acc += (uint32_t)(a * wt);
                    }
                }
                out[ch] = pd_rq_out(pd_rq((int32_t)acc, rq->mult[ch], rq->shift[ch]), rq);
            }
        }
    }
}
