/* test_gemm.c: the family's float GEMM against the reference, called
 * directly, on awkward shapes (1, primes, just below and above the SIMD width,
 * the register tile, a 16-wide weight panel and a k block), with row strides
 * wider than the rows, with and without bias, under every activation.  The
 * weights are packed into PANELS16 (predict.h) here, from its definition.
 * Also: no table entry is NULL. */
#include <stdlib.h>

#include "check.h"
#include "core.h"

static void check_table(const pd_kernels *k)
{
    const void *entries[] = {
        (const void *)k->name, (const void *)k->act_f32, (const void *)k->gemm_f32, (const void *)k->gemm_u8i8,
        (const void *)k->conv_f32_scratch, (const void *)k->conv_f32, (const void *)k->depthwise_f32,
        (const void *)k->maxpool_f32, (const void *)k->avgpool_f32, (const void *)k->global_avgpool_f32,
        (const void *)k->global_maxpool_f32, (const void *)k->binary_f32, (const void *)k->concat_f32,
        (const void *)k->softmax_f32, (const void *)k->reshape_f32, (const void *)k->pad_f32,
    };
    for (size_t i = 0; i < sizeof entries / sizeof entries[0]; i++)
        CHECK(entries[i] != NULL, "table %s: entry %zu is NULL", k->name, i);
}

/* OHWI [n][k] -> PANELS16: (o, p) at o0*k + p*bw + (o - o0). */
static void pack_panels16(const float *w, size_t n, size_t k, float *out)
{
    for (size_t o = 0; o < n; o++) {
        const size_t o0 = o - o % 16, bw = n - o0 < 16 ? n - o0 : 16;
        for (size_t p = 0; p < k; p++)
            out[o0 * k + p * bw + (o - o0)] = w[o * k + p];
    }
}

static void one(const pd_kernels *k, size_t m, size_t n, size_t kk, size_t pad, int bias_on,
                const pd_act_params *act)
{
    const size_t lda = kk + pad, ldc = n + pad;
    float *a = malloc(sizeof(float) * (m * lda + 1));
    float *w = malloc(sizeof(float) * (n * kk + 1));
    float *b = malloc(sizeof(float) * (n * kk + 1));
    float *bias = malloc(sizeof(float) * (n + 1));
    float *got = malloc(sizeof(float) * (m * ldc + 1));
    float *want = malloc(sizeof(float) * (m * ldc + 1));
    pd_test_fill(a, m * lda);
    pd_test_fill(w, n * kk);
    pack_panels16(w, n, kk, b);
    pd_test_fill(bias, n);
    /* The gaps of c must come back untouched: fill both alike. */
    pd_test_fill(want, m * ldc);
    for (size_t i = 0; i < m * ldc; i++)
        got[i] = want[i];

    k->gemm_f32(m, n, kk, a, lda, b, bias_on ? bias : NULL, got, ldc, act);
    pd_kernels_ref()->gemm_f32(m, n, kk, a, lda, b, bias_on ? bias : NULL, want, ldc, act);

    char what[160];
    snprintf(what, sizeof what, "gemm_f32 m=%zu n=%zu k=%zu lda=%zu ldc=%zu bias=%d act=%d", m, n,
             kk, lda, ldc, bias_on, (int)act->kind);
    pd_test_close(got, want, m * ldc, 1e-5f, what);
    free(a);
    free(w);
    free(b);
    free(bias);
    free(got);
    free(want);
}

void pd_test_gemm(void)
{
    const pd_kernels *k = pd_test_table;
    check_table(k);
    pd_test_seed(1);

    static const size_t ms[] = {1, 2, 3, 5, 6, 7, 13, 25};
    static const size_t ns[] = {1, 3, 4, 5, 8, 13, 15, 16, 17, 24, 33, 40, 46, 64, 139};
    static const size_t ks[] = {1, 2, 3, 4, 5, 7, 8, 15, 16, 17, 31, 64, 147, 257};
    const pd_act_params none = {PD_ACT_NONE, 0.0f, 0.0f};
    for (size_t i = 0; i < sizeof ms / sizeof ms[0]; i++)
        for (size_t j = 0; j < sizeof ns / sizeof ns[0]; j++)
            for (size_t p = 0; p < sizeof ks / sizeof ks[0]; p++)
                one(k, ms[i], ns[j], ks[p], (i + j + p) % 3, (int)((i + p) % 2), &none);

    const pd_act_params acts[] = {
        {PD_ACT_RELU, 0.0f, 0.0f},      {PD_ACT_CLIP, 0.0f, 6.0f},   {PD_ACT_CLIP, -0.25f, 0.5f},
        {PD_ACT_HARDSWISH, 0.0f, 0.0f}, {PD_ACT_HARDSIGMOID, 0.2f, 0.5f},
        {PD_ACT_SIGMOID, 0.0f, 0.0f},   {PD_ACT_SILU, 0.0f, 0.0f},   {PD_ACT_LEAKYRELU, 0.1f, 0.0f},
    };
    for (size_t a = 0; a < sizeof acts / sizeof acts[0]; a++) {
        one(k, 9, 13, 17, 1, 1, &acts[a]);
        one(k, 4, 16, 64, 0, 1, &acts[a]);
        one(k, 13, 24, 33, 1, 0, &acts[a]); /* a last panel of 8 (256-bit on AVX-512) */
    }
    /* A large K, as in a 1x1 convolution of a wide layer or a classifier
     * (one sample: 1 x 1000 x 1280, AVX-512's few-rows path). */
    one(k, 5, 37, 1280, 0, 1, &none);
    one(k, 1, 1000, 1280, 0, 1, &none);
    one(k, 3, 200, 700, 2, 0, &acts[1]);
    /* Rows 4 KiB apart (lda 1024 floats), which AVX-512 copies tile by tile, and
     * 4 KiB apart with k short of the stride; then 12-row tiles read in place. */
    one(k, 25, 40, 1024, 0, 1, &none);
    one(k, 24, 33, 1020, 4, 0, &acts[1]);
    one(k, 37, 70, 300, 5, 1, &acts[0]);
}
