/* kernels.h: what a kernel family provides, as one table of function pointers,
 * and how a family is chosen at run time.
 *
 * Families.  The reference family (kernels/ref/) fills every entry and is the
 * specification.  A SIMD family (x86/: AVX2+FMA, AVX-512; arm/: NEON, NEON dot
 * product) starts from a copy of the reference table and replaces the entries
 * it speeds up (its pd_kernels_fill_<isa> function), so whatever a family does
 * not bring falls back to the reference.
 *
 * Files and flags.  One instruction set per file, its name in the file name
 * (x86/gemm_f32_avx2.c, arm/depthwise_f32_neon.c ...).  Only those files carry
 * compiler-specific code: `#pragma GCC target("avx2,fma")` (or the ARM
 * equivalent) at their top, so there is no global -march and one build runs
 * on any CPU of its architecture.  Each ISA file is wrapped in the matching
 * PD_BUILD_<FAMILY> guard below, so on another architecture or compiler it
 * compiles to nothing.  A kernel compiled for an instruction set is only ever
 * called once the CPU check below passed.
 *
 * Choosing.  pd_kernels_select (select.c) probes the CPU once per process
 * (cpu_x86.c: cpuid plus xgetbv for the OS's register support; arm: getauxval
 * / the compile target), fills each built family's table once (pthread_once),
 * then picks, at every net build: PREDICT_ISA if set (ref, avx2, avx512, neon,
 * neondot; a family this build or CPU cannot run is a clear error, never a
 * SIGILL), else the best family both built and supported: avx512 > avx2 > ref
 * on x86, neondot > neon > ref on ARM.  A net keeps its table for life.
 *
 * Adding a family: its files under kernels/<arch>/ guarded by its
 * PD_BUILD_ macro, a `void pd_kernels_fill_<isa>(pd_kernels *k)` that replaces
 * entries, a PD_ISA_ value, its row in select.c's family list (name, ISA,
 * required pd_cpu_feature bits, fill function) and a PD_CPU_ bit in predict.h
 * if it needs a new feature.
 *
 * Conventions shared by every kernel:
 * - activations are NHWC float32; one sample is (h, w, c), samples follow each
 *   other without gaps unless a *_stride says otherwise;
 * - a "stride" of an input is the distance between two samples in floats; 0
 *   means the input is a constant of batch 1 that broadcasts over the batch;
 * - conv and FC weights are PD_LAYOUT_PANELS16 (predict.h): panels of 16
 *   output channels, K-major inside a panel; the net packs OHWI weights into it
 *   at build, so kernels see that layout only;
 * - GEMM, conv and depthwise work on a part of a layer (rows of the GEMM,
 *   pixels or output rows of one sample): the core splits a layer into such
 *   parts and hands them to its threads, so kernels are single-threaded;
 * - shapes were checked when the net was built: kernels trust them, allocate
 *   nothing, keep no state and never fail.
 */
#ifndef PD_KERNELS_H
#define PD_KERNELS_H

#include <stddef.h>
#include <stdint.h>

/* Which SIMD families this compiler and target can build. */
#if (defined(__GNUC__) || defined(__clang__)) && (defined(__x86_64__) || defined(__i386__))
#define PD_BUILD_X86 1
#else
#define PD_BUILD_X86 0
#endif
/* NEON: every aarch64, and armv7 (its NEON files turn NEON on by pragma over
 * Debian's armhf baseline, which has none).  The dot product: aarch64 only. */
#if (defined(__GNUC__) || defined(__clang__)) && \
    (defined(__aarch64__) || (defined(__arm__) && defined(__ARM_ARCH) && __ARM_ARCH >= 7))
#define PD_BUILD_NEON 1
#else
#define PD_BUILD_NEON 0
#endif
#if (defined(__GNUC__) || defined(__clang__)) && defined(__aarch64__)
#define PD_BUILD_NEONDOT 1
#else
#define PD_BUILD_NEONDOT 0
#endif

/* Output channels per weight panel (PD_LAYOUT_PANELS16). */
#define PD_PANEL 16

typedef enum pd_isa {
    PD_ISA_REF = 0,
    PD_ISA_AVX2 = 1,
    PD_ISA_AVX512 = 2,
    PD_ISA_NEON = 3,
    PD_ISA_NEONDOT = 4
} pd_isa;

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

/* c[i*ldc + j] = act(bias[j] + sum_p a[i*lda + p] * B(j, p)) for i < m, j < n,
 * B being the n x k matrix b in PANELS16 layout: B(j, p) is
 * b[j0*k + p*bw + (j - j0)] with j0 = j - j % 16 and bw = min(16, n - j0).
 * bias may be NULL.  A caller may split n at a multiple of 16: the columns
 * from j0 on are again a PANELS16 matrix at b + j0*k. */
