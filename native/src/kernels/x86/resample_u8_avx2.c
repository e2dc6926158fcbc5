/* resample_u8_avx2.c: the two passes of Pillow-exact 8-bit resampling
 * (kernels.h, pd_resample_h_u8_fn) with AVX2.  Integer only, wrapping 32-bit
 * lanes like the reference's uint32 sums, so the bytes are the reference's.
 *
 * The weights keep their 22 fraction bits (what exactness needs), so products
 * are 32-bit: vpmulld on bytes widened to int32.
 *
 * Horizontal, 3 channels: a 16-byte load holds 4 pixels (RGB or RGBX), a byte
 * shuffle spreads them to RGB0 RGB0 ..., widened to two vectors of 2 pixels
 * that meet two vectors of the matching weights (each repeated 4 times); the
 * two halves of the accumulator add up to one pixel.  One channel: 8 taps per
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

static void row_rgb(const uint8_t *row, size_t row_bytes, int32_t x_px, const int32_t *win,
                    const int32_t *w, int32_t kstride, uint8_t *out, int32_t out_w)
{
    const __m128i spread = x_px == 3
        ? _mm_setr_epi8(0, 1, 2, -1, 3, 4, 5, -1, 6, 7, 8, -1, 9, 10, 11, -1)
        : _mm_setr_epi8(0, 1, 2, -1, 4, 5, 6, -1, 8, 9, 10, -1, 12, 13, 14, -1);
    const __m256i pick01 = _mm256_setr_epi32(0, 0, 0, 0, 1, 1, 1, 1);
    const __m256i pick23 = _mm256_setr_epi32(2, 2, 2, 2, 3, 3, 3, 3);
    for (int32_t i = 0; i < out_w; i++) {
        const int32_t first = win[2 * i], n = win[2 * i + 1];
        const int32_t *wi = w + (size_t)i * (size_t)kstride;
        const uint8_t *src = row + (size_t)first * (size_t)x_px;
        uint8_t *dst = out + (size_t)i * 3;
        /* the last 16-byte load starts at pixel first + 4 * ((n - 1) / 4) */
        if (n == 0 || (size_t)(first + (n - 1) / 4 * 4) * (size_t)x_px + 16 > row_bytes) {
            pd_resample_px_u8_ref(src, x_px, 3, n, wi, dst);
            continue;
        }
        __m256i acc = _mm256_setzero_si256();
        for (int32_t t = 0; t < n; t += 4) {
            const __m128i px = _mm_shuffle_epi8(
                _mm_loadu_si128((const __m128i *)(src + (size_t)t * (size_t)x_px)), spread);
            const __m256i k4 = _mm256_castsi128_si256(_mm_loadu_si128((const __m128i *)(wi + t)));
            const __m256i p01 = _mm256_cvtepu8_epi32(px);
            const __m256i p23 = _mm256_cvtepu8_epi32(_mm_unpackhi_epi64(px, px));
            acc = _mm256_add_epi32(acc, _mm256_mullo_epi32(p01, _mm256_permutevar8x32_epi32(k4, pick01)));
            acc = _mm256_add_epi32(acc, _mm256_mullo_epi32(p23, _mm256_permutevar8x32_epi32(k4, pick23)));
        }
        const __m128i b = finish4(_mm_add_epi32(_mm256_castsi256_si128(acc),
                                                _mm256_extracti128_si256(acc, 1)));
        const int32_t bytes = _mm_cvtsi128_si32(b);
        if (i + 1 < out_w)
            memcpy(dst, &bytes, 4); /* the 4th byte is the next pixel's, written next */
        else
            memcpy(dst, &bytes, 3);
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
    for (int32_t r = 0; r < rows; r++) {
        const uint8_t *row = x + (size_t)r * x_stride;
        uint8_t *out = y + (size_t)r * y_stride;
        if (c == 3)
            row_rgb(row, (size_t)in_w * (size_t)x_px, x_px, win, w, kstride, out, out_w);
        else
            row_grey(row, in_w, win, w, kstride, out, out_w);
    }
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
        for (; b < row_bytes; b++) {
            uint32_t sum = 0;
            for (int32_t t = 0; t < n; t++)
                sum += (uint32_t)first[(size_t)t * x_stride + (size_t)b] * (uint32_t)wi[t];
            out[b] = pd_resample_clamp_u8(sum);
        }
    }
}
#endif
