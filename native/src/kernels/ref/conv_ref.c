/* conv_ref.c: a range of output pixels of one sample of any convolution, as
 * im2col + GEMM, one group at a time.
 *
 * For group g, im2col writes one row per output pixel holding the receptive
 * field in weight order [kh][kw][c_in/groups] (zeros where it falls in the
 * padding): exactly the A rows the GEMM reads, against the group's PANELS16
 * weights, giving the output pixels directly in NHWC.  A 1x1, stride 1,
 * unpadded, ungrouped convolution needs no im2col: the core runs it as one
 * GEMM over the NHWC input (pd_conv_is_pointwise). */
#include <string.h>

#include "core.h"
#include "kernels/ref/ref.h"

int pd_conv_is_pointwise(const pd_window_shape *s)
{
    return s->kernel_h == 1 && s->kernel_w == 1 && s->stride_h == 1 && s->stride_w == 1 &&
           s->pad_top == 0 && s->pad_left == 0 && s->pad_bottom == 0 && s->pad_right == 0 &&
           s->groups == 1;
}

size_t pd_conv_f32_scratch_ref(const pd_window_shape *s, size_t pixels)
{
    size_t n;
    if (pd_conv_is_pointwise(s))
        return 0;
    if (!pd_size_mul(pixels, (size_t)s->kernel_h, &n) || !pd_size_mul(n, (size_t)s->kernel_w, &n) ||
        !pd_size_mul(n, (size_t)(s->in.c / s->groups), &n))
        return SIZE_MAX;
    return n;
}

/* col[(p - p0)][(kh * kernel_w + kw) * cg + ci] = x[ih][iw][c0 + ci] or 0 for
 * output pixels p0 <= p < p1.  Coordinates in int64: a stride times an output
 * index may pass INT32_MAX.  With one group and no dilation along w, the taps
 * of a kernel row that are all inside the input are one contiguous run of the
 * NHWC input (kernel_w pixels of cg = C channels): one copy. */
static void im2col(const pd_window_shape *s, const float *x, int32_t c0, int32_t cg, size_t p0,
                   size_t p1, float *col)
{
    const size_t run = (size_t)s->kernel_w * (size_t)cg;
    const int whole_rows = cg == s->in.c && s->dilation_w == 1;
    for (size_t p = p0; p < p1; p++) {
        const int64_t oh = (int64_t)(p / (size_t)s->out.w), ow = (int64_t)(p % (size_t)s->out.w);
        const int64_t iw0 = ow * s->stride_w - s->pad_left;
        const int row_inside = whole_rows && iw0 >= 0 && iw0 + s->kernel_w <= s->in.w;
        for (int32_t kh = 0; kh < s->kernel_h; kh++) {
            int64_t ih = oh * s->stride_h - s->pad_top + (int64_t)kh * s->dilation_h;
            if (ih < 0 || ih >= s->in.h) {
                memset(col, 0, run * sizeof(float));
                col += run;
                continue;
            }
            const float *xrow = x + (size_t)ih * (size_t)s->in.w * (size_t)s->in.c + c0;
            if (row_inside) {
                memcpy(col, xrow + (size_t)iw0 * (size_t)s->in.c, run * sizeof(float));
                col += run;
                continue;
            }
            for (int32_t kw = 0; kw < s->kernel_w; kw++) {
                int64_t iw = iw0 + (int64_t)kw * s->dilation_w;
                if (iw >= 0 && iw < s->in.w)
                    memcpy(col, xrow + (size_t)iw * (size_t)s->in.c, (size_t)cg * sizeof(float));
                else
                    memset(col, 0, (size_t)cg * sizeof(float));
                col += cg;
            }
        }
    }
}

void pd_conv_f32_ref(const pd_kernels *k, const pd_window_shape *s, const float *x, const float *w,
                     const float *bias, const pd_act_params *act, float *y, size_t p0, size_t p1,
                     float *scratch)
{
    const size_t cout = (size_t)s->out.c;
    const int32_t cg = s->in.c / s->groups;           /* input channels per group */
    const size_t og = cout / (size_t)s->groups;       /* output channels per group */
    const size_t kdim = (size_t)s->kernel_h * (size_t)s->kernel_w * (size_t)cg;
    for (int32_t g = 0; g < s->groups; g++) {
        im2col(s, x, g * cg, cg, p0, p1, scratch);
        k->gemm_f32(p1 - p0, og, kdim, scratch, kdim, w + (size_t)g * og * kdim,
                    bias != NULL ? bias + (size_t)g * og : NULL, y + p0 * cout + (size_t)g * og, cout,
                    act);
    }
}
