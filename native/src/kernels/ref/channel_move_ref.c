/* channel_move_ref.c: ops that only move elements: channel shuffle, slice,
 * transpose, and the copies of a net's input into its arena (channels first to
 * last; 8-bit pixels through a lookup table).
 *
 * Channel shuffle is ShuffleNet's Reshape (g, C/g) -> Transpose -> Reshape
 * (C): output channel o takes input channel (o % g) * (C / g) + o / g.  Slice
 * copies a window of each sample.  Transpose walks the output in order and
 * reads each element through the input's strides of the permuted axes. */
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

void pd_transpose_f32_ref(size_t batch, pd_dims in, const float *x, const int32_t perm[3], float *y)
{
    const size_t dims[3] = {(size_t)in.h, (size_t)in.w, (size_t)in.c};
    const size_t strides[3] = {dims[1] * dims[2], dims[2], 1};
    const size_t sample = dims[0] * dims[1] * dims[2];
    const size_t n0 = dims[perm[0]], n1 = dims[perm[1]], n2 = dims[perm[2]];
    const size_t s0 = strides[perm[0]], s1 = strides[perm[1]], s2 = strides[perm[2]];
    for (size_t n = 0; n < batch; n++) {
        const float *xs = x + n * sample;
        float *ys = y + n * sample;
        for (size_t i = 0; i < n0; i++)
            for (size_t j = 0; j < n1; j++)
                for (size_t k = 0; k < n2; k++)
                    *ys++ = xs[i * s0 + j * s1 + k * s2];
    }
}

void pd_channels_last_f32_ref(size_t c, size_t n, size_t stride, const float *x, float *y)
{
    for (size_t p = 0; p < n; p++)
        for (size_t ch = 0; ch < c; ch++)
            y[p * c + ch] = x[ch * stride + p];
}

/* Interleaved 8-bit pixels (hw pixels of c channels) to float32 through one
 * 256-entry table per channel: the lookup is the photo's normalization. */
void pd_pixels_f32_ref(size_t c, size_t hw, const uint8_t *x, const float *table, float *y)
{
    if (c == 3) { /* RGB, the usual input: the inner loop of 3 cost more than the lookups */
        for (size_t p = 0; p < hw; p++, x += 3, y += 3) {
            y[0] = table[x[0]];
            y[1] = table[256 + x[1]];
            y[2] = table[512 + x[2]];
        }
        return;
    }
    for (size_t p = 0; p < hw; p++)
        for (size_t ch = 0; ch < c; ch++)
            y[p * c + ch] = table[ch * 256 + x[p * c + ch]];
}
