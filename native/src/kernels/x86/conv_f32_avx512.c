/* conv_f32_avx512.c: a convolution of few input channels (an image stem:
 * 3x3, stride 2, 3 channels) without im2col, with AVX-512F.
 *
 * With cin * kw floats per kernel row (9 for a 3x3 RGB stem), the im2col rows
 * of such a conv cost a third of its time.  But for an output pixel whose
 * window lies inside the input, the GEMM row of tap (kh, kw, c) is the input
 * float at row ih0 + kh, at kw * cin + c past the window's left column: so a
 * tile of 12 pixels of one output row reads the input directly, one pointer
 * per pixel and kernel row.  Each output is summed as the GEMM sums it (bias,
 * then k ascending, one FMA each; the panels are the weights' PANELS16), so
 * the result equals the im2col driver's with this family's GEMM.  Pixels
 * whose window crosses the border, other convs (more channels, groups,
 * dilation), and output stages not done in registers go to the AVX2 driver. */
#include "kernels/kernels.h"

#if PD_BUILD_X86
#pragma GCC target("avx512f,avx512vl,avx512dq,avx512bw,avx2,fma")
#include <immintrin.h>

#include "kernels/ref/ref.h"
#include "kernels/x86/x86.h"
#include "predict.h"

#define MAX_CIN 4 /* input channels for the direct path */

static inline __m512 act16(__m512 x, const pd_act_params *act)
{
    switch (act->kind) {
    case PD_ACT_RELU:
        return _mm512_max_ps(_mm512_setzero_ps(), x);
    case PD_ACT_CLIP:
        return _mm512_min_ps(_mm512_set1_ps(act->beta), _mm512_max_ps(_mm512_set1_ps(act->alpha), x));
    default:
        return x;
    }
}

/* Output pixels ow0 .. ow0 + mr - 1 (mr <= 12) of output row oh, channels of
 * panels j0 and j0 + 16 (the second only if nb == 2); every window inside. */
static inline __attribute__((always_inline)) void tile(
    const int MR, const pd_window_shape *s, const float *x, const float *w, const float *bias,
    const pd_act_params *act, float *y, int32_t oh, int32_t ow0, size_t mr, size_t j0, int nb)
{
    const size_t cin = (size_t)s->in.c, cout = (size_t)s->out.c, run = (size_t)s->kernel_w * cin;
    const size_t k = (size_t)s->kernel_h * run, in_row = (size_t)s->in.w * cin;
    const size_t bw0 = cout - j0 < 16 ? cout - j0 : 16;
    const size_t bw1 = nb == 2 ? (cout - j0 - 16 < 16 ? cout - j0 - 16 : 16) : 16;
    const __mmask16 m0 = (__mmask16)((1u << bw0) - 1u), m1 = (__mmask16)((1u << bw1) - 1u);
    const float *b0 = w + j0 * k, *b1 = w + (j0 + 16) * k;
    __m512 acc0[12], acc1[12];
    const __m512 s0 = bias != NULL ? _mm512_maskz_loadu_ps(m0, bias + j0) : _mm512_setzero_ps();
    const __m512 s1 = bias != NULL && nb == 2 ? _mm512_maskz_loadu_ps(m1, bias + j0 + 16) : _mm512_setzero_ps();
    _Pragma("GCC unroll 12")
    for (int r = 0; r < MR; r++) {
        acc0[r] = s0;
        acc1[r] = s1;
    }
    const int64_t ih0 = (int64_t)oh * s->stride_h - s->pad_top;
    for (int32_t kh = 0; kh < s->kernel_h; kh++) {
        const float *row = x + (size_t)(ih0 + kh) * in_row;
        const float *px[12];
        _Pragma("GCC unroll 12")
        for (int r = 0; r < MR; r++) {
            const int64_t ow = (int64_t)ow0 + (r < (int)mr ? r : (int)mr - 1);
            px[r] = row + (size_t)(ow * s->stride_w - s->pad_left) * cin;
        }
        const size_t p0 = (size_t)kh * run;
        for (size_t j = 0; j < run; j++) {
            const __m512 v0 = _mm512_maskz_loadu_ps(m0, b0 + (p0 + j) * bw0);
            const __m512 v1 = nb == 2 ? _mm512_maskz_loadu_ps(m1, b1 + (p0 + j) * bw1) : v0;
            _Pragma("GCC unroll 12")
            for (int r = 0; r < MR; r++) {
                const __m512 a = _mm512_set1_ps(px[r][j]);
                acc0[r] = _mm512_fmadd_ps(a, v0, acc0[r]);
                if (nb == 2)
                    acc1[r] = _mm512_fmadd_ps(a, v1, acc1[r]);
            }
        }
    }
    float *yp = y + ((size_t)oh * (size_t)s->out.w + (size_t)ow0) * cout + j0;
    _Pragma("GCC unroll 12")
    for (int r = 0; r < MR; r++) {
        if (r >= (int)mr)
            break;
        _mm512_mask_storeu_ps(yp + (size_t)r * cout, m0, act16(acc0[r], act));
        if (nb == 2)
            _mm512_mask_storeu_ps(yp + (size_t)r * cout + 16, m1, act16(acc1[r], act));
    }
}

