/* channels_last_f32_avx512.c: an image's 3 channel planes interleaved into
 * pixels (kernels.h, pd_channels_last_f32_fn) with AVX-512F: 16 pixels of
 * each plane become 48 floats through two two-source permutes per output
 * register.  Other channel counts, and the last pixels, run the reference.
 * Pure moves: the floats are the reference's bit for bit. */
#include "kernels/kernels.h"

#if PD_BUILD_X86
#pragma GCC target("avx512f,avx512vl,avx512dq,avx512bw,avx2,fma")
#include <immintrin.h>

#include "kernels/ref/ref.h"
#include "kernels/x86/x86.h"

void pd_channels_last_f32_avx512(size_t c, size_t n, size_t stride, const float *x, float *y)
{
    if (c != 3) {
        pd_channels_last_f32_ref(c, n, stride, x, y);
        return;
    }
    /* Output register k (0..2) holds floats 16k .. 16k+15 of the 48: float f
     * is channel f % 3 of pixel f / 3.  First r and g are merged (index 0..15
     * picks r, 16..31 g), then b is put in (16..31 picks b from the second
     * source); the b slots of the first permute are don't-cares (0). */
    __m512i rg[3], tb[3];
    for (int k = 0; k < 3; k++) {
        int32_t i_rg[16], i_tb[16];
        for (int l = 0; l < 16; l++) {
            const int f = 16 * k + l, pixel = f / 3, ch = f % 3;
            i_rg[l] = ch == 0 ? pixel : ch == 1 ? 16 + pixel : 0;
            i_tb[l] = ch == 2 ? 16 + pixel : l;
        }
        rg[k] = _mm512_loadu_si512((const void *)i_rg);
        tb[k] = _mm512_loadu_si512((const void *)i_tb);
    }
    const float *r = x, *g = x + stride, *b = x + 2 * stride;
    size_t p = 0;
    for (; p + 16 <= n; p += 16) {
        const __m512 vr = _mm512_loadu_ps(r + p), vg = _mm512_loadu_ps(g + p), vb = _mm512_loadu_ps(b + p);
        float *out = y + 3 * p;
        for (int k = 0; k < 3; k++)
            _mm512_storeu_ps(out + 16 * k,
                             _mm512_permutex2var_ps(_mm512_permutex2var_ps(vr, rg[k], vg), tb[k], vb));
    }
    for (; p < n; p++) {
        y[3 * p] = r[p];
        y[3 * p + 1] = g[p];
        y[3 * p + 2] = b[p];
    }
}
#endif
