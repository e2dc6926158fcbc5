/* test_q8.c: the family's int8 kernel table (kernels/q8.h) against the
 * reference table, called directly: equal byte for byte.  Awkward shapes (1,
 * primes, odd channels, K not a multiple of 4, N not a multiple of 16),
 * extreme data (0, 255, -127, 127), biases near the int32 limits (the sums
 * wrap), multipliers and shifts over their whole range, clamps, tables; the
 * GEMM's float output stage too, bit for bit. */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "kernels/q8.h"
#include "kernels/x86/x86.h"

/* A random output stage for n channels; the arrays are owned by the caller. */
static void random_stage(pd_requant *rq, int32_t *mult, int32_t *shift, uint8_t *lut, size_t n,
                         int mode)
{
    for (size_t j = 0; j < n; j++) {
        mult[j] = (int32_t)((1u << 30) + (pd_test_rand() & 0x3fffffffu));
        /* realistic shifts (33 .. 53: the output spans bytes), and in some
         * modes any (kernels take a faster path when all are in 33 .. 53) */
        shift[j] = (mode >= 3 && pd_test_rand() % 8u == 0) ? (int32_t)(1 + pd_test_rand() % 62u)
                                                             : (int32_t)(33 + pd_test_rand() % 21u);
        /* mode 6: every shift in 32 .. 62, the edges of NEON's fast rule */
        if (mode == 6)
            shift[j] = (int32_t)(32 + pd_test_rand() % 31u);
    }
    rq->mult = mult;
    rq->shift = shift;
    rq->zero = (int32_t)(pd_test_rand() % 256u);
    rq->lo = mode == 1 ? rq->zero : 0;
    rq->hi = mode == 1 ? (int32_t)(rq->zero + (255 - rq->zero) / 2) : 255;
    for (int i = 0; i < 256; i++)
        lut[i] = (uint8_t)(255 - i);
    rq->lut = mode == 2 ? lut : NULL;
}

static int same(const uint8_t *got, const uint8_t *want, size_t n, const char *what)
{
    for (size_t i = 0; i < n; i++)
        if (got[i] != want[i]) {
            CHECK(0, "%s: byte %zu is %d, reference %d", what, i, got[i], want[i]);
            return 0;
        }
    return 1;
}

static void gemm_case(size_t m, size_t n, size_t k, size_t pad, int mode)
{
    const pd_q8_kernels *q = pd_test_table->q8, *ref = pd_q8_kernels_ref();
    const size_t lda = k + pad, ldc = n + pad, packed = pd_q8_packed_group(n, k);
    uint8_t *a = malloc(m * lda + 1), *got = malloc(m * ldc + 1), *want = malloc(m * ldc + 1);
    int8_t *w = malloc(n * k + 1), *b = malloc(packed + 1);
    int32_t *bias = malloc(sizeof(int32_t) * (n + 1)), *mult = malloc(sizeof(int32_t) * (n + 1));
    int32_t *shift = malloc(sizeof(int32_t) * (n + 1));
    uint8_t lut[256];
    pd_requant rq;
    for (size_t i = 0; i < m * lda; i++)
        a[i] = mode == 3 ? 255 : (uint8_t)pd_test_rand();
    for (size_t i = 0; i < n * k; i++)
        w[i] = mode == 3 ? (int8_t)((i / k) & 1 ? -127 : 127) : (int8_t)((int32_t)(pd_test_rand() % 255u) - 127);
    for (size_t j = 0; j < n; j++)
        bias[j] = mode == 4 ? (int32_t)(pd_test_rand() | 0x7ff00000u) : (int32_t)(pd_test_rand() % 200001u) - 100000;
    pd_pack_q8(w, 1, n, k, b);
    random_stage(&rq, mult, shift, lut, n, mode);
    memset(got, 7, m * ldc);
    memset(want, 7, m * ldc);
    q->gemm(m, n, k, a, lda, b, mode == 5 ? NULL : bias, &rq, got, ldc);
    ref->gemm(m, n, k, a, lda, b, mode == 5 ? NULL : bias, &rq, want, ldc);
    char what[96];
    snprintf(what, sizeof what, "gemm_q8 m=%zu n=%zu k=%zu pad=%zu mode=%d", m, n, k, pad, mode);
    same(got, want, m * ldc, what);
    /* the float output stage: the same sums, bit for bit the same floats */
    float *fgot = malloc(sizeof(float) * (m * ldc + 1)), *fwant = malloc(sizeof(float) * (m * ldc + 1));
    memset(fgot, 0x7f, sizeof(float) * m * ldc);
    memset(fwant, 0x7f, sizeof(float) * m * ldc);
    q->gemm_f32(m, n, k, a, lda, b, mode == 5 ? NULL : bias, &rq, fgot, ldc);
    ref->gemm_f32(m, n, k, a, lda, b, mode == 5 ? NULL : bias, &rq, fwant, ldc);
    snprintf(what, sizeof what, "gemm_q8f m=%zu n=%zu k=%zu pad=%zu mode=%d", m, n, k, pad, mode);
    same((const uint8_t *)fgot, (const uint8_t *)fwant, sizeof(float) * m * ldc, what);
    free(fgot), free(fwant);
    free(a), free(got), free(want), free(w), free(b), free(bias), free(mult), free(shift);
}

