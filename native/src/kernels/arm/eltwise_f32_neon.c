/* eltwise_f32_neon.c: binary ops without broadcast (the residual adds) and
 * the global average pool, with aarch64 NEON; broadcasting binary ops go to
 * the reference.  The results equal the reference's exactly: one IEEE
 * operation per element for the binary ops, and the pool sums one pixel after
 * the other per channel then divides, in the reference's order.
 *
 * aarch64 only: armv7's NEON flushes subnormals to zero and has no vector
 * division, so there these ops would not be exact; they are memory-bound and
 * the reference serves armv7. */
#include "kernels/kernels.h"

#if PD_BUILD_NEON && defined(__aarch64__)
#define PD_NEON_INTRINSICS
#include "kernels/arm/neon.h"

#include "core.h"
#include "kernels/ref/ref.h"

static inline float32x4_t apply(int32_t kind, float32x4_t a, float32x4_t b)
{
    switch (kind) {
    case PD_BIN_ADD: return vaddq_f32(a, b);
    case PD_BIN_SUB: return vsubq_f32(a, b);
    case PD_BIN_MUL: return vmulq_f32(a, b);
    default: return vdivq_f32(a, b);
    }
}

static inline float apply1(int32_t kind, float a, float b)
{
    switch (kind) {
    case PD_BIN_ADD: return a + b;
    case PD_BIN_SUB: return a - b;
    case PD_BIN_MUL: return a * b;
    default: return a / b;
    }
}

void pd_binary_f32_neon(int32_t kind, size_t batch, pd_dims ad, const float *a, size_t a_stride,
                        pd_dims bd, const float *b, size_t b_stride, const pd_act_params *act,
                        float *y)
{
    const size_t sample = (size_t)ad.h * (size_t)ad.w * (size_t)ad.c;
    /* a_stride matters only past the first sample: the fused blocks and the
     * row-split adds pass one sample with stride 0 */
    if (bd.h != ad.h || bd.w != ad.w || bd.c != ad.c || (batch > 1 && a_stride != sample)) {
        pd_binary_f32_ref(kind, batch, ad, a, a_stride, bd, b, b_stride, act, y);
        return;
    }
    for (size_t n = 0; n < batch; n++) {
        const float *as = a + n * sample, *bs = b + n * b_stride;
        float *ys = y + n * sample;
        size_t i = 0;
        for (; i + 4 <= sample; i += 4)
            vst1q_f32(ys + i, apply(kind, vld1q_f32(as + i), vld1q_f32(bs + i)));
        for (; i < sample; i++)
            ys[i] = apply1(kind, as[i], bs[i]);
        pd_act_f32_neon(ys, ys, sample, act);
    }
}

void pd_global_avgpool_f32_neon(pd_dims in, size_t batch, const float *x, float *y)
{
    const size_t c = (size_t)in.c, hw = (size_t)in.h * (size_t)in.w;
    const float32x4_t div = vdupq_n_f32((float)hw);
    for (size_t n = 0; n < batch; n++) {
        const float *xs = x + n * hw * c;
        float *out = y + n * c;
        size_t ch = 0;
        for (; ch + 4 <= c; ch += 4) {
            float32x4_t acc = vdupq_n_f32(0.0f);
            for (size_t p = 0; p < hw; p++)
                acc = vaddq_f32(acc, vld1q_f32(xs + p * c + ch));
            vst1q_f32(out + ch, vdivq_f32(acc, div));
        }
        for (; ch < c; ch++) {
            float acc = 0.0f;
            for (size_t p = 0; p < hw; p++)
                acc += xs[p * c + ch];
            out[ch] = acc / (float)hw;
        }
    }
}
#endif
