/* quantize_ref.c: the float32 <-> uint8 boundaries and table lookups.
 * Quantize divides (no reciprocal, nothing to contract into an FMA) and rounds
 * half to even with nearbyintf in the default rounding mode, so numpy's
 * np.rint(x / s) in float32 gives the same bytes. */
#include <math.h>

#include "kernels/q8.h"

void pd_quantize_ref(size_t n, const float *x, float scale, int32_t zero, uint8_t *y)
{
    for (size_t i = 0; i < n; i++) {
        float r = nearbyintf(x[i] / scale);
        if (r != r) { /* NaN: real zero */
            y[i] = (uint8_t)zero;
            continue;
        }
        /* Clamp in float first: r may be far outside the int range. */
        float q = r + (float)zero;
        y[i] = q <= 0.0f ? 0 : q >= 255.0f ? 255 : (uint8_t)q;
    }
}

void pd_dequantize_ref(size_t n, const uint8_t *x, float scale, int32_t zero, float *y)
{
    for (size_t i = 0; i < n; i++)
        y[i] = scale * (float)((int32_t)x[i] - zero);
}

void pd_lut_q8_ref(size_t n, const uint8_t *x, const uint8_t *lut, uint8_t *y)
{
    for (size_t i = 0; i < n; i++)
        y[i] = lut[x[i]];
}
