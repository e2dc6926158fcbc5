/* eltwise_q8_neon.c: int8 add / sub (aarch64 and armv7) and the float32 ->
 * uint8 quantize (aarch64) of kernels/q8.h with NEON, 8 or 4 elements a step.
 *
 * add / sub (docs/quantization.md): x = (qa - za) * ma +- (qb - zb) * mb in
 * int64, then (x + 2^(n-1)) >> n, clamped.  The differences are exact in
 * int16 (|q - z| <= 255), widened to int32; vmull_s32 / vmlal_s32 form x
 * exactly (|x| <= 2 * 255 * 2^31 < 2^40), vrshlq_s64 by -n is the rounding
 * shift (computed in full precision), and a saturating narrow to int32 keeps
 * the order, so the clamp to [lo, hi] - zero after it gives the reference's
 * bytes.  Only inputs of the same dims (no broadcast) take this path; others,
 * and mul, run the reference.  The last n % 8 elements run the reference too.
 *
 * quantize (aarch64 only: armv7's NEON has neither a division nor a
 * round-to-nearest-even): vdivq_f32 and vrndnq_f32 are the same IEEE
 * operations as the reference's x / s and nearbyintf in the default rounding
 * mode; r + zero in float (exact below 2^24; beyond, it clamps anyway), NaN
 * to zero, the clamp to [0, 255] in float, then the conversion. */
#include "kernels/kernels.h"

#if PD_BUILD_NEON
#define PD_NEON_INTRINSICS
#include "kernels/arm/neon.h"
#include "kernels/q8.h"
#include "predict.h"

/* clamp(zero + ((x + 2^(n-1)) >> n)) of 4 lanes given as two int64x2. */
static inline int32x4_t stage4(int64x2_t lo, int64x2_t hi, int64x2_t nn, int32x4_t lo_c, int32x4_t hi_c,
                               int32x4_t zero)
{
    const int32x4_t v = vcombine_s32(vqmovn_s64(vrshlq_s64(lo, nn)), vqmovn_s64(vrshlq_s64(hi, nn)));
    return vaddq_s32(vminq_s32(vmaxq_s32(v, lo_c), hi_c), zero);
}

/* (qa - za) * ma + (qb - zb) * mb of 4 int32 differences, as two int64x2. */
static inline void sum4(int32x4_t da, int32x4_t db, int32x2_t ma, int32x2_t mb, int64x2_t *lo,
                        int64x2_t *hi)
{
    *lo = vmlal_s32(vmull_s32(vget_low_s32(da), ma), vget_low_s32(db), mb);
    *hi = vmlal_s32(vmull_s32(vget_high_s32(da), ma), vget_high_s32(db), mb);
}

static void add_sub(int32_t kind, size_t n, const uint8_t *a, int32_t za, const uint8_t *b, int32_t zb,
                    const pd_requant *rq, uint8_t *y)
{
    const uint8x8_t zav = vdup_n_u8((uint8_t)za), zbv = vdup_n_u8((uint8_t)zb);
    const int32x2_t ma = vdup_n_s32(rq->mult[0]);
    /* -mult[1] fits: multipliers are below 2^31 */
    const int32x2_t mb = vdup_n_s32(kind == PD_BIN_SUB ? -rq->mult[1] : rq->mult[1]);
    const int64x2_t nn = vdupq_n_s64(-(int64_t)rq->shift[0]);
    const int32x4_t lo_c = vdupq_n_s32(rq->lo - rq->zero), hi_c = vdupq_n_s32(rq->hi - rq->zero);
    const int32x4_t zero = vdupq_n_s32(rq->zero);
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        /* u8 - u8 wraps in uint16; as int16 it is the exact difference */
        const int16x8_t da = vreinterpretq_s16_u16(vsubl_u8(vld1_u8(a + i), zav));
        const int16x8_t db = vreinterpretq_s16_u16(vsubl_u8(vld1_u8(b + i), zbv));
        int64x2_t p0, p1, p2, p3;
        sum4(vmovl_s16(vget_low_s16(da)), vmovl_s16(vget_low_s16(db)), ma, mb, &p0, &p1);
        sum4(vmovl_s16(vget_high_s16(da)), vmovl_s16(vget_high_s16(db)), ma, mb, &p2, &p3);
        const int32x4_t v0 = stage4(p0, p1, nn, lo_c, hi_c, zero);
        const int32x4_t v1 = stage4(p2, p3, nn, lo_c, hi_c, zero);
        const uint8x8_t q = vqmovn_u16(vcombine_u16(vqmovun_s32(v0), vqmovun_s32(v1)));
        vst1_u8(y + i, q);
        if (rq->lut != NULL)
            for (size_t j = i; j < i + 8; j++)
                y[j] = rq->lut[y[j]];
    }
    if (i < n) {
        const pd_dims tail = {1, 1, (int32_t)(n - i)};
        pd_binary_q8_ref(kind, 1, tail, a + i, za, tail, b + i, zb, rq, y + i);
    }
}

void pd_binary_q8_neon(int32_t kind, size_t batch, pd_dims ad, const uint8_t *a, int32_t za, pd_dims bd,
                       const uint8_t *b, int32_t zb, const pd_requant *rq, uint8_t *y)
{
    if (kind == PD_BIN_MUL || ad.h != bd.h || ad.w != bd.w || ad.c != bd.c) {
        pd_binary_q8_ref(kind, batch, ad, a, za, bd, b, zb, rq, y);
        return;
    }
    add_sub(kind, batch * (size_t)ad.h * (size_t)ad.w * (size_t)ad.c, a, za, b, zb, rq, y);
}

#if defined(__aarch64__)
void pd_quantize_neon(size_t n, const float *x, float scale, int32_t zero, uint8_t *y)
{
    const float32x4_t s = vdupq_n_f32(scale), zf = vdupq_n_f32((float)zero);
    const float32x4_t lo = vdupq_n_f32(0.0f), hi = vdupq_n_f32(255.0f);
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint32x4_t q[2];
        for (int h = 0; h < 2; h++) {
            const float32x4_t r = vrndnq_f32(vdivq_f32(vld1q_f32(x + i + 4 * h), s));
            const uint32x4_t ok = vceqq_f32(r, r); /* not NaN */
            const float32x4_t v = vminq_f32(vmaxq_f32(vaddq_f32(r, zf), lo), hi);
            q[h] = vcvtq_u32_f32(vbslq_f32(ok, v, zf));
        }
        vst1_u8(y + i, vmovn_u16(vcombine_u16(vmovn_u32(q[0]), vmovn_u32(q[1]))));
    }
    if (i < n)
        pd_quantize_ref(n - i, x + i, scale, zero, y + i);
}
#endif
#endif
