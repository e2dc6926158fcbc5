/* depthwise_q8_avx512vnni.c: the int8 depthwise convolution of kernels/q8.h
 * with AVX-512 VNNI, 64 channels per step.
 *
 * vpdpbusd sums 4 uint8 x int8 products per int32 lane, so 4 taps of a
 * channel must sit side by side.  The 4 taps' 64-byte rows (64 channels each)
 * are interleaved with vpunpck{l,h}bw then vpunpck{l,h}wd, all inside 128-bit
 * lanes: accumulator i then holds, in lane L, word q, channel 16L + 4i + q.
 * The weights are interleaved the same way once per channel block, the
 * multipliers and biases permuted to match, and vpackusdw / vpackuswb (also
 * in-lane) put the 64 output bytes back in channel order.  A window of more
 * than 4 taps takes groups of 4, the last one filled with zero weights; a tap
 * in the padding reads a row of z_in bytes, as the reference counts it.
 * Integer sums wrap like the reference's, so the bytes are the reference's. */
#include "kernels/kernels.h"

#if PD_BUILD_X86
#pragma GCC target("avx512f,avx512vl,avx512dq,avx512bw,avx512vnni,avx2,fma")
#include <immintrin.h>
#include <string.h>

#include "kernels/q8.h"
#include "kernels/ref/ref.h"
#include "kernels/x86/rq_avx512.h"
#include "kernels/x86/x86.h"

#define MAX_GROUPS 7 /* 25 taps (5x5) */

/* Four rows of 64 bytes -> the 4 vpdpbusd operands described above. */
static inline void interleave(__m512i t0, __m512i t1, __m512i t2, __m512i t3, __m512i out[4])
{
    const __m512i lo01 = _mm512_unpacklo_epi8(t0, t1), hi01 = _mm512_unpackhi_epi8(t0, t1);
    const __m512i lo23 = _mm512_unpacklo_epi8(t2, t3), hi23 = _mm512_unpackhi_epi8(t2, t3);
    out[0] = _mm512_unpacklo_epi16(lo01, lo23);
    out[1] = _mm512_unpackhi_epi16(lo01, lo23);
    out[2] = _mm512_unpacklo_epi16(hi01, hi23);
    out[3] = _mm512_unpackhi_epi16(hi01, hi23);
}

/* The channel of lane `lane` (0..15) of accumulator i; with PAIR the upper
 * 256 bits hold the next pixel's same 32 channels. */
static inline size_t channel_of(int pair, int i, int lane)
{
    const int l = lane / 4;
    return (size_t)(16 * (pair ? l % 2 : l) + 4 * i + lane % 4);
}

/* One tap row of 64 bytes: 64 channels of one pixel, or with PAIR 32
 * channels of pixel p (low half) and of pixel q (high half). */
static inline __m512i load_tap(int pair, __mmask64 mask, const uint8_t *p, const uint8_t *q)
{
    if (pair == 2) /* 64 whole channels: a plain load */
        return _mm512_loadu_si512((const void *)p);
    if (!pair)
        return _mm512_maskz_loadu_epi8(mask, p);
    const __mmask32 m = (__mmask32)mask;
    return _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_maskz_loadu_epi8(m, p)),
                              _mm256_maskz_loadu_epi8(m, q), 1);
}

/* The tap rows of output pixel ow: a pointer into x, or zrow in the padding. */
static inline __attribute__((always_inline)) void tap_rows(
    const int KH, const int KW, const pd_window_shape *s, const uint8_t *const *rows, size_t c,
    const uint8_t *zrow, int32_t ow, const uint8_t **tp)
{
    const int64_t iw0 = (int64_t)ow * s->stride_w - s->pad_left;
    _Pragma("GCC unroll 5")
    for (int kw = 0; kw < KW; kw++) {
        const int64_t iw = iw0 + (int64_t)kw * s->dilation_w;
        const int col_in = iw >= 0 && iw < s->in.w;
        _Pragma("GCC unroll 5")
        for (int kh = 0; kh < KH; kh++)
            tp[kh * KW + kw] = col_in && rows[kh] != NULL ? rows[kh] + (size_t)iw * c : zrow;
    }
    for (int t = KH * KW; t < 4 * ((KH * KW + 3) / 4); t++)
        tp[t] = zrow; /* zero weights there */
}

