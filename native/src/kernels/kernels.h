/* kernels.h: what a kernel family provides, as one table of function pointers.
 *
 * The reference family (kernels/ref/) fills every entry and is the
 * specification.  A SIMD family (AVX2, AVX-512, NEON ...) starts from a copy of
 * the reference table and replaces the entries it speeds up, so a kernel a CPU
 * lacks falls back to the reference.  The table is chosen once, when a net is
 * built (pd_kernels_get), and never changes afterwards.
 *
 * Conventions shared by every kernel:
 * - activations are NHWC float32; one sample is (h, w, c), samples follow each
 *   other without gaps unless a *_stride says otherwise;
 * - a "stride" of an input is the distance between two samples in floats; 0
 *   means the input is a constant of batch 1 that broadcasts over the batch;
 * - shapes were checked when the net was built: kernels trust them, allocate
 *   nothing, keep no state and never fail.
 */
#ifndef PD_KERNELS_H
#define PD_KERNELS_H

#include <stddef.h>
#include <stdint.h>

/* One NHWC sample. */
typedef struct pd_dims {
    int32_t h, w, c;
} pd_dims;

/* A sliding window op (conv, depthwise, pools): input and output sample dims,
 * the window and, for conv, the groups (1 for the others). */
typedef struct pd_window_shape {
    pd_dims in, out;
    int32_t kernel_h, kernel_w;
    int32_t stride_h, stride_w;
    int32_t dilation_h, dilation_w;
    int32_t pad_top, pad_left, pad_bottom, pad_right;
    int32_t groups;
} pd_window_shape;

/* A fused activation (pd_act) with its parameters. */
typedef struct pd_act_params {
    int32_t kind;
    float alpha, beta;
} pd_act_params;

struct pd_kernels;

/* y[i] = act(x[i]) for i < n; y may equal x. */
typedef void (*pd_act_f32_fn)(float *y, const float *x, size_t n, const pd_act_params *act);

/* c[i*ldc + j] = act(bias[j] + sum_p a[i*lda + p] * b[j*ldb + p]) for i < m, j < n.
 * b holds one row of k weights per output column (OHWI / FC weights as they
 * are); bias may be NULL. */
typedef void (*pd_gemm_f32_fn)(size_t m, size_t n, size_t k, const float *a, size_t lda,
                               const float *b, size_t ldb, const float *bias, float *c,
                               size_t ldc, const pd_act_params *act);

/* The int8 GEMM accumulator of docs/quantization.md, before requantization:
 * c[i*ldc + j] = bias[j] + sum_p a[i*lda + p] * b[j*ldb + p] for i < m, j < n,
 * a uint8 activations, b int8 weights in [-127, 127] (one row of k per output
 * column, like the float GEMM), bias int32 or NULL, in wrapping 32-bit
 * arithmetic.  Integer only, so every family returns exactly the same c. */
typedef void (*pd_gemm_u8i8_fn)(size_t m, size_t n, size_t k, const uint8_t *a, size_t lda,
                                const int8_t *b, size_t ldb, const int32_t *bias, int32_t *c,
                                size_t ldc);

/* Floats of scratch a convolution needs (per call), SIZE_MAX if it overflows. */
typedef size_t (*pd_conv_scratch_fn)(const pd_window_shape *s);

/* Convolution, weights OHWI [c_out][kh][kw][c_in/groups].  k is the table the
 * net runs with, so a family that only brings a faster GEMM reuses the
 * reference driver. */
typedef void (*pd_conv_f32_fn)(const struct pd_kernels *k, const pd_window_shape *s, size_t batch,
                               const float *x, const float *w, const float *bias,
                               const pd_act_params *act, float *y, float *scratch);

/* Depthwise convolution, weights HWC [kh][kw][c]. */
typedef void (*pd_depthwise_f32_fn)(const pd_window_shape *s, size_t batch, const float *x,
                                    const float *w, const float *bias, const pd_act_params *act,
                                    float *y);

