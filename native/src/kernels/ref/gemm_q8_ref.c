/* gemm_q8_ref.c: uint8 x int8 GEMM into int32, then the requantizing output
 * stage.  Zero points are not in the loop: the bias holds them (spec: B[c]).
 * Weights in the packed layout of q8.h, read one element at a time. */
#include "kernels/q8.h"

void pd_gemm_q8_ref(size_t m, size_t n, size_t k, const uint8_t *a, size_t lda, const int8_t *b,
                    const int32_t *bias, const pd_requant *rq, uint8_t *c, size_t ldc)
{
    const size_t kp = pd_q8_kpad(k);
    for (size_t i = 0; i < m; i++) {
        const uint8_t *row = a + i * lda;
        for (size_t j = 0; j < n; j++) {
            const int8_t *col = b + (j / PD_PANEL) * PD_PANEL * kp + (j % PD_PANEL) * PD_Q8_KGROUP;
            /* uint32: the partial sums may wrap; the true total fits in int32. */
            uint32_t acc = bias != NULL ? (uint32_t)bias[j] : 0u;
            for (size_t p = 0; p < k; p++)
                acc += (uint32_t)((int32_t)row[p] *
                                  (int32_t)col[(p / PD_Q8_KGROUP) * PD_PANEL * PD_Q8_KGROUP + p % PD_Q8_KGROUP]);
            c[i * ldc + j] = pd_rq_out(pd_rq((int32_t)acc, rq->mult[j], rq->shift[j]), rq);
        }
    }
}
