/* sha256_lanes_neon.c: the SHA-256 compression function on 4 streams at
 * once, one per 32-bit lane of a NEON register (kernels/sha256.h), for the
 * tree checksum on ARM CPUs without the SHA2 instructions: armv7 and the
 * Raspberry Pi 4's Cortex-A72, whose SoC leaves the crypto extension out.
 * One file for aarch64 and armv7 (only common intrinsics).
 *
 * A rotate is a shift left and a shift right-and-insert (vsri); Ch is a bit
 * select, and so is Maj (where a and b differ, c decides).  Each lane's block
 * is loaded as four rows of four words, byte-swapped (vrev32) and transposed
 * four words at a time, so vector t holds word t of every lane. */
#include "kernels/kernels.h"

#if PD_BUILD_NEON
#define PD_NEON_INTRINSICS
#include "kernels/arm/neon.h"
#include "kernels/sha256.h"
#include "kernels/sha256_lanes.h"

#define ROR(x, n) vsriq_n_u32(vshlq_n_u32(x, 32 - (n)), x, n)
#define XOR3(a, b, c) veorq_u32(veorq_u32(a, b), c)
#define BIG_SIGMA0(x) XOR3(ROR(x, 2), ROR(x, 13), ROR(x, 22))
#define BIG_SIGMA1(x) XOR3(ROR(x, 6), ROR(x, 11), ROR(x, 25))
#define SMALL_SIGMA0(x) XOR3(ROR(x, 7), ROR(x, 18), vshrq_n_u32(x, 3))
#define SMALL_SIGMA1(x) XOR3(ROR(x, 17), ROR(x, 19), vshrq_n_u32(x, 10))

/* One round on state (a .. h) with schedule word w and constant index t; the
 * caller renames the variables instead of moving them. */
#define ROUND(a, b, c, d, e, f, g, h, w, t)                                                      \
    do {                                                                                         \
        const uint32x4_t t1 = vaddq_u32(                                                         \
            vaddq_u32(h, BIG_SIGMA1(e)),                                                         \
            vaddq_u32(vbslq_u32(e, f, g), vaddq_u32(w, vdupq_n_u32(pd_sha256_k[t]))));           \
        const uint32x4_t t2 = vaddq_u32(BIG_SIGMA0(a), vbslq_u32(veorq_u32(a, b), c, b));        \
        d = vaddq_u32(d, t1);                                                                    \
        h = vaddq_u32(t1, t2);                                                                   \
    } while (0)

#define SCHEDULE(w, i)                                                                           \
    (w[i] = vaddq_u32(vaddq_u32(SMALL_SIGMA1(w[((i) + 14) & 15]), w[((i) + 9) & 15]),             \
                      vaddq_u32(SMALL_SIGMA0(w[((i) + 1) & 15]), w[i])))

static inline uint32x4_t load_be(const unsigned char *p)
{
    return vreinterpretq_u32_u8(vrev32q_u8(vld1q_u8(p)));
}

/* w[4g .. 4g+3] = words 4g .. 4g+3 of the four lanes' blocks. */
static void load_words(uint32x4_t w[16], const unsigned char *p, size_t stride)
{
    for (int g = 0; g < 4; g++) {
        const uint32x4x2_t t01 = vtrnq_u32(load_be(p + 16 * g), load_be(p + stride + 16 * g));
        const uint32x4x2_t t23 =
            vtrnq_u32(load_be(p + 2 * stride + 16 * g), load_be(p + 3 * stride + 16 * g));
        w[4 * g] = vcombine_u32(vget_low_u32(t01.val[0]), vget_low_u32(t23.val[0]));
        w[4 * g + 1] = vcombine_u32(vget_low_u32(t01.val[1]), vget_low_u32(t23.val[1]));
        w[4 * g + 2] = vcombine_u32(vget_high_u32(t01.val[0]), vget_high_u32(t23.val[0]));
        w[4 * g + 3] = vcombine_u32(vget_high_u32(t01.val[1]), vget_high_u32(t23.val[1]));
    }
}

void pd_sha256_lanes_neon(uint32_t *h, const unsigned char *p, size_t stride, size_t n)
{
    uint32x4_t s[8];
    for (int j = 0; j < 8; j++)
        s[j] = vld1q_u32(h + 4 * j);

    for (size_t blk = 0; blk < n; blk++, p += 64) {
        uint32x4_t w[16];
        load_words(w, p, stride);
        PD_SHA256_LANE_BLOCK(uint32x4_t, vaddq_u32, s, w);
    }
    for (int j = 0; j < 8; j++)
        vst1q_u32(h + 4 * j, s[j]);
}
#endif
