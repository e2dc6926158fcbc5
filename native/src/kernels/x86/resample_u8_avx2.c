/* resample_u8_avx2.c: the two passes of Pillow-exact 8-bit resampling
 * (kernels.h, pd_resample_h_u8_fn) with AVX2.  Integer only, wrapping 32-bit
 * lanes like the reference's uint32 sums, so the bytes are the reference's.
 *
 * The weights keep their 22 fraction bits (what exactness needs), so products
 * are 32-bit: vpmulld on bytes widened to int32.
 *
 * Horizontal, 3 channels: an 8-byte load holds 2 pixels (RGB or RGBX), one
 * byte shuffle spreads them to int32 lanes R G B 0 | R G B 0, which meet the
 * two taps' weights (each repeated 4 times); the two halves of the
 * accumulator add up to one pixel.  Four rows go together, sharing the
 * spread weights and the final packing.  One channel: 8 taps per
 * vector.  A window whose last load would pass the end of the row (the last
 * pixels of a row) runs the reference's loop.  Vertical: 32 bytes of a row at
 * a time, the weight of each input row broadcast. */
#include "kernels/kernels.h"

#if PD_BUILD_X86
#pragma GCC target("avx2,fma")
#include <immintrin.h>
#include <string.h>

#include "kernels/ref/ref.h"
#include "kernels/x86/x86.h"

/* Rounds, shifts and clamps the 4 sums of s to bytes (the low 4 of the result). */
static inline __m128i finish4(__m128i s)
{
    s = _mm_srai_epi32(_mm_add_epi32(s, _mm_set1_epi32(1 << (PD_RESAMPLE_BITS - 1))), PD_RESAMPLE_BITS);
    s = _mm_packs_epi32(s, s);
    return _mm_packus_epi16(s, s);
}

/* Spreads 2 pixels of x_px bytes (the 8 bytes at src, in both 128-bit
 * lanes) to int32 lanes: pixel 0 in the low lane, pixel 1 in the high one,
 * each as R G B 0.  One byte shuffle does what widening does in several. */
static inline __m256i spread_mask(int32_t x_px)
{
    const char p = (char)x_px;
    return _mm256_setr_epi8(0, -1, -1, -1, 1, -1, -1, -1, 2, -1, -1, -1, -1, -1, -1, -1,
                            p, -1, -1, -1, (char)(p + 1), -1, -1, -1, (char)(p + 2), -1, -1, -1, -1, -1, -1, -1);
}

/* Weights (w0 x4 | w1 x4) and (w2 x4 | w3 x4) from 4 weights, for spread_mask's lanes. */
static inline void spread_weights(const int32_t *w4, __m256i *k01, __m256i *k23)
{
    const __m256i k = _mm256_castsi128_si256(_mm_loadu_si128((const __m128i *)w4));
    *k01 = _mm256_permutevar8x32_epi32(k, _mm256_setr_epi32(0, 0, 0, 0, 1, 1, 1, 1));
    *k23 = _mm256_permutevar8x32_epi32(k, _mm256_setr_epi32(2, 2, 2, 2, 3, 3, 3, 3));
}

/* Two taps' products: the pixels at src (8 bytes read) times k. */
static inline __m256i taps2(const uint8_t *src, __m256i mask, __m256i k)
{
    const __m256i px = _mm256_broadcastq_epi64(_mm_loadl_epi64((const __m128i *)src));
    return _mm256_mullo_epi32(_mm256_shuffle_epi8(px, mask), k);
}

/* Writes the low 3 bytes of v to dst, or all 4 when the 4th lands on the next
 * pixel of the row, which is written after it. */
static inline void store_rgb(uint8_t *dst, int32_t v, int last)
{
    if (last)
        memcpy(dst, &v, 3);
    else
        memcpy(dst, &v, 4);
}

/* Rows of 3 channels, 4 rows at a time so that each output pixel's weights
 * are spread once for 4 rows, and 4 rows' sums finish together.  Windows of
 * up to 16 taps keep their spread weights in registers; wider ones (strong
 * reductions) spread them per row. */
/* One output pixel of 4 rows from windows of `pairs` pairs of taps; inlined
 * with pairs a constant for the common short windows, so the loops unroll and
 * the weights and sums stay in registers. */
