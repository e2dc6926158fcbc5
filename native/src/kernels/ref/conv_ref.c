/* conv_ref.c: any convolution as im2col + GEMM, one sample and group at a time.
 *
 * For group g, im2col writes one row per output pixel holding the receptive
 * field in weight order [kh][kw][c_in/groups] (zeros where it falls in the
 * padding), so the GEMM against the OHWI weights of the group's output
 * channels gives the output pixels directly in NHWC.  A 1x1, stride 1,
 * unpadded, ungrouped convolution needs no im2col: the NHWC input of the whole
 * batch already is the GEMM's A. */
#include <string.h>

#include "core.h"
#include "kernels/ref/ref.h"

static int is_pointwise(const pd_window_shape *s)
{
    return s->kernel_h == 1 && s->kernel_w == 1 && s->stride_h == 1 && s->stride_w == 1 &&
           s->pad_top == 0 && s->pad_left == 0 && s->pad_bottom == 0 && s->pad_right == 0 &&
           s->groups == 1;
}

size_t pd_conv_f32_scratch_ref(const pd_window_shape *s)
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

/* col[(oh * out.w + ow)][(kh * kernel_w + kw) * cg + ci] = x[ih][iw][c0 + ci] or 0.
 * Coordinates in int64: a stride times an output index may pass INT32_MAX. */
static void im2col(const pd_window_shape *s, const float *x, int32_t c0, int32_t cg, float *col)
{
    for (int32_t oh = 0; oh < s->out.h; oh++) {
        for (int32_t ow = 0; ow < s->out.w; ow++) {
            for (int32_t kh = 0; kh < s->kernel_h; kh++) {
                int64_t ih = (int64_t)oh * s->stride_h - s->pad_top + (int64_t)kh * s->dilation_h;
                for (int32_t kw = 0; kw < s->kernel_w; kw++) {
                    int64_t iw = (int64_t)ow * s->stride_w - s->pad_left + (int64_t)kw * s->dilation_w;
                    if (ih >= 0 && ih < s->in.h && iw >= 0 && iw < s->in.w)
                        memcpy(col, x + ((size_t)ih * s->in.w + iw) * s->in.c + c0, (size_t)cg * sizeof(float));
                    else
                        memset(col, 0, (size_t)cg * sizeof(float));
                    col += cg;
                }
            }
        }
    }
}

void pd_conv_f32_ref(const pd_kernels *k, const pd_window_shape *s, size_t batch, const float *x,
                     const float *w, const float *bias, const pd_act_params *act, float *y,
                     float *scratch)
{
    const size_t cin = (size_t)s->in.c, cout = (size_t)s->out.c;
    if (is_pointwise(s)) {
        size_t pixels = batch * (size_t)s->in.h * (size_t)s->in.w;
        k->gemm_f32(pixels, cout, cin, x, cin, w, cin, bias, y, cout, act);
        return;
    }

    const int32_t cg = s->in.c / s->groups;           /* input channels per group */
    const size_t og = cout / (size_t)s->groups;       /* output channels per group */
    const size_t kdim = (size_t)s->kernel_h * (size_t)s->kernel_w * (size_t)cg;
    const size_t pixels = (size_t)s->out.h * (size_t)s->out.w;
    for (size_t n = 0; n < batch; n++) {
        const float *xs = x + n * (size_t)s->in.h * (size_t)s->in.w * cin;
        float *ys = y + n * pixels * cout;
        for (int32_t g = 0; g < s->groups; g++) {
            im2col(s, xs, g * cg, cg, scratch);
            k->gemm_f32(pixels, og, kdim, scratch, kdim, w + (size_t)g * og * kdim, kdim,
                        bias != NULL ? bias + (size_t)g * og : NULL, ys + (size_t)g * og, cout, act);
        }
    }
}