static pd_window_shape window(int32_t h, int32_t w, int32_t c, int32_t cout, int32_t kh, int32_t kw,
                              int32_t stride, int32_t pad, int32_t dil, int32_t groups)
{
    pd_window_shape s;
    memset(&s, 0, sizeof s);
    s.in.h = h, s.in.w = w, s.in.c = c;
    s.kernel_h = kh, s.kernel_w = kw, s.stride_h = s.stride_w = stride;
    s.dilation_h = s.dilation_w = dil;
    s.pad_top = s.pad_left = s.pad_bottom = s.pad_right = pad;
    s.groups = groups;
    s.out.h = (h + 2 * pad - dil * (kh - 1) - 1) / stride + 1;
    s.out.w = (w + 2 * pad - dil * (kw - 1) - 1) / stride + 1;
    s.out.c = cout;
    return s;
}

static void conv_case(int32_t h, int32_t w, int32_t c, int32_t cout, int32_t kh, int32_t stride,
                      int32_t pad, int32_t groups, int mode)
{
    const pd_q8_kernels *q = pd_test_table->q8, *ref = pd_q8_kernels_ref();
    pd_window_shape s = window(h, w, c, cout, kh, kh, stride, pad, 1, groups);
    const size_t og = (size_t)(cout / groups), kdim = (size_t)(kh * kh * (c / groups));
    const size_t pixels = (size_t)s.out.h * s.out.w, ybytes = pixels * (size_t)cout;
    const size_t tile = 7; /* odd tiles of output pixels, as threads would split them */
    uint8_t *x = malloc((size_t)h * w * c), *got = malloc(ybytes), *want = malloc(ybytes);
    uint8_t *scratch = malloc(pd_conv_q8_scratch(&s, tile) + 1);
    int8_t *wo = malloc(og * kdim * groups), *b = malloc(pd_q8_packed_group(og, kdim) * groups);
    int32_t *bias = malloc(sizeof(int32_t) * cout), *mult = malloc(sizeof(int32_t) * cout);
    int32_t *shift = malloc(sizeof(int32_t) * cout);
    uint8_t lut[256];
    pd_requant rq;
    for (size_t i = 0; i < (size_t)h * w * c; i++)
        x[i] = (uint8_t)pd_test_rand();
    for (size_t i = 0; i < og * kdim * groups; i++)
        wo[i] = (int8_t)((int32_t)(pd_test_rand() % 255u) - 127);
    for (int32_t j = 0; j < cout; j++)
        bias[j] = (int32_t)(pd_test_rand() % 200001u) - 100000;
    pd_pack_q8(wo, (size_t)groups, og, kdim, b);
    random_stage(&rq, mult, shift, lut, (size_t)cout, mode);
    const int32_t z = (int32_t)(pd_test_rand() % 256u);
    for (size_t p0 = 0; p0 < pixels; p0 += tile) {
        size_t p1 = p0 + tile < pixels ? p0 + tile : pixels;
        q->conv(q, &s, x, z, b, bias, &rq, got, p0, p1, scratch);
        ref->conv(ref, &s, x, z, b, bias, &rq, want, p0, p1, scratch);
    }
    char what[128];
    snprintf(what, sizeof what, "conv_q8 %dx%dx%d -> %d k%d s%d p%d g%d mode=%d", h, w, c, cout, kh,
             stride, pad, groups, mode);
    same(got, want, ybytes, what);
    free(x), free(got), free(want), free(scratch), free(wo), free(b), free(bias), free(mult), free(shift);
}

/* pad_shift moves pad_shift cells of padding from the top and left to the
 * bottom and right (TensorFlow's SAME padding of an even excess). */
