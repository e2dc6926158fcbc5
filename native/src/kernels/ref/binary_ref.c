/* binary_ref.c: y = act(a (op) b) elementwise, b broadcast per dim.
 *
 * Each of b's dims equals a's or is 1 (a dim of 1 is read at index 0), and a
 * sample stride of 0 broadcasts a constant over the batch.  IEEE semantics:
 * division by zero gives inf or NaN, never a trap. */
#include <assert.h>

#include "core.h"
#include "kernels/ref/ref.h"

static float apply(int32_t kind, float a, float b)
{
    switch (kind) {
    case PD_BIN_ADD: return a + b;
    case PD_BIN_SUB: return a - b;
    case PD_BIN_MUL: return a * b;
    case PD_BIN_DIV: return a / b;
    default: assert(!"binary kind checked at build"); return 0.0f;
    }
}

void pd_binary_f32_ref(int32_t kind, size_t batch, pd_dims ad, const float *a, size_t a_stride,
                       pd_dims bd, const float *b, size_t b_stride, const pd_act_params *act,
                       float *y)
{
    const size_t c = (size_t)ad.c;
    for (size_t n = 0; n < batch; n++) {
        for (int32_t h = 0; h < ad.h; h++) {
            size_t hb = bd.h == 1 ? 0 : (size_t)h;
            for (int32_t w = 0; w < ad.w; w++) {
                size_t wb = bd.w == 1 ? 0 : (size_t)w;
                const float *ar = a + n * a_stride + ((size_t)h * (size_t)ad.w + (size_t)w) * c;
                const float *br = b + n * b_stride + (hb * (size_t)bd.w + wb) * (size_t)bd.c;
                float *out = y + ((n * (size_t)ad.h + (size_t)h) * (size_t)ad.w + (size_t)w) * c;
                for (size_t ch = 0; ch < c; ch++)
                    out[ch] = apply(kind, ar[ch], br[bd.c == 1 ? 0 : ch]);
                pd_act_f32_ref(out, out, c, act);
            }
        }
    }
}