static inline __attribute__((always_inline)) void pixel4(const uint8_t *src, size_t x_stride,
                                                          int32_t pairs, size_t pair, const int32_t *wi,
                                                          __m256i mask, uint8_t *dst, size_t y_stride,
                                                          int last)
{
    __m256i k[8];
    for (int32_t g = 0; g < pairs; g += 2)
        spread_weights(wi + 2 * g, &k[g], &k[g + 1]);
    __m128i sum[4];
    for (int32_t q = 0; q < 4; q++) {
        const uint8_t *s = src + (size_t)q * x_stride;
        __m256i acc = taps2(s, mask, k[0]);
        for (int32_t g = 1; g < pairs; g++)
            acc = _mm256_add_epi32(acc, taps2(s + (size_t)g * pair, mask, k[g]));
        sum[q] = _mm_add_epi32(_mm256_castsi256_si128(acc), _mm256_extracti128_si256(acc, 1));
    }
    const __m128i half = _mm_set1_epi32(1 << (PD_RESAMPLE_BITS - 1));
    /* 4 rows' RGBX sums -> 16 bytes, row q in bytes 4q .. 4q+3 */
    const __m128i s01 = _mm_packs_epi32(_mm_srai_epi32(_mm_add_epi32(sum[0], half), PD_RESAMPLE_BITS),
                                        _mm_srai_epi32(_mm_add_epi32(sum[1], half), PD_RESAMPLE_BITS));
    const __m128i s23 = _mm_packs_epi32(_mm_srai_epi32(_mm_add_epi32(sum[2], half), PD_RESAMPLE_BITS),
                                        _mm_srai_epi32(_mm_add_epi32(sum[3], half), PD_RESAMPLE_BITS));
    const __m128i b = _mm_packus_epi16(s01, s23);
    store_rgb(dst, _mm_cvtsi128_si32(b), last);
    store_rgb(dst + y_stride, _mm_extract_epi32(b, 1), last);
    store_rgb(dst + 2 * y_stride, _mm_extract_epi32(b, 2), last);
    store_rgb(dst + 3 * y_stride, _mm_extract_epi32(b, 3), last);
}

/* One output pixel of one row, any window width. */
static inline void pixel1(const uint8_t *src, int32_t pairs, size_t pair, const int32_t *wi,
                          __m256i mask, uint8_t *dst, int last)
{
    __m256i acc = _mm256_setzero_si256();
    for (int32_t g = 0; g < pairs; g += 2) {
        __m256i k01, k23;
        spread_weights(wi + 2 * g, &k01, &k23);
        acc = _mm256_add_epi32(acc, taps2(src + (size_t)g * pair, mask, k01));
        if (g + 1 < pairs)
            acc = _mm256_add_epi32(acc, taps2(src + (size_t)(g + 1) * pair, mask, k23));
    }
    const __m128i b = finish4(_mm_add_epi32(_mm256_castsi256_si128(acc), _mm256_extracti128_si256(acc, 1)));
    store_rgb(dst, _mm_cvtsi128_si32(b), last);
}

/* Whether every weight of the out_w windows splits as w = hi * 2^11 + lo with
 * lo in [0, 2^11) and hi an int16 (|w| < 2^25: any normalized filter's). */
static int split_weights(const int32_t *w, int32_t kstride, int32_t out_w)
{
    for (size_t i = 0; i < (size_t)out_w * (size_t)kstride; i++)
        if (w[i] < -(1 << 25) || w[i] >= (1 << 25))
            return 0;
    return 1;
}

/* The int16 pairs (lo, hi halves of w = hi * 2^11 + lo) of taps (0, 1) and (2, 3) of
 * two windows, window a in the low 128 bits, b in the high: *lo01 holds (lo0, lo1) in
 * every dword of a lane, *lo23 (lo2, lo3), *hi01 and *hi23 likewise. */
static inline void pair_weights(const int32_t *wa, const int32_t *wb, __m256i *lo01, __m256i *lo23,
                                __m256i *hi01, __m256i *hi23)
{
    const __m256i w = _mm256_inserti128_si256(_mm256_castsi128_si256(_mm_loadu_si128((const __m128i *)wa)),
                                              _mm_loadu_si128((const __m128i *)wb), 1);
    const __m256i lo = _mm256_and_si256(w, _mm256_set1_epi32((1 << 11) - 1));
    const __m256i hi = _mm256_srai_epi32(w, 11);
    const __m256i lo16 = _mm256_packs_epi32(lo, lo), hi16 = _mm256_packs_epi32(hi, hi);
    *lo01 = _mm256_shuffle_epi32(lo16, 0x00);
    *lo23 = _mm256_shuffle_epi32(lo16, 0x55);
    *hi01 = _mm256_shuffle_epi32(hi16, 0x00);
    *hi23 = _mm256_shuffle_epi32(hi16, 0x55);
}

