/* sha256_armv8.c: the SHA-256 compression function with the ARMv8 SHA2
 * instructions (aarch64, HWCAP_SHA2; an optional part of ARMv8-A: the
 * Cortex-A53 and A72 of the Raspberry Pi 3 and 4 lack it, the A76 of the
 * Pi 5 has it).
 *
 * sha256h and sha256h2 do four rounds between them on the state as
 * {a, b, c, d} and {e, f, g, h} (lane 0 first), given W[t..t+3] + K[t..t+3]:
 * sha256h returns the new {a, b, c, d}, sha256h2 the new {e, f, g, h} from
 * the old {a, b, c, d}, hence the copy.  sha256su0 and sha256su1 compute the
 * schedule four words at a time:
 *   W[t..t+3] = su1(su0(W[t-16..t-13], W[t-12..t-9]), W[t-8..t-5], W[t-4..t-1]).
 * The message words are big-endian: vrev32q_u8 swaps their bytes. */
#include "kernels/sha256.h"

#if PD_BUILD_SHA256_ARMV8
#pragma GCC target("arch=armv8-a+crypto")
#include <arm_neon.h>

void pd_sha256_blocks_armv8(uint32_t h[8], const unsigned char *p, size_t n)
{
    uint32x4_t abcd = vld1q_u32(h);
    uint32x4_t efgh = vld1q_u32(h + 4);

    for (size_t b = 0; b < n; b++, p += 64) {
        const uint32x4_t abcd_in = abcd, efgh_in = efgh;
        /* w0..w3: the schedule words W[4g .. 4g+15] of group g, lane 0 first. */
        uint32x4_t w0 = vreinterpretq_u32_u8(vrev32q_u8(vld1q_u8(p)));
        uint32x4_t w1 = vreinterpretq_u32_u8(vrev32q_u8(vld1q_u8(p + 16)));
        uint32x4_t w2 = vreinterpretq_u32_u8(vrev32q_u8(vld1q_u8(p + 32)));
        uint32x4_t w3 = vreinterpretq_u32_u8(vrev32q_u8(vld1q_u8(p + 48)));
        for (int g = 0; g < 16; g++) {
            const uint32x4_t wk = vaddq_u32(w0, vld1q_u32(pd_sha256_k + 4 * g));
            const uint32x4_t abcd_old = abcd;
            abcd = vsha256hq_u32(abcd, efgh, wk);
            efgh = vsha256h2q_u32(efgh, abcd_old, wk);
            if (g < 12) {
                const uint32x4_t next = vsha256su1q_u32(vsha256su0q_u32(w0, w1), w2, w3);
                w0 = w1;
                w1 = w2;
                w2 = w3;
                w3 = next;
            } else {
                w0 = w1;
                w1 = w2;
                w2 = w3;
            }
        }
        abcd = vaddq_u32(abcd, abcd_in);
        efgh = vaddq_u32(efgh, efgh_in);
    }
    vst1q_u32(h, abcd);
    vst1q_u32(h + 4, efgh);
}
#endif