static void depthwise_case_pads(pd_depthwise_q8_fn fn, int32_t h, int32_t w, int32_t c, int32_t k,
                                int32_t stride, int32_t pad, int32_t dil, int mode, int32_t pad_shift)
{
    const pd_q8_kernels *ref = pd_q8_kernels_ref();
    pd_window_shape s = window(h, w, c, c, k, k, stride, pad, dil, c);
    s.pad_top -= pad_shift, s.pad_left -= pad_shift;
    s.pad_bottom += pad_shift, s.pad_right += pad_shift;
    if (s.out.h < 1 || s.out.w < 1)
        return;
    const size_t ybytes = (size_t)s.out.h * s.out.w * c;
    uint8_t *x = malloc((size_t)h * w * c), *got = malloc(ybytes), *want = malloc(ybytes);
    int8_t *wt = malloc((size_t)k * k * c);
    int32_t *bias = malloc(sizeof(int32_t) * c), *mult = malloc(sizeof(int32_t) * c);
    int32_t *shift = malloc(sizeof(int32_t) * c);
    uint8_t lut[256];
    pd_requant rq;
    for (size_t i = 0; i < (size_t)h * w * c; i++)
        x[i] = mode == 3 ? 255 : (uint8_t)pd_test_rand();
    for (size_t i = 0; i < (size_t)k * k * c; i++)
        wt[i] = mode == 3 ? -127 : (int8_t)((int32_t)(pd_test_rand() % 255u) - 127);
    for (int32_t j = 0; j < c; j++)
        bias[j] = mode == 4 ? (int32_t)(pd_test_rand() | 0x7ff00000u) : (int32_t)(pd_test_rand() % 200001u) - 100000;
    random_stage(&rq, mult, shift, lut, (size_t)c, mode);
    const int32_t z = (int32_t)(pd_test_rand() % 256u);
    memset(got, 7, ybytes);
    memset(want, 7, ybytes);
    /* two row ranges, as threads split them */
    const int32_t mid = s.out.h / 2;
    fn(&s, x, z, wt, mode == 5 ? NULL : bias, &rq, got, 0, mid);
    fn(&s, x, z, wt, mode == 5 ? NULL : bias, &rq, got, mid, s.out.h);
    ref->depthwise(&s, x, z, wt, mode == 5 ? NULL : bias, &rq, want, 0, s.out.h);
    char what[128];
    snprintf(what, sizeof what, "depthwise_q8 %dx%dx%d k%d s%d p%d(-%d) d%d mode=%d", h, w, c, k,
             stride, pad, pad_shift, dil, mode);
    same(got, want, ybytes, what);
    free(x), free(got), free(want), free(wt), free(bias), free(mult), free(shift);
}

static void depthwise_case(pd_depthwise_q8_fn fn, int32_t h, int32_t w, int32_t c, int32_t k,
                           int32_t stride, int32_t pad, int32_t dil, int mode)
{
    depthwise_case_pads(fn, h, w, c, k, stride, pad, dil, mode, 0);
}

static void binary_case(int32_t h, int32_t w, int32_t c, int bh, int bw, int bc, int32_t kind, int mode)
{
    const pd_q8_kernels *q = pd_test_table->q8, *ref = pd_q8_kernels_ref();
    pd_dims ad = {h, w, c}, bd = {bh ? 1 : h, bw ? 1 : w, bc ? 1 : c};
    const size_t an = (size_t)h * w * c, bn = (size_t)bd.h * bd.w * bd.c;
    uint8_t *a = malloc(an), *b = malloc(bn), *got = malloc(an), *want = malloc(an);
    int32_t mult[2], shift[2];
    uint8_t lut[256];
    pd_requant rq;
    for (size_t i = 0; i < an; i++)
        a[i] = (uint8_t)pd_test_rand();
    for (size_t i = 0; i < bn; i++)
        b[i] = (uint8_t)pd_test_rand();
    random_stage(&rq, mult, shift, lut, 2, mode);
    shift[1] = shift[0];
    if (kind != PD_BIN_MUL)
        mult[1] = (int32_t)(pd_test_rand() & 0x7fffffffu) >> (pd_test_rand() % 4u);
    const int32_t za = (int32_t)(pd_test_rand() % 256u), zb = (int32_t)(pd_test_rand() % 256u);
    q->binary(kind, 1, ad, a, za, bd, b, zb, &rq, got);
    ref->binary(kind, 1, ad, a, za, bd, b, zb, &rq, want);
    char what[128];
    snprintf(what, sizeof what, "binary_q8 kind %d %dx%dx%d b(%d,%d,%d) mode=%d", (int)kind, h, w, c,
             bd.h, bd.w, bd.c, mode);
    same(got, want, an, what);
    free(a), free(b), free(got), free(want);
}

