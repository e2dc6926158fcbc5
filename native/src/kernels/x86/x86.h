/* x86.h: the x86 families' kernels (AVX2+FMA, AVX-512), declared for their
 * fill functions.  Every definition sits in a file named for its instruction
 * set that carries its own `#pragma GCC target`; nothing here needs one. */
#ifndef PD_KERNELS_X86_H
#define PD_KERNELS_X86_H

#include "kernels/kernels.h"

#if PD_BUILD_X86
void pd_gemm_f32_avx2(size_t m, size_t n, size_t k, const float *a, size_t lda, const float *b,
                      const float *bias, float *c, size_t ldc, const pd_act_params *act);
void pd_channels_last_f32_avx512(size_t c, size_t n, size_t stride, const float *x, float *y);
void pd_conv_f32_avx2(const pd_kernels *k, const pd_window_shape *s, const float *x, const float *w,
                      const float *bias, const pd_act_params *act, float *y, size_t p0, size_t p1,
                      float *scratch);
void pd_conv_f32_avx512(const pd_kernels *k, const pd_window_shape *s, const float *x, const float *w,
                        const float *bias, const pd_act_params *act, float *y, size_t p0, size_t p1,
                        float *scratch);
void pd_depthwise_f32_avx2(const pd_window_shape *s, const float *x, const float *w,
                           const float *bias, const pd_act_params *act, float *y, int32_t r0,
                           int32_t r1);
void pd_binary_f32_avx2(int32_t kind, size_t batch, pd_dims ad, const float *a, size_t a_stride,
                        pd_dims bd, const float *b, size_t b_stride, const pd_act_params *act,
                        float *y);
void pd_global_avgpool_f32_avx2(pd_dims in, size_t batch, const float *x, float *y);
void pd_resample_h_u8_avx2(int32_t rows, const uint8_t *x, size_t x_stride, int32_t in_w,
                           int32_t x_px, int32_t c, const int32_t *win, const int32_t *w,
                           int32_t kstride, uint8_t *y, size_t y_stride, int32_t out_w);
void pd_resample_v_u8_avx2(int32_t row_bytes, const uint8_t *x, size_t x_stride, const int32_t *win,
                           const int32_t *w, int32_t kstride, uint8_t *y, size_t y_stride,
                           int32_t out_h);

void pd_depthwise_f32_avx512(const pd_window_shape *s, const float *x, const float *w,
                             const float *bias, const pd_act_params *act, float *y, int32_t r0,
                             int32_t r1);
void pd_gemm_f32_avx512(size_t m, size_t n, size_t k, const float *a, size_t lda, const float *b,
                        const float *bias, float *c, size_t ldc, const pd_act_params *act);

/* int8 (kernels/q8.h) */
struct pd_requant;
struct pd_q8_kernels;
void pd_gemm_q8_avx512vnni(size_t m, size_t n, size_t k, const uint8_t *a, size_t lda,
                           const int8_t *b, const int32_t *bias, const struct pd_requant *rq,
                           uint8_t *c, size_t ldc);
void pd_gemm_q8f_avx512vnni(size_t m, size_t n, size_t k, const uint8_t *a, size_t lda,
                            const int8_t *b, const int32_t *bias, const struct pd_requant *rq, float *c,
                            size_t ldc);
void pd_conv_q8_avx512(const struct pd_q8_kernels *k, const pd_window_shape *s, const uint8_t *x,
                       int32_t z_in, const int8_t *w, const int32_t *bias, const struct pd_requant *rq,
                       uint8_t *y, size_t p0, size_t p1, uint8_t *scratch);
void pd_depthwise_q8_avx512(const pd_window_shape *s, const uint8_t *x, int32_t z_in,
                            const int8_t *w, const int32_t *bias, const struct pd_requant *rq,
                            uint8_t *y, int32_t r0, int32_t r1);
void pd_binary_q8_avx512(int32_t kind, size_t batch, pd_dims ad, const uint8_t *a, int32_t za,
                         pd_dims bd, const uint8_t *b, int32_t zb, const struct pd_requant *rq,
                         uint8_t *y);
void pd_quantize_avx512(size_t n, const float *x, float scale, int32_t zero, uint8_t *y);
void pd_global_avgpool_q8_avx512(pd_dims in, size_t batch, const uint8_t *x, int32_t z_in,
                                 const struct pd_requant *rq, uint8_t *y);
void pd_depthwise_q8_avx512vnni(const pd_window_shape *s, const uint8_t *x, int32_t z_in,
                                const int8_t *w, const int32_t *bias, const struct pd_requant *rq,
                                uint8_t *y, int32_t r0, int32_t r1);
void pd_gemm_q8_avx2(size_t m, size_t n, size_t k, const uint8_t *a, size_t lda, const int8_t *b,
                     const int32_t *bias, const struct pd_requant *rq, uint8_t *c, size_t ldc);
void pd_depthwise_q8_avx2(const pd_window_shape *s, const uint8_t *x, int32_t z_in, const int8_t *w,
                          const int32_t *bias, const struct pd_requant *rq, uint8_t *y, int32_t r0,
                          int32_t r1);
void pd_binary_q8_avx2(int32_t kind, size_t batch, pd_dims ad, const uint8_t *a, int32_t za,
                       pd_dims bd, const uint8_t *b, int32_t zb, const struct pd_requant *rq, uint8_t *y);
void pd_gemm_q8f_avx2(size_t m, size_t n, size_t k, const uint8_t *a, size_t lda, const int8_t *b,
                      const int32_t *bias, const struct pd_requant *rq, float *c, size_t ldc);
#endif

#endif
