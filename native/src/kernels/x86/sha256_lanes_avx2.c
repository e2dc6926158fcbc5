/* sha256_lanes_avx2.c: the SHA-256 compression function on 8 streams at
 * once, one per 32-bit lane of a ymm register (kernels/sha256.h), for the
 * tree checksum on x86 CPUs with AVX2 but neither the SHA extensions nor
 * AVX-512.
 *
 * AVX2 has no rotate: each is two shifts and an OR.  Lane l's message word t
 * is fetched with a gather at byte offset l * stride from the block's word t
 * and byte-swapped to big-endian with vpshufb. */
#include "kernels/sha256.h"
#include "kernels/sha256_lanes.h"

#if PD_BUILD_X86
#pragma GCC target("avx2")
#include <immintrin.h>

#define ROR(x, n) _mm256_or_si256(_mm256_srli_epi32(x, n), _mm256_slli_epi32(x, 32 - (n)))
#define XOR3(a, b, c) _mm256_xor_si256(_mm256_xor_si256(a, b), c)

static inline __m256i big_sigma0(__m256i x)
{
    return XOR3(ROR(x, 2), ROR(x, 13), ROR(x, 22));
}

static inline __m256i big_sigma1(__m256i x)
{
    return XOR3(ROR(x, 6), ROR(x, 11), ROR(x, 25));
}

static inline __m256i small_sigma0(__m256i x)
{
    return XOR3(ROR(x, 7), ROR(x, 18), _mm256_srli_epi32(x, 3));
}

static inline __m256i small_sigma1(__m256i x)
{
    return XOR3(ROR(x, 17), ROR(x, 19), _mm256_srli_epi32(x, 10));
}

/* e ? f : g */
static inline __m256i ch(__m256i e, __m256i f, __m256i g)
{
    return _mm256_xor_si256(_mm256_and_si256(e, f), _mm256_andnot_si256(e, g));
}

/* At least two of a, b, c: where a and b differ, c decides. */
static inline __m256i maj(__m256i a, __m256i b, __m256i c)
{
    return _mm256_xor_si256(_mm256_and_si256(_mm256_xor_si256(a, b), c), _mm256_and_si256(a, b));
}

/* One round on state (a .. h) with schedule word w and constant index t; the
 * caller renames the variables instead of moving them. */
#define ROUND(a, b, c, d, e, f, g, h, w, t)                                                      \
    do {                                                                                         \
        const __m256i t1 = _mm256_add_epi32(                                                     \
            _mm256_add_epi32(h, big_sigma1(e)),                                                  \
            _mm256_add_epi32(ch(e, f, g),                                                        \
                             _mm256_add_epi32(w, _mm256_set1_epi32((int)pd_sha256_k[t]))));     \
        const __m256i t2 = _mm256_add_epi32(big_sigma0(a), maj(a, b, c));                        \
        d = _mm256_add_epi32(d, t1);                                                             \
        h = _mm256_add_epi32(t1, t2);                                                            \
    } while (0)

/* Schedule word t + i (t >= 16) into ring slot i: W[t] = s1(W[t-2]) + W[t-7]
 * + s0(W[t-15]) + W[t-16]. */
#define SCHEDULE(w, i)                                                                           \
    (w[i] = _mm256_add_epi32(                                                                    \
         _mm256_add_epi32(small_sigma1(w[((i) + 14) & 15]), w[((i) + 9) & 15]),                  \
         _mm256_add_epi32(small_sigma0(w[((i) + 1) & 15]), w[i])))

void pd_sha256_lanes_avx2(uint32_t *h, const unsigned char *p, size_t stride, size_t n)
{
    const __m256i offsets = _mm256_mullo_epi32(_mm256_set_epi32(7, 6, 5, 4, 3, 2, 1, 0),
                                               _mm256_set1_epi32((int)stride));
    const __m256i byteswap = _mm256_broadcastsi128_si256(
        _mm_set_epi8(12, 13, 14, 15, 8, 9, 10, 11, 4, 5, 6, 7, 0, 1, 2, 3));
    __m256i s[8];
    for (int j = 0; j < 8; j++)
        s[j] = _mm256_loadu_si256((const __m256i *)(const void *)(h + 8 * j));

    for (size_t blk = 0; blk < n; blk++, p += 64) {
        __m256i w[16];
        for (int t = 0; t < 16; t++)
            w[t] = _mm256_shuffle_epi8(
                _mm256_i32gather_epi32((const int *)(const void *)(p + 4 * t), offsets, 1), byteswap);
        PD_SHA256_LANE_BLOCK(__m256i, _mm256_add_epi32, s, w);
    }
    for (int j = 0; j < 8; j++)
        _mm256_storeu_si256((__m256i *)(void *)(h + 8 * j), s[j]);
}
#endif
