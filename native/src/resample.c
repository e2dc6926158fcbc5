/* resample.c: Pillow-exact resampling of 8-bit images (predict.h,
 * pd_resample_u8): the windows and fixed-point weights of each axis, the
 * pass-skipping rule, the intermediate image, and the two passes handed to
 * the selected kernel family (kernels.h, pd_resample_h_u8_fn), in either
 * order: Pillow up to 12 always runs the horizontal pass first, Pillow 13
 * sometimes the vertical one (the caller says which).
 *
 * Exactness with Pillow rests on computing the weights with the same double
 * operations in the same order as libImaging/Resample.c: the box arrives as
 * float and its width is taken in float before widening, the filters keep
 * Pillow's float constants (Hamming's 0.54f and 0.46f), each window is
 * normalized by its own sum and rounded half away from zero to 22 fraction
 * bits.  This file is compiled as ISO C11, so the compiler contracts no
 * multiply-add into an FMA that would round differently. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core.h"
#include "kernels/kernels.h"

#ifndef M_PI
#define M_PI 3.14159265358979323846
#endif

static double sinc(double x)
{
    if (x == 0.0)
        return 1.0;
    x = x * M_PI;
    return sin(x) / x;
}

/* The filter's value at x (in input pixels, scaled by the downscale factor). */
static double filter_at(int32_t filter, double x)
{
    switch (filter) {
    case PD_RESAMPLE_BOX:
        return x > -0.5 && x <= 0.5 ? 1.0 : 0.0;
    case PD_RESAMPLE_BILINEAR:
        x = fabs(x);
        return x < 1.0 ? 1.0 - x : 0.0;
    case PD_RESAMPLE_HAMMING:
        x = fabs(x);
        if (x == 0.0)
            return 1.0;
        if (x >= 1.0)
            return 0.0;
        x = x * M_PI;
        return sin(x) / x * ((double)0.54f + (double)0.46f * cos(x));
    case PD_RESAMPLE_BICUBIC: /* Keys' cubic convolution, a = -0.5 */
        x = fabs(x);
        if (x < 1.0)
            return ((-0.5 + 2.0) * x - (-0.5 + 3.0)) * x * x + 1;
        if (x < 2.0)
            return (((x - 5) * x + 8) * x - 4) * -0.5;
        return 0.0;
    default: /* PD_RESAMPLE_LANCZOS: sinc windowed by sinc, 3 lobes */
        return -3.0 <= x && x < 3.0 ? sinc(x) * sinc(x / 3) : 0.0;
    }
}

static double filter_support(int32_t filter)
{
    switch (filter) {
    case PD_RESAMPLE_BOX:
        return 0.5;
    case PD_RESAMPLE_BICUBIC:
        return 2.0;
    case PD_RESAMPLE_LANCZOS:
        return 3.0;
    default:
        return 1.0;
    }
}

/* One axis: out output samples from the input span [in0, in1] of an axis of
 * in samples. */
typedef struct axis {
    int32_t in, out;
    float in0, in1;
    double scale, filterscale, support;
    int32_t kstride;
    int32_t *win; /* out (first, count) pairs */
    int32_t *w;   /* out rows of kstride weights */
} axis;

/* Sizes the axis; PD_ERR_ARGUMENT when its filter would be absurdly wide. */
static int32_t axis_plan(axis *a, int32_t filter, char *err, size_t err_size)
{
    a->scale = (double)(a->in1 - a->in0) / a->out;
    a->filterscale = a->scale < 1.0 ? 1.0 : a->scale;
    a->support = filter_support(filter) * a->filterscale;
    if (!(a->support < (double)(1 << 28)))
        return pd_fail(err, err_size, PD_ERR_ARGUMENT, "resample: a %d -> %d axis is too wide a reduction",
                       (int)a->in, (int)a->out);
    const int32_t ksize = (int32_t)ceil(a->support) * 2 + 1;
    a->kstride = (ksize + 7) / 8 * 8;
    return PD_OK;
}

static int32_t axis_alloc(axis *a, char *err, size_t err_size)
{
    size_t nw, nwb;
    if (!pd_size_mul((size_t)a->out, (size_t)a->kstride, &nw) || !pd_size_mul(nw, sizeof(int32_t), &nwb))
        return pd_fail(err, err_size, PD_ERR_NOMEM, "resample: weights of %d x %d overflow",
                       (int)a->out, (int)a->kstride);
    a->win = malloc((size_t)a->out * 2 * sizeof(int32_t));
    a->w = malloc(nwb);
    if (a->win == NULL || a->w == NULL)
        return pd_fail(err, err_size, PD_ERR_NOMEM, "resample: cannot allocate %zu bytes of weights", nwb);
    return PD_OK;
}

