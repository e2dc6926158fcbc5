/* channel_move_ref.c: ops that only move elements: channel shuffle and slice.
 *
 * Channel shuffle is ShuffleNet's Reshape (g, C/g) -> Transpose -> Reshape
 * (C): output channel o takes input channel (o % g) * (C / g) + o / g.  Slice
 * copies a window of each sample. */
#include <string.h>

#include "core.h"
#include "kernels/ref/ref.h"

void pd_shuffle_f32_ref(size_t pixels, size_t c, size_t groups, const float *x, float *y)
{
    const size_t per_group = c / groups;
    for (size_t p = 0; p < pixels; p++)
        for (size_t o = 0; o < c; o++)
            y[p * c + o] = x[p * c + (o % groups) * per_group + o / groups];
}

void pd_slice_f32_ref(size_t batch, pd_dims in, const float *x, pd_dims out, int32_t h0, int32_t w0,
                      int32_t c0, float *y)
{
    const size_t in_sample = (size_t)in.h * (size_t)in.w * (size_t)in.c;
    for (size_t n = 0; n < batch; n++) {
        for (int32_t h = 0; h < out.h; h++) {
            for (int32_t w = 0; w < out.w; w++) {
                const float *src = x + n * in_sample +
                                   (((size_t)(h0 + h) * (size_t)in.w + (size_t)(w0 + w)) * (size_t)in.c +
                                    (size_t)c0);
                float *dst = y + ((n * (size_t)out.h + (size_t)h) * (size_t)out.w + (size_t)w) * (size_t)out.c;
                memcpy(dst, src, (size_t)out.c * sizeof(float));
            }
        }
    }
}
