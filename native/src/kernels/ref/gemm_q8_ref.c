/* gemm_q8_ref.c: uint8 x int8 GEMM into int32, then the requantizing output
 * stage (or the float one, pd_gemm_q8f_ref).  Zero points are not in the loop: the bias holds them (spec: B[c]).
 * Weights in the packed layout of q8.h, read one element at a time. */
#include "kernels/q8.h"

/* The int32 sum of row i and column j (wrapping in 32 bits; the true total fits). */
static int32_t dot(size_t k, const uint8_t *row, const int8_t *b, size_t kp, size_t j, const int32_t *bias)
{
    const int8_t *col = b + (j / PD_PANEL) * PD_PANEL * kp + (j % PD_PANEL) * PD_Q8_KGROUP;
    uint32_t acc = bias != NULL ? (uint32_t)bias[j] : 0u;
    for (size_t p = 0; p < k; p++)
        acc += (uint32_t)((int32_t)row[p] *
                          (int32_t)col[(p / PD_Q8_KGROUP) * PD_PANEL * PD_Q8_KGROUP + p % PD_Q8_KGROUP]);
    return (int32_t)acc;
}

void pd_gemm_q8_ref(size_t m, size_t n, size_t k, const uint8_t *a, size_t lda, const int8_t *b,
                    const int32_t *bias, const pd_requant *rq, uint8_t *c, size_t ldc)
{
    const size_t kp = pd_q8_kpad(k);
    for (size_t i = 0; i < m; i++) {
        const uint8_t *row = a + i * lda;
        for (size_t j = 0; j < n; j++)
            c[i * ldc + j] = pd_rq_out(pd_rq(dot(k, row, b, kp, j, bias), rq->mult[j], rq->shift[j]), rq);
    }
}

void pd_gemm_q8f_ref(size_t m, size_t n, size_t k, const uint8_t *a, size_t lda, const int8_t *b,
                     const int32_t *bias, const pd_requant *rq, float *c, size_t ldc)
{
    const size_t kp = pd_q8_kpad(k);
    for (size_t j = 0; j < n; j++) {
        const double real = pd_rq_real(rq->mult[j], rq->shift[j]);
        for (size_t i = 0; i < m; i++)
            c[i * ldc + j] = pd_rq_float(dot(k, a + i * lda, b, kp, j, bias), real);
    }
}
