/* gemm_q8_neon.c: the int8 GEMM of kernels/q8.h (packed Q8PANELS weights,
 * requantized uint8 output) with plain NEON, for CPUs without the dot
 * product (Cortex-A53, A72, every armv7).  One source for aarch64 and armv7:
 * intrinsics both have, and helpers where aarch64 has a better form
 * (pd_padd_s32, the high-half products smull2 / smlal2).
 *
 * Products.  A 16-byte quarter of a panel row is 4 channels x 4 k; its two
 * 8-byte halves are 2 channels x 4 k.  The row's 4 activation bytes, repeated
 * twice, face each half in vmull_s8 (8 int16 products).  vmull_s8 is signed x
 * signed, so activations are flipped to a - 128 (XOR 0x80, in [-128, 127])
 * and sum a*w = sum (a - 128) * w + 128 * sum w restores the reference's
 * uint8 x int8 sum (the neondot kernel does the same); sum w per channel is
 * formed once per panel and call, by the first row tile as it streams the
 * weights (vpaddlq_s8, vpadalq_s16).
 *
 * Why no overflow: the weights are in [-127, 127] (the loader refuses -128,
 * docs/quantization.md), so one product has |(a - 128) * w| <= 128 * 127 =
 * 16256, and vmlal_s8 adds the product of the next k group into the same
 * int16 lane: |sum of two| <= 32512 <= 32767, exact.  A third would not fit
 * (48768), so vpadalq_s16 then folds each int16 pair into int32 lanes, and
 * int32 adds wrap like the reference's uint32 sum (the true total fits, see
 * the spec).  The int32 lanes hold (channel, k pair) halves; pd_padd_s32 adds
 * the two halves of a channel once, after the k loop.  Padding bytes of the
 * last k group are flipped too but meet zero weights.
 *
 * Blocking.  A micro-tile is MR rows x 8 channels (two quarters) and keeps
 * MR * 4 int32x4 accumulators: aarch64 MR = 4 (16 of its 32 registers, the
 * rest for the 4 weight quarters of two k groups, 8 broadcast activations
 * and the int16 products, so an in-order A53 never spills and each loaded
 * register feeds 4 multiplies); armv7 has 16 q registers, so MR = 2 (8
 * accumulators, 4 weights, 2 activation pairs).  Two k groups per step, as
 * the int16 pairing needs; the full groups run without branches, the last
 * partial group (the only one whose activation bytes are read one by one,
 * since only a[p] for p < k may be read) in a tail step.  Output stage:
 * rq_neon.h. */
#include "kernels/kernels.h"

#if PD_BUILD_NEON
/* GCC's pre-allocation scheduler hoists loads and products far enough to
 * spill accumulators (GCC 12: 3 of the 16 in aarch64's 4-row tile, 3 of the
 * 8 in armv7's 2-row one); without it both loops fit the registers (the
 * scheduling after allocation still runs). */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("no-schedule-insns")
#endif
#include <string.h>

#define PD_NEON_INTRINSICS
#include "kernels/arm/neon.h"
#include "kernels/arm/rq_neon.h"
#include "kernels/q8.h"

#if defined(__aarch64__)
#define MR_MAX 4
#else
#define MR_MAX 2
#endif

/* The 4 bytes p[0..take) of a k group (zero-extended), flipped, in every
 * 32-bit lane: both 8-byte halves face a half of a quarter row. */
static inline int8x16_t group4(const uint8_t *p, size_t take)
{
    uint32_t v = 0;
    if (take == 4)
        memcpy(&v, p, 4);
    else
        for (size_t i = 0; i < take; i++)
            v |= (uint32_t)p[i] << (8 * i);
    return vreinterpretq_s8_u32(vdupq_n_u32(v ^ 0x80808080u));
}

/* One panel's per-channel context: the accumulator start (bias + 128 * sum w,
 * wrapping) and the output stage of its 16 channels. */
typedef struct panel {
    int32_t bias16[16]; /* the panel's biases, 0 past its channels */
    int32x4_t start[4]; /* set by the first tile of each half (WS) */
    pd_rq4 rq[4];
    pd_rq_clamp clamp;
    const pd_requant *req;
} panel;

