/* neon.h: the NEON kernels (aarch64 and armv7) and the few intrinsics that
 * differ between the two, so each kernel file is written once for both.
 *
 * Include it only under PD_NEON_BUILD.  On armv7 the Debian armhf baseline
 * has no NEON, so the pragma turns it on for the files that include this
 * header only; select.c uses them only when getauxval says the CPU has NEON.
 * aarch64 always has it. */
#ifndef PD_KERNELS_NEON_H
#define PD_KERNELS_NEON_H

#if defined(__aarch64__) || (defined(__arm__) && defined(__ARM_ARCH) && __ARM_ARCH >= 7)
#define PD_NEON_BUILD 1
#endif

#include "kernels/kernels.h"

void pd_act_f32_neon(float *y, const float *x, size_t n, const pd_act_params *act);
void pd_gemm_f32_neon(size_t m, size_t n, size_t k, const float *a, size_t lda, const float *b,
                      size_t ldb, const float *bias, float *c, size_t ldc, const pd_act_params *act);
void pd_depthwise_f32_neon(const pd_window_shape *s, size_t batch, const float *x, const float *w,
                           const float *bias, const pd_act_params *act, float *y);
void pd_gemm_u8i8_neon(size_t m, size_t n, size_t k, const uint8_t *a, size_t lda, const int8_t *b,
                       size_t ldb, const int32_t *bias, int32_t *c, size_t ldc);
/* aarch64 with the dot-product extension only. */
void pd_gemm_u8i8_neondot(size_t m, size_t n, size_t k, const uint8_t *a, size_t lda,
                          const int8_t *b, size_t ldb, const int32_t *bias, int32_t *c, size_t ldc);

#if defined(PD_NEON_BUILD) && defined(PD_NEON_INTRINSICS)
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

/* The lane sums of four vectors, as one vector {sum a0, sum a1, sum a2, sum a3}. */
static inline float32x4_t pd_hsum4_f32(float32x4_t a0, float32x4_t a1, float32x4_t a2,
                                       float32x4_t a3)
{
#if defined(__aarch64__)
    return vpaddq_f32(vpaddq_f32(a0, a1), vpaddq_f32(a2, a3));
#else
    float32x2_t s0 = vadd_f32(vget_low_f32(a0), vget_high_f32(a0));
    float32x2_t s1 = vadd_f32(vget_low_f32(a1), vget_high_f32(a1));
    float32x2_t s2 = vadd_f32(vget_low_f32(a2), vget_high_f32(a2));
    float32x2_t s3 = vadd_f32(vget_low_f32(a3), vget_high_f32(a3));
    return vcombine_f32(vpadd_f32(s0, s1), vpadd_f32(s2, s3));
#endif
}

static inline float pd_hsum_f32(float32x4_t a)
{
#if defined(__aarch64__)
    return vaddvq_f32(a);
#else
    float32x2_t s = vadd_f32(vget_low_f32(a), vget_high_f32(a));
    return vget_lane_f32(vpadd_f32(s, s), 0);
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
#endif

#endif