/* Pillow's windows and weights (precompute_coeffs, then the 8-bit
 * normalization).  The filter is evaluated twice per tap, once for the sum
 * and once for the weight, which gives the same doubles as keeping them. */
static void axis_weights(axis *a, int32_t filter)
{
    const double ss = 1.0 / a->filterscale;
    for (int32_t i = 0; i < a->out; i++) {
        const double center = a->in0 + (i + 0.5) * a->scale;
        int32_t first = (int32_t)(center - a->support + 0.5);
        int32_t end = (int32_t)(center + a->support + 0.5);
        if (first < 0)
            first = 0;
        if (end > a->in)
            end = a->in;
        const int32_t n = end - first;
        double sum = 0.0;
        for (int32_t t = 0; t < n; t++)
            sum += filter_at(filter, (t + first - center + 0.5) * ss);
        int32_t *w = a->w + (size_t)i * (size_t)a->kstride;
        for (int32_t t = 0; t < n; t++) {
            double k = filter_at(filter, (t + first - center + 0.5) * ss);
            if (sum != 0.0)
                k /= sum;
            w[t] = k < 0 ? (int32_t)(-0.5 + k * (1 << PD_RESAMPLE_BITS))
                         : (int32_t)(0.5 + k * (1 << PD_RESAMPLE_BITS));
        }
        for (int32_t t = n; t < a->kstride; t++)
            w[t] = 0;
        a->win[2 * i] = first;
        a->win[2 * i + 1] = n;
    }
}

/* Weights that copy each input sample: how RGBX pixels lose their X when the
 * horizontal axis needs no resampling ((2^21 + v * 2^22) >> 22 == v). */
static void axis_identity(axis *a)
{
    for (int32_t i = 0; i < a->out; i++) {
        int32_t *w = a->w + (size_t)i * (size_t)a->kstride;
        memset(w, 0, (size_t)a->kstride * sizeof(int32_t));
        w[0] = 1 << PD_RESAMPLE_BITS;
        a->win[2 * i] = i;
        a->win[2 * i + 1] = 1;
    }
}

static int32_t check_args(const uint8_t *x, int32_t in_w, int32_t in_h, size_t x_stride,
                          int32_t x_px, int32_t c, int32_t filter, const float box[4],
                          const uint8_t *y, int32_t out_w, int32_t out_h, size_t y_stride,
                          char *err, size_t err_size)
{
    if (x == NULL || y == NULL || box == NULL)
        return pd_fail(err, err_size, PD_ERR_ARGUMENT, "resample: NULL buffer");
    if (in_w < 1 || in_h < 1 || out_w < 1 || out_h < 1)
        return pd_fail(err, err_size, PD_ERR_ARGUMENT, "resample: sizes %dx%d -> %dx%d must be positive",
                       (int)in_w, (int)in_h, (int)out_w, (int)out_h);
    if (!(c == 1 || c == 3) || !(x_px == c || (c == 3 && x_px == 4)))
        return pd_fail(err, err_size, PD_ERR_ARGUMENT,
                       "resample: %d channels in pixels of %d bytes (1 in 1, or 3 in 3 or 4)", (int)c,
                       (int)x_px);
    if ((size_t)out_w * (size_t)c > INT32_MAX || (size_t)in_w * (size_t)x_px > INT32_MAX)
        return pd_fail(err, err_size, PD_ERR_ARGUMENT, "resample: rows of %d or %d pixels are too long",
                       (int)in_w, (int)out_w);
    if (filter < PD_RESAMPLE_BOX || filter > PD_RESAMPLE_LANCZOS)
        return pd_fail(err, err_size, PD_ERR_ARGUMENT, "resample: unknown filter %d", (int)filter);
    if (x_stride / (size_t)x_px < (size_t)in_w || y_stride / (size_t)c < (size_t)out_w)
        return pd_fail(err, err_size, PD_ERR_ARGUMENT, "resample: a row stride is shorter than a row");
    if (!(box[0] >= 0.0f && box[0] < box[2] && box[2] <= (float)in_w && box[1] >= 0.0f &&
          box[1] < box[3] && box[3] <= (float)in_h))
        return pd_fail(err, err_size, PD_ERR_ARGUMENT,
                       "resample: box (%g, %g, %g, %g) is not a non-empty region of %dx%d",
                       (double)box[0], (double)box[1], (double)box[2], (double)box[3], (int)in_w,
                       (int)in_h);
    return PD_OK;
}

