/* rq_neon.h: the requantizing output stage of docs/quantization.md on 4
 * int32 lanes with NEON, for the int8 kernels of arm/ (aarch64 and armv7:
 * only intrinsics both have).  Included by files that define
 * PD_NEON_INTRINSICS before including neon.h.
 *
 * General rule, any shift 1 <= n <= 62: rq(x) = (x * m + 2^(n-1)) >> n in
 * int64: vmull_s32 forms x * m exactly, vrshlq_s64 by -n is that rounding
 * shift (the architecture rounds before shifting, in full precision), a
 * saturating narrow to int32 keeps the order, so the clamp to [lo, hi] - zero
 * that follows gives the bytes of pd_rq_out.
 *
 * Fast rule, when every lane's n >= 32 (the usual case: the real multiplier
 * is below 1/2): vqdmulhq_s32 gives d = floor(2 x m / 2^32) = floor(x m / 2^31)
 * (it saturates only for x = m = -2^31, and m >= 0 is checked at load).  Writing
 * x m = 2^31 d + l with 0 <= l < 2^31:
 *   (x m + 2^(n-1)) >> n = floor((d + 2^(n-32) + l / 2^31) / 2^(n-31))
 *                        = (d + 2^(n-32)) >> (n-31),
 * since d + 2^(n-32) is an integer and l / 2^31 < 1 cannot reach the next
 * multiple of 2^(n-31).  That is vrshlq_s32(d, -(n-31)), a rounding shift by
 * 1 .. 31 computed in full precision, and |d| <= 2^31 keeps it in int32.  Two
 * instructions instead of six, bit for bit the same. */
#ifndef PD_RQ_NEON_H
#define PD_RQ_NEON_H

#include <string.h>

#include "kernels/q8.h"

/* One stage for 4 channels: multipliers and negated shifts (for the fast
 * rule, -(n - 31)). */
typedef struct pd_rq4 {
    int32x4_t m, nn;
} pd_rq4;

/* The clamp and zero point of a stage, and whether the fast rule applies to
 * every channel it was prepared for. */
typedef struct pd_rq_clamp {
    int32x4_t lo, hi, zero; /* lo - zero and hi - zero (general), lo and hi (fast) */
    int fast;
} pd_rq_clamp;

/* Channels [j, j + count) of rq into q (count <= 4 * nq; lanes past count get
 * a harmless multiplier 0 and shift 40); returns whether the fast rule
 * applies to all of them. */
static inline int pd_rq4_load(const pd_requant *rq, size_t j, size_t count, pd_rq4 *q, int nq)
{
    int32_t m[16] = {0}, n[16];
    for (int i = 0; i < 16; i++)
        n[i] = 40;
    memcpy(m, rq->mult + j, count * sizeof(int32_t));
    memcpy(n, rq->shift + j, count * sizeof(int32_t));
    int fast = 1;
    for (size_t i = 0; i < count; i++)
        fast &= n[i] >= 32;
    for (int i = 0; i < nq; i++) {
        q[i].m = vld1q_s32(m + 4 * i);
        const int32x4_t nv = vld1q_s32(n + 4 * i);
        q[i].nn = fast ? vsubq_s32(vdupq_n_s32(31), nv) : vnegq_s32(nv);
    }
    return fast;
}

static inline pd_rq_clamp pd_rq_clamp_of(const pd_requant *rq, int fast)
{
    pd_rq_clamp c;
    c.fast = fast;
    c.zero = vdupq_n_s32(rq->zero);
    c.lo = vdupq_n_s32(fast ? rq->lo : rq->lo - rq->zero);
    c.hi = vdupq_n_s32(fast ? rq->hi : rq->hi - rq->zero);
    return c;
}

/* clamp(zero + rq(x), lo, hi) of 4 lanes, as int32 in [0, 255]. */
static inline int32x4_t pd_rq4_apply(int32x4_t x, const pd_rq4 *q, const pd_rq_clamp *c)
{
    if (c->fast) {
        const int32x4_t v = vaddq_s32(vrshlq_s32(vqdmulhq_s32(x, q->m), q->nn), c->zero);
        return vminq_s32(vmaxq_s32(v, c->lo), c->hi);
    }
    const int64x2_t a = vrshlq_s64(vmull_s32(vget_low_s32(x), vget_low_s32(q->m)),
                                   vmovl_s32(vget_low_s32(q->nn)));
    const int64x2_t b = vrshlq_s64(vmull_s32(vget_high_s32(x), vget_high_s32(q->m)),
                                   vmovl_s32(vget_high_s32(q->nn)));
    const int32x4_t v = vcombine_s32(vqmovn_s64(a), vqmovn_s64(b));
    return vaddq_s32(vminq_s32(vmaxq_s32(v, c->lo), c->hi), c->zero);
}

/* Two vectors of lanes in [0, 255] to 8 bytes. */
static inline uint8x8_t pd_rq_narrow8(int32x4_t a, int32x4_t b)
{
    return vqmovn_u16(vcombine_u16(vqmovun_s32(a), vqmovun_s32(b)));
}

/* bytes[i] = lut[bytes[i]] for i < n when the stage has a table. */
static inline void pd_rq_lut(const pd_requant *rq, uint8_t *bytes, size_t n)
{
    if (rq->lut != NULL)
        for (size_t i = 0; i < n; i++)
            bytes[i] = rq->lut[bytes[i]];
}

/* Pairwise sums of adjacent lanes of a then b: (a0+a1, a2+a3, b0+b1, b2+b3),
 * wrapping (vpaddq_s32 on aarch64, two vpadd_s32 on armv7). */
static inline int32x4_t pd_padd_s32(int32x4_t a, int32x4_t b)
{
#if defined(__aarch64__)
    return vpaddq_s32(a, b);
#else
    return vcombine_s32(vpadd_s32(vget_low_s32(a), vget_high_s32(a)),
                        vpadd_s32(vget_low_s32(b), vget_high_s32(b)));
#endif
}

#endif
