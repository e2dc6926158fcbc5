/* conv_f32_avx2.c: the convolution driver of conv_ref.c with an AVX2 im2col.
 *
 * The reference copies each run of the receptive field with memcpy, which
 * costs a library call per run; a stem convolution (3 input channels) copies
 * runs of 9 floats and spends more time in those calls than in its GEMM.
 * Here runs are copied 8 floats at a time, inline.  Same rows, same GEMM
 * (the table's), so results equal the reference driver's with that GEMM. */
#include "kernels/kernels.h"

#if PD_BUILD_X86
#pragma GCC target("avx2,fma")
#include <immintrin.h>
#include <string.h>

#include "core.h"
#include "kernels/ref/ref.h"
#include "kernels/x86/x86.h"

static inline void copy_run(float *dst, const float *src, size_t n)
{
    size_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(dst + i, _mm256_loadu_ps(src + i));
    for (; i < n; i++)
        dst[i] = src[i];
}

static inline void zero_run(float *dst, size_t n)
{
    size_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(dst + i, _mm256_setzero_ps());
    for (; i < n; i++)
        dst[i] = 0.0f;
}

/* As im2col in conv_ref.c. */
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
                zero_run(col, run);
                col += run;
                continue;
            }
            const float *xrow = x + (size_t)ih * (size_t)s->in.w * (size_t)s->in.c + c0;
            if (row_inside) {
                copy_run(col, xrow + (size_t)iw0 * (size_t)s->in.c, run);
                col += run;
                continue;
            }
            for (int32_t kw = 0; kw < s->kernel_w; kw++) {
                int64_t iw = iw0 + (int64_t)kw * s->dilation_w;
                if (iw >= 0 && iw < s->in.w)
                    copy_run(col, xrow + (size_t)iw * (size_t)s->in.c, (size_t)cg);
                else
                    zero_run(col, (size_t)cg);
                col += cg;
            }
        }
    }
}

void pd_conv_f32_avx2(const pd_kernels *k, const pd_window_shape *s, const float *x, const float *w,
                      const float *bias, const pd_act_params *act, float *y, size_t p0, size_t p1,
                      float *scratch)
{
    const size_t cout = (size_t)s->out.c;
    const int32_t cg = s->in.c / s->groups;
    const size_t og = cout / (size_t)s->groups;
    const size_t kdim = (size_t)s->kernel_h * (size_t)s->kernel_w * (size_t)cg;
    for (int32_t g = 0; g < s->groups; g++) {
        im2col(s, x, g * cg, cg, p0, p1, scratch);
        k->gemm_f32(p1 - p0, og, kdim, scratch, kdim, w + (size_t)g * og * kdim,
                    bias != NULL ? bias + (size_t)g * og : NULL, y + p0 * cout + (size_t)g * og, cout,
                    act);
    }
}
#endif
