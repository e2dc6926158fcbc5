/* conv_q8_ref.c: int8 convolution as im2col + GEMM, as conv_ref.c does for
 * float32.  Cells in the padding are filled with the input's zero point, the
 * byte of real zero, which keeps the folded bias exact at the borders. */
#include <string.h>

#include "core.h"
#include "kernels/q8.h"

static int is_pointwise(const pd_window_shape *s)
{
    return s->kernel_h == 1 && s->kernel_w == 1 && s->stride_h == 1 && s->stride_w == 1 &&
           s->pad_top == 0 && s->pad_left == 0 && s->pad_bottom == 0 && s->pad_right == 0 &&
           s->groups == 1;
}

size_t pd_conv_q8_scratch_ref(const pd_window_shape *s)
{
    size_t n;
    if (is_pointwise(s))
        return 0;
    if (!pd_size_mul((size_t)s->out.h, (size_t)s->out.w, &n) ||
        !pd_size_mul(n, (size_t)s->kernel_h, &n) || !pd_size_mul(n, (size_t)s->kernel_w, &n) ||
        !pd_size_mul(n, (size_t)(s->in.c / s->groups), &n))
        return SIZE_MAX;
    return n;
}

static void im2col(const pd_window_shape *s, const uint8_t *x, int32_t c0, int32_t cg, uint8_t z,
                   uint8_t *col)
{
    for (int32_t oh = 0; oh < s->out.h; oh++) {
        for (int32_t ow = 0; ow < s->out.w; ow++) {
            for (int32_t kh = 0; kh < s->kernel_h; kh++) {
                int64_t ih = (int64_t)oh * s->stride_h - s->pad_top + (int64_t)kh * s->dilation_h;
                for (int32_t kw = 0; kw < s->kernel_w; kw++) {
                    int64_t iw = (int64_t)ow * s->stride_w - s->pad_left + (int64_t)kw * s->dilation_w;
                    if (ih >= 0 && ih < s->in.h && iw >= 0 && iw < s->in.w)
                        memcpy(col, x + ((size_t)ih * s->in.w + iw) * s->in.c + c0, (size_t)cg);
                    else
                        memset(col, z, (size_t)cg);
                    col += cg;
                }
            }
        }
    }
}

void pd_conv_q8_ref(const pd_window_shape *s, size_t batch, const uint8_t *x, int32_t z_in,
                    const int8_t *w, const int32_t *bias, const pd_requant *rq, uint8_t *y,
                    uint8_t *scratch)
{
    const size_t cin = (size_t)s->in.c, cout = (size_t)s->out.c;
    if (is_pointwise(s)) {
        size_t pixels = batch * (size_t)s->in.h * (size_t)s->in.w;
        pd_gemm_q8_ref(pixels, cout, cin, x, cin, w, cin, bias, rq, y, cout);
        return;
    }
    const int32_t cg = s->in.c / s->groups;
    const size_t og = cout / (size_t)s->groups;
    const size_t kdim = (size_t)s->kernel_h * (size_t)s->kernel_w * (size_t)cg;
    const size_t pixels = (size_t)s->out.h * (size_t)s->out.w;
    for (size_t n = 0; n < batch; n++) {
        const uint8_t *xs = x + n * (size_t)s->in.h * (size_t)s->in.w * cin;
        uint8_t *ys = y + n * pixels * cout;
        for (int32_t g = 0; g < s->groups; g++) {
            pd_requant part = *rq;  /* this group's channels' multipliers */
            part.mult = rq->mult + (size_t)g * og;
            part.shift = rq->shift + (size_t)g * og;
            im2col(s, xs, g * cg, cg, (uint8_t)z_in, scratch);
            pd_gemm_q8_ref(pixels, og, kdim, scratch, kdim, w + (size_t)g * og * kdim, kdim,
                           bias != NULL ? bias + (size_t)g * og : NULL, &part, ys + (size_t)g * og,
                           cout);
        }
    }
}