/* Rows [0, MR) x channels 8h .. 8h+8 of one panel (b: the panel), storing
 * `cols` (1 .. 8) of them at c.  With WS (the first tile of a panel half) it
 * also sums the weights it streams and sets the half's start in pn, which
 * the later tiles read: no separate pass over the weights, which would
 * double the memory traffic of a batch-1 FC layer. */
static inline __attribute__((always_inline)) void tile(
    const int MR, const int WS, size_t k, const uint8_t *a, size_t lda, const int8_t *b, int h,
    panel *pn, size_t cols, uint8_t *c, size_t ldc)
{
    /* per channel of quarters 2h, 2h+1: int8 pairs to int16 (|sum| <= 254),
     * then the two pairs of a channel into its int32 lane */
    int32x4_t ws[2] = {vdupq_n_s32(0), vdupq_n_s32(0)};
    int32x4_t acc[MR_MAX][2][2];
#pragma GCC unroll 4
    for (int r = 0; r < MR; r++)
#pragma GCC unroll 2
        for (int q = 0; q < 2; q++)
            acc[r][q][0] = acc[r][q][1] = vdupq_n_s32(0);
    const int8_t *bp = b + 32 * h; /* quarters 2h and 2h + 1 of each row */
    const size_t full = k / 4, groups = (k + 3) / 4;
    size_t g = 0;
    for (; g + 2 <= full; g += 2, bp += 128) {
        const int8x16_t w00 = vld1q_s8(bp), w01 = vld1q_s8(bp + 16);     /* group g */
        const int8x16_t w10 = vld1q_s8(bp + 64), w11 = vld1q_s8(bp + 80); /* group g+1 */
        if (WS) {
            ws[0] = vpadalq_s16(ws[0], vaddq_s16(vpaddlq_s8(w00), vpaddlq_s8(w10)));
            ws[1] = vpadalq_s16(ws[1], vaddq_s16(vpaddlq_s8(w01), vpaddlq_s8(w11)));
        }
#pragma GCC unroll 4
        for (int r = 0; r < MR; r++) {
            const uint8_t *ar = a + (size_t)r * lda + g * 4;
            const int8x16_t a0 = group4(ar, 4), a1 = group4(ar + 4, 4);
            acc[r][0][0] = vpadalq_s16(acc[r][0][0], pd_mlal_lo_s8(pd_mull_lo_s8(a0, w00), a1, w10));
            acc[r][0][1] = vpadalq_s16(acc[r][0][1], pd_mlal_hi_s8(pd_mull_hi_s8(a0, w00), a1, w10));
            acc[r][1][0] = vpadalq_s16(acc[r][1][0], pd_mlal_lo_s8(pd_mull_lo_s8(a0, w01), a1, w11));
            acc[r][1][1] = vpadalq_s16(acc[r][1][1], pd_mlal_hi_s8(pd_mull_hi_s8(a0, w01), a1, w11));
        }
    }
    /* 0, 1 or 2 groups left (at most one full, at most one partial): one at a time */
    for (; g < groups; g++, bp += 64) {
        const size_t take = g * 4 + 4 <= k ? 4 : k - g * 4;
        const int8x16_t w0 = vld1q_s8(bp), w1 = vld1q_s8(bp + 16);
        if (WS) {
            ws[0] = vpadalq_s16(ws[0], vpaddlq_s8(w0));
            ws[1] = vpadalq_s16(ws[1], vpaddlq_s8(w1));
        }
#pragma GCC unroll 4
        for (int r = 0; r < MR; r++) {
            const int8x16_t a0 = group4(a + (size_t)r * lda + g * 4, take);
            acc[r][0][0] = vpadalq_s16(acc[r][0][0], pd_mull_lo_s8(a0, w0));
            acc[r][0][1] = vpadalq_s16(acc[r][0][1], pd_mull_hi_s8(a0, w0));
            acc[r][1][0] = vpadalq_s16(acc[r][1][0], pd_mull_lo_s8(a0, w1));
            acc[r][1][1] = vpadalq_s16(acc[r][1][1], pd_mull_hi_s8(a0, w1));
        }
    }
    if (WS)
        for (int q = 0; q < 2; q++) /* bias + 128 * sum w, wrapping */
            pn->start[2 * h + q] = vreinterpretq_s32_u32(
                vaddq_u32(vreinterpretq_u32_s32(vld1q_s32(pn->bias16 + 8 * h + 4 * q)),
                          vshlq_n_u32(vreinterpretq_u32_s32(ws[q]), 7)));
#pragma GCC unroll 4
    for (int r = 0; r < MR; r++) {
        int32x4_t v[2];
#pragma GCC unroll 2
        for (int q = 0; q < 2; q++) {
            const int32x4_t sum = vreinterpretq_s32_u32(
                vaddq_u32(vreinterpretq_u32_s32(pd_padd_s32(acc[r][q][0], acc[r][q][1])),
                          vreinterpretq_u32_s32(pn->start[2 * h + q])));
            v[q] = pd_rq4_apply(sum, &pn->rq[2 * h + q], &pn->clamp);
        }
        uint8_t *cr = c + (size_t)r * ldc;
        if (cols == 8) {
            vst1_u8(cr, pd_rq_narrow8(v[0], v[1]));
        } else {
            uint8_t out[8];
            vst1_u8(out, pd_rq_narrow8(v[0], v[1]));
            memcpy(cr, out, cols);
        }
        pd_rq_lut(pn->req, cr, cols);
    }
}

