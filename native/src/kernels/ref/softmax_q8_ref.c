/* softmax_q8_ref.c: softmax along channels with an integer exp table.
 * d = max - q in [0, 255]; E[d] = round(exp(-s_in d) 2^16) (E[0] = 2^16, so
 * S >= 2^16); q = min(255, (E[d] * 256 + S / 2) / S); output scale 1/256. */
#include "kernels/q8.h"

void pd_softmax_q8_ref(size_t rows, size_t c, const uint8_t *x, const int32_t *table, uint8_t *y)
{
    for (size_t r = 0; r < rows; r++) {
        const uint8_t *px = x + r * c;
        uint8_t *py = y + r * c;
        uint8_t max = 0;
        for (size_t i = 0; i < c; i++)
            max = px[i] > max ? px[i] : max;
        int64_t sum = 0;
        for (size_t i = 0; i < c; i++)
            sum += table[max - px[i]];
        for (size_t i = 0; i < c; i++) {
            int64_t q = ((int64_t)table[max - px[i]] * 256 + sum / 2) / sum;
            py[i] = (uint8_t)(q > 255 ? 255 : q);
        }
    }
}
