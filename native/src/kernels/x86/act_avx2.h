/* act_avx2.h: the fused activations on 8 floats in a register, for the AVX2
 * kernels' output stages.  Include only after `#pragma GCC target("avx2,fma")`.
 *
 * The cheap kinds (none, relu, clip, leakyrelu) are applied in registers with
 * the reference's NaN behaviour: vmaxps / vminps return their second operand
 * when either is NaN, so max(lo, x) keeps a NaN x, as `x < lo ? lo : x` does.
 * The others are left to the reference on the stored values (pd_act_inreg_avx2
 * says which). */
#ifndef PD_ACT_AVX2_H
#define PD_ACT_AVX2_H

#include <immintrin.h>

#include "kernels/kernels.h"
#include "predict.h"

static inline int pd_act_inreg_avx2(const pd_act_params *act)
{
    return act->kind == PD_ACT_NONE || act->kind == PD_ACT_RELU || act->kind == PD_ACT_CLIP ||
           act->kind == PD_ACT_LEAKYRELU;
}

/* Only for the kinds pd_act_inreg_avx2 accepts; others come back unchanged. */
static inline __m256 pd_act8_avx2(__m256 x, const pd_act_params *act)
{
    switch (act->kind) {
    case PD_ACT_RELU:
        return _mm256_max_ps(_mm256_setzero_ps(), x);
    case PD_ACT_CLIP:
        return _mm256_min_ps(_mm256_set1_ps(act->beta), _mm256_max_ps(_mm256_set1_ps(act->alpha), x));
    case PD_ACT_LEAKYRELU: {
        __m256 neg = _mm256_cmp_ps(x, _mm256_setzero_ps(), _CMP_LT_OQ);
        return _mm256_blendv_ps(x, _mm256_mul_ps(x, _mm256_set1_ps(act->alpha)), neg);
    }
    default:
        return x;
    }
}

/* Lanes [0, n) of 8 set, for masked loads and stores of a channel tail. */
static inline __m256i pd_mask8_avx2(size_t n)
{
    return _mm256_cmpgt_epi32(_mm256_set1_epi32((int)n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

#endif
