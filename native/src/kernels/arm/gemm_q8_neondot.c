/* gemm_q8_neondot.c: the int8 GEMM of kernels/q8.h (packed Q8PANELS weights,
 * requantized uint8 output) with the armv8.2-a dot product (aarch64 only).
 *
 * One 64-byte row of a panel is 4 k of 16 channels: four 16-byte vectors of
 * 4 channels x 4 k, each the operand of one SDOT against the row's 4
 * activations repeated in every lane.  SDOT is signed x signed, so the
 * activations are flipped to a - 128 (XOR 0x80) and sum a*w = sum (a-128)*w
 * + 128 * sum w restores the product (docs/quantization.md); sum w per
 * channel is computed once per panel and call, with SDOT against ones.  The
 * padding bytes of a row's last group are flipped too, but meet zero weights.
 * Wrapping int32 adds, as the reference's uint32 sum.  Output stage: vmull_s32
 * and the rounding shift vrshlq_s64 (x + 2^(n-1)) >> n, the spec's rule, a
 * saturating narrow (order-preserving, so the clamp after it is the same). */
#include "kernels/kernels.h"

#if PD_BUILD_NEONDOT
#pragma GCC target("arch=armv8.2-a+dotprod")
#include <string.h>

#define PD_NEON_INTRINSICS
#include "kernels/arm/neon.h"
#include "kernels/q8.h"

/* The 4 bytes p[0..take) of a row group (zero-extended), flipped, in every lane. */
static inline int8x16_t row_group(const uint8_t *p, size_t take)
{
    uint32_t v = 0;
    if (take == 4)
        memcpy(&v, p, 4);
    else
        for (size_t i = 0; i < take; i++)
            v |= (uint32_t)p[i] << (8 * i);
    return vreinterpretq_s8_u32(vdupq_n_u32(v ^ 0x80808080u));
}

/* clamp(zero + rq(x)) of 4 lanes with multipliers m and negated shifts nn. */
static inline int32x4_t rq4(int32x4_t x, int32x4_t m, int64x2_t nn_lo, int64x2_t nn_hi, int32x4_t lo,
                            int32x4_t hi, int32x4_t zero)
{
    const int64x2_t a = vrshlq_s64(vmull_s32(vget_low_s32(x), vget_low_s32(m)), nn_lo);
    const int64x2_t b = vrshlq_s64(vmull_high_s32(x, m), nn_hi);
    const int32x4_t v = vcombine_s32(vqmovn_s64(a), vqmovn_s64(b));
    return vaddq_s32(vminq_s32(vmaxq_s32(v, lo), hi), zero);
}

/* Rows [0, mr) (mr <= 4) of one panel of `cols` (<= 16) channels. */
static inline __attribute__((always_inline)) void tile(
    const int MR, size_t k, const uint8_t *a, size_t lda, const int8_t *b, const int32x4_t start[4],
    const pd_requant *rq, size_t j0, size_t cols, void *out, size_t ldc, const double *real)
{
    uint8_t *c = out;
    int32x4_t acc[4][4];
#pragma GCC unroll 4
    for (int r = 0; r < MR; r++)
#pragma GCC unroll 4
        for (int q = 0; q < 4; q++)
            acc[r][q] = start[q];
    const size_t groups = (k + 3) / 4;
    for (size_t g = 0; g < groups; g++) {
        const int8_t *bp = b + g * 64;
        const int8x16_t w0 = vld1q_s8(bp), w1 = vld1q_s8(bp + 16), w2 = vld1q_s8(bp + 32),
                        w3 = vld1q_s8(bp + 48);
        const size_t take = g * 4 + 4 <= k ? 4 : k - g * 4;
#pragma GCC unroll 4
        for (int r = 0; r < MR; r++) {
            const int8x16_t av = row_group(a + (size_t)r * lda + g * 4, take);
            acc[r][0] = vdotq_s32(acc[r][0], av, w0);
            acc[r][1] = vdotq_s32(acc[r][1], av, w1);
            acc[r][2] = vdotq_s32(acc[r][2], av, w2);
            acc[r][3] = vdotq_s32(acc[r][3], av, w3);
        }
    }
    if (real != NULL) { /* the float output stage: pd_rq_float of the sums */
#pragma GCC unroll 4
        for (int r = 0; r < MR; r++) {
            int32_t sums[16];
            for (int q = 0; q < 4; q++)
                vst1q_s32(sums + 4 * q, acc[r][q]);
            float *fr = (float *)out + (size_t)r * ldc;
            for (size_t j = 0; j < cols; j++)
                fr[j] = pd_rq_float(sums[j], real[j]);
        }
        return;
    }
    int32_t mult[16] = {0}, shift[16];
    for (int i = 0; i < 16; i++)
        shift[i] = 1;
    memcpy(mult, rq->mult + j0, cols * sizeof(int32_t));
    memcpy(shift, rq->shift + j0, cols * sizeof(int32_t));
    const int32x4_t lo = vdupq_n_s32(rq->lo - rq->zero), hi = vdupq_n_s32(rq->hi - rq->zero);
    const int32x4_t zero = vdupq_n_s32(rq->zero);
#pragma GCC unroll 4
    for (int r = 0; r < MR; r++) {
        int32x4_t v[4];
#pragma GCC unroll 4
        for (int q = 0; q < 4; q++) {
            const int32x4_t nn = vnegq_s32(vld1q_s32(shift + 4 * q));
            v[q] = rq4(acc[r][q], vld1q_s32(mult + 4 * q), vmovl_s32(vget_low_s32(nn)),
                       vmovl_high_s32(nn), lo, hi, zero);
        }
        const uint16x8_t h0 = vcombine_u16(vqmovun_s32(v[0]), vqmovun_s32(v[1]));
        const uint16x8_t h1 = vcombine_u16(vqmovun_s32(v[2]), vqmovun_s32(v[3]));
        uint8_t bytes[16];
        vst1q_u8(bytes, vcombine_u8(vqmovn_u16(h0), vqmovn_u16(h1)));
        uint8_t *cr = c + (size_t)r * ldc;
        if (rq->lut != NULL)
            for (size_t j = 0; j < cols; j++)
                cr[j] = rq->lut[bytes[j]];
        else
            memcpy(cr, bytes, cols);
    }
}

