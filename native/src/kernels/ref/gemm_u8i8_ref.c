/* gemm_u8i8_ref.c: the int8 GEMM accumulator, uint8 activations times int8
 * weights into int32 (docs/quantization.md, "Convolution, fully connected").
 *
 * Accumulates in uint32: the split form bias + sum a*w may pass the int32
 * range part-way (signed overflow is undefined in C), and the wrapped final
 * value is the exact one whenever the true value fits, as the spec argues. */
#include "core.h"
#include "kernels/ref/ref.h"

void pd_gemm_u8i8_ref(size_t m, size_t n, size_t k, const uint8_t *a, size_t lda, const int8_t *b,
                      size_t ldb, const int32_t *bias, int32_t *c, size_t ldc)
{
    for (size_t i = 0; i < m; i++) {
        const uint8_t *row = a + i * lda;
        for (size_t j = 0; j < n; j++) {
            const int8_t *col = b + j * ldb;
            uint32_t acc = bias != NULL ? (uint32_t)bias[j] : 0u;
            for (size_t p = 0; p < k; p++)
                acc += (uint32_t)((int32_t)row[p] * (int32_t)col[p]);
            c[i * ldc + j] = (int32_t)acc;
        }
    }
}
