/* eltwise_f32_avx2.c: binary ops without broadcast (the residual adds) and
 * the global average pool, with AVX2.  Broadcasting binary ops go to the
 * reference.  Results equal the reference's exactly for binary ops (one IEEE
 * operation per element); the pool sums in the reference's order too (one
 * pixel after the other, per channel). */
#include "kernels/kernels.h"

#if PD_BUILD_X86
#pragma GCC target("avx2,fma")
#include <immintrin.h>

#include "kernels/ref/ref.h"
#include "kernels/x86/act_avx2.h"
#include "kernels/x86/x86.h"

static inline __m256 apply(int32_t kind, __m256 a, __m256 b)
{
    switch (kind) {
    case PD_BIN_ADD: return _mm256_add_ps(a, b);
    case PD_BIN_SUB: return _mm256_sub_ps(a, b);
    case PD_BIN_MUL: return _mm256_mul_ps(a, b);
    default: return _mm256_div_ps(a, b);
    }
}

void pd_binary_f32_avx2(int32_t kind, size_t batch, pd_dims ad, const float *a, size_t a_stride,
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
    const int inreg = pd_act_inreg_avx2(act);
    for (size_t n = 0; n < batch; n++) {
        const float *as = a + n * sample, *bs = b + n * b_stride;
        float *ys = y + n * sample;
        size_t i = 0;
        for (; i + 8 <= sample; i += 8) {
            __m256 v = apply(kind, _mm256_loadu_ps(as + i), _mm256_loadu_ps(bs + i));
            _mm256_storeu_ps(ys + i, inreg ? pd_act8_avx2(v, act) : v);
        }
        if (i < sample) {
            const __m256i mask = pd_mask8_avx2(sample - i);
            __m256 v = apply(kind, _mm256_maskload_ps(as + i, mask), _mm256_maskload_ps(bs + i, mask));
            _mm256_maskstore_ps(ys + i, mask, inreg ? pd_act8_avx2(v, act) : v);
        }
        if (!inreg)
            pd_act_f32_ref(ys, ys, sample, act);
    }
}

void pd_global_avgpool_f32_avx2(pd_dims in, size_t batch, const float *x, float *y)
{
    const size_t c = (size_t)in.c, hw = (size_t)in.h * (size_t)in.w;
    for (size_t n = 0; n < batch; n++) {
        const float *xs = x + n * hw * c;
        float *out = y + n * c;
        for (size_t ch = 0; ch < c; ch += 8) {
            const __m256i mask = pd_mask8_avx2(c - ch < 8 ? c - ch : 8);
            __m256 acc = _mm256_setzero_ps();
            for (size_t p = 0; p < hw; p++)
                acc = _mm256_add_ps(acc, _mm256_maskload_ps(xs + p * c + ch, mask));
            _mm256_maskstore_ps(out + ch, mask, _mm256_div_ps(acc, _mm256_set1_ps((float)hw)));
        }
    }
}
#endif
