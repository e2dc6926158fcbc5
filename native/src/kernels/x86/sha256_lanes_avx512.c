/* sha256_lanes_avx512.c: the SHA-256 compression function on 16 streams at
 * once, one per 32-bit lane of a zmm register (kernels/sha256.h), for the
 * tree checksum on x86 CPUs without the SHA extensions.
 *
 * AVX-512 has what the rounds want: a rotate (vprord) and three-input logic
 * (vpternlogd: Ch, Maj and the three-way XORs of the sigmas each in one
 * instruction).  Lane l's message word t is fetched with a gather at byte
 * offset l * stride from the block's word t, and byte-swapped to big-endian
 * with vpshufb (AVX-512 BW). */
#include "kernels/sha256.h"
#include "kernels/sha256_lanes.h"

#if PD_BUILD_X86
#pragma GCC target("avx512f,avx512bw")
#include <immintrin.h>

#define XOR3 0x96   /* a ^ b ^ c */
#define CH 0xca     /* a ? b : c */
#define MAJ 0xe8    /* at least two of a, b, c */

static inline __m512i big_sigma0(__m512i x)
{
    return _mm512_ternarylogic_epi32(_mm512_ror_epi32(x, 2), _mm512_ror_epi32(x, 13),
                                     _mm512_ror_epi32(x, 22), XOR3);
}

static inline __m512i big_sigma1(__m512i x)
{
    return _mm512_ternarylogic_epi32(_mm512_ror_epi32(x, 6), _mm512_ror_epi32(x, 11),
                                     _mm512_ror_epi32(x, 25), XOR3);
}

static inline __m512i small_sigma0(__m512i x)
{
    return _mm512_ternarylogic_epi32(_mm512_ror_epi32(x, 7), _mm512_ror_epi32(x, 18), _mm512_srli_epi32(x, 3), XOR3);
}

static inline __m512i small_sigma1(__m512i x)
{
    return _mm512_ternarylogic_epi32(_mm512_ror_epi32(x, 17), _mm512_ror_epi32(x, 19), _mm512_srli_epi32(x, 10), XOR3);
}

/* One round on state (a .. h) with schedule word w and constant index t; the
 * caller renames the variables instead of moving them. */
#define ROUND(a, b, c, d, e, f, g, h, w, t)                                                      \
    do {                                                                                         \
        const __m512i t1 = _mm512_add_epi32(                                                     \
            _mm512_add_epi32(h, big_sigma1(e)),                                                  \
            _mm512_add_epi32(_mm512_ternarylogic_epi32(e, f, g, CH),                             \
                             _mm512_add_epi32(w, _mm512_set1_epi32((int)pd_sha256_k[t]))));     \
        const __m512i t2 = _mm512_add_epi32(big_sigma0(a), _mm512_ternarylogic_epi32(a, b, c, MAJ)); \
        d = _mm512_add_epi32(d, t1);                                                             \
        h = _mm512_add_epi32(t1, t2);                                                            \
    } while (0)

/* Schedule word t + i (t >= 16) into ring slot i: W[t] = s1(W[t-2]) + W[t-7]
 * + s0(W[t-15]) + W[t-16]. */
#define SCHEDULE(w, i)                                                                           \
    (w[i] = _mm512_add_epi32(                                                                    \
         _mm512_add_epi32(small_sigma1(w[((i) + 14) & 15]), w[((i) + 9) & 15]),                  \
         _mm512_add_epi32(small_sigma0(w[((i) + 1) & 15]), w[i])))

void pd_sha256_lanes_avx512(uint32_t *h, const unsigned char *p, size_t stride, size_t n)
{
    const __m512i offsets = _mm512_mullo_epi32(
        _mm512_set_epi32(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0),
        _mm512_set1_epi32((int)stride));
    const __m512i byteswap = _mm512_broadcast_i32x4(
        _mm_set_epi8(12, 13, 14, 15, 8, 9, 10, 11, 4, 5, 6, 7, 0, 1, 2, 3));
    __m512i s[8];
    for (int j = 0; j < 8; j++)
        s[j] = _mm512_loadu_si512((const void *)(h + 16 * j));

    for (size_t blk = 0; blk < n; blk++, p += 64) {
        __m512i w[16];
        for (int t = 0; t < 16; t++)
            w[t] = _mm512_shuffle_epi8(_mm512_i32gather_epi32(offsets, (const void *)(p + 4 * t), 1),
                                       byteswap);
        PD_SHA256_LANE_BLOCK(__m512i, _mm512_add_epi32, s, w);
    }
    for (int j = 0; j < 8; j++)
        _mm512_storeu_si512((void *)(h + 16 * j), s[j]);
}
#endif
