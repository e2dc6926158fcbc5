/* depthwise_q8_neon.c: the int8 depthwise convolution of kernels/q8.h with
 * NEON (aarch64 and armv7, one source; no dot product needed).
 *
 * Products.  NHWC puts 16 channels of a pixel side by side, and the HWC
 * weights of a tap too.  Activations are flipped to a - 128 (XOR 0x80) so
 * vmull_s8 can multiply them by the int8 weights: 8 exact int16 products per
 * instruction; sum_t a_t w_t = sum_t (a_t - 128) w_t + 128 sum_t w_t, the
 * second term folded into the accumulator's start once per channel block
 * (with the bias, wrapping).  Padding taps read z_in bytes (a 16-byte buffer
 * of them), as the reference multiplies z_in.  vmlal_s8 adds the next tap's
 * product into the same int16 lane: the weights are in [-127, 127] (never
 * -128, checked at load), so |(a - 128) w| <= 128 * 127 = 16256 and the sum
 * of two is at most 32512 <= 32767, exact; vaddw_s16 then adds the pair into
 * the channel's int32 lane, wrapping like the reference's uint32 sum.
 *
 * Blocking.  Blocks of 16 channels over bands of output rows, taps'
 * addresses computed per pixel (with no check inside the image, a
 * branch-free select of the z_in buffer at its borders): dw_q8_plan.h.  Four
 * int32x4 accumulators; the block's weights (one register per tap: 9 for
 * 3x3, which stay in aarch64's 32 registers; 5x5, and armv7's 16 registers,
 * reload some from the stack, an L1 hit) and its start are set up once per
 * band.  The multiply loop has no branch, fully unrolled for 3x3 and 5x5.
 * Output stage: rq_neon.h. */
#include "kernels/kernels.h"

#if PD_BUILD_NEON
#include <string.h>

#define PD_NEON_INTRINSICS
#include "kernels/arm/neon.h"
#include "kernels/arm/rq_neon.h"
#include "kernels/dw_q8_plan.h"
#include "kernels/q8.h"

#define MAX_TAPS PD_DWQ8_MAX_TAPS

/* (a - 128) as int8 for 16 activation bytes. */
static inline int8x16_t flip16(const uint8_t *p)
{
    return vreinterpretq_s8_u8(veorq_u8(vld1q_u8(p), vdupq_n_u8(0x80)));
}

/* acc[0..2) += the 8 int16 lanes of p (channels 0-3, 4-7 of a half). */
static inline void add16(int32x4_t acc[2], int16x8_t p)
{
    acc[0] = vaddw_s16(acc[0], vget_low_s16(p));
#if defined(__aarch64__)
    acc[1] = vaddw_high_s16(acc[1], p);
#else
    acc[1] = vaddw_s16(acc[1], vget_high_s16(p));
#endif
}

