/* q8.h: the int8 path's kernels (docs/quantization.md is their specification).
 *
 * Activations are NHWC uint8 with one (scale, zero point) per tensor; weights
 * int8 per output channel; biases int32 with the zero-point term folded in.
 * Only integers here: the multipliers and shifts were computed in Python, so
 * every family reproduces the reference bit for bit.  Kept apart from
 * kernels.h so the float families and the int8 ones can grow independently;
 * a SIMD family that speeds up int8 gets its own table later. */
#ifndef PD_KERNELS_Q8_H
#define PD_KERNELS_Q8_H

#include <stddef.h>
#include <stdint.h>

#include "kernels/kernels.h"

/* The output stage of a layer: q = clamp(zero + rq(x, mult[i], shift[i]), lo, hi),
 * then q = lut[q] when lut is not NULL.  mult/shift hold one entry per output
 * channel (GEMM ops) or per the op's own rule (pools, binary, concat). */
typedef struct pd_requant {
    const int32_t *mult;
    const int32_t *shift;
    int32_t zero, lo, hi;
    const uint8_t *lut;
} pd_requant;

/* (x * m + 2^(n-1)) >> n in int64: one product, rounding half toward +inf.
 * |x| < 2^31 and m < 2^31 keep it inside int64; >> of a negative int64 is an
 * arithmetic shift on every compiler we build with (GCC, Clang, MSVC). */
static inline int64_t pd_rq(int64_t x, int32_t m, int32_t n)
{
    return (x * (int64_t)m + ((int64_t)1 << (n - 1))) >> n;
}

/* zero + v clamped to [lo, hi], through the table if any. */
static inline uint8_t pd_rq_out(int64_t v, const pd_requant *rq)
{
    int64_t q = (int64_t)rq->zero + v;
    q = q < rq->lo ? rq->lo : q > rq->hi ? rq->hi : q;
    return rq->lut != NULL ? rq->lut[q] : (uint8_t)q;
}

/* c[i*ldc + j] = out(bias[j] + sum_p a[i*lda + p] * b[j*ldb + p]) with channel j's
 * multiplier; the sum wraps in 32 bits (the true value fits, see the spec). */
void pd_gemm_q8_ref(size_t m, size_t n, size_t k, const uint8_t *a, size_t lda, const int8_t *b,
                    size_t ldb, const int32_t *bias, const pd_requant *rq, uint8_t *c, size_t ldc);

/* Bytes of scratch a convolution needs (im2col rows), SIZE_MAX on overflow. */
size_t pd_conv_q8_scratch_ref(const pd_window_shape *s);

/* Convolution, weights OHWI int8; padding cells hold z_in (real zero). */
void pd_conv_q8_ref(const pd_window_shape *s, size_t batch, const uint8_t *x, int32_t z_in,
                    const int8_t *w, const int32_t *bias, const pd_requant *rq, uint8_t *y,
                    uint8_t *scratch);

/* Depthwise convolution, weights HWC int8. */
void pd_depthwise_q8_ref(const pd_window_shape *s, size_t batch, const uint8_t *x, int32_t z_in,
                         const int8_t *w, const int32_t *bias, const pd_requant *rq, uint8_t *y);

/* Max pooling on the bytes (the map q -> r increases); an empty window gives 0. */
void pd_maxpool_q8_ref(const pd_window_shape *s, size_t batch, const uint8_t *x, uint8_t *y);
void pd_global_maxpool_q8_ref(pd_dims in, size_t batch, const uint8_t *x, uint8_t *y);

/* Average pooling: sum of (q - z_in) over counted cells, then the multiplier
 * of the window's divisor d at index d - 1. */
void pd_avgpool_q8_ref(const pd_window_shape *s, int32_t count_include_pad, size_t batch,
                       const uint8_t *x, int32_t z_in, const pd_requant *rq, uint8_t *y);
/* Global average pooling: one multiplier, for the divisor h * w. */
void pd_global_avgpool_q8_ref(pd_dims in, size_t batch, const uint8_t *x, int32_t z_in,
                              const pd_requant *rq, uint8_t *y);

/* add / sub: mult[0], mult[1] for a and b and one shift shift[0]; mul: mult[0]
 * and shift[0] for the product.  b broadcasts per dim. */
void pd_binary_q8_ref(int32_t kind, size_t batch, pd_dims ad, const uint8_t *a, int32_t za,
                      pd_dims bd, const uint8_t *b, int32_t zb, const pd_requant *rq, uint8_t *y);

/* One input's channels requantized (mult[0], shift[0]) into y's channels
 * [c_offset, c_offset + c_in). */
void pd_concat_q8_ref(size_t batch, size_t hw, const uint8_t *x, int32_t z_in, int32_t c_in,
                      const pd_requant *rq, uint8_t *y, int32_t c_out, int32_t c_offset);

/* Softmax over rows of c bytes with the table E[d] = round(exp(-s * d) * 2^16);
 * output scale 1/256, zero point 0. */
void pd_softmax_q8_ref(size_t rows, size_t c, const uint8_t *x, const int32_t *table, uint8_t *y);

void pd_reshape_q8_ref(size_t batch, pd_dims in, const uint8_t *x, pd_dims out, uint8_t *y);
void pd_pad_q8_ref(size_t batch, pd_dims in, const uint8_t *x, pd_dims out, int32_t pad_top,
                   int32_t pad_left, int32_t mode, uint8_t value, uint8_t *y);

/* y[i] = lut[x[i]]; y may equal x. */
void pd_lut_q8_ref(size_t n, const uint8_t *x, const uint8_t *lut, uint8_t *y);

/* float32 -> uint8: clamp(nearbyint(x / scale) + zero, 0, 255); NaN gives zero. */
void pd_quantize_ref(size_t n, const float *x, float scale, int32_t zero, uint8_t *y);
/* uint8 -> float32: scale * (float)(q - zero). */
void pd_dequantize_ref(size_t n, const uint8_t *x, float scale, int32_t zero, float *y);

#endif
