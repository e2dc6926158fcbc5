/* move_q8_ref.c: the ops that only move bytes: reshape (in the order of the
 * channels-first source layout, as reshape_ref.c) and spatial padding (as
 * pad_ref.c; the constant is the byte of the pad value, set at conversion). */
#include <string.h>

#include "kernels/q8.h"
#include "core.h"

static int nhwc_is_source_order(pd_dims d)
{
    return d.c == 1 || ((size_t)d.h * (size_t)d.w) == 1;
}

void pd_reshape_q8_ref(size_t batch, pd_dims in, const uint8_t *x, pd_dims out, uint8_t *y)
{
    const size_t in_hw = (size_t)in.h * (size_t)in.w, out_hw = (size_t)out.h * (size_t)out.w;
    const size_t sample = in_hw * (size_t)in.c;
    if (in.c == out.c || (nhwc_is_source_order(in) && nhwc_is_source_order(out))) {
        memcpy(y, x, batch * sample);
        return;
    }
    for (size_t n = 0; n < batch; n++) {
        const uint8_t *xs = x + n * sample;
        uint8_t *ys = y + n * sample;
        for (size_t p = 0; p < out_hw; p++) {
            for (size_t c = 0; c < (size_t)out.c; c++) {
                size_t src = c * out_hw + p;
                ys[p * (size_t)out.c + c] = xs[(src % in_hw) * (size_t)in.c + src / in_hw];
            }
        }
    }
}

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

void pd_pad_q8_ref(size_t batch, pd_dims in, const uint8_t *x, pd_dims out, int32_t pad_top,
                   int32_t pad_left, int32_t mode, uint8_t value, uint8_t *y)
{
    const size_t c = (size_t)in.c;
    for (size_t n = 0; n < batch; n++) {
        const uint8_t *xs = x + n * (size_t)in.h * (size_t)in.w * c;
        for (int32_t oh = 0; oh < out.h; oh++) {
            int64_t ih = source((int64_t)oh - pad_top, in.h, mode);
            for (int32_t ow = 0; ow < out.w; ow++) {
                int64_t iw = source((int64_t)ow - pad_left, in.w, mode);
                uint8_t *px = y + ((n * (size_t)out.h + (size_t)oh) * (size_t)out.w + (size_t)ow) * c;
                if (ih < 0 || iw < 0)
                    memset(px, value, c);
                else
                    memcpy(px, xs + ((size_t)ih * (size_t)in.w + (size_t)iw) * c, c);
            }
        }
    }
}
