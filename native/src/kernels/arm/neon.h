/* neon.h: the NEON kernels (aarch64 and armv7), declared for table_arm.c,
 * and, for the files that define them (PD_NEON_INTRINSICS), the intrinsics
 * header with the few helpers that differ between aarch64 and armv7, so each
 * kernel file is written once for both.
 *
 * armv7: Debian's armhf baseline (armv7-a + VFPv3-D16) has no NEON, so the
 * pragma below turns it on in the NEON files only; select.c calls them only
 * when getauxval says the CPU has NEON.  aarch64 always has it. */
#ifndef PD_KERNELS_NEON_H
#define PD_KERNELS_NEON_H

#include "kernels/kernels.h"

#if PD_BUILD_NEON
void pd_act_f32_neon(float *y, const float *x, size_t n, const pd_act_params *act);
void pd_gemm_f32_neon(size_t m, size_t n, size_t k, const float *a, size_t lda, const float *b,
                      const float *bias, float *c, size_t ldc, const pd_act_params *act);
void pd_depthwise_f32_neon(const pd_window_shape *s, const float *x, const float *w,
                           const float *bias, const pd_act_params *act, float *y, int32_t r0,
                           int32_t r1);
#if defined(__aarch64__)
void pd_binary_f32_neon(int32_t kind, size_t batch, pd_dims ad, const float *a, size_t a_stride,
                        pd_dims bd, const float *b, size_t b_stride, const pd_act_params *act,
                        float *y);
void pd_global_avgpool_f32_neon(pd_dims in, size_t batch, const float *x, float *y);
#endif
void pd_gemm_u8i8_neon(size_t m, size_t n, size_t k, const uint8_t *a, size_t lda, const int8_t *b,
                       size_t ldb, const int32_t *bias, int32_t *c, size_t ldc);
/* int8 (kernels/q8.h) */
struct pd_requant;
void pd_gemm_q8_neon(size_t m, size_t n, size_t k, const uint8_t *a, size_t lda, const int8_t *b,
                     const int32_t *bias, const struct pd_requant *rq, uint8_t *c, size_t ldc);
void pd_depthwise_q8_neon(const pd_window_shape *s, const uint8_t *x, int32_t z_in, const int8_t *w,
                          const int32_t *bias, const struct pd_requant *rq, uint8_t *y, int32_t r0,
                          int32_t r1);
void pd_binary_q8_neon(int32_t kind, size_t batch, pd_dims ad, const uint8_t *a, int32_t za, pd_dims bd,
                       const uint8_t *b, int32_t zb, const struct pd_requant *rq, uint8_t *y);
#if defined(__aarch64__)
void pd_quantize_neon(size_t n, const float *x, float scale, int32_t zero, uint8_t *y);
#endif
/* 8-bit image resampling (kernels.h) */
void pd_resample_h_u8_neon(int32_t rows, const uint8_t *x, size_t x_stride, int32_t in_w,
                           int32_t x_px, int32_t c, const int32_t *win, const int32_t *w,
                           int32_t kstride, uint8_t *y, size_t y_stride, int32_t out_w);
void pd_resample_v_u8_neon(int32_t row_bytes, const uint8_t *x, size_t x_stride, const int32_t *win,
                           const int32_t *w, int32_t kstride, uint8_t *y, size_t y_stride,
                           int32_t out_h);
#endif
#if PD_BUILD_NEONDOT
void pd_gemm_u8i8_neondot(size_t m, size_t n, size_t k, const uint8_t *a, size_t lda,
                          const int8_t *b, size_t ldb, const int32_t *bias, int32_t *c, size_t ldc);
void pd_gemm_q8_neondot(size_t m, size_t n, size_t k, const uint8_t *a, size_t lda, const int8_t *b,
                        const int32_t *bias, const struct pd_requant *rq, uint8_t *c, size_t ldc);
void pd_gemm_q8f_neondot(size_t m, size_t n, size_t k, const uint8_t *a, size_t lda, const int8_t *b,
                         const int32_t *bias, const struct pd_requant *rq, float *c, size_t ldc);
#endif

#if PD_BUILD_NEON && defined(PD_NEON_INTRINSICS)
#if !defined(__aarch64__)
#pragma GCC target("fpu=neon")
#endif
#include <arm_neon.h>

/* acc + a * b: fused on aarch64; armv7's NEON has no fused form without
 * VFPv4, so it rounds the product (well inside the float tolerance). */
static inline float32x4_t pd_fma_f32(float32x4_t acc, float32x4_t a, float32x4_t b)
{
#if defined(__aarch64__)
    return vfmaq_f32(acc, a, b);
#else
    return vmlaq_f32(acc, a, b);
#endif
}

/* acc + b * s, s a scalar (one element of A against a row of a panel). */
static inline float32x4_t pd_fma_n_f32(float32x4_t acc, float32x4_t b, float s)
{
#if defined(__aarch64__)
    return vfmaq_n_f32(acc, b, s);
#else
    return vmlaq_n_f32(acc, b, s);
#endif
}

/* Wrapping lane sum of an int32 vector (the int8 accumulators wrap by design). */
static inline uint32_t pd_hsum_s32(int32x4_t a)
{
    uint32x4_t u = vreinterpretq_u32_s32(a);
#if defined(__aarch64__)
    return vaddvq_u32(u);
#else
    uint32x2_t s = vadd_u32(vget_low_u32(u), vget_high_u32(u));
    return vget_lane_u32(vpadd_u32(s, s), 0);
#endif
}

/* Widening int8 products of the low and high 8 lanes, alone and accumulated
 * into int16 (aarch64 has the high-half forms smull2 / smlal2). */
static inline int16x8_t pd_mull_lo_s8(int8x16_t a, int8x16_t w)
{
    return vmull_s8(vget_low_s8(a), vget_low_s8(w));
}

static inline int16x8_t pd_mull_hi_s8(int8x16_t a, int8x16_t w)
{
#if defined(__aarch64__)
    return vmull_high_s8(a, w);
#else
    return vmull_s8(vget_high_s8(a), vget_high_s8(w));
#endif
}

static inline int16x8_t pd_mlal_lo_s8(int16x8_t acc, int8x16_t a, int8x16_t w)
{
    return vmlal_s8(acc, vget_low_s8(a), vget_low_s8(w));
}

static inline int16x8_t pd_mlal_hi_s8(int16x8_t acc, int8x16_t a, int8x16_t w)
{
#if defined(__aarch64__)
    return vmlal_high_s8(acc, a, w);
#else
    return vmlal_s8(acc, vget_high_s8(a), vget_high_s8(w));
#endif
}
#endif

#endif
