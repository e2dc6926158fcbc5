/* activation_neon.c: the clamping activations (none, ReLU, clip/ReLU6) four
 * floats at a time; the others, rarer and transcendental, stay the reference
 * ones.  Clamps are exact, so the result equals the reference bit for bit,
 * NaN included: vmax/vmin would turn a NaN into the bound, so the clamp is a
 * compare-and-select that keeps x wherever the reference keeps x. */
#include "kernels/kernels.h"

#if PD_BUILD_NEON
#define PD_NEON_INTRINSICS
#include "kernels/arm/neon.h"

#include <math.h>

#include "core.h"
#include "kernels/ref/ref.h"

/* x < lo ? lo : x > hi ? hi : x, lane by lane. */
static inline float32x4_t clamp4(float32x4_t x, float32x4_t lo, float32x4_t hi)
{
    x = vbslq_f32(vcltq_f32(x, lo), lo, x);
    return vbslq_f32(vcgtq_f32(x, hi), hi, x);
}

void pd_act_f32_neon(float *y, const float *x, size_t n, const pd_act_params *act)
{
    float lo_s, hi_s;
    switch (act->kind) {
    case PD_ACT_NONE:
        if (y != x)
            pd_act_f32_ref(y, x, n, act);
        return;
    case PD_ACT_RELU:
        lo_s = 0.0f;
        hi_s = INFINITY;
        break;
    case PD_ACT_CLIP:
        lo_s = act->alpha;
        hi_s = act->beta;
        break;
    default:
        pd_act_f32_ref(y, x, n, act);
        return;
    }
    const float32x4_t lo = vdupq_n_f32(lo_s), hi = vdupq_n_f32(hi_s);
    size_t i = 0;
    for (; i + 4 <= n; i += 4)
        vst1q_f32(y + i, clamp4(vld1q_f32(x + i), lo, hi));
    for (; i < n; i++)
        y[i] = x[i] < lo_s ? lo_s : x[i] > hi_s ? hi_s : x[i];
}

#endif