/* The sums of two windows of at most 4 taps over one row of RGBX pixels (16
 * bytes read at each of a and b): R G B 0 of window a in the low 128 bits, of
 * b in the high.  vpmaddwd on the 16-bit halves of the weights, where the
 * reference multiplies 32-bit lanes: sum(x w) = 2^11 sum(x hi) + sum(x lo),
 * the same 32-bit value (both sides wrap alike). */
static inline __m256i sums2(const uint8_t *a, const uint8_t *b, __m256i lo01, __m256i lo23, __m256i hi01,
                            __m256i hi23)
{
    const __m256i taps01 = _mm256_setr_epi8(0, -1, 4, -1, 1, -1, 5, -1, 2, -1, 6, -1, -1, -1, -1, -1,
                                            0, -1, 4, -1, 1, -1, 5, -1, 2, -1, 6, -1, -1, -1, -1, -1);
    const __m256i taps23 = _mm256_setr_epi8(8, -1, 12, -1, 9, -1, 13, -1, 10, -1, 14, -1, -1, -1, -1, -1,
                                            8, -1, 12, -1, 9, -1, 13, -1, 10, -1, 14, -1, -1, -1, -1, -1);
    const __m256i px = _mm256_inserti128_si256(_mm256_castsi128_si256(_mm_loadu_si128((const __m128i *)a)),
                                               _mm_loadu_si128((const __m128i *)b), 1);
    const __m256i p01 = _mm256_shuffle_epi8(px, taps01), p23 = _mm256_shuffle_epi8(px, taps23);
    const __m256i lo = _mm256_add_epi32(_mm256_madd_epi16(p01, lo01), _mm256_madd_epi16(p23, lo23));
    const __m256i hi = _mm256_add_epi32(_mm256_madd_epi16(p01, hi01), _mm256_madd_epi16(p23, hi23));
    return _mm256_add_epi32(_mm256_slli_epi32(hi, 11), lo);
}

/* The low 6 bytes of v. */
static inline void store6(uint8_t *dst, long long v)
{
    const uint64_t u = (uint64_t)v;
    const uint32_t lo = (uint32_t)u;
    const uint16_t hi = (uint16_t)(u >> 32);
    memcpy(dst, &lo, 4);
    memcpy(dst + 4, &hi, 2);
}

/* Output pixels i and i + 1 of 4 rows of RGBX pixels, each window at most 4
 * taps with 16 bytes to read: 6 bytes a row, 8 stored unless the pair ends
 * the row (the 2 past it are the next pixel's, written after). */
static inline void pair4(const uint8_t *row, size_t x_stride, const int32_t *win, const int32_t *w,
                         int32_t kstride, int32_t i, uint8_t *dst, size_t y_stride, int last)
{
    __m256i lo01, lo23, hi01, hi23;
    pair_weights(w + (size_t)i * (size_t)kstride, w + (size_t)(i + 1) * (size_t)kstride, &lo01, &lo23,
                 &hi01, &hi23);
    const uint8_t *a = row + (size_t)win[2 * i] * 4, *b = row + (size_t)win[2 * i + 2] * 4;
    const __m256i half = _mm256_set1_epi32(1 << (PD_RESAMPLE_BITS - 1));
#define ROW(q) _mm256_srai_epi32(_mm256_add_epi32(sums2(a + (size_t)(q) * x_stride, b + (size_t)(q) * x_stride, \
                                                     lo01, lo23, hi01, hi23), half), PD_RESAMPLE_BITS)
    const __m256i r0 = ROW(0), r1 = ROW(1), r2 = ROW(2), r3 = ROW(3);