typedef void (*pd_maxpool_f32_fn)(const pd_window_shape *s, size_t batch, const float *x, float *y);

/* The divisor counts the window's cells inside the input, plus with
 * count_include_pad those inside the padding (never those past it). */
typedef void (*pd_avgpool_f32_fn)(const pd_window_shape *s, int32_t count_include_pad, size_t batch,
                                  const float *x, float *y);

/* One (1, 1, c) output sample per (h, w, c) input sample. */
typedef void (*pd_global_pool_f32_fn)(pd_dims in, size_t batch, const float *x, float *y);

/* y = act(a (kind) b); y has a's dims, each of b's dims equals a's or is 1. */
typedef void (*pd_binary_f32_fn)(int32_t kind, size_t batch, pd_dims ad, const float *a,
                                 size_t a_stride, pd_dims bd, const float *b, size_t b_stride,
                                 const pd_act_params *act, float *y);

/* Copies one input's c_in channels into channels [c_offset, c_offset + c_in)
 * of y, which has c_out channels; hw is the spatial size of one sample. */
typedef void (*pd_concat_f32_fn)(size_t batch, size_t hw, const float *x, size_t x_stride,
                                 int32_t c_in, float *y, int32_t c_out, int32_t c_offset);

/* Softmax over each of rows contiguous runs of c floats. */
typedef void (*pd_softmax_f32_fn)(size_t rows, size_t c, const float *x, float *y);

/* Same elements in the order of the channels-first source layout. */
typedef void (*pd_reshape_f32_fn)(size_t batch, pd_dims in, const float *x, pd_dims out, float *y);

/* Spatial padding; out = in + pads, the bottom and right pads follow from out. */
typedef void (*pd_pad_f32_fn)(size_t batch, pd_dims in, const float *x, pd_dims out,
                              int32_t pad_top, int32_t pad_left, int32_t mode, float value,
                              float *y);

typedef struct pd_kernels {
    const char *name; /* "ref", "neon", "neondot", later "avx2" ... */
    pd_act_f32_fn act_f32;
    pd_gemm_f32_fn gemm_f32;
    pd_gemm_u8i8_fn gemm_u8i8;
    pd_conv_scratch_fn conv_f32_scratch;
    pd_conv_f32_fn conv_f32;
    pd_depthwise_f32_fn depthwise_f32;
    pd_maxpool_f32_fn maxpool_f32;
    pd_avgpool_f32_fn avgpool_f32;
    pd_global_pool_f32_fn global_avgpool_f32;
    pd_global_pool_f32_fn global_maxpool_f32;
    pd_binary_f32_fn binary_f32;
    pd_concat_f32_fn concat_f32;
    pd_softmax_f32_fn softmax_f32;
    pd_reshape_f32_fn reshape_f32;
    pd_pad_f32_fn pad_f32;
} pd_kernels;

/* The reference family: every entry filled, portable C. */
const pd_kernels *pd_kernels_ref(void);

/* The ARM families (kernels/arm/): NULL where they were not built (another
 * architecture).  Whether the CPU runs them is select.c's business. */
const pd_kernels *pd_kernels_neon(void);
const pd_kernels *pd_kernels_neondot(void);

/* The family called name if it was built and this CPU runs it, else NULL. */
const pd_kernels *pd_kernels_find(const char *name);

/* The family called name if it was built, whether or not this CPU runs it:
 * only for tests that prove a family's code needs its instructions. */
const pd_kernels *pd_kernels_built(const char *name);

/* The family a net is built with: the one PREDICT_ISA names if this CPU runs
 * it, otherwise the best one it runs.  Every table is read-only; a net keeps
 * the one it was built with. */
const pd_kernels *pd_kernels_get(void);

/* The name of family i, best first (built or not); NULL past the last. */
const char *pd_kernel_family_name(size_t i);

#endif
