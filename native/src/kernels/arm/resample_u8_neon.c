/* resample_u8_neon.c: the two passes of Pillow-exact 8-bit resampling
 * (kernels.h, pd_resample_h_u8_fn) with NEON, aarch64 and armv7.  Integer
 * only: bytes widened to 32-bit lanes, vmlaq_n_u32 by each 22-bit weight
 * (unsigned, so the sums wrap like the reference's uint32 ones, with no
 * signed overflow for UBSan to flag), then the reference's round, then an
 * arithmetic shift of the sum read as signed and a saturating narrow to
 * unsigned that clamps both ends, so the bytes are the reference's.
 *
 * Horizontal, 3 channels: one tap is one pixel, 4 bytes loaded (R G B and
 * the next byte, whose lane is dropped) into 4 lanes; a window whose last
 * 4-byte load would pass the end of the row runs the reference's loop, as
 * does one channel (grey photos are rare).  Vertical: 16 bytes of a row at a
 * time in 4 vectors, the tail in the reference's arithmetic. */
#include "kernels/kernels.h"

#if PD_BUILD_NEON
#define PD_NEON_INTRINSICS
#include <string.h>

#include "kernels/arm/neon.h"
#include "kernels/ref/ref.h"

/* (sum + 2^21) >> 22 of 4 wrapped sums read as signed, clamped to 0..255:
 * 4 unsigned 16-bit lanes. */
static inline uint16x4_t round4(uint32x4_t s)
{
    s = vaddq_u32(s, vdupq_n_u32(UINT32_C(1) << (PD_RESAMPLE_BITS - 1)));
    return vqmovun_s32(vshrq_n_s32(vreinterpretq_s32_u32(s), PD_RESAMPLE_BITS));
}

/* The same in the low 4 bytes. */
static inline uint8x8_t finish4(uint32x4_t s)
{
    const uint16x4_t u = round4(s);
    return vqmovn_u16(vcombine_u16(u, u));
}

/* The 4 bytes at p as 4 32-bit lanes. */
static inline uint32x4_t widen4(const uint8_t *p)
{
    uint32_t v;
    memcpy(&v, p, 4);
    const uint16x8_t h = vmovl_u8(vreinterpret_u8_u32(vdup_n_u32(v)));
    return vmovl_u16(vget_low_u16(h));
}

void pd_resample_h_u8_neon(int32_t rows, const uint8_t *x, size_t x_stride, int32_t in_w,
                           int32_t x_px, int32_t c, const int32_t *win, const int32_t *w,
                           int32_t kstride, uint8_t *y, size_t y_stride, int32_t out_w)
{
    if (c != 3) {
        pd_resample_h_u8_ref(rows, x, x_stride, in_w, x_px, c, win, w, kstride, y, y_stride, out_w);
        return;
    }
    const size_t row_bytes = (size_t)in_w * (size_t)x_px;
    for (int32_t r = 0; r < rows; r++) {
        const uint8_t *row = x + (size_t)r * x_stride;
        uint8_t *out = y + (size_t)r * y_stride;
        for (int32_t i = 0; i < out_w; i++) {
            const int32_t first = win[2 * i], n = win[2 * i + 1];
            const int32_t *wi = w + (size_t)i * (size_t)kstride;
            const uint8_t *src = row + (size_t)first * (size_t)x_px;
            uint8_t *dst = out + (size_t)i * 3;
            if (n == 0 || (size_t)(first + n - 1) * (size_t)x_px + 4 > row_bytes) {
                pd_resample_px_u8_ref(src, x_px, 3, n, wi, dst);
                continue;
            }
            uint32x4_t acc = vmulq_n_u32(widen4(src), (uint32_t)wi[0]);
            for (int32_t t = 1; t < n; t++)
                acc = vmlaq_n_u32(acc, widen4(src + (size_t)t * (size_t)x_px), (uint32_t)wi[t]);
            const uint32_t bytes = vget_lane_u32(vreinterpret_u32_u8(finish4(acc)), 0);
            /* the 4th byte lands on the next pixel, written after this one */
            memcpy(dst, &bytes, i + 1 < out_w ? 4 : 3);
        }
    }
}

void pd_resample_v_u8_neon(int32_t row_bytes, const uint8_t *x, size_t x_stride, const int32_t *win,
                           const int32_t *w, int32_t kstride, uint8_t *y, size_t y_stride,
                           int32_t out_h)
{
    for (int32_t i = 0; i < out_h; i++) {
        const uint8_t *first = x + (size_t)win[2 * i] * x_stride;
        const int32_t n = win[2 * i + 1];
        const int32_t *wi = w + (size_t)i * (size_t)kstride;
        uint8_t *out = y + (size_t)i * y_stride;
        int32_t b = 0;
        for (; b + 16 <= row_bytes; b += 16) {
            uint32x4_t a0 = vdupq_n_u32(0), a1 = a0, a2 = a0, a3 = a0;
            for (int32_t t = 0; t < n; t++) {
                const uint8x16_t p = vld1q_u8(first + (size_t)t * x_stride + (size_t)b);
                const uint16x8_t lo = vmovl_u8(vget_low_u8(p)), hi = vmovl_u8(vget_high_u8(p));
                const uint32_t k = (uint32_t)wi[t];
                a0 = vmlaq_n_u32(a0, vmovl_u16(vget_low_u16(lo)), k);
                a1 = vmlaq_n_u32(a1, vmovl_u16(vget_high_u16(lo)), k);
                a2 = vmlaq_n_u32(a2, vmovl_u16(vget_low_u16(hi)), k);
                a3 = vmlaq_n_u32(a3, vmovl_u16(vget_high_u16(hi)), k);
            }
            const uint16x8_t u01 = vcombine_u16(round4(a0), round4(a1));
            const uint16x8_t u23 = vcombine_u16(round4(a2), round4(a3));
            vst1q_u8(out + b, vcombine_u8(vqmovn_u16(u01), vqmovn_u16(u23)));
        }
        pd_resample_col_u8_ref(first, x_stride, n, wi, b, row_bytes, out);
    }
}
#endif
