/* ref.h: the reference kernels, one file per op family.  Simple loops that
 * are obviously right: they are the specification other families must match.
 * Signatures and conventions are those of kernels.h. */
#ifndef PD_KERNELS_REF_H
#define PD_KERNELS_REF_H

#include "kernels/kernels.h"

void pd_act_f32_ref(float *y, const float *x, size_t n, const pd_act_params *act);
void pd_gemm_f32_ref(size_t m, size_t n, size_t k, const float *a, size_t lda, const float *b,
                     const float *bias, float *c, size_t ldc, const pd_act_params *act);
void pd_gemm_u8i8_ref(size_t m, size_t n, size_t k, const uint8_t *a, size_t lda, const int8_t *b,
                      size_t ldb, const int32_t *bias, int32_t *c, size_t ldc);
/* 1x1, stride 1, unpadded, one group: a plain GEMM over the NHWC input. */
int pd_conv_is_pointwise(const pd_window_shape *s);
size_t pd_conv_f32_scratch_ref(const pd_window_shape *s, size_t pixels);
void pd_conv_f32_ref(const pd_kernels *k, const pd_window_shape *s, const float *x, const float *w,
                     const float *bias, const pd_act_params *act, float *y, size_t p0, size_t p1,
                     float *scratch);
void pd_depthwise_f32_ref(const pd_window_shape *s, const float *x, const float *w,
                          const float *bias, const pd_act_params *act, float *y, int32_t r0,
                          int32_t r1);
void pd_maxpool_f32_ref(const pd_window_shape *s, size_t batch, const float *x, float *y);
void pd_avgpool_f32_ref(const pd_window_shape *s, int32_t count_include_pad, size_t batch,
                        const float *x, float *y);
void pd_global_avgpool_f32_ref(pd_dims in, size_t batch, const float *x, float *y);
void pd_global_maxpool_f32_ref(pd_dims in, size_t batch, const float *x, float *y);
void pd_binary_f32_ref(int32_t kind, size_t batch, pd_dims ad, const float *a, size_t a_stride,
                       pd_dims bd, const float *b, size_t b_stride, const pd_act_params *act,
                       float *y);
void pd_concat_f32_ref(size_t batch, size_t hw, const float *x, size_t x_stride, int32_t c_in,
                       float *y, int32_t c_out, int32_t c_offset);
void pd_softmax_f32_ref(size_t rows, size_t c, const float *x, float *y);
void pd_reshape_f32_ref(size_t batch, pd_dims in, const float *x, pd_dims out, float *y);
void pd_pad_f32_ref(size_t batch, pd_dims in, const float *x, pd_dims out, int32_t pad_top,
                    int32_t pad_left, int32_t mode, float value, float *y);
void pd_lrn_f32_ref(size_t pixels, size_t c, int32_t size, float alpha, float beta, float bias,
                    const float *x, float *y);
void pd_conv_transpose_f32_ref(const pd_window_shape *s, const float *x, const float *w,
                               const float *bias, const pd_act_params *act, float *y, int32_t r0,
                               int32_t r1);
void pd_resize_f32_ref(size_t batch, pd_dims in, const float *x, pd_dims out, int32_t mode,
                       int32_t coord, int32_t nearest, float scale_h, float scale_w, float *y);
void pd_shuffle_f32_ref(size_t pixels, size_t c, size_t groups, const float *x, float *y);
void pd_slice_f32_ref(size_t batch, pd_dims in, const float *x, pd_dims out, int32_t h0, int32_t w0,
                      int32_t c0, float *y);
void pd_transpose_f32_ref(size_t batch, pd_dims in, const float *x, const int32_t perm[3], float *y);
void pd_channels_last_f32_ref(size_t c, size_t n, size_t stride, const float *x, float *y);
void pd_resample_h_u8_ref(int32_t rows, const uint8_t *x, size_t x_stride, int32_t in_w,
                          int32_t x_px, int32_t c, const int32_t *win, const int32_t *w,
                          int32_t kstride, uint8_t *y, size_t y_stride, int32_t out_w);
void pd_resample_v_u8_ref(int32_t row_bytes, const uint8_t *x, size_t x_stride, const int32_t *win,
                          const int32_t *w, int32_t kstride, uint8_t *y, size_t y_stride,
                          int32_t out_h);
/* One output pixel of the horizontal pass (c channels from the n pixels of
 * x_px bytes at row), for SIMD kernels' edge pixels. */
void pd_resample_px_u8_ref(const uint8_t *row, int32_t x_px, int32_t c, int32_t n, const int32_t *w,
                           uint8_t *out);
/* Bytes [b0, b1) of one output row of the vertical pass (from the n rows of
 * x_stride bytes at first), for SIMD kernels' tails. */
void pd_resample_col_u8_ref(const uint8_t *first, size_t x_stride, int32_t n, const int32_t *w,
                            int32_t b0, int32_t b1, uint8_t *out);
/* The rounding, shift and clamp of every resampled sample (kernels.h): the
 * wrapped 32-bit sum read as signed, so a negative one (top bit set) is 0. */
static inline uint8_t pd_resample_clamp_u8(uint32_t sum)
{
    const uint32_t rounded = sum + (UINT32_C(1) << (PD_RESAMPLE_BITS - 1));
    if (rounded & UINT32_C(0x80000000))
        return 0;
    const uint32_t v = rounded >> PD_RESAMPLE_BITS;
    return (uint8_t)(v > 255 ? 255 : v);
}
void pd_pixels_f32_ref(size_t c, size_t hw, const uint8_t *x, const float *table, float *y);

#endif