int32_t pd_resample_u8(const uint8_t *x, int32_t in_w, int32_t in_h, size_t x_stride, int32_t x_px,
                       int32_t c, int32_t filter, const float box[4], int32_t vertical_first,
                       uint8_t *y, int32_t out_w, int32_t out_h, size_t y_stride, char *err,
                       size_t err_size)
{
    int32_t status = check_args(x, in_w, in_h, x_stride, x_px, c, filter, box, y, out_w, out_h,
                                y_stride, err, err_size);
    if (status != PD_OK)
        return status;
    const pd_kernels *k = pd_kernels_select(err, err_size);
    if (k == NULL)
        return PD_ERR_UNSUPPORTED;

    /* Pillow's rule, comparing the float box with the output size. */
    const int need_h = out_w != in_w || box[0] != 0.0f || box[2] != (float)out_w;
    const int need_v = out_h != in_h || box[1] != 0.0f || box[3] != (float)out_h;
    const int pass_h = need_h || x_px != c;
    const size_t out_row = (size_t)out_w * (size_t)c;

    axis h = {in_w, out_w, box[0], box[2], 0, 0, 0, 0, NULL, NULL};
    axis v = {in_h, out_h, box[1], box[3], 0, 0, 0, 0, NULL, NULL};
    uint8_t *tmp = NULL;
    if (!need_h)
        h.kstride = 8;
    else if ((status = axis_plan(&h, filter, err, err_size)) != PD_OK)
        return status;
    if ((status = axis_plan(&v, filter, err, err_size)) != PD_OK)
        return status;
    if (pass_h && (status = axis_alloc(&h, err, err_size)) != PD_OK)
        goto done;
    if ((status = axis_alloc(&v, err, err_size)) != PD_OK)
        goto done;
    axis_weights(&v, filter);
    if (need_h)
        axis_weights(&h, filter);
    else if (pass_h)
        axis_identity(&h);

    if (!need_v) {
        /* out_h == in_h: every row goes through the horizontal pass alone. */
        if (pass_h)
            k->resample_h_u8(out_h, x, x_stride, in_w, x_px, c, h.win, h.w, h.kstride, y, y_stride,
                             out_w);
        else
            for (int32_t r = 0; r < out_h; r++)
                memcpy(y + (size_t)r * y_stride, x + (size_t)r * x_stride, out_row);
        goto done;
    }
    if (need_h && vertical_first) {
        /* Only the columns the horizontal pass reads, renumbered from the first;
         * the vertical pass keeps the input's x_px bytes a pixel. */
        const int32_t first = h.win[0];
        const int32_t last = h.win[2 * (out_w - 1)] + h.win[2 * (out_w - 1) + 1];
        const size_t cols = (size_t)(last - first) * (size_t)x_px;
        tmp = malloc(cols > 0 ? (size_t)out_h * cols : 1);
        if (tmp == NULL) {
            status = pd_fail(err, err_size, PD_ERR_NOMEM, "resample: cannot allocate %d rows of %zu bytes",
                             (int)out_h, cols);
            goto done;
        }
        k->resample_v_u8((int32_t)cols, x + (size_t)first * (size_t)x_px, x_stride, v.win, v.w,
                         v.kstride, tmp, cols, out_h);
        for (int32_t i = 0; i < out_w; i++)
            h.win[2 * i] -= first;
        k->resample_h_u8(out_h, tmp, cols, last - first, x_px, c, h.win, h.w, h.kstride, y, y_stride,
                         out_w);
    } else if (pass_h) {
        /* Only the rows the vertical pass reads, renumbered from the first. */
        const int32_t first = v.win[0];
        const int32_t last = v.win[2 * (out_h - 1)] + v.win[2 * (out_h - 1) + 1];
        const int32_t rows = last - first;
        tmp = malloc(rows > 0 ? (size_t)rows * out_row : 1);
        if (tmp == NULL) {
            status = pd_fail(err, err_size, PD_ERR_NOMEM, "resample: cannot allocate %d rows of %zu bytes",
                             (int)rows, out_row);
            goto done;
        }
        k->resample_h_u8(rows, x + (size_t)first * x_stride, x_stride, in_w, x_px, c, h.win, h.w,
                         h.kstride, tmp, out_row, out_w);
        for (int32_t i = 0; i < out_h; i++)
            v.win[2 * i] -= first;
        k->resample_v_u8((int32_t)out_row, tmp, out_row, v.win, v.w, v.kstride, y, y_stride, out_h);
    } else {
        k->resample_v_u8((int32_t)out_row, x, x_stride, v.win, v.w, v.kstride, y, y_stride, out_h);
    }
done:
    free(tmp);
    free(h.win);
    free(h.w);
    free(v.win);
    free(v.w);
    return status;
}