typedef void (*pd_gemm_f32_fn)(size_t m, size_t n, size_t k, const float *a, size_t lda,
                               const float *b, const float *bias, float *c, size_t ldc,
                               const pd_act_params *act);

/* The int8 GEMM accumulator of docs/quantization.md, before requantization:
 * c[i*ldc + j] = bias[j] + sum_p a[i*lda + p] * b[j*ldb + p] for i < m, j < n,
 * a uint8 activations, b int8 weights in [-127, 127] (one row of k per output
 * column, OHWI), bias int32 or NULL, in wrapping 32-bit arithmetic.  Integer
 * only, so every family returns exactly the same c.  (The int8 engine may
 * settle on a packed layout; this is the dot-product core the NEON families
 * are tested and dispatched on meanwhile.) */
typedef void (*pd_gemm_u8i8_fn)(size_t m, size_t n, size_t k, const uint8_t *a, size_t lda,
                                const int8_t *b, size_t ldb, const int32_t *bias, int32_t *c,
                                size_t ldc);

/* Floats of scratch a conv call over `pixels` output pixels needs, 0 for a
 * pointwise conv (which the core runs as one GEMM), SIZE_MAX on overflow. */
typedef size_t (*pd_conv_scratch_fn)(const pd_window_shape *s, size_t pixels);

/* Output pixels [p0, p1) (row-major over out.h x out.w) of one sample of a
 * convolution, every group; weights PANELS16 per group.  x and y point at the
 * sample.  k is the table the net runs with, so a family that only brings a
 * faster GEMM reuses the reference driver (im2col rows straight into what the
 * GEMM reads: one row of K = kh*kw*cg floats per output pixel). */
typedef void (*pd_conv_f32_fn)(const struct pd_kernels *k, const pd_window_shape *s, const float *x,
                               const float *w, const float *bias, const pd_act_params *act,
                               float *y, size_t p0, size_t p1, float *scratch);

/* Output rows [r0, r1) of one sample of a depthwise convolution, weights HWC
 * [kh][kw][c]; x and y point at the sample. */
typedef void (*pd_depthwise_f32_fn)(const pd_window_shape *s, const float *x, const float *w,
                                    const float *bias, const pd_act_params *act, float *y,
                                    int32_t r0, int32_t r1);

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

/* Ops for the classic convnet families (LRN, transposed conv, resize, channel
 * moves).  Reference kernels only so far; x and y point at batch samples. */

/* Local response normalization across channels (predict.h, PD_OP_LRN). */
typedef void (*pd_lrn_f32_fn)(size_t pixels, size_t c, int32_t size, float alpha, float beta,
                              float bias, const float *x, float *y);

/* Output rows [r0, r1) of one sample of a transposed convolution, weights
 * [c_in][kh][kw][c_out/groups]; s->pad_* are the padding cropped from the full
 * output, s->out the output actually computed. */
typedef void (*pd_conv_transpose_f32_fn)(const pd_window_shape *s, const float *x, const float *w,
                                         const float *bias, const pd_act_params *act, float *y,
                                         int32_t r0, int32_t r1);

/* Nearest or bilinear resize of each sample from in to out (predict.h enums). */
typedef void (*pd_resize_f32_fn)(size_t batch, pd_dims in, const float *x, pd_dims out, int32_t mode,
                                 int32_t coord, int32_t nearest, float scale_h, float scale_w,
                                 float *y);

/* Channel shuffle of groups groups over each pixel's c channels. */
typedef void (*pd_shuffle_f32_fn)(size_t pixels, size_t c, size_t groups, const float *x, float *y);

/* The out-sized window of each in-sized sample starting at (h0, w0, c0). */
typedef void (*pd_slice_f32_fn)(size_t batch, pd_dims in, const float *x, pd_dims out, int32_t h0,
                                int32_t w0, int32_t c0, float *y);

/* n pixels from channels first to channels last: y[p*c + ch] = x[ch*stride + p]
 * for p < n, ch < c: a sample of an NCHW input copied into the arena (n =
 * stride = h * w), or one row of it (n = w) for the int8 input prologue. */
typedef void (*pd_channels_last_f32_fn)(size_t c, size_t n, size_t stride, const float *x, float *y);

/* Each sample permuted: output axis k (0 h, 1 w, 2 c) is input axis perm[k]. */
typedef void (*pd_transpose_f32_fn)(size_t batch, pd_dims in, const float *x, const int32_t perm[3],
                                    float *y);