/* Whether output pixels ow and ow + 1 of a PAIR 1 step can take each tap as
 * one 64-byte load: with exactly 32 channels, no stride or dilation across,
 * and every column they read inside the input (so also when ow is a row's
 * last pixel and the upper half goes unstored), pixel ow + 1's tap kw is the
 * input pixel right after pixel ow's (MobileNetV2's first depthwise layer,
 * 112x112x32), where the general pair step assembles each tap from two masked
 * half loads at pointers it works out tap by tap. */
static inline int adjacent_pair(const int KW, const pd_window_shape *s, size_t c, int64_t iw0)
{
    return c == 32 && s->stride_w == 1 && s->dilation_w == 1 && iw0 >= 0 &&
           iw0 + KW < s->in.w;
}

/* Channels [c0, c0 + count) of rows [r0, r1): 64 channels per step (PAIR 0,
 * or 2 when count is 64: unmasked loads and stores), or with PAIR 1 (count <=
 * 32) 32 channels of two adjacent output pixels, so a block of 32
 * (MobileNetV2's 32 and the tails of 96 and 144) wastes no lanes. */
static inline __attribute__((always_inline)) void block(
    const int KH, const int KW, const int PAIR, const pd_window_shape *s, const uint8_t *x,
    const uint8_t *zrow, const int8_t *w, const int32_t *bias, const pd_requant *rq, uint8_t *y,
    int32_t r0, int32_t r1, size_t c0, size_t count)
{
    const int taps = KH * KW, groups = (taps + 3) / 4;
    const size_t c = (size_t)s->in.c, in_row = (size_t)s->in.w * c;
    const __mmask64 mask = count == 64 ? ~(__mmask64)0 : ((__mmask64)1 << count) - 1;
    __m512i wv[MAX_GROUPS][4];
    for (int g = 0; g < groups; g++) {
        __m512i t[4];
        for (int q = 0; q < 4; q++) {
            const int tap = 4 * g + q;
            const int8_t *wt = w + (size_t)tap * c + c0;
            t[q] = tap >= taps ? _mm512_setzero_si512()
                   : PAIR == 1 ? _mm512_broadcast_i64x4(_mm256_maskz_loadu_epi8((__mmask32)mask, wt))
                          : _mm512_maskz_loadu_epi8(mask, wt);
        }
        interleave(t[0], t[1], t[2], t[3], wv[g]);
    }
    rq16 p[4];
    __m512i start[4];
    for (int i = 0; i < 4; i++) {
        int32_t m[16], n[16], b[16];
        for (int lane = 0; lane < 16; lane++) {
            const size_t ch = channel_of(PAIR == 1, i, lane);
            m[lane] = ch < count ? rq->mult[c0 + ch] : 0;
            n[lane] = ch < count ? rq->shift[c0 + ch] : 40;
            b[lane] = ch < count && bias != NULL ? bias[c0 + ch] : 0;
        }
        p[i] = rq16_from(_mm512_loadu_si512((const void *)m), _mm512_loadu_si512((const void *)n), rq->zero);
        start[i] = _mm512_loadu_si512((const void *)b);
    }
    const __m512i lo64 = _mm512_set1_epi64((long long)rq->lo - rq->zero);
    const __m512i hi64 = _mm512_set1_epi64((long long)rq->hi - rq->zero);
    const __m512i zero32 = _mm512_set1_epi32(rq->zero);
    const clamp8 clamp = clamp8_of(rq);
    const int fast = p[0].fast && p[1].fast && p[2].fast && p[3].fast;
    for (int32_t oh = r0; oh < r1; oh++) {
        const uint8_t *rows[5];
        for (int kh = 0; kh < KH; kh++) {
            const int64_t ih = (int64_t)oh * s->stride_h - s->pad_top + (int64_t)kh * s->dilation_h;
            rows[kh] = ih >= 0 && ih < s->in.h ? x + (size_t)ih * in_row + c0 : NULL;
        }
        uint8_t *out = y + (size_t)oh * (size_t)s->out.w * c + c0;
        for (int32_t ow = 0; ow < s->out.w; ow += PAIR == 1 ? 2 : 1, out += PAIR == 1 ? 2 * c : c) {
            const int second = PAIR == 1 && ow + 1 < s->out.w;
            const uint8_t *tp[4 * MAX_GROUPS], *tq[4 * MAX_GROUPS];
            const int64_t iw0 = (int64_t)ow * s->stride_w - s->pad_left;
            const int whole = PAIR == 1 && adjacent_pair(KW, s, c, iw0);
            if (whole) { /* tp[t]: 64 bytes, pixel ow's tap then pixel ow + 1's */
                for (int kh = 0; kh < KH; kh++)
                    for (int kw = 0; kw < KW; kw++)
                        tp[kh * KW + kw] = rows[kh] != NULL ? rows[kh] + (size_t)(iw0 + kw) * c : zrow;
                for (int t = taps; t < 4 * groups; t++)
                    tp[t] = zrow;
            } else {
                tap_rows(KH, KW, s, rows, c, zrow, ow, tp);
                if (PAIR == 1)
                    tap_rows(KH, KW, s, rows, c, zrow, second ? ow + 1 : ow, tq);
            }
#define TAP(t) (whole ? _mm512_loadu_si512((const void *)tp[t]) \
                      : load_tap(PAIR, mask, tp[t], PAIR == 1 ? tq[t] : NULL))
            /* scalars, not arrays: GCC keeps these in registers */
            __m512i acc0 = start[0], acc1 = start[1], acc2 = start[2], acc3 = start[3];
            /* whole groups of 4 taps; a last group of one tap (3x3: 9 = 4 + 4 + 1)
             * interleaves that row with zeros instead of 3 rows of z_in bytes
             * (its weights are zero there) */
            const int full = taps % 4 == 1 ? groups - 1 : groups;
            _Pragma("GCC unroll 7")
            for (int g = 0; g < full; g++) {
                const __m512i t0 = TAP(4 * g), t1 = TAP(4 * g + 1), t2 = TAP(4 * g + 2), t3 = TAP(4 * g + 3);
                const __m512i lo01 = _mm512_unpacklo_epi8(t0, t1), hi01 = _mm512_unpackhi_epi8(t0, t1);
                const __m512i lo23 = _mm512_unpacklo_epi8(t2, t3), hi23 = _mm512_unpackhi_epi8(t2, t3);
                acc0 = _mm512_dpbusd_epi32(acc0, _mm512_unpacklo_epi16(lo01, lo23), wv[g][0]);
                acc1 = _mm512_dpbusd_epi32(acc1, _mm512_unpackhi_epi16(lo01, lo23), wv[g][1]);
                acc2 = _mm512_dpbusd_epi32(acc2, _mm512_unpacklo_epi16(hi01, hi23), wv[g][2]);
                acc3 = _mm512_dpbusd_epi32(acc3, _mm512_unpackhi_epi16(hi01, hi23), wv[g][3]);
            }
            if (full < groups) {
                const __m512i t0 = TAP(4 * full);
                const __m512i zz = _mm512_setzero_si512();
                const __m512i lo01 = _mm512_unpacklo_epi8(t0, zz), hi01 = _mm512_unpackhi_epi8(t0, zz);
                acc0 = _mm512_dpbusd_epi32(acc0, _mm512_unpacklo_epi16(lo01, zz), wv[full][0]);
                acc1 = _mm512_dpbusd_epi32(acc1, _mm512_unpackhi_epi16(lo01, zz), wv[full][1]);
                acc2 = _mm512_dpbusd_epi32(acc2, _mm512_unpacklo_epi16(hi01, zz), wv[full][2]);
                acc3 = _mm512_dpbusd_epi32(acc3, _mm512_unpackhi_epi16(hi01, zz), wv[full][3]);
            }
#undef TAP
            __m512i bytes;
            if (fast) {
                bytes = clamp8_bytes(narrow4(rq16_fast(acc0, &p[0]), rq16_fast(acc1, &p[1]),
                                             rq16_fast(acc2, &p[2]), rq16_fast(acc3, &p[3])), &clamp);
            } else {
                bytes = narrow4(rq16_dwords(acc0, &p[0], lo64, hi64, zero32),
                                rq16_dwords(acc1, &p[1], lo64, hi64, zero32),
                                rq16_dwords(acc2, &p[2], lo64, hi64, zero32),
                                rq16_dwords(acc3, &p[3], lo64, hi64, zero32));
            }
            if (PAIR == 2) {
                _mm512_storeu_si512((void *)out, bytes);
                rq_lut(rq, out, count);
            } else if (PAIR == 1) {
                _mm256_mask_storeu_epi8(out, (__mmask32)mask, _mm512_castsi512_si256(bytes));
                rq_lut(rq, out, count);
                if (second) {
                    _mm256_mask_storeu_epi8(out + c, (__mmask32)mask, _mm512_extracti64x4_epi64(bytes, 1));
                    rq_lut(rq, out + c, count);
                }
            } else {
                _mm512_mask_storeu_epi8(out, mask, bytes);
                rq_lut(rq, out, count);
            }
        }
    }
}

