/* sha256_lanes.h: the body of the SHA-256 lane kernels (kernels/sha256.h),
 * written once for every vector type.
 *
 * PD_SHA256_LANE_BLOCK(VEC, ADD, s, w) runs the 64 rounds of one block on the
 * chaining values s[0..7] (vectors of type VEC, one stream per lane) with the
 * schedule ring w[16] holding the block's message words, and adds the result
 * into s.  The including kernel file defines, for its instruction set,
 *   ROUND(a, b, c, d, e, f, g, h, w, t)  one round: d += T1, h = T1 + T2
 *                                        (the caller renames instead of moving)
 *   SCHEDULE(w, i)                       W[t] into ring slot i, for t >= 16
 * and ADD(x, y), lane-wise 32-bit addition. */
#ifndef PD_SHA256_LANES_H
#define PD_SHA256_LANES_H

#define PD_SHA256_LANE_BLOCK(VEC, ADD, s, w)                                                     \
    do {                                                                                         \
        VEC a = s[0], b = s[1], c = s[2], d = s[3], e = s[4], f = s[5], g = s[6], hh = s[7];     \
        for (int t = 0; t < 64; t += 16) {                                                       \
            if (t > 0)                                                                           \
                for (int i = 0; i < 16; i++)                                                     \
                    SCHEDULE(w, i);                                                              \
            ROUND(a, b, c, d, e, f, g, hh, w[0], t + 0);                                         \
            ROUND(hh, a, b, c, d, e, f, g, w[1], t + 1);                                         \
            ROUND(g, hh, a, b, c, d, e, f, w[2], t + 2);                                         \
            ROUND(f, g, hh, a, b, c, d, e, w[3], t + 3);                                         \
            ROUND(e, f, g, hh, a, b, c, d, w[4], t + 4);                                         \
            ROUND(d, e, f, g, hh, a, b, c, w[5], t + 5);                                         \
            ROUND(c, d, e, f, g, hh, a, b, w[6], t + 6);                                         \
            ROUND(b, c, d, e, f, g, hh, a, w[7], t + 7);                                         \
            ROUND(a, b, c, d, e, f, g, hh, w[8], t + 8);                                         \
            ROUND(hh, a, b, c, d, e, f, g, w[9], t + 9);                                         \
            ROUND(g, hh, a, b, c, d, e, f, w[10], t + 10);                                       \
            ROUND(f, g, hh, a, b, c, d, e, w[11], t + 11);                                       \
            ROUND(e, f, g, hh, a, b, c, d, w[12], t + 12);                                       \
            ROUND(d, e, f, g, hh, a, b, c, w[13], t + 13);                                       \
            ROUND(c, d, e, f, g, hh, a, b, w[14], t + 14);                                       \
            ROUND(b, c, d, e, f, g, hh, a, w[15], t + 15);                                       \
        }                                                                                        \
        s[0] = ADD(s[0], a);                                                                     \
        s[1] = ADD(s[1], b);                                                                     \
        s[2] = ADD(s[2], c);                                                                     \
        s[3] = ADD(s[3], d);                                                                     \
        s[4] = ADD(s[4], e);                                                                     \
        s[5] = ADD(s[5], f);                                                                     \
        s[6] = ADD(s[6], g);                                                                     \
        s[7] = ADD(s[7], hh);                                                                    \
    } while (0)

#endif
