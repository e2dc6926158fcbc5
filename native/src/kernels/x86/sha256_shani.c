/* sha256_shani.c: the SHA-256 compression function with the x86 SHA
 * extensions (cpuid leaf 7 EBX bit 29; Intel since Goldmont and Ice Lake,
 * AMD since Zen), about five times the reference's speed.
 *
 * sha256rnds2 does two rounds on the state split as {A, B, E, F} and
 * {C, D, G, H} (lanes high to low), taking W[t] + K[t] for the two rounds in
 * the low lanes of its third operand; after two rounds the old {A, B, E, F}
 * is the new {C, D, G, H}, so the two halves swap roles from one call to the
 * next.  sha256msg1 and sha256msg2 compute the schedule four words at a time:
 *   W[t..t+3] = msg2(msg1(W[t-16..t-13], W[t-12..t-9]) + W[t-7..t-4], W[t-4..t-1]),
 * W[t-7..t-4] being the four words straddling two registers (palignr).
 * The message words are big-endian (pshufb swaps their bytes); SSSE3 and
 * SSE4.1 (pblendw) come with every CPU that has SHA. */
#include "kernels/sha256.h"

#if PD_BUILD_SHANI
#pragma GCC target("sha,sse4.1")
#include <immintrin.h>

void pd_sha256_blocks_shani(uint32_t h[8], const unsigned char *p, size_t n)
{
    const __m128i byteswap = _mm_set_epi64x(0x0c0d0e0f08090a0bll, 0x0405060700010203ll);
    /* h[0..3] = a b c d and h[4..7] = e f g h, lane 0 first, into
     * abef = {A, B, E, F} and cdgh = {C, D, G, H}; a register's name lists
     * its lanes high to low. */
    const __m128i dcba = _mm_loadu_si128((const __m128i *)(const void *)h);
    const __m128i hgfe = _mm_loadu_si128((const __m128i *)(const void *)(h + 4));
    const __m128i cdab = _mm_shuffle_epi32(dcba, 0xb1);
    const __m128i efgh = _mm_shuffle_epi32(hgfe, 0x1b);
    __m128i abef = _mm_alignr_epi8(cdab, efgh, 8);
    __m128i cdgh = _mm_blend_epi16(efgh, cdab, 0xf0);

    for (size_t b = 0; b < n; b++, p += 64) {
        const __m128i abef_in = abef, cdgh_in = cdgh;
        /* w0..w3: the schedule words W[4g .. 4g+15] of group g, lane 0 first. */
        __m128i w0 = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(const void *)p), byteswap);
        __m128i w1 = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(const void *)(p + 16)), byteswap);
        __m128i w2 = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(const void *)(p + 32)), byteswap);
        __m128i w3 = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(const void *)(p + 48)), byteswap);
        for (int g = 0; g < 16; g++) {
            const __m128i k = _mm_loadu_si128((const __m128i *)(const void *)(pd_sha256_k + 4 * g));
            const __m128i wk = _mm_add_epi32(w0, k);
            cdgh = _mm_sha256rnds2_epu32(cdgh, abef, wk);                        /* rounds 4g, 4g+1 */
            abef = _mm_sha256rnds2_epu32(abef, cdgh, _mm_shuffle_epi32(wk, 0x0e)); /* 4g+2, 4g+3 */
            if (g < 12) {
                const __m128i w7 = _mm_alignr_epi8(w3, w2, 4);
                const __m128i next = _mm_sha256msg2_epu32(_mm_add_epi32(_mm_sha256msg1_epu32(w0, w1), w7), w3);
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
        abef = _mm_add_epi32(abef, abef_in);
        cdgh = _mm_add_epi32(cdgh, cdgh_in);
    }

    /* Back to a b c d / e f g h. */
    const __m128i feba = _mm_shuffle_epi32(abef, 0x1b);
    const __m128i dchg = _mm_shuffle_epi32(cdgh, 0xb1);
    _mm_storeu_si128((__m128i *)(void *)h, _mm_blend_epi16(feba, dchg, 0xf0));
    _mm_storeu_si128((__m128i *)(void *)(h + 4), _mm_alignr_epi8(dchg, feba, 8));
}
#endif