/* 3x3, stride 1, no dilation, 64 whole channels: two output pixels per
 * step.  Pixels ow and ow + 1 read input columns iw0 .. iw0 + 3 of each
 * kernel row, so one interleave of those 4 columns per kernel row serves
 * both, with the row's weights as (w0, w1, w2, 0) for ow and (0, w0, w1, w2)
 * for ow + 1: 3 interleaves and 12 vpdpbusd per pixel pair instead of 2 x 3
 * and 2 x 12 on 9-tap groups.  Same products, so the same sums. */
static void block3s1(const pd_window_shape *s, const uint8_t *x, const uint8_t *zrow, const int8_t *w,
                     const int32_t *bias, const pd_requant *rq, uint8_t *y, int32_t r0, int32_t r1,
                     size_t c0)
{
    const size_t c = (size_t)s->in.c, in_row = (size_t)s->in.w * c;
    __m512i wa[3][4], wb[3][4];
    for (int kh = 0; kh < 3; kh++) {
        const __m512i t0 = _mm512_loadu_si512((const void *)(w + (size_t)(3 * kh) * c + c0));
        const __m512i t1 = _mm512_loadu_si512((const void *)(w + (size_t)(3 * kh + 1) * c + c0));
        const __m512i t2 = _mm512_loadu_si512((const void *)(w + (size_t)(3 * kh + 2) * c + c0));
        const __m512i zz = _mm512_setzero_si512();
        interleave(t0, t1, t2, zz, wa[kh]);
        interleave(zz, t0, t1, t2, wb[kh]);
    }
    rq16 p[4];
    __m512i start[4];
    for (int i = 0; i < 4; i++) {
        int32_t m[16], n[16], b[16];
        for (int lane = 0; lane < 16; lane++) {
            const size_t ch = channel_of(0, i, lane);
            m[lane] = rq->mult[c0 + ch];
            n[lane] = rq->shift[c0 + ch];
            b[lane] = bias != NULL ? bias[c0 + ch] : 0;
        }
        p[i] = rq16_from(_mm512_loadu_si512((const void *)m), _mm512_loadu_si512((const void *)n), rq->zero);
        start[i] = _mm512_loadu_si512((const void *)b);
    }
    const __m512i lo64 = _mm512_set1_epi64((long long)rq->lo - rq->zero);
    const __m512i hi64 = _mm512_set1_epi64((long long)rq->hi - rq->zero);
    const __m512i zero32 = _mm512_set1_epi32(rq->zero);
    const clamp8 clamp = clamp8_of(rq);
    const int fast = p[0].fast && p[1].fast && p[2].fast && p[3].fast;
    for (int32_t oh = r0; oh < r1; oh++) {
        const uint8_t *rows[3];
        for (int kh = 0; kh < 3; kh++) {
            const int64_t ih = (int64_t)oh - s->pad_top + kh;
            rows[kh] = ih >= 0 && ih < s->in.h ? x + (size_t)ih * in_row + c0 : NULL;
        }
        uint8_t *out = y + (size_t)oh * (size_t)s->out.w * c + c0;
        for (int32_t ow = 0; ow < s->out.w; ow += 2, out += 2 * c) {
            const int64_t iw0 = (int64_t)ow - s->pad_left;
            __m512i a0 = start[0], a1 = start[1], a2 = start[2], a3 = start[3];
            __m512i b0 = start[0], b1 = start[1], b2 = start[2], b3 = start[3];
            _Pragma("GCC unroll 3")
            for (int kh = 0; kh < 3; kh++) {
                const uint8_t *col[4];
                _Pragma("GCC unroll 4")
                for (int q = 0; q < 4; q++) {
                    const int64_t iw = iw0 + q;
                    col[q] = rows[kh] != NULL && iw >= 0 && iw < s->in.w ? rows[kh] + (size_t)iw * c : zrow;
                }
                const __m512i t0 = _mm512_loadu_si512((const void *)col[0]);
                const __m512i t1 = _mm512_loadu_si512((const void *)col[1]);
                const __m512i t2 = _mm512_loadu_si512((const void *)col[2]);
                const __m512i t3 = _mm512_loadu_si512((const void *)col[3]);
                const __m512i lo01 = _mm512_unpacklo_epi8(t0, t1), hi01 = _mm512_unpackhi_epi8(t0, t1);
                const __m512i lo23 = _mm512_unpacklo_epi8(t2, t3), hi23 = _mm512_unpackhi_epi8(t2, t3);
                const __m512i v0 = _mm512_unpacklo_epi16(lo01, lo23), v1 = _mm512_unpackhi_epi16(lo01, lo23);
                const __m512i v2 = _mm512_unpacklo_epi16(hi01, hi23), v3 = _mm512_unpackhi_epi16(hi01, hi23);
                a0 = _mm512_dpbusd_epi32(a0, v0, wa[kh][0]);
                a1 = _mm512_dpbusd_epi32(a1, v1, wa[kh][1]);
                a2 = _mm512_dpbusd_epi32(a2, v2, wa[kh][2]);
                a3 = _mm512_dpbusd_epi32(a3, v3, wa[kh][3]);
                b0 = _mm512_dpbusd_epi32(b0, v0, wb[kh][0]);
                b1 = _mm512_dpbusd_epi32(b1, v1, wb[kh][1]);
                b2 = _mm512_dpbusd_epi32(b2, v2, wb[kh][2]);
                b3 = _mm512_dpbusd_epi32(b3, v3, wb[kh][3]);
            }
            __m512i bytes_a, bytes_b;
            if (fast) {
                bytes_a = clamp8_bytes(narrow4(rq16_fast(a0, &p[0]), rq16_fast(a1, &p[1]), rq16_fast(a2, &p[2]),
                                               rq16_fast(a3, &p[3])), &clamp);
                bytes_b = clamp8_bytes(narrow4(rq16_fast(b0, &p[0]), rq16_fast(b1, &p[1]), rq16_fast(b2, &p[2]),
                                               rq16_fast(b3, &p[3])), &clamp);
            } else {
                bytes_a = narrow4(rq16_dwords(a0, &p[0], lo64, hi64, zero32), rq16_dwords(a1, &p[1], lo64, hi64, zero32),
                                  rq16_dwords(a2, &p[2], lo64, hi64, zero32), rq16_dwords(a3, &p[3], lo64, hi64, zero32));
                bytes_b = narrow4(rq16_dwords(b0, &p[0], lo64, hi64, zero32), rq16_dwords(b1, &p[1], lo64, hi64, zero32),
                                  rq16_dwords(b2, &p[2], lo64, hi64, zero32), rq16_dwords(b3, &p[3], lo64, hi64, zero32));
            }
            _mm512_storeu_si512((void *)out, bytes_a);
            rq_lut(rq, out, 64);
            if (ow + 1 < s->out.w) {
                _mm512_storeu_si512((void *)(out + c), bytes_b);
                rq_lut(rq, out + c, 64);
            }
        }
    }
}

