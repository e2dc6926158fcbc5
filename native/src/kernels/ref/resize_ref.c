/* resize_ref.c: nearest and bilinear spatial resize (ONNX Resize, Upsample).
 *
 * Each output row and column maps to a source coordinate by the coordinate
 * transformation (predict.h, pd_resize_coord), computed in float as
 * onnxruntime does.  Nearest rounds it (pd_resize_nearest) and clamps it into
 * the input; bilinear clamps it into [0, n - 1] and blends the two
 * neighbours, the right one being the left one at the last index. */
#include <math.h>

#include "core.h"
#include "kernels/ref/ref.h"

static float source_coord(int32_t coord, int32_t x, int32_t n, int32_t m, float scale)
{
    switch (coord) {
    case PD_COORD_PYTORCH_HALF_PIXEL:
        return m > 1 ? ((float)x + 0.5f) / scale - 0.5f : 0.0f;
    case PD_COORD_ALIGN_CORNERS:
        return m > 1 ? (float)x * (float)(n - 1) / (float)(m - 1) : 0.0f;
    case PD_COORD_ASYMMETRIC:
        return (float)x / scale;
    case PD_COORD_TF_HALF_PIXEL_FOR_NN:
        return ((float)x + 0.5f) / scale;
    default: /* PD_COORD_HALF_PIXEL */
        return ((float)x + 0.5f) / scale - 0.5f;
    }
}

static int32_t clamp_index(float v, int32_t n)
{
    if (!(v > 0.0f)) /* also NaN */
        return 0;
    if (v >= (float)(n - 1))
        return n - 1;
    return (int32_t)v;
}

static int32_t nearest_index(int32_t rounding, float v, int32_t n)
{
    float f = floorf(v);
    float r;
    switch (rounding) {
    case PD_NEAREST_FLOOR:
        r = f;
        break;
    case PD_NEAREST_CEIL:
        r = ceilf(v);
        break;
    case PD_NEAREST_ROUND_PREFER_CEIL:
        r = v - f >= 0.5f ? f + 1.0f : f;
        break;
    default: /* PD_NEAREST_ROUND_PREFER_FLOOR */
        r = v - f > 0.5f ? f + 1.0f : f;
        break;
    }
    return clamp_index(r, n);
}

/* Left index, right index and the right one's weight of output index x. */
static void taps(int32_t mode, int32_t coord, int32_t rounding, int32_t x, int32_t n, int32_t m,
                 float scale, int32_t *i0, int32_t *i1, float *frac)
{
    float v = source_coord(coord, x, n, m, scale);
    if (mode == PD_RESIZE_NEAREST) {
        *i0 = *i1 = nearest_index(rounding, v, n);
        *frac = 0.0f;
        return;
    }
    if (!(v > 0.0f))
        v = 0.0f;
    if (v > (float)(n - 1))
        v = (float)(n - 1);
    *i0 = clamp_index(v, n);
    *i1 = *i0 + 1 < n ? *i0 + 1 : *i0;
    *frac = v - (float)*i0;
}

void pd_resize_f32_ref(size_t batch, pd_dims in, const float *x, pd_dims out, int32_t mode,
                       int32_t coord, int32_t nearest, float scale_h, float scale_w, float *y)
{
    const size_t c = (size_t)in.c;
    const size_t in_sample = (size_t)in.h * (size_t)in.w * c;
    const size_t out_sample = (size_t)out.h * (size_t)out.w * c;
    for (size_t n = 0; n < batch; n++) {
        const float *xs = x + n * in_sample;
        float *ys = y + n * out_sample;
        for (int32_t oh = 0; oh < out.h; oh++) {
            int32_t h0, h1;
            float fh;
            taps(mode, coord, nearest, oh, in.h, out.h, scale_h, &h0, &h1, &fh);
            for (int32_t ow = 0; ow < out.w; ow++) {
                int32_t w0, w1;
                float fw;
                taps(mode, coord, nearest, ow, in.w, out.w, scale_w, &w0, &w1, &fw);
                const float *a = xs + ((size_t)h0 * (size_t)in.w + (size_t)w0) * c;
                const float *b = xs + ((size_t)h0 * (size_t)in.w + (size_t)w1) * c;
                const float *d = xs + ((size_t)h1 * (size_t)in.w + (size_t)w0) * c;
                const float *e = xs + ((size_t)h1 * (size_t)in.w + (size_t)w1) * c;
                float *o = ys + ((size_t)oh * (size_t)out.w + (size_t)ow) * c;
                if (mode == PD_RESIZE_NEAREST) {
                    for (size_t ch = 0; ch < c; ch++)
                        o[ch] = a[ch];
                    continue;
                }
                for (size_t ch = 0; ch < c; ch++) {
                    float top = a[ch] + fw * (b[ch] - a[ch]);
                    float bottom = d[ch] + fw * (e[ch] - d[ch]);
                    o[ch] = top + fh * (bottom - top);
                }
            }
        }
    }
}
