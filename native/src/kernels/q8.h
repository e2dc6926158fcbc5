/* q8.h: the int8 path's kernels (docs/quantization.md is their specification).
 *
 * Activations are NHWC uint8 with one (scale, zero point) per tensor; weights
 * int8 per output channel; biases int32 with the zero-point term folded in.
 * Only integers here: the multipliers and shifts were computed in Python, so
 * every family reproduces the reference bit for bit.  Kept apart from
 * kernels.h so the float families and the int8 ones can grow independently:
 * each family's int8 table (pd_q8_kernels) hangs off its pd_kernels. */
#ifndef PD_KERNELS_Q8_H
#define PD_KERNELS_Q8_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

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

/* The float output stage of a GEMM whose output is float32 (docs/quantization.md,
 * "Float output"): y = (float)((double)x * M), M = m * 2^-n.  M is exact in
 * double (m < 2^31, n in [1, 62]), so there are two roundings, each IEEE
 * round-to-nearest-even: the double product and the narrowing to float32. */
static inline double pd_rq_real(int32_t m, int32_t n)
{
    const uint64_t bits = (uint64_t)(1023 - n) << 52; /* 2^-n, a normal double */
    double p;
    memcpy(&p, &bits, sizeof p);
    return (double)m * p;
}

static inline float pd_rq_float(int32_t x, double real)
{
    return (float)((double)x * real);
}

/* The packed int8 weight layout PD_LAYOUT_Q8PANELS (predict.h): per group,
 * the [og][K] matrix in panels of 16 output channels (the last one filled up
 * with zero channels), K padded with zeros to a multiple of 4; a panel is
 * [Kp/4][16][4] bytes, so one 64-byte row holds 4 consecutive k of 16
 * channels: what one vpdpbusd (or 4 sdot/udot) consumes.  Element (o, p) of
 * a group's matrix sits at (o/16)*16*Kp + (p/4)*64 + (o%16)*4 + p%4. */
#define PD_Q8_KGROUP 4

static inline size_t pd_q8_kpad(size_t k)
{
    return (k + PD_Q8_KGROUP - 1) / PD_Q8_KGROUP * PD_Q8_KGROUP;
}

/* Bytes of one group's packed [og][K] matrix. */
static inline size_t pd_q8_packed_group(size_t og, size_t k)
{
    return (og + PD_PANEL - 1) / PD_PANEL * PD_PANEL * pd_q8_kpad(k);
}

/* c[i*ldc + j] = out(bias[j] + sum_p a[i*lda + p] * B(j, p)) with channel j's
 * multiplier (rq->mult[j], rq->shift[j]); B is the n x k matrix b in the
 * packed layout above.  Only a[i*lda + p] for p < k is read.  A caller may
 * split n at a multiple of 16: columns from j0 on are the packed matrix at
 * b + j0 * pd_q8_kpad(k), with bias, mult and shift offset by j0.  The sum
 * wraps in 32 bits (the true value fits, see the spec). */
typedef void (*pd_gemm_q8_fn)(size_t m, size_t n, size_t k, const uint8_t *a, size_t lda,
                              const int8_t *b, const int32_t *bias, const pd_requant *rq, uint8_t *c,
                              size_t ldc);

/* The same GEMM with the float output stage: c[i*ldc + j] = pd_rq_float(bias[j]
 * + sum_p a[i*lda + p] * B(j, p), pd_rq_real(rq->mult[j], rq->shift[j])) as
 * float32; rq's zero, lo, hi and lut are not used.  Splits as pd_gemm_q8_fn. */
typedef void (*pd_gemm_q8f_fn)(size_t m, size_t n, size_t k, const uint8_t *a, size_t lda,
                               const int8_t *b, const int32_t *bias, const pd_requant *rq, float *c,
                               size_t ldc);

struct pd_q8_kernels;

/* Output pixels [p0, p1) (row-major over out.h x out.w) of one sample of a
 * non-pointwise convolution, every group, weights packed per group.  x and y
 * point at the sample; padding cells hold z_in (real zero).  scratch holds
 * pd_conv_q8_scratch(s, p1 - p0) bytes: im2col rows of pd_q8_kpad(K) bytes,
 * straight into what the GEMM reads.  k is the table the net runs with. */
typedef void (*pd_conv_q8_fn)(const struct pd_q8_kernels *k, const pd_window_shape *s,
                              const uint8_t *x, int32_t z_in, const int8_t *w, const int32_t *bias,
                              const pd_requant *rq, uint8_t *y, size_t p0, size_t p1,
                              uint8_t *scratch);

/* Output rows [r0, r1) of one sample of a depthwise convolution, weights HWC
 * int8 [kh][kw][c]; x and y point at the sample. */
typedef void (*pd_depthwise_q8_fn)(const pd_window_shape *s, const uint8_t *x, int32_t z_in,
                                   const int8_t *w, const int32_t *bias, const pd_requant *rq,
                                   uint8_t *y, int32_t r0, int32_t r1);