static void quantize_case(size_t n, float scale, int32_t zero)
{
    const pd_q8_kernels *q = pd_test_table->q8, *ref = pd_q8_kernels_ref();
    static const float special[] = {0.0f, -0.0f, 0.5f, -0.5f, 1.5f, 2.5f, -2.5f, 1e-45f, 3e38f,
                                    -3e38f, 16777217.0f, 127.5f, 128.5f, -128.5f, 254.5f};
    float *x = malloc(sizeof(float) * (n + 1));
    uint8_t *got = malloc(n + 1), *want = malloc(n + 1);
    for (size_t i = 0; i < n; i++) {
        uint32_t r = pd_test_rand();
        if (r % 7 == 0)
            x[i] = special[(r / 7) % (sizeof special / sizeof special[0])] * scale;
        else if (r % 11 == 0) {
            uint32_t bits = r % 3 == 0 ? 0x7fc00000u : r % 3 == 1 ? 0x7f800000u : 0xff800000u; /* NaN, +-inf */
            memcpy(&x[i], &bits, sizeof bits);
        } else
            x[i] = 300.0f * scale * pd_test_uniform();
    }
    q->quantize(n, x, scale, zero, got);
    ref->quantize(n, x, scale, zero, want);
    char what[96];
    snprintf(what, sizeof what, "quantize n=%zu scale=%g zero=%d", n, (double)scale, (int)zero);
    same(got, want, n, what);
    free(x), free(got), free(want);
}

