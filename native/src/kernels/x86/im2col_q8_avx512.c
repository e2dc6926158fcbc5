/* im2col_q8_avx512.c: the int8 conv of kernels/q8.h (pd_conv_q8_with) with
 * an im2col that builds each row in one register, for windows whose kernel
 * rows are contiguous bytes (no dilation across, one group) and whose whole
 * row fits 64 bytes: an image stem (3x3 over RGB: 3 kernel rows of 9 bytes,
 * a row of 28), 5x5 over one or two channels, 7x7 over one.
 *
 * The reference copies each kernel row with a 16-byte move into a row of 28
 * bytes: three overlapping stores a pixel, a third of them split across
 * cache lines, and every field of the shape loaded again after each byte
 * store (a byte store may alias anything).  Here kernel row kh is a masked
 * load that lands at bytes [kh * row_bytes, (kh + 1) * row_bytes) of a zmm
 * (the address is shifted back by as many bytes; masked-off bytes are never
 * read, so nothing outside the input is touched), a padding row is a masked
 * move of z bytes, and the row is one masked store of kp bytes: the bytes of
 * pd_im2col_q8_ref exactly.  Pixels whose window crosses the left or right
 * border take the reference's pixel routine. */
#include "kernels/kernels.h"

#if PD_BUILD_X86
#pragma GCC target("avx512f,avx512vl,avx512dq,avx512bw,avx2,fma")
#include <immintrin.h>
#include <stdint.h>

#include "kernels/q8.h"
#include "kernels/x86/x86.h"

#define MAX_KH 64 /* kernel rows: at most 64 of at least a byte */

/* The bytes of a row of kernel rows for interior pixels, with src pointing
 * at the window's first byte in kernel row kh (NULL: a padding row). */
static inline void build_row(const uint8_t *const *src, const __mmask64 *seg, size_t off, int32_t kh_n,
                             size_t row_bytes, __m512i zv, __mmask64 store, uint8_t *row)
{
    __m512i v = _mm512_setzero_si512();
    for (int32_t kh = 0; kh < kh_n; kh++) {
        if (src[kh] == NULL) {
            v = _mm512_mask_mov_epi8(v, seg[kh], zv);
        } else {
            /* bytes [kh * row_bytes, ...) of the load come from src[kh] + off */
            const uintptr_t at = (uintptr_t)(src[kh] + off) - (uintptr_t)kh * row_bytes;
            v = _mm512_mask_loadu_epi8(v, seg[kh], (const void *)at);
        }
    }
    _mm512_mask_storeu_epi8(row, store, v);
}

static void im2col_avx512(const pd_window_shape *s, const uint8_t *x, int32_t c0, int32_t cg, uint8_t z,
                          size_t p0, size_t p1, size_t kp, uint8_t *col)
{
    const size_t in_c = (size_t)s->in.c, row_bytes = (size_t)s->kernel_w * (size_t)cg;
    const int32_t kh_n = s->kernel_h;
    if (s->dilation_w != 1 || (int32_t)in_c != cg || kp > 64 || row_bytes >= 64 || kh_n > MAX_KH) {
        pd_im2col_q8_ref(s, x, c0, cg, z, p0, p1, kp, col);
        return;
    }
    __mmask64 seg[MAX_KH];
    for (int32_t kh = 0; kh < kh_n; kh++)
        seg[kh] = (((__mmask64)1 << row_bytes) - 1) << ((size_t)kh * row_bytes); /* row_bytes < 64 */
    const __mmask64 store = kp == 64 ? ~(__mmask64)0 : ((__mmask64)1 << kp) - 1;
    const __m512i zv = _mm512_set1_epi8((char)z);
    const size_t out_w = (size_t)s->out.w, in_row = (size_t)s->in.w * in_c;
    const int64_t stride_w = s->stride_w, pad_left = s->pad_left;
    int32_t lo, hi;
    pd_im2col_q8_columns(s, &lo, &hi);
    size_t p = p0;
    int32_t oh = (int32_t)(p0 / out_w), ow = (int32_t)(p0 % out_w);
    while (p < p1) {
        const uint8_t *src[MAX_KH];
        for (int32_t kh = 0; kh < kh_n; kh++) {
            const int64_t ih = (int64_t)oh * s->stride_h - s->pad_top + (int64_t)kh * s->dilation_h;
            src[kh] = ih < 0 || ih >= s->in.h ? NULL : x + (size_t)ih * in_row + (size_t)c0;
        }
        const size_t stop = p1 - p < out_w - (size_t)ow ? p1 : p + (out_w - (size_t)ow);
        for (; p < stop; p++, ow++) {
            uint8_t *row = col + (p - p0) * kp;
            if (ow < lo || ow >= hi)
                pd_im2col_q8_pixel_ref(s, x, c0, cg, z, oh, ow, kp, row);
            else
                build_row(src, seg, (size_t)((int64_t)ow * stride_w - pad_left) * in_c, kh_n, row_bytes,
                          zv, store, row);
        }
        oh++;
        ow = 0;
    }
}

void pd_conv_q8_avx512(const pd_q8_kernels *k, const pd_window_shape *s, const uint8_t *x, int32_t z_in,
                       const int8_t *w, const int32_t *bias, const pd_requant *rq, uint8_t *y, size_t p0,
                       size_t p1, uint8_t *scratch)
{
    pd_conv_q8_with(k, im2col_avx512, s, x, z_in, w, bias, rq, y, p0, p1, scratch);
}
#endif
