/* gemm_ref.c: C = act(A * B^T + bias), the heart of conv and fc.
 *
 * B is the n x k weight matrix in PANELS16 layout (kernels.h): panels of 16
 * output columns, K-major inside a panel, so every family reads the weights
 * as the converter wrote them.  The activation is applied to each finished
 * row of C (the output stage). */
#include "core.h"
#include "kernels/ref/ref.h"

void pd_gemm_f32_ref(size_t m, size_t n, size_t k, const float *a, size_t lda, const float *b,
                     const float *bias, float *c, size_t ldc, const pd_act_params *act)
{
    for (size_t i = 0; i < m; i++) {
        const float *row = a + i * lda;
        float *out = c + i * ldc;
        for (size_t j = 0; j < n; j++) {
            const size_t j0 = j - j % PD_PANEL;
            const size_t width = n - j0 < PD_PANEL ? n - j0 : PD_PANEL;
            const float *col = b + j0 * k + (j - j0); /* B(j, p) = col[p * width] */
            float acc = bias != NULL ? bias[j] : 0.0f;
            for (size_t p = 0; p < k; p++)
                acc += row[p] * col[p * width];
            out[j] = acc;
        }
        pd_act_f32_ref(out, out, n, act);
    }
}
