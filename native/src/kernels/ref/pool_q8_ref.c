/* pool_q8_ref.c: max and average pooling on uint8, windows as in pool_ref.c. */
#include "kernels/q8.h"

static int32_t count_taps(int64_t start, int32_t kernel, int32_t dilation, int64_t lo, int64_t hi)
{
    int32_t count = 0;
    for (int32_t i = 0; i < kernel; i++) {
        int64_t p = start + (int64_t)i * dilation;
        count += p >= lo && p < hi;
    }
    return count;
}

void pd_maxpool_q8_ref(const pd_window_shape *s, size_t batch, const uint8_t *x, uint8_t *y)
{
    const size_t c = (size_t)s->in.c;
    for (size_t n = 0; n < batch; n++) {
        const uint8_t *xs = x + n * (size_t)s->in.h * (size_t)s->in.w * c;
        for (int32_t oh = 0; oh < s->out.h; oh++) {
            for (int32_t ow = 0; ow < s->out.w; ow++) {
                uint8_t *out = y + ((n * (size_t)s->out.h + (size_t)oh) * (size_t)s->out.w + (size_t)ow) * c;
                for (size_t ch = 0; ch < c; ch++)
                    out[ch] = 0;
                for (int32_t kh = 0; kh < s->kernel_h; kh++) {
                    int64_t ih = (int64_t)oh * s->stride_h - s->pad_top + (int64_t)kh * s->dilation_h;
                    if (ih < 0 || ih >= s->in.h)
                        continue;
                    for (int32_t kw = 0; kw < s->kernel_w; kw++) {
                        int64_t iw = (int64_t)ow * s->stride_w - s->pad_left + (int64_t)kw * s->dilation_w;
                        if (iw < 0 || iw >= s->in.w)
                            continue;
                        const uint8_t *px = xs + ((size_t)ih * (size_t)s->in.w + (size_t)iw) * c;
                        for (size_t ch = 0; ch < c; ch++)
                            if (px[ch] > out[ch])
                                out[ch] = px[ch];
                    }
                }
            }
        }
    }
}

void pd_global_maxpool_q8_ref(pd_dims in, size_t batch, const uint8_t *x, uint8_t *y)
{
    const size_t c = (size_t)in.c, hw = (size_t)in.h * (size_t)in.w;
    for (size_t n = 0; n < batch; n++) {
        const uint8_t *xs = x + n * hw * c;
        uint8_t *out = y + n * c;
        for (size_t ch = 0; ch < c; ch++)
            out[ch] = xs[ch];
        for (size_t p = 1; p < hw; p++)
            for (size_t ch = 0; ch < c; ch++)
                if (xs[p * c + ch] > out[ch])
                    out[ch] = xs[p * c + ch];
    }
}

void pd_avgpool_q8_ref(const pd_window_shape *s, int32_t count_include_pad, size_t batch,
                       const uint8_t *x, int32_t z_in, const pd_requant *rq, uint8_t *y)
{
    const size_t c = (size_t)s->in.c;
    for (size_t n = 0; n < batch; n++) {
        const uint8_t *xs = x + n * (size_t)s->in.h * (size_t)s->in.w * c;
        for (int32_t oh = 0; oh < s->out.h; oh++) {
            int64_t h0 = (int64_t)oh * s->stride_h - s->pad_top;
            for (int32_t ow = 0; ow < s->out.w; ow++) {
                int64_t w0 = (int64_t)ow * s->stride_w - s->pad_left;
                uint8_t *out = y + ((n * (size_t)s->out.h + (size_t)oh) * (size_t)s->out.w + (size_t)ow) * c;
                int32_t rows, cols;
                if (count_include_pad) {
                    rows = count_taps(h0, s->kernel_h, s->dilation_h, -s->pad_top,
                                      (int64_t)s->in.h + s->pad_bottom);
                    cols = count_taps(w0, s->kernel_w, s->dilation_w, -s->pad_left,
                                      (int64_t)s->in.w + s->pad_right);
                } else {
                    rows = count_taps(h0, s->kernel_h, s->dilation_h, 0, s->in.h);
                    cols = count_taps(w0, s->kernel_w, s->dilation_w, 0, s->in.w);
                }
                const size_t d = (size_t)(rows * cols) - 1; /* >= 0: every window meets the input */
                for (size_t ch = 0; ch < c; ch++) {
                    int32_t sum = 0; /* |sum| <= 255 * kh * kw, checked at build */
                    for (int32_t kh = 0; kh < s->kernel_h; kh++) {
                        int64_t ih = h0 + (int64_t)kh * s->dilation_h;
                        if (ih < 0 || ih >= s->in.h)
                            continue;
                        for (int32_t kw = 0; kw < s->kernel_w; kw++) {
                            int64_t iw = w0 + (int64_t)kw * s->dilation_w;
                            if (iw < 0 || iw >= s->in.w)
                                continue;
                            sum += (int32_t)xs[((size_t)ih * (size_t)s->in.w + (size_t)iw) * c + ch] - z_in;
                        }
                    }
                    out[ch] = pd_rq_out(pd_rq(sum, rq->mult[d], rq->shift[d]), rq);
                }
            }
        }
    }
}

void pd_global_avgpool_q8_ref(pd_dims in, size_t batch, const uint8_t *x, int32_t z_in,
                              const pd_requant *rq, uint8_t *y)
{
    const size_t c = (size_t)in.c, hw = (size_t)in.h * (size_t)in.w;
    for (size_t n = 0; n < batch; n++) {
        const uint8_t *xs = x + n * hw * c;
        for (size_t ch = 0; ch < c; ch++) {
            int64_t sum = 0;
            for (size_t p = 0; p < hw; p++)
                sum += (int32_t)xs[p * c + ch] - z_in;
            y[n * c + ch] = pd_rq_out(pd_rq(sum, rq->mult[0], rq->shift[0]), rq);
        }
    }
}
