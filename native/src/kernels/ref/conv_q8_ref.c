/* conv_q8_ref.c: int8 convolution as im2col + GEMM, as conv_ref.c does for
 * float32.  Cells in the padding are filled with the input's zero point, the
 * byte of real zero, which keeps the folded bias exact at the borders.  Rows
 * are pd_q8_kpad(K) bytes, the tail zeroed, so a SIMD GEMM may read whole
 * groups of 4 (the packed weights are zero there). */
#include <string.h>

#include "core.h"
#include "kernels/q8.h"

int pd_conv_q8_is_pointwise(const pd_window_shape *s)
{
    return s->kernel_h == 1 && s->kernel_w == 1 && s->stride_h == 1 && s->stride_w == 1 &&
           s->pad_top == 0 && s->pad_left == 0 && s->pad_bottom == 0 && s->pad_right == 0 &&
           s->groups == 1;
}

size_t pd_conv_q8_scratch(const pd_window_shape *s, size_t pixels)
{
    size_t n;
    if (pd_conv_q8_is_pointwise(s))
        return 0;
    if (!pd_size_mul((size_t)s->kernel_h, (size_t)s->kernel_w, &n) ||
        !pd_size_mul(n, (size_t)(s->in.c / s->groups), &n) || n > SIZE_MAX - PD_Q8_KGROUP ||
        !pd_size_mul(pd_q8_kpad(n), pixels, &n) || n > SIZE_MAX - 16)
        return SIZE_MAX;
    return n + 16; /* im2col may write a 16-byte chunk past the last row's end */
}

/* memcpy / memset for the few bytes of a tap (3 for an RGB input, 9 for a
 * kernel row of one): a call per tap costs more than the copy; 8-byte
 * memcpy of a constant size compiles to one move. */
static inline void copy_bytes(uint8_t *dst, const uint8_t *src, size_t n)
{
    if (n > 64) {
        memcpy(dst, src, n);
        return;
    }
    for (; n >= 8; n -= 8, dst += 8, src += 8)
        memcpy(dst, src, 8);
    for (size_t i = 0; i < n; i++)
        dst[i] = src[i];
}

static inline void fill_bytes(uint8_t *dst, uint8_t v, size_t n)
{
    if (n > 16) {
        memset(dst, v, n);
        return;
    }
    for (size_t i = 0; i < n; i++)
        dst[i] = v;
}

/* The im2col row of output pixel (oh, ow) for channels [c0, c0 + cg): the
 * general case.  With no dilation the kw taps of one kernel row are
 * adjacent pixels: one copy when all of them are inside the input. */
void pd_im2col_q8_pixel_ref(const pd_window_shape *s, const uint8_t *x, int32_t c0, int32_t cg,
                            uint8_t z, int32_t oh, int32_t ow, size_t kp, uint8_t *row)
{
    const size_t kdim = (size_t)s->kernel_h * (size_t)s->kernel_w * (size_t)cg;
    const size_t in_c = (size_t)s->in.c, row_bytes = (size_t)s->kernel_w * (size_t)cg;
    const int whole_rows = s->dilation_w == 1 && (int32_t)in_c == cg;
    const uint8_t *x_end = x + (size_t)s->in.h * (size_t)s->in.w * in_c;
    const int64_t iw0 = (int64_t)ow * s->stride_w - s->pad_left;
    const int cols_in = iw0 >= 0 && iw0 + (int64_t)(s->kernel_w - 1) * s->dilation_w < s->in.w;
    uint8_t *const start = row;
    for (int32_t kh = 0; kh < s->kernel_h; kh++) {
        int64_t ih = (int64_t)oh * s->stride_h - s->pad_top + (int64_t)kh * s->dilation_h;
        if (ih < 0 || ih >= s->in.h) {
            fill_bytes(row, z, row_bytes);
            row += row_bytes;
            continue;
        }
        const uint8_t *src = x + (size_t)ih * (size_t)s->in.w * in_c + c0;
        if (whole_rows && cols_in) {
            const uint8_t *from = src + (size_t)iw0 * in_c;
            /* A short kernel row (9 bytes for 3x3 RGB) as one 16-byte move when
             * the sample has 16 bytes there; the bytes written past the row
             * are overwritten by the next ones (the scratch has 16 bytes of
             * slack past the last row). */
            if (row_bytes <= 16 && (size_t)(x_end - from) >= 16)
                memcpy(row, from, 16);
            else
                copy_bytes(row, from, row_bytes);
            row += row_bytes;
            continue;
        }
        for (int32_t kw = 0; kw < s->kernel_w; kw++) {
            int64_t iw = iw0 + (int64_t)kw * s->dilation_w;
            if (iw >= 0 && iw < s->in.w)
                copy_bytes(row, src + (size_t)iw * in_c, (size_t)cg);
            else
                fill_bytes(row, z, (size_t)cg);
            row += cg;
        }
    }
    fill_bytes(start + kdim, 0, kp - kdim);
}

void pd_im2col_q8_columns(const pd_window_shape *s, int32_t *lo, int32_t *hi)
{
    const int64_t span = (int64_t)(s->kernel_w - 1) * s->dilation_w;
    const int64_t first = ((int64_t)s->pad_left + s->stride_w - 1) / s->stride_w;
    int64_t last = (int64_t)s->in.w - 1 - span + s->pad_left >= 0
                       ? ((int64_t)s->in.w - 1 - span + s->pad_left) / s->stride_w + 1
                       : 0;
    if (last > s->out.w)
        last = s->out.w;
    *lo = (int32_t)(first < last ? first : last);
    *hi = (int32_t)last;
}