/* A row's last pixels take the 8- or 4-pixel variant when they fit in it: a
 * 12-pixel tile holding 3 pixels did the work of 12 (the image stem's
 * interior rows are 111 pixels wide, cut into pieces by the 96-pixel conv
 * tiles of the fused group).  Each pixel's sum is the same in every variant. */
static inline __attribute__((always_inline)) void tail(const pd_window_shape *s, const float *x, const float *w,
                                                        const float *bias, const pd_act_params *act, float *y,
                                                        int32_t oh, int32_t ow0, size_t mr, size_t j0,
                                                        int nb)
{
    if (mr > 8)
        tile(12, s, x, w, bias, act, y, oh, ow0, mr, j0, nb);
    else if (mr > 4)
        tile(8, s, x, w, bias, act, y, oh, ow0, mr, j0, nb);
    else
        tile(4, s, x, w, bias, act, y, oh, ow0, mr, j0, nb);
}

static void tile2(const pd_window_shape *s, const float *x, const float *w, const float *bias,
                  const pd_act_params *act, float *y, int32_t oh, int32_t ow0, size_t mr, size_t j0)
{
    tail(s, x, w, bias, act, y, oh, ow0, mr, j0, 2);
}

static void tile1(const pd_window_shape *s, const float *x, const float *w, const float *bias,
                  const pd_act_params *act, float *y, int32_t oh, int32_t ow0, size_t mr, size_t j0)
{
    tail(s, x, w, bias, act, y, oh, ow0, mr, j0, 1);
}

/* [lo, hi): the outputs along an axis whose window lies inside the input. */
static void inside(int32_t out, int32_t in, int32_t k, int32_t stride, int32_t pad, int32_t *lo, int32_t *hi)
{
    int32_t a = (pad + stride - 1) / stride;
    const int64_t last = (int64_t)in - k + pad;
    int32_t b = last < 0 ? 0 : (int32_t)(last / stride) + 1;
    if (b > out)
        b = out;
    if (a > b)
        a = b;
    *lo = a;
    *hi = b;
}

void pd_conv_f32_avx512(const pd_kernels *k, const pd_window_shape *s, const float *x, const float *w,
                        const float *bias, const pd_act_params *act, float *y, size_t p0, size_t p1,
                        float *scratch)
{
    const int direct = s->groups == 1 && s->in.c <= MAX_CIN && s->dilation_h == 1 && s->dilation_w == 1 &&
                       (act->kind == PD_ACT_NONE || act->kind == PD_ACT_RELU || act->kind == PD_ACT_CLIP) &&
                       k->gemm_f32 == pd_gemm_f32_avx512;
    if (!direct) {
        pd_conv_f32_avx2(k, s, x, w, bias, act, y, p0, p1, scratch);
        return;
    }
    int32_t hlo, hhi, wlo, whi;
    inside(s->out.h, s->in.h, s->kernel_h, s->stride_h, s->pad_top, &hlo, &hhi);
    inside(s->out.w, s->in.w, s->kernel_w, s->stride_w, s->pad_left, &wlo, &whi);
    const size_t ow_n = (size_t)s->out.w, cout = (size_t)s->out.c;
    size_t p = p0;
    while (p < p1) {
        const int32_t oh = (int32_t)(p / ow_n), ow = (int32_t)(p % ow_n);
        const size_t row_end = ((size_t)oh + 1) * ow_n < p1 ? ((size_t)oh + 1) * ow_n : p1;
        if (oh < hlo || oh >= hhi || ow >= whi) { /* border rows, or the right border: im2col */
            pd_conv_f32_avx2(k, s, x, w, bias, act, y, p, row_end, scratch);
            p = row_end;
            continue;
        }
        if (ow < wlo) { /* the left border */
            const size_t to = (size_t)oh * ow_n + (size_t)wlo < row_end ? (size_t)oh * ow_n + (size_t)wlo : row_end;
            pd_conv_f32_avx2(k, s, x, w, bias, act, y, p, to, scratch);
            p = to;
            continue;
        }
        const size_t end = (size_t)oh * ow_n + (size_t)whi < row_end ? (size_t)oh * ow_n + (size_t)whi : row_end;
        for (size_t q = p; q < end; q += 12) {
            const size_t mr = end - q < 12 ? end - q : 12;
            const int32_t ow0 = (int32_t)(q - (size_t)oh * ow_n);
            size_t j0 = 0;
            for (; j0 + 16 < cout; j0 += 32)
                tile2(s, x, w, bias, act, y, oh, ow0, mr, j0);
            if (j0 < cout)
                tile1(s, x, w, bias, act, y, oh, ow0, mr, j0);
        }
        p = end;
    }
}
#endif