/* Pillow-exact resampling of 8-bit images (predict.h pd_resample_u8; the
 * windows and weights come from resample.c).  Output sample i of an axis
 * reads win[2i+1] consecutive input samples from win[2i], weighted by the
 * fixed-point w[i*kstride + t] (PD_RESAMPLE_BITS fraction bits); w is zero
 * from t = win[2i+1] up to kstride, a multiple of 8, so a kernel may read
 * whole groups of weights.  Each output is
 *   clamp((2^(PD_RESAMPLE_BITS-1) + sum_t x[t] * w[t]) >> PD_RESAMPLE_BITS, 0, 255)
 * with the sum in wrapping 32-bit arithmetic: integer only, so every family
 * gives the same bytes. */
#define PD_RESAMPLE_BITS 22

/* Horizontal pass over rows rows: row r of x holds pixels of x_px bytes whose
 * first c bytes are the channels (x_px = c, or 4 for c = 3: RGBX), in_w of
 * them; row r of y gets out_w pixels of c bytes. */
typedef void (*pd_resample_h_u8_fn)(int32_t rows, const uint8_t *x, size_t x_stride, int32_t in_w,
                                    int32_t x_px, int32_t c, const int32_t *win, const int32_t *w,
                                    int32_t kstride, uint8_t *y, size_t y_stride, int32_t out_w);

/* Vertical pass: out_h rows of row_bytes bytes, every byte its own sample. */
typedef void (*pd_resample_v_u8_fn)(int32_t row_bytes, const uint8_t *x, size_t x_stride,
                                    const int32_t *win, const int32_t *w, int32_t kstride,
                                    uint8_t *y, size_t y_stride, int32_t out_h);

typedef struct pd_kernels {
    const char *name; /* "ref", "avx2", "avx512", "neon", "neondot" */
    int32_t isa;      /* pd_isa */
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
    /* the classic convnet ops, added last */
    pd_lrn_f32_fn lrn_f32;
    pd_conv_transpose_f32_fn conv_transpose_f32;
    pd_resize_f32_fn resize_f32;
    pd_shuffle_f32_fn shuffle_f32;
    pd_slice_f32_fn slice_f32;
    pd_transpose_f32_fn transpose_f32;
    pd_channels_last_f32_fn channels_last_f32;
    /* 8-bit image resampling (photo preprocessing, not a net op) */
    pd_resample_h_u8_fn resample_h_u8;
    pd_resample_v_u8_fn resample_v_u8;
    /* int8 (kernels/q8.h): the family's int8 table, filled from the reference
     * by its pd_q8_fill_<isa> (select.c). */
    const struct pd_q8_kernels *q8;
} pd_kernels;

/* The reference family: every entry filled, portable C. */
const pd_kernels *pd_kernels_ref(void);

/* The family a net built now runs with (see "Choosing" above); NULL when
 * PREDICT_ISA asks for one this build or CPU cannot run, with a message in
 * err.  Tables are read-only and live as long as the process. */
const pd_kernels *pd_kernels_select(char *err, size_t err_size);

/* pd_cpu_feature bits (predict.h) of this CPU and OS, probed once. */
int32_t pd_cpu_features_cached(void);

/* For the C tests (native/tests): family i of this build, best last, NULL
 * past the last; *supported says whether this CPU runs it.  A test may run a
 * family the CPU lacks only to prove that it then dies of SIGILL. */
const pd_kernels *pd_kernels_family(size_t i, int *supported);

/* Each SIMD family replaces the entries it speeds up in a copy of the
 * reference table. */
#if PD_BUILD_X86
int32_t pd_cpu_probe_x86(void); /* cpu_x86.c: cpuid + xgetbv, not cached */
void pd_kernels_fill_avx2(pd_kernels *k);
void pd_kernels_fill_avx512(pd_kernels *k);
#endif
/* The int8 tables (kernels/q8.h), filled from the reference one; cpu is the
 * pd_cpu_feature bits, for entries needing more than the family's baseline
 * (AVX-512 VNNI). */
struct pd_q8_kernels;
#if PD_BUILD_X86
void pd_q8_fill_avx2(struct pd_q8_kernels *k, int32_t cpu);
void pd_q8_fill_avx512(struct pd_q8_kernels *k, int32_t cpu);
#endif
#if PD_BUILD_NEON
void pd_q8_fill_neon(struct pd_q8_kernels *k, int32_t cpu);
#endif
#if PD_BUILD_NEONDOT
void pd_q8_fill_neondot(struct pd_q8_kernels *k, int32_t cpu);
#endif
#if PD_BUILD_NEON
int32_t pd_cpu_probe_arm(void); /* cpu_arm.c: getauxval, not cached */
void pd_kernels_fill_neon(pd_kernels *k);
#endif
#if PD_BUILD_NEONDOT
void pd_kernels_fill_neondot(pd_kernels *k);
#endif

#endif
