/* pad_ref.c: spatial padding, constant, reflect (mirror without repeating the
 * edge, pads < dim) or edge (repeat the border pixel). */
#include <assert.h>
#include <string.h>

#include "core.h"
#include "kernels/ref/ref.h"

/* Input coordinate for padded coordinate i (already shifted by the leading
 * pad) of an axis of size n, or -1 when the constant fills it. */
static int64_t source(int64_t i, int32_t n, int32_t mode)
{
    if (i >= 0 && i < n)
        return i;
    switch (mode) {
    case PD_PAD_REFLECT: return i < 0 ? -i : 2 * (int64_t)(n - 1) - i;
    case PD_PAD_EDGE: return i < 0 ? 0 : n - 1;
    default: return -1;
    }
}

/* One output pixel from source coordinates (ih, iw), either -1 for the constant. */
static void pad_pixel(const float *xs, pd_dims in, int64_t ih, int64_t iw, float value, float *px)
{
    const size_t c = (size_t)in.c;
    if (ih < 0 || iw < 0) {
        for (size_t ch = 0; ch < c; ch++)
            px[ch] = value;
    } else {
        assert(ih < in.h && iw < in.w);
        memcpy(px, xs + ((size_t)ih * (size_t)in.w + (size_t)iw) * c, c * sizeof(float));
    }
}

void pd_pad_f32_ref(size_t batch, pd_dims in, const float *x, pd_dims out, int32_t pad_top,
                    int32_t pad_left, int32_t mode, float value, float *y)
{
    const size_t c = (size_t)in.c;
    /* the output columns [lo, hi) that copy input columns [0, in.w) in order */
    const int32_t lo = pad_left > 0 ? pad_left : 0;
    const int32_t hi = pad_left + in.w < out.w ? pad_left + in.w : out.w;
    for (size_t n = 0; n < batch; n++) {
        const float *xs = x + n * (size_t)in.h * (size_t)in.w * c;
        for (int32_t oh = 0; oh < out.h; oh++) {
            int64_t ih = source((int64_t)oh - pad_top, in.h, mode);
            float *row = y + (n * (size_t)out.h + (size_t)oh) * (size_t)out.w * c;
            if (ih < 0 || lo >= hi) {
                for (int32_t ow = 0; ow < out.w; ow++)
                    pad_pixel(xs, in, ih, source((int64_t)ow - pad_left, in.w, mode), value,
                              row + (size_t)ow * c);
                continue;
            }
            /* the interior of the row in one copy, the pads pixel by pixel */
            for (int32_t ow = 0; ow < lo; ow++)
                pad_pixel(xs, in, ih, source((int64_t)ow - pad_left, in.w, mode), value,
                          row + (size_t)ow * c);
            memcpy(row + (size_t)lo * c, xs + ((size_t)ih * (size_t)in.w + (size_t)(lo - pad_left)) * c,
                   (size_t)(hi - lo) * c * sizeof(float));
            for (int32_t ow = hi; ow < out.w; ow++)
                pad_pixel(xs, in, ih, source((int64_t)ow - pad_left, in.w, mode), value,
                          row + (size_t)ow * c);
        }
    }
}
