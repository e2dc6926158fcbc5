/* resample_u8_ref.c: the two passes of Pillow-exact 8-bit resampling
 * (kernels.h, pd_resample_h_u8_fn and pd_resample_v_u8_fn), the
 * specification the SIMD families match byte for byte.
 *
 * The sums run in uint32 so that they wrap instead of overflowing: with
 * weights of 22 fraction bits summing to 2^22, |sum| stays below about
 * 2^22 * 255 * (sum of |weights|), far inside int32 for every filter, but a
 * wrapping sum is defined whatever the weights, and SIMD lanes wrap the same
 * way. */
#include "kernels/ref/ref.h"

void pd_resample_px_u8_ref(const uint8_t *row, int32_t x_px, int32_t c, int32_t n, const int32_t *w,
                           uint8_t *out)
{
    for (int32_t ch = 0; ch < c; ch++) {
        uint32_t sum = 0;
        for (int32_t t = 0; t < n; t++)
            sum += (uint32_t)row[(size_t)t * (size_t)x_px + (size_t)ch] * (uint32_t)w[t];
        out[ch] = pd_resample_clamp_u8(sum);
    }
}

void pd_resample_col_u8_ref(const uint8_t *first, size_t x_stride, int32_t n, const int32_t *w,
                            int32_t b0, int32_t b1, uint8_t *out)
{
    for (int32_t b = b0; b < b1; b++) {
        uint32_t sum = 0;
        for (int32_t t = 0; t < n; t++)
            sum += (uint32_t)first[(size_t)t * x_stride + (size_t)b] * (uint32_t)w[t];
        out[b] = pd_resample_clamp_u8(sum);
    }
}

void pd_resample_h_u8_ref(int32_t rows, const uint8_t *x, size_t x_stride, int32_t in_w,
                          int32_t x_px, int32_t c, const int32_t *win, const int32_t *w,
                          int32_t kstride, uint8_t *y, size_t y_stride, int32_t out_w)
{
    (void)in_w; /* the windows lie inside the row (resample.c) */
    for (int32_t r = 0; r < rows; r++) {
        const uint8_t *row = x + (size_t)r * x_stride;
        uint8_t *out = y + (size_t)r * y_stride;
        for (int32_t i = 0; i < out_w; i++)
            pd_resample_px_u8_ref(row + (size_t)win[2 * i] * (size_t)x_px, x_px, c, win[2 * i + 1],
                                  w + (size_t)i * (size_t)kstride, out + (size_t)i * (size_t)c);
    }
}

void pd_resample_v_u8_ref(int32_t row_bytes, const uint8_t *x, size_t x_stride, const int32_t *win,
                          const int32_t *w, int32_t kstride, uint8_t *y, size_t y_stride,
                          int32_t out_h)
{
    for (int32_t i = 0; i < out_h; i++) {
        const uint8_t *first = x + (size_t)win[2 * i] * x_stride;
        const int32_t n = win[2 * i + 1];
        const int32_t *wi = w + (size_t)i * (size_t)kstride;
        pd_resample_col_u8_ref(first, x_stride, n, wi, 0, row_bytes, y + (size_t)i * y_stride);
    }
}