/* Kernel rows the fast loop of im2col keeps source pointers for. */
#define FAST_KH 16

/* Rows of output pixels [p0, p1) for channels [c0, c0 + cg), kp bytes each.
 * The pixels of an output row whose taps are all inside the input columns,
 * with no dilation across and every channel (an image stem: 3x3 RGB rows of
 * 9 bytes), take a loop that only copies: the source rows and which of them
 * are padding are found once per output row.  The others, and every pixel
 * of other shapes, take pd_im2col_q8_pixel_ref; both write the same bytes. */
void pd_im2col_q8_ref(const pd_window_shape *s, const uint8_t *x, int32_t c0, int32_t cg, uint8_t z,
                      size_t p0, size_t p1, size_t kp, uint8_t *col)
{
    const size_t kdim = (size_t)s->kernel_h * (size_t)s->kernel_w * (size_t)cg;
    const size_t in_c = (size_t)s->in.c, row_bytes = (size_t)s->kernel_w * (size_t)cg;
    const int fast = s->dilation_w == 1 && (int32_t)in_c == cg && row_bytes <= 16 &&
                     s->kernel_h <= FAST_KH;
    const uint8_t *x_end = x + (size_t)s->in.h * (size_t)s->in.w * in_c;
    int32_t ow_lo, ow_hi;
    pd_im2col_q8_columns(s, &ow_lo, &ow_hi);
    int32_t oh = (int32_t)(p0 / (size_t)s->out.w), ow = (int32_t)(p0 % (size_t)s->out.w);
    size_t p = p0;
    while (p < p1) {
        const size_t left_in_row = (size_t)(s->out.w - ow);
        const size_t stop = p1 - p < left_in_row ? p1 : p + left_in_row;
        if (fast) {
            const uint8_t *src[FAST_KH];
            for (int32_t kh = 0; kh < s->kernel_h; kh++) {
                const int64_t ih = (int64_t)oh * s->stride_h - s->pad_top + (int64_t)kh * s->dilation_h;
                src[kh] = ih < 0 || ih >= s->in.h ? NULL : x + (size_t)ih * (size_t)s->in.w * in_c + c0;
            }
            for (; p < stop; p++, ow++) {
                uint8_t *row = col + (p - p0) * kp;
                if (ow < ow_lo || ow >= ow_hi) {
                    pd_im2col_q8_pixel_ref(s, x, c0, cg, z, oh, ow, kp, row);
                    continue;
                }
                const size_t off = (size_t)((int64_t)ow * s->stride_w - s->pad_left) * in_c;
                for (int32_t kh = 0; kh < s->kernel_h; kh++, row += row_bytes) {
                    if (src[kh] == NULL)
                        fill_bytes(row, z, row_bytes);
                    else if ((size_t)(x_end - (src[kh] + off)) >= 16)
                        memcpy(row, src[kh] + off, 16); /* as in im2col_pixel */
                    else
                        copy_bytes(row, src[kh] + off, row_bytes);
                }
                fill_bytes(row, 0, kp - kdim);
            }
        } else {
            for (; p < stop; p++, ow++)
                pd_im2col_q8_pixel_ref(s, x, c0, cg, z, oh, ow, kp, col + (p - p0) * kp);
        }
        oh++;
        ow = 0;
    }
}

void pd_conv_q8_ref(const pd_q8_kernels *k, const pd_window_shape *s, const uint8_t *x,
                    int32_t z_in, const int8_t *w, const int32_t *bias, const pd_requant *rq,
                    uint8_t *y, size_t p0, size_t p1, uint8_t *scratch)
{
    pd_conv_q8_with(k, pd_im2col_q8_ref, s, x, z_in, w, bias, rq, y, p0, p1, scratch);
}

void pd_conv_q8_with(const pd_q8_kernels *k, pd_im2col_q8_fn im2col, const pd_window_shape *s,
                     const uint8_t *x, int32_t z_in, const int8_t *w, const int32_t *bias,
                     const pd_requant *rq, uint8_t *y, size_t p0, size_t p1, uint8_t *scratch)
{
    const size_t cout = (size_t)s->out.c;
    const int32_t cg = s->in.c / s->groups;
    const size_t og = cout / (size_t)s->groups;
    const size_t kdim = (size_t)s->kernel_h * (size_t)s->kernel_w * (size_t)cg;
    const size_t kp = pd_q8_kpad(kdim), group_bytes = pd_q8_packed_group(og, kdim);
    for (int32_t g = 0; g < s->groups; g++) {
        pd_requant part = *rq; /* this group's channels' multipliers */
        part.mult = rq->mult + (size_t)g * og;
        part.shift = rq->shift + (size_t)g * og;
        im2col(s, x, g * cg, cg, (uint8_t)z_in, p0, p1, kp, scratch);
        /* K as kp: the rows' padding bytes are zero and so are the weights
         * there, so the sums are the same and the GEMM needs no tail step */
        k->gemm(p1 - p0, og, kp, scratch, kp, w + (size_t)g * group_bytes,
                bias != NULL ? bias + (size_t)g * og : NULL, &part, y + p0 * cout + (size_t)g * og,
                cout);
    }
}