/* The tile shapes, with and without the weight sums (WS). */
#define TILE_FN(name, MR, WS)                                                                     \
    static void name(size_t k, const uint8_t *a, size_t lda, const int8_t *b, int h, panel *pn,   \
                     size_t cols, uint8_t *c, size_t ldc)                                         \
    {                                                                                             \
        tile(MR, WS, k, a, lda, b, h, pn, cols, c, ldc);                                          \
    }
#if defined(__aarch64__)
TILE_FN(tile4, 4, 0)
TILE_FN(tile4_ws, 4, 1)
#endif
TILE_FN(tile2, 2, 0)
TILE_FN(tile2_ws, 2, 1)
TILE_FN(tile1, 1, 0)
TILE_FN(tile1_ws, 1, 1)

void pd_gemm_q8_neon(size_t m, size_t n, size_t k, const uint8_t *a, size_t lda, const int8_t *b,
                     const int32_t *bias, const pd_requant *rq, uint8_t *c, size_t ldc)
{
    const size_t kp = pd_q8_kpad(k);
    panel pn;
    pn.req = rq;
    for (size_t j0 = 0; j0 < n; j0 += 16) {
        const size_t cols = n - j0 < 16 ? n - j0 : 16;
        const int8_t *bj = b + j0 * kp;
        memset(pn.bias16, 0, sizeof pn.bias16);
        if (bias != NULL)
            memcpy(pn.bias16, bias + j0, cols * sizeof(int32_t));
        pn.clamp = pd_rq_clamp_of(rq, pd_rq4_load(rq, j0, cols, pn.rq, 4));
        /* the panel's second half only if it holds real channels */
        for (int h = 0; h < 2 && (size_t)(8 * h) < cols; h++) {
            const size_t hc = cols - 8 * (size_t)h < 8 ? cols - 8 * (size_t)h : 8;
            uint8_t *ch = c + j0 + 8 * (size_t)h;
            size_t i = 0;
            /* the first tile sums the weights (m >= 1: the core never calls with m = 0) */
#if defined(__aarch64__)
            if (m >= 4) {
                tile4_ws(k, a, lda, bj, h, &pn, hc, ch, ldc);
                i = 4;
            } else
#endif
            if (m >= 2) {
                tile2_ws(k, a, lda, bj, h, &pn, hc, ch, ldc);
                i = 2;
            } else if (m == 1) {
                tile1_ws(k, a, lda, bj, h, &pn, hc, ch, ldc);
                i = 1;
            }
#if defined(__aarch64__)
            for (; i + 4 <= m; i += 4)
                tile4(k, a + i * lda, lda, bj, h, &pn, hc, ch + i * ldc, ldc);
#endif
            for (; i + 2 <= m; i += 2)
                tile2(k, a + i * lda, lda, bj, h, &pn, hc, ch + i * ldc, ldc);
            for (; i < m; i++)
                tile1(k, a + i * lda, lda, bj, h, &pn, hc, ch + i * ldc, ldc);
        }
    }
}
#endif