static void tile4(size_t k, const uint8_t *a, size_t lda, const int8_t *b, const int32x4_t start[4],
                  const pd_requant *rq, size_t j0, size_t cols, void *c, size_t ldc, const double *real)
{
    tile(4, k, a, lda, b, start, rq, j0, cols, c, ldc, real);
}

static void tile1(size_t k, const uint8_t *a, size_t lda, const int8_t *b, const int32x4_t start[4],
                  const pd_requant *rq, size_t j0, size_t cols, void *c, size_t ldc, const double *real)
{
    tile(1, k, a, lda, b, start, rq, j0, cols, c, ldc, real);
}

/* c is uint8_t (fout 0) or float (fout 1). */
static void gemm(size_t m, size_t n, size_t k, const uint8_t *a, size_t lda, const int8_t *b,
                 const int32_t *bias, const pd_requant *rq, void *c, size_t ldc, int fout)
{
    const size_t kp = pd_q8_kpad(k);
    const size_t size = fout ? sizeof(float) : 1;
    const int8x16_t ones = vdupq_n_s8(1);
    for (size_t j0 = 0; j0 < n; j0 += 16) {
        const size_t cols = n - j0 < 16 ? n - j0 : 16;
        const int8_t *bj = b + j0 * kp;
        /* bias + 128 * sum w per channel: the start of every accumulator */
        int32x4_t wsum[4] = {vdupq_n_s32(0), vdupq_n_s32(0), vdupq_n_s32(0), vdupq_n_s32(0)};
        for (size_t g = 0; g < kp / 4; g++)
            for (int q = 0; q < 4; q++)
                wsum[q] = vdotq_s32(wsum[q], ones, vld1q_s8(bj + g * 64 + q * 16));
        int32_t bias16[16] = {0};
        if (bias != NULL)
            memcpy(bias16, bias + j0, cols * sizeof(int32_t));
        int32x4_t start[4];
        for (int q = 0; q < 4; q++)
            start[q] = vreinterpretq_s32_u32(vaddq_u32(vreinterpretq_u32_s32(vld1q_s32(bias16 + 4 * q)),
                                                       vshlq_n_u32(vreinterpretq_u32_s32(wsum[q]), 7)));
        double real[16] = {0};
        for (size_t j = 0; fout && j < cols; j++)
            real[j] = pd_rq_real(rq->mult[j0 + j], rq->shift[j0 + j]);
        size_t i = 0;
        for (; i + 4 <= m; i += 4)
            tile4(k, a + i * lda, lda, bj, start, rq, j0, cols, (unsigned char *)c + (i * ldc + j0) * size, ldc,
                  fout ? real : NULL);
        for (; i < m; i++)
            tile1(k, a + i * lda, lda, bj, start, rq, j0, cols, (unsigned char *)c + (i * ldc + j0) * size, ldc,
                  fout ? real : NULL);
    }
}

void pd_gemm_q8_neondot(size_t m, size_t n, size_t k, const uint8_t *a, size_t lda, const int8_t *b,
                        const int32_t *bias, const pd_requant *rq, uint8_t *c, size_t ldc)
{
    gemm(m, n, k, a, lda, b, bias, rq, c, ldc, 0);
}

void pd_gemm_q8f_neondot(size_t m, size_t n, size_t k, const uint8_t *a, size_t lda, const int8_t *b,
                         const int32_t *bias, const pd_requant *rq, float *c, size_t ldc)
{
    gemm(m, n, k, a, lda, b, bias, rq, c, ldc, 1);
}
#endif
