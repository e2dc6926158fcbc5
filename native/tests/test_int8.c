/* test_int8.c: the family's int8 GEMM accumulator against the reference,
 * called directly: equal, element for element.  Shapes around the SIMD
 * widths (8 and 16 bytes of k) and tiles; the extremes of the data (0, 255,
 * -127, 127) and biases near the int32 limits, where the wrapping sums of
 * docs/quantization.md must still come out exact. */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "core.h"

static void one(const pd_kernels *k, size_t m, size_t n, size_t kk, size_t pad, int mode)
{
    const size_t lda = kk + pad, ldb = kk + pad, ldc = n + pad;
    uint8_t *a = malloc(m * lda + 1);
    int8_t *b = malloc(n * ldb + 1);
    int32_t *bias = malloc(sizeof(int32_t) * (n + 1));
    int32_t *got = malloc(sizeof(int32_t) * (m * ldc + 1));
    int32_t *want = malloc(sizeof(int32_t) * (m * ldc + 1));
    for (size_t i = 0; i < m * lda; i++)
        a[i] = mode == 1 ? 255 : (uint8_t)pd_test_rand();
    for (size_t i = 0; i < n * ldb; i++)
        b[i] = mode == 1 ? (int8_t)(((i / ldb) & 1) ? -127 : 127) : (int8_t)((int32_t)(pd_test_rand() % 255u) - 127);
    for (size_t j = 0; j < n; j++)
        bias[j] = mode == 2 ? (int32_t)(pd_test_rand() | 0x7ff00000u) : (int32_t)(pd_test_rand() % 20001u) - 10000;
    for (size_t i = 0; i < m * ldc; i++)
        want[i] = got[i] = (int32_t)pd_test_rand();

    k->gemm_u8i8(m, n, kk, a, lda, b, ldb, mode == 3 ? NULL : bias, got, ldc);
    pd_kernels_ref()->gemm_u8i8(m, n, kk, a, lda, b, ldb, mode == 3 ? NULL : bias, want, ldc);
    for (size_t i = 0; i < m * ldc; i++) {
        if (got[i] != want[i]) {
            CHECK(0, "gemm_u8i8 m=%zu n=%zu k=%zu pad=%zu mode=%d: element %zu is %ld, reference %ld",
                  m, n, kk, pad, mode, i, (long)got[i], (long)want[i]);
            break;
        }
    }
    free(a);
    free(b);
    free(bias);
    free(got);
    free(want);
}

void pd_test_int8(void)
{
    const pd_kernels *k = pd_test_table;
    pd_test_seed(2);
    static const size_t ms[] = {1, 2, 3, 4, 5, 9};
    static const size_t ns[] = {1, 3, 4, 5, 17};
    static const size_t ks[] = {1, 7, 8, 9, 15, 16, 17, 31, 32, 33, 100};
    for (size_t i = 0; i < sizeof ms / sizeof ms[0]; i++)
        for (size_t j = 0; j < sizeof ns / sizeof ns[0]; j++)
            for (size_t p = 0; p < sizeof ks / sizeof ks[0]; p++)
                one(k, ms[i], ns[j], ks[p], (i + j + p) % 2, (int)((i + j + p) % 4));
    /* The largest K the loader allows, all products at their extreme. */
    one(k, 3, 5, 32767, 0, 1);
    one(k, 2, 3, 4099, 3, 2);
}