#undef ROW
    /* bytes: low lane rows 0-3 of pixel i as RGB0, high lane of pixel i + 1 */
    const __m256i bytes = _mm256_packus_epi16(_mm256_packs_epi32(r0, r1), _mm256_packs_epi32(r2, r3));
    const __m128i pi = _mm256_castsi256_si128(bytes), pj = _mm256_extracti128_si256(bytes, 1);
    const __m128i rgb = _mm_setr_epi8(0, 1, 2, 4, 5, 6, -1, -1, 8, 9, 10, 12, 13, 14, -1, -1);
    const __m128i rows01 = _mm_shuffle_epi8(_mm_unpacklo_epi32(pi, pj), rgb);
    const __m128i rows23 = _mm_shuffle_epi8(_mm_unpackhi_epi32(pi, pj), rgb);
    if (last) {
        store6(dst, _mm_cvtsi128_si64(rows01));
        store6(dst + y_stride, _mm_extract_epi64(rows01, 1));
        store6(dst + 2 * y_stride, _mm_cvtsi128_si64(rows23));
        store6(dst + 3 * y_stride, _mm_extract_epi64(rows23, 1));
    } else {
        const uint64_t r0 = (uint64_t)_mm_cvtsi128_si64(rows01), r1 = (uint64_t)_mm_extract_epi64(rows01, 1);
        const uint64_t r2 = (uint64_t)_mm_cvtsi128_si64(rows23), r3 = (uint64_t)_mm_extract_epi64(rows23, 1);
        memcpy(dst, &r0, 8);
        memcpy(dst + y_stride, &r1, 8);
        memcpy(dst + 2 * y_stride, &r2, 8);
        memcpy(dst + 3 * y_stride, &r3, 8);
    }
}

static void rows_rgb(int32_t rows, const uint8_t *x, size_t x_stride, size_t row_bytes, int32_t x_px,
                     const int32_t *win, const int32_t *w, int32_t kstride, uint8_t *y,
                     size_t y_stride, int32_t out_w)
{
    const __m256i mask = spread_mask(x_px);
    const size_t pair = 2 * (size_t)x_px;
    const int madd = x_px == 4 && split_weights(w, kstride, out_w);
    for (int32_t r = 0; r < rows; r += 4) {
        const int32_t block = rows - r < 4 ? rows - r : 4;
        const uint8_t *row = x + (size_t)r * x_stride;
        uint8_t *out = y + (size_t)r * y_stride;
        for (int32_t i = 0; i < out_w; i++) {
            /* two windows of at most 4 taps whose 16 bytes are inside the row */
            if (madd && block == 4 && i + 1 < out_w && win[2 * i + 1] <= 4 && win[2 * i + 3] <= 4 &&
                (size_t)win[2 * i] * 4 + 16 <= row_bytes && (size_t)win[2 * i + 2] * 4 + 16 <= row_bytes) {
                pair4(row, x_stride, win, w, kstride, i, out + (size_t)i * 3, y_stride, i + 2 == out_w);
                i++;
                continue;
            }
            const int32_t first = win[2 * i], n = win[2 * i + 1];
            const int32_t *wi = w + (size_t)i * (size_t)kstride;
            const uint8_t *src = row + (size_t)first * (size_t)x_px;
            uint8_t *dst = out + (size_t)i * 3;
            const int32_t pairs = (n + 1) / 2;
            const int last = i + 1 == out_w;
            /* the last 8-byte load starts at pixel first + 2 * (pairs - 1) */
            if (n == 0 || (size_t)first * (size_t)x_px + (size_t)(pairs - 1) * pair + 8 > row_bytes) {
                for (int32_t q = 0; q < block; q++)
                    pd_resample_px_u8_ref(src + q * x_stride, x_px, 3, n, wi, dst + q * y_stride);
                continue;
            }
            if (block < 4 || pairs > 8) {
                for (int32_t q = 0; q < block; q++)
                    pixel1(src + q * x_stride, pairs, pair, wi, mask, dst + q * y_stride, last);
                continue;
            }
            switch (pairs) {
            case 1: pixel4(src, x_stride, 1, pair, wi, mask, dst, y_stride, last); break;
            case 2: pixel4(src, x_stride, 2, pair, wi, mask, dst, y_stride, last); break;
            case 3: pixel4(src, x_stride, 3, pair, wi, mask, dst, y_stride, last); break;
            case 4: pixel4(src, x_stride, 4, pair, wi, mask, dst, y_stride, last); break;
            default: pixel4(src, x_stride, pairs, pair, wi, mask, dst, y_stride, last); break;
            }
        }
    }
}

static void row_grey(const uint8_t *row, int32_t in_w, const int32_t *win, const int32_t *w,
                     int32_t kstride, uint8_t *out, int32_t out_w)
{
    for (int32_t i = 0; i < out_w; i++) {
        const int32_t first = win[2 * i], n = win[2 * i + 1];
        const int32_t *wi = w + (size_t)i * (size_t)kstride;
        if (n == 0 || first + (n - 1) / 8 * 8 + 8 > in_w) {
            pd_resample_px_u8_ref(row + first, 1, 1, n, wi, out + i);
            continue;
        }
        __m256i acc = _mm256_setzero_si256();
        for (int32_t t = 0; t < n; t += 8) {
            const __m256i p = _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)(row + first + t)));
            acc = _mm256_add_epi32(acc, _mm256_mullo_epi32(p, _mm256_loadu_si256((const __m256i *)(wi + t))));
        }
        __m128i s = _mm_add_epi32(_mm256_castsi256_si128(acc), _mm256_extracti128_si256(acc, 1));
        s = _mm_add_epi32(s, _mm_unpackhi_epi64(s, s));
        s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 1));
        out[i] = (uint8_t)_mm_cvtsi128_si32(finish4(s));
    }
}

