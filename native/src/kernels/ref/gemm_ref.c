/* gemm_ref.c: C = act(A * B^T + bias), the heart of conv and fc.
 *
 * B is stored one output column per row ([n][k]), which is how OHWI conv and
 * FC weights already lie, so no weight is ever repacked for the reference.
 * The activation is applied to each finished row of C (the output stage). */
#include "core.h"
#include "kernels/ref/ref.h"

void pd_gemm_f32_ref(size_t m, size_t n, size_t k, const float *a, size_t lda, const float *b,
                     size_t ldb, const float *bias, float *c, size_t ldc, const pd_act_params *act)
{
    for (size_t i = 0; i < m; i++) {
        const float *row = a + i * lda;
        float *out = c + i * ldc;
        for (size_t j = 0; j < n; j++) {
            const float *col = b + j * ldb;
            float acc = bias != NULL ? bias[j] : 0.0f;
            for (size_t p = 0; p < k; p++)
                acc += row[p] * col[p];
            out[j] = acc;
        }
        pd_act_f32_ref(out, out, n, act);
    }
}
