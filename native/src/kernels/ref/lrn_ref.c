/* lrn_ref.c: local response normalization across channels (ONNX LRN).
 *
 * For channel c the window is channels [c - (size - 1) / 2, c + size / 2]
 * clipped to [0, C), and y = x / (bias + alpha / size * sum of squares) ^ beta.
 * In NHWC a pixel's channels are contiguous, so each pixel is one short row. */
#include <math.h>

#include "core.h"
#include "kernels/ref/ref.h"

void pd_lrn_f32_ref(size_t pixels, size_t c, int32_t size, float alpha, float beta, float bias,
                    const float *x, float *y)
{
    const int64_t before = (size - 1) / 2, after = size / 2;
    const float a = alpha / (float)size;
    for (size_t p = 0; p < pixels; p++) {
        const float *xp = x + p * c;
        float *yp = y + p * c;
        for (int64_t ch = 0; ch < (int64_t)c; ch++) {
            int64_t lo = ch - before < 0 ? 0 : ch - before;
            int64_t hi = ch + after >= (int64_t)c ? (int64_t)c - 1 : ch + after;
            float sum = 0.0f;
            for (int64_t j = lo; j <= hi; j++)
                sum += xp[j] * xp[j];
            yp[ch] = xp[ch] / powf(bias + a * sum, beta);
        }
    }
}