void pd_resample_h_u8_avx2(int32_t rows, const uint8_t *x, size_t x_stride, int32_t in_w,
                           int32_t x_px, int32_t c, const int32_t *win, const int32_t *w,
                           int32_t kstride, uint8_t *y, size_t y_stride, int32_t out_w)
{
    if (c == 3) {
        rows_rgb(rows, x, x_stride, (size_t)in_w * (size_t)x_px, x_px, win, w, kstride, y, y_stride,
                 out_w);
        return;
    }
    for (int32_t r = 0; r < rows; r++)
        row_grey(x + (size_t)r * x_stride, in_w, win, w, kstride, y + (size_t)r * y_stride, out_w);
}

/* 32 sums (4 vectors of 8, in byte order) to 32 bytes. */
static inline __m256i finish32(__m256i a0, __m256i a1, __m256i a2, __m256i a3)
{
    const __m256i half = _mm256_set1_epi32(1 << (PD_RESAMPLE_BITS - 1));
    a0 = _mm256_srai_epi32(_mm256_add_epi32(a0, half), PD_RESAMPLE_BITS);
    a1 = _mm256_srai_epi32(_mm256_add_epi32(a1, half), PD_RESAMPLE_BITS);
    a2 = _mm256_srai_epi32(_mm256_add_epi32(a2, half), PD_RESAMPLE_BITS);
    a3 = _mm256_srai_epi32(_mm256_add_epi32(a3, half), PD_RESAMPLE_BITS);
    /* the packs work within 128-bit lanes: put the quarters back in order */
    const __m256i a01 = _mm256_permute4x64_epi64(_mm256_packs_epi32(a0, a1), 0xD8);
    const __m256i a23 = _mm256_permute4x64_epi64(_mm256_packs_epi32(a2, a3), 0xD8);
    return _mm256_permute4x64_epi64(_mm256_packus_epi16(a01, a23), 0xD8);
}

void pd_resample_v_u8_avx2(int32_t row_bytes, const uint8_t *x, size_t x_stride, const int32_t *win,
                           const int32_t *w, int32_t kstride, uint8_t *y, size_t y_stride,
                           int32_t out_h)
{
    for (int32_t i = 0; i < out_h; i++) {
        const uint8_t *first = x + (size_t)win[2 * i] * x_stride;
        const int32_t n = win[2 * i + 1];
        const int32_t *wi = w + (size_t)i * (size_t)kstride;
        uint8_t *out = y + (size_t)i * y_stride;
        int32_t b = 0;
        for (; b + 32 <= row_bytes; b += 32) {
            __m256i a0 = _mm256_setzero_si256(), a1 = a0, a2 = a0, a3 = a0;
            for (int32_t t = 0; t < n; t++) {
                const __m256i k = _mm256_set1_epi32(wi[t]);
                const __m256i p = _mm256_loadu_si256((const __m256i *)(first + (size_t)t * x_stride + b));
                const __m128i lo = _mm256_castsi256_si128(p), hi = _mm256_extracti128_si256(p, 1);
                a0 = _mm256_add_epi32(a0, _mm256_mullo_epi32(_mm256_cvtepu8_epi32(lo), k));
                a1 = _mm256_add_epi32(a1, _mm256_mullo_epi32(_mm256_cvtepu8_epi32(_mm_unpackhi_epi64(lo, lo)), k));
                a2 = _mm256_add_epi32(a2, _mm256_mullo_epi32(_mm256_cvtepu8_epi32(hi), k));
                a3 = _mm256_add_epi32(a3, _mm256_mullo_epi32(_mm256_cvtepu8_epi32(_mm_unpackhi_epi64(hi, hi)), k));
            }
            _mm256_storeu_si256((__m256i *)(out + b), finish32(a0, a1, a2, a3));
        }
        pd_resample_col_u8_ref(first, x_stride, n, wi, b, row_bytes, out);
    }
}
#endif