void pd_depthwise_q8_avx512vnni(const pd_window_shape *s, const uint8_t *x, int32_t z_in,
                                const int8_t *w, const int32_t *bias, const pd_requant *rq, uint8_t *y,
                                int32_t r0, int32_t r1)
{
    const int k3 = s->kernel_h == 3 && s->kernel_w == 3, k5 = s->kernel_h == 5 && s->kernel_w == 5;
    if (!k3 && !k5) {
        pd_depthwise_q8_avx512(s, x, z_in, w, bias, rq, y, r0, r1);
        return;
    }
    uint8_t zrow[64];
    memset(zrow, z_in, sizeof zrow);
    const size_t c = (size_t)s->in.c;
    for (size_t c0 = 0; c0 < c; c0 += 64) {
        const size_t count = c - c0 < 64 ? c - c0 : 64;
        const int pair = count == 64 ? 2 : count > 32 ? 0 : 1;
        if (k3 && pair == 2 && s->stride_h == 1 && s->stride_w == 1 && s->dilation_h == 1 &&
            s->dilation_w == 1)
            block3s1(s, x, zrow, w, bias, rq, y, r0, r1, c0);
        else if (k3 && pair == 2)
            block(3, 3, 2, s, x, zrow, w, bias, rq, y, r0, r1, c0, count);
        else if (k3 && pair == 0)
            block(3, 3, 0, s, x, zrow, w, bias, rq, y, r0, r1, c0, count);
        else if (k3)
            block(3, 3, 1, s, x, zrow, w, bias, rq, y, r0, r1, c0, count);
        else if (pair == 2)
            block(5, 5, 2, s, x, zrow, w, bias, rq, y, r0, r1, c0, count);
        else if (pair == 0)
            block(5, 5, 0, s, x, zrow, w, bias, rq, y, r0, r1, c0, count);
        else
            block(5, 5, 1, s, x, zrow, w, bias, rq, y, r0, r1, c0, count);
    }
}
#endif
