/* softmax_ref.c: softmax over channels.  The max is subtracted first, so exp
 * never overflows and the largest term is exactly 1 (the sum is >= 1). */
#include <math.h>

#include "core.h"
#include "kernels/ref/ref.h"

void pd_softmax_f32_ref(size_t rows, size_t c, const float *x, float *y)
{
    for (size_t r = 0; r < rows; r++) {
        const float *in = x + r * c;
        float *out = y + r * c;
        float most = in[0];
        for (size_t i = 1; i < c; i++)
            if (in[i] > most)
                most = in[i];
        float sum = 0.0f;
        for (size_t i = 0; i < c; i++) {
            out[i] = expf(in[i] - most);
            sum += out[i];
        }
        for (size_t i = 0; i < c; i++)
            out[i] /= sum;
    }
}