typedef void (*pd_binary_q8_fn)(int32_t kind, size_t batch, pd_dims ad, const uint8_t *a, int32_t za,
                                pd_dims bd, const uint8_t *b, int32_t zb, const pd_requant *rq,
                                uint8_t *y);

/* The int8 kernel table of a family (pd_kernels.q8).  The reference fills
 * every entry; a SIMD family replaces what it speeds up.  Entries not listed
 * here (pools, concat, softmax, moves, tables, dequantize) are memory-bound and
 * run the reference kernels below. */
/* float32 -> uint8 at a boundary (pd_quantize_ref below). */
typedef void (*pd_quantize_fn)(size_t n, const float *x, float scale, int32_t zero, uint8_t *y);

/* Global average pooling (pd_global_avgpool_q8_ref below). */
typedef void (*pd_global_avgpool_q8_fn)(pd_dims in, size_t batch, const uint8_t *x, int32_t z_in,
                                        const struct pd_requant *rq, uint8_t *y);

typedef struct pd_q8_kernels {
    pd_gemm_q8_fn gemm;
    pd_gemm_q8f_fn gemm_f32;
    pd_conv_q8_fn conv;
    pd_depthwise_q8_fn depthwise;
    pd_binary_q8_fn binary;
    pd_quantize_fn quantize;
    pd_global_avgpool_q8_fn global_avgpool;
} pd_q8_kernels;

const pd_q8_kernels *pd_q8_kernels_ref(void);
extern const pd_q8_kernels pd_q8_ref_table; /* the same, for static tables */

void pd_gemm_q8_ref(size_t m, size_t n, size_t k, const uint8_t *a, size_t lda, const int8_t *b,
                    const int32_t *bias, const pd_requant *rq, uint8_t *c, size_t ldc);

void pd_gemm_q8f_ref(size_t m, size_t n, size_t k, const uint8_t *a, size_t lda, const int8_t *b,
                     const int32_t *bias, const pd_requant *rq, float *c, size_t ldc);

/* Whether a conv runs as one GEMM over the input pixels (1x1, stride 1, no pad, one group). */
int pd_conv_q8_is_pointwise(const pd_window_shape *s);

/* Bytes of scratch a conv call over `pixels` output pixels needs, 0 for a
 * pointwise conv, SIZE_MAX on overflow. */
size_t pd_conv_q8_scratch(const pd_window_shape *s, size_t pixels);

/* The reference conv driver: im2col rows of the pixels into scratch, then
 * k->gemm per group, so a family that brings only a GEMM reuses it. */
void pd_conv_q8_ref(const struct pd_q8_kernels *k, const pd_window_shape *s, const uint8_t *x,
                    int32_t z_in, const int8_t *w, const int32_t *bias, const pd_requant *rq,
                    uint8_t *y, size_t p0, size_t p1, uint8_t *scratch);

/* The im2col rows of output pixels [p0, p1) for channels [c0, c0 + cg) of
 * group-sized windows, kp bytes each (padding cells z, the tail past the
 * window zero): what pd_conv_q8_ref hands the GEMM. */
typedef void (*pd_im2col_q8_fn)(const pd_window_shape *s, const uint8_t *x, int32_t c0, int32_t cg,
                                uint8_t z, size_t p0, size_t p1, size_t kp, uint8_t *col);

void pd_im2col_q8_ref(const pd_window_shape *s, const uint8_t *x, int32_t c0, int32_t cg, uint8_t z,
                      size_t p0, size_t p1, size_t kp, uint8_t *col);

/* One row of pd_im2col_q8_ref: output pixel (oh, ow), any shape. */
void pd_im2col_q8_pixel_ref(const pd_window_shape *s, const uint8_t *x, int32_t c0, int32_t cg,
                            uint8_t z, int32_t oh, int32_t ow, size_t kp, uint8_t *row);

/* The output columns [*lo, *hi) whose windows lie inside the input's columns. */
void pd_im2col_q8_columns(const pd_window_shape *s, int32_t *lo, int32_t *hi);

/* pd_conv_q8_ref with another im2col (a family's faster one, same bytes). */
void pd_conv_q8_with(const struct pd_q8_kernels *k, pd_im2col_q8_fn im2col, const pd_window_shape *s,
                     const uint8_t *x, int32_t z_in, const int8_t *w, const int32_t *bias,
                     const pd_requant *rq, uint8_t *y, size_t p0, size_t p1, uint8_t *scratch);

void pd_depthwise_q8_ref(const pd_window_shape *s, const uint8_t *x, int32_t z_in, const int8_t *w,
                         const int32_t *bias, const pd_requant *rq, uint8_t *y, int32_t r0,
                         int32_t r1);

/* OHWI int8 [og][K] matrices of `groups` groups into the packed layout; dst
 * holds groups * pd_q8_packed_group(og, K) bytes. */
void pd_pack_q8(const int8_t *src, size_t groups, size_t og, size_t k, int8_t *dst);

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