/* Output rows [r0, r1) of channels [c0, c0 + 16), T = KH * KW taps. */
static inline __attribute__((always_inline)) void block(const int KH, const int KW, const int FAST,
                                                        const pd_dwq8_call *cl, size_t c0, int32_t r0, int32_t r1)
{
    const pd_window_shape *s = cl->plan.s;
    const int T = KH * KW;
    const size_t c = (size_t)s->in.c;
    int8x16_t wv[MAX_TAPS];
    int32x4_t start[4] = {vdupq_n_s32(0), vdupq_n_s32(0), vdupq_n_s32(0), vdupq_n_s32(0)};
#pragma GCC unroll 25
    for (int t = 0; t < T; t++) {
        wv[t] = vld1q_s8(cl->w + (size_t)t * c + c0);
        const int16x8_t lo = vmovl_s8(vget_low_s8(wv[t])), hi = vmovl_s8(vget_high_s8(wv[t]));
        add16(start, lo);
        add16(start + 2, hi);
    }
    for (int q = 0; q < 4; q++) {
        /* bias + 128 * sum_t w_t, wrapping */
        const uint32x4_t b = cl->bias != NULL ? vreinterpretq_u32_s32(vld1q_s32(cl->bias + c0 + 4 * q))
                                              : vdupq_n_u32(0);
        start[q] = vreinterpretq_s32_u32(vaddq_u32(b, vshlq_n_u32(vreinterpretq_u32_s32(start[q]), 7)));
    }
    pd_rq4 rq4[4];
    pd_rq_clamp clamp = pd_rq_clamp_of(cl->rq, pd_rq4_load(cl->rq, c0, 16, rq4, 4));
    clamp.fast = FAST; /* the caller checked: a constant, so the output stage has no branch */
    for (int32_t oh = r0; oh < r1; oh++) {
        ptrdiff_t rowoff[MAX_TAPS];
        int rowok[MAX_TAPS];
        const int rows_in = pd_dwq8_rows(&cl->plan, oh, c0, rowoff, rowok);
        uint8_t *out = cl->y + (size_t)oh * (size_t)s->out.w * c + c0;
        for (int32_t ow = 0; ow < s->out.w; ow++, out += c) {
            const uint8_t *tp[MAX_TAPS];
            pd_dwq8_taps(KH, KW, &cl->plan, rowoff, rowok, rows_in, ow, tp);
            int32x4_t acc[4] = {start[0], start[1], start[2], start[3]};
            int t = 0;
#pragma GCC unroll 13
            for (; t + 2 <= T; t += 2) {
                const int8x16_t a0 = flip16(tp[t]), a1 = flip16(tp[t + 1]);
                add16(acc, pd_mlal_lo_s8(pd_mull_lo_s8(a0, wv[t]), a1, wv[t + 1]));
                add16(acc + 2, pd_mlal_hi_s8(pd_mull_hi_s8(a0, wv[t]), a1, wv[t + 1]));
            }
            if (t < T) {
                const int8x16_t a0 = flip16(tp[t]);
                add16(acc, pd_mull_lo_s8(a0, wv[t]));
                add16(acc + 2, pd_mull_hi_s8(a0, wv[t]));
            }
            const uint8x8_t b0 = pd_rq_narrow8(pd_rq4_apply(acc[0], &rq4[0], &clamp),
                                               pd_rq4_apply(acc[1], &rq4[1], &clamp));
            const uint8x8_t b1 = pd_rq_narrow8(pd_rq4_apply(acc[2], &rq4[2], &clamp),
                                               pd_rq4_apply(acc[3], &rq4[3], &clamp));
            vst1q_u8(out, vcombine_u8(b0, b1));
            pd_rq_lut(cl->rq, out, 16);
        }
    }
}

/* Whether the fast rule of rq_neon.h applies to channels [c0, c0 + 16). */
static int fast16(const pd_requant *rq, size_t c0)
{
    pd_rq4 unused[4];
    return pd_rq4_load(rq, c0, 16, unused, 4);
}

static void block33(const pd_dwq8_call *cl, size_t c0, int32_t r0, int32_t r1)
{
    if (fast16(cl->rq, c0))
        block(3, 3, 1, cl, c0, r0, r1);
    else
        block(3, 3, 0, cl, c0, r0, r1);
}

static void block55(const pd_dwq8_call *cl, size_t c0, int32_t r0, int32_t r1)
{
    if (fast16(cl->rq, c0))
        block(5, 5, 1, cl, c0, r0, r1);
    else
        block(5, 5, 0, cl, c0, r0, r1);
}

static void block_any(const pd_dwq8_call *cl, size_t c0, int32_t r0, int32_t r1)
{
    const int kh = cl->plan.s->kernel_h, kw = cl->plan.s->kernel_w;
    if (fast16(cl->rq, c0))
        block(kh, kw, 1, cl, c0, r0, r1);
    else
        block(kh, kw, 0, cl, c0, r0, r1);
}

void pd_depthwise_q8_neon(const pd_window_shape *s, const uint8_t *x, int32_t z_in, const int8_t *w,
                          const int32_t *bias, const pd_requant *rq, uint8_t *y, int32_t r0,
                          int32_t r1)
{
    if (!pd_dwq8_run(s, x, z_in, w, bias, rq, y, r0, r1, block33, block55, block_any))
        pd_depthwise_q8_ref(s, x, z_in, w, bias, rq, y, r0, r1);
}
#endif
