/* concat_ref.c: concatenation along channels, one input at a time.  In NHWC
 * each pixel's channels are contiguous, so an input fills a slice of every
 * output pixel. */
#include <string.h>

#include "core.h"
#include "kernels/ref/ref.h"

void pd_concat_f32_ref(size_t batch, size_t hw, const float *x, size_t x_stride, int32_t c_in,
                       float *y, int32_t c_out, int32_t c_offset)
{
    for (size_t n = 0; n < batch; n++) {
        const float *xs = x + n * x_stride;
        float *ys = y + n * hw * (size_t)c_out + (size_t)c_offset;
        for (size_t p = 0; p < hw; p++)
            memcpy(ys + p * (size_t)c_out, xs + p * (size_t)c_in, (size_t)c_in * sizeof(float));
    }
}