void pd_test_q8(void)
{
    pd_test_seed(8);
    static const size_t ms[] = {1, 2, 3, 5, 6, 7, 8, 13, 17};
    static const size_t ns[] = {1, 3, 16, 17, 31, 64, 67, 129};
    static const size_t ks[] = {1, 2, 3, 4, 5, 7, 8, 9, 12, 13, 16, 27, 64, 97};
    int mode = 0;
    for (size_t i = 0; i < sizeof ms / sizeof ms[0]; i++)
        for (size_t j = 0; j < sizeof ns / sizeof ns[0]; j++)
            for (size_t p = 0; p < sizeof ks / sizeof ks[0]; p++)
                gemm_case(ms[i], ns[j], ks[p], (i + j + p) % 3, mode++ % 7);
    gemm_case(3, 5, 32767, 0, 3); /* the largest K, every product extreme */
    gemm_case(50, 300, 577, 1, 4);
    for (int md = 0; md < 6; md++) {
        conv_case(9, 7, 3, 17, 3, 2, 1, 1, md);
        conv_case(8, 8, 5, 32, 3, 1, 1, 1, md);
        conv_case(6, 5, 6, 6, 3, 1, 0, 3, md);
        conv_case(7, 7, 16, 48, 5, 2, 2, 1, md);
        conv_case(5, 11, 4, 20, 1, 2, 0, 2, md);
        conv_case(4, 4, 1, 1, 1, 1, 1, 1, md);
        /* windows of at most 64 bytes (AVX-512 builds their rows in a register):
         * a stem without padding, 5x5 x 2, 7x7 x 1, 63 and 64 bytes */
        conv_case(13, 13, 3, 32, 3, 2, 0, 1, md);
        conv_case(12, 10, 2, 5, 5, 1, 2, 1, md);
        conv_case(9, 9, 1, 3, 7, 2, 3, 1, md);
        conv_case(6, 6, 7, 9, 3, 1, 1, 1, md);
        conv_case(10, 10, 1, 4, 8, 1, 0, 1, md);
    }
    /* the family's depthwise, and on AVX-512 also the kernel without VNNI that
     * CPUs lacking VNNI run (this CPU has AVX-512 if the family runs here) */
    pd_depthwise_q8_fn fns[2] = {pd_test_table->q8->depthwise, NULL};
#if PD_BUILD_X86
    if (pd_test_table->isa == PD_ISA_AVX512)
        fns[1] = pd_depthwise_q8_avx512;
#endif
    CHECK(pd_test_table->isa == PD_ISA_REF || pd_test_table->q8->depthwise != pd_depthwise_q8_ref,
          "the %s family has no int8 depthwise kernel of its own", pd_test_table->name);
    static const int32_t cs[] = {1, 7, 16, 17, 33, 64, 96, 130};
    for (int f = 0; f < 2 && fns[f] != NULL; f++) {
        for (size_t ci = 0; ci < sizeof cs / sizeof cs[0]; ci++)
            for (int32_t k = 3; k <= 5; k += 2)
                for (int32_t stride = 1; stride <= 2; stride++)
                    for (int32_t pad = 0; pad <= k / 2; pad += k / 2) {
                        depthwise_case(fns[f], 9, 11, cs[ci], k, stride, pad, 1, mode++ % 6);
                        depthwise_case(fns[f], 2, 3, cs[ci], k, stride, k / 2, 1, mode++ % 6);
                        depthwise_case(fns[f], 1, 1, cs[ci], k, stride, k / 2, 1, mode++ % 6);
                    }
        depthwise_case(fns[f], 9, 9, 19, 3, 1, 2, 2, 0);
        depthwise_case(fns[f], 8, 9, 32, 2, 1, 0, 1, 1);
        depthwise_case(fns[f], 7, 7, 24, 7, 1, 3, 1, 2);
        depthwise_case(fns[f], 12, 10, 48, 3, 3, 1, 1, 3);
        depthwise_case(fns[f], 6, 7, 100, 5, 1, 2, 2, 4);
        /* every mode on the shapes the SIMD kernels specialize, odd channels */
        for (int md = 0; md < 7; md++) {
            depthwise_case(fns[f], 7, 6, 23, 3, 1, 1, 1, md);
            depthwise_case(fns[f], 8, 5, 41, 5, 2, 2, 1, md);
        }
        /* more output rows than one band of the NEON kernel, split unevenly */
        depthwise_case(fns[f], 41, 37, 48, 3, 1, 1, 1, 6);
        depthwise_case(fns[f], 35, 29, 40, 5, 2, 2, 1, 0);
        depthwise_case(fns[f], 30, 30, 24, 3, 2, 1, 1, 3);
        /* asymmetric (SAME) padding, other kernel sizes, dilation */
        depthwise_case_pads(fns[f], 10, 9, 32, 3, 2, 1, 1, 0, 1);
        depthwise_case_pads(fns[f], 9, 10, 18, 5, 2, 2, 1, 6, 1);
        depthwise_case_pads(fns[f], 9, 9, 16, 5, 1, 2, 1, 2, 2);
        depthwise_case(fns[f], 9, 9, 16, 1, 1, 0, 1, 1);
        depthwise_case(fns[f], 5, 6, 20, 1, 2, 1, 1, 4);
        depthwise_case(fns[f], 9, 10, 17, 7, 2, 3, 1, 5);
        depthwise_case(fns[f], 11, 11, 16, 9, 1, 4, 1, 6);
        depthwise_case(fns[f], 11, 12, 35, 3, 2, 2, 2, 6);
        depthwise_case(fns[f], 6, 6, 15, 3, 1, 1, 1, 0);
        depthwise_case(fns[f], 4, 4, 8, 3, 1, 1, 1, 0);
    }
    static const size_t qn[] = {1, 15, 16, 17, 100, 1000};
    for (size_t i = 0; i < sizeof qn / sizeof qn[0]; i++) {
        quantize_case(qn[i], 0.0187f, 114);
        quantize_case(qn[i], 1.0f / 255.0f, 0);
        quantize_case(qn[i], 3.0f, 255);
    }
    for (int32_t kind = PD_BIN_ADD; kind <= PD_BIN_MUL; kind++)
        for (int md = 0; md < 3; md++) {
            binary_case(5, 7, 33, 0, 0, 0, kind, md);
            binary_case(3, 4, 64, 1, 1, 0, kind, md);
            binary_case(3, 4, 17, 0, 0, 1, kind, md);
            binary_case(1, 1, 1, 0, 0, 0, kind, md);
            binary_case(56, 56, 24, 0, 0, 0, kind, md);
        }
    /* lengths around the SIMD steps (8, 16), shifts over their whole range */
    for (int32_t kind = PD_BIN_ADD; kind <= PD_BIN_MUL; kind++)
        for (int md = 3; md < 7; md++) {
            binary_case(1, 1, 8, 0, 0, 0, kind, md);
            binary_case(1, 3, 5, 0, 0, 0, kind, md);
            binary_case(2, 4, 2, 0, 0, 0, kind, md);
            binary_case(3, 3, 37, 0, 0, 0, kind, md);
        }
}
