/* predict.h: the whole boundary between Python and the C core.
 *
 * This file is fed verbatim to cffi's cdef, so it holds no includes and no
 * macros; a C file includes <stdint.h> and <stddef.h> before it.  Python
 * validates every description before it reaches pd_net_build; the core checks
 * again whatever could make it read or write out of bounds, and reports a
 * status instead of crashing.
 *
 * Layout: activations are NHWC float32, or uint8 on the int8 path.  A source tensor of shape
 * (N, C, *spatial) with 0-2 spatial dims is (N, H, W, C) here, missing spatial
 * dims being 1: (N, K) is (N, 1, 1, K) and (N, C, L) is (N, 1, L, C).
 */

typedef struct pd_net pd_net;

typedef enum pd_status {
    PD_OK = 0,
    PD_ERR_ARGUMENT = 1,     /* a description field is out of range or inconsistent */
    PD_ERR_SHAPE = 2,        /* tensor shapes do not agree with an operator */
    PD_ERR_UNSUPPORTED = 3,  /* a valid request this build has no kernel for */
    PD_ERR_NOMEM = 4,        /* an allocation failed or a size overflowed */
    PD_ERR_STATE = 5         /* a call out of order, e.g. batch above max_batch */
} pd_status;

typedef enum pd_dtype {
    PD_F32 = 0,
    PD_U8 = 1,
    PD_I8 = 2,
    PD_I32 = 3
} pd_dtype;

typedef enum pd_op {
    PD_OP_CONV = 1,            /* any kernel/stride/dilation/groups/padding: im2col + GEMM; 1x1 s1 p0 g1 is a plain GEMM */
    PD_OP_DEPTHWISE = 2,       /* groups == C_in == C_out: direct kernel */
    PD_OP_FC = 3,              /* input (N,1,1,K) -> (N,1,1,C_out) */
    PD_OP_MAXPOOL = 4,
    PD_OP_AVGPOOL = 5,
    PD_OP_GLOBAL_AVGPOOL = 6,
    PD_OP_GLOBAL_MAXPOOL = 7,
    PD_OP_BINARY = 8,          /* out = in0 (binary_kind) in1, in1 broadcast per dim (size 1 or equal) */
    PD_OP_CONCAT = 9,          /* along C */
    PD_OP_SOFTMAX = 10,        /* along C */
    PD_OP_RESHAPE = 11,        /* keeps the element order of the source (N, C, H, W) layout */
    PD_OP_PAD = 12,            /* spatial padding */
    PD_OP_ACTIVATION = 13,     /* only the fused activation, for one that has no producer to join */
    PD_OP_QUANTIZE = 14,       /* float32 -> uint8 with the output tensor's scale and zero point */
    PD_OP_DEQUANTIZE = 15,     /* uint8 -> float32 with the input tensor's scale and zero point */
    /* float32 only (no int8 kernel): */
    PD_OP_LRN = 16,            /* local response normalization across channels: lrn_* fields */
    PD_OP_CONV_TRANSPOSE = 17, /* window fields, groups; weights PD_LAYOUT_IHWO; out = s*(in-1) + extent - pads + output padding */
    PD_OP_RESIZE = 18,         /* spatial nearest / bilinear resize: resize_* and scale_* fields */
    PD_OP_CHANNEL_SHUFFLE = 19,/* out channel o = in channel (o % groups) * (C / groups) + o / groups */
    PD_OP_SLICE = 20,          /* out(h, w, c) = in(slice_h + h, slice_w + w, slice_c + c) */
    PD_OP_TRANSPOSE = 21       /* output axis k (0 h, 1 w, 2 c) is input axis perm_h / perm_w / perm_c */
} pd_op;

typedef enum pd_resize_mode {
    PD_RESIZE_NEAREST = 0,
    PD_RESIZE_LINEAR = 1
} pd_resize_mode;

/* Source coordinate of output index x along an axis of input length n, output length m, scale s
 * (ONNX Resize's coordinate_transformation_mode); it is clamped to [0, n - 1] after rounding. */
typedef enum pd_resize_coord {
    PD_COORD_HALF_PIXEL = 0,          /* (x + 0.5) / s - 0.5 */
    PD_COORD_PYTORCH_HALF_PIXEL = 1,  /* m > 1 ? (x + 0.5) / s - 0.5 : 0 */
    PD_COORD_ALIGN_CORNERS = 2,       /* m > 1 ? x * (n - 1) / (m - 1) : 0 */
    PD_COORD_ASYMMETRIC = 3,          /* x / s */
    PD_COORD_TF_HALF_PIXEL_FOR_NN = 4 /* (x + 0.5) / s (tf2onnx's nearest resize) */
} pd_resize_coord;

/* How nearest resizing rounds a source coordinate to an index. */
typedef enum pd_resize_nearest {
    PD_NEAREST_ROUND_PREFER_FLOOR = 0,
    PD_NEAREST_ROUND_PREFER_CEIL = 1,
    PD_NEAREST_FLOOR = 2,
    PD_NEAREST_CEIL = 3
} pd_resize_nearest;

typedef enum pd_binary {
    PD_BIN_ADD = 0,
    PD_BIN_SUB = 1,
    PD_BIN_MUL = 2,
    PD_BIN_DIV = 3
} pd_binary;

typedef enum pd_pad_mode {
    PD_PAD_CONSTANT = 0,
    PD_PAD_REFLECT = 1,
    PD_PAD_EDGE = 2
} pd_pad_mode;

/* Activations fused into the producing layer's output stage. */
typedef enum pd_act {
    PD_ACT_NONE = 0,
    PD_ACT_RELU = 1,
    PD_ACT_CLIP = 2,         /* min(max(x, act_alpha), act_beta); ReLU6 is CLIP 0 6 */
    PD_ACT_HARDSWISH = 3,    /* x * min(max(x + 3, 0), 6) / 6 */
    PD_ACT_HARDSIGMOID = 4,  /* min(max(act_alpha * x + act_beta, 0), 1) */
    PD_ACT_SIGMOID = 5,
    PD_ACT_SILU = 6,         /* x * sigmoid(x) */
    PD_ACT_LEAKYRELU = 7     /* x >= 0 ? x : act_alpha * x */
} pd_act;

/* Weight layouts; packed SIMD layouts get new numbers, the old ones stay.
 * PANELS16 (conv and FC, what the converter writes): per group, the OHWI
 * matrix [og][K] (og = C_out/groups, K = KH*KW*C_in/groups) cut into panels
 * of 16 output channels, the last one og mod 16 wide when 16 does not divide
 * og; each panel is K-major: element (o, k) of a panel starting at output
 * channel o0 with width b sits at o0*K + k*b + (o - o0).  Same element count
 * as OHWI, no padding.  The core packs an OHWI weight into PANELS16 once, at
 * build (an owned copy); a PANELS16 weight is used in place. */
typedef enum pd_weight_layout {
    PD_LAYOUT_OHWI = 0,      /* conv [C_out][KH][KW][C_in/groups]; FC [C_out][K] */
    PD_LAYOUT_HWC = 1,       /* depthwise [KH][KW][C] */
    PD_LAYOUT_PANELS16 = 2,  /* conv and FC: see above */
    PD_LAYOUT_IHWO = 3,      /* conv_transpose [C_in][KH][KW][C_out/groups] */
    /* int8 conv and FC (what the converter writes): per group, the [og][K]
     * matrix in panels of 16 output channels, the last one filled up with
     * zero channels, K padded with zeros to Kp = K rounded up to 4; a panel is
     * [Kp/4][16][4] bytes: element (o, k) of a group at
     * (o/16)*16*Kp + (k/4)*64 + (o%16)*4 + k%4.  groups * ceil(og/16)*16*Kp
     * bytes.  An OHWI int8 weight is packed into it at build, like PANELS16. */
    PD_LAYOUT_Q8PANELS = 4
} pd_weight_layout;

/* CPU features (bits of pd_cpu_features), each including the OS support for
 * its registers (xgetbv on x86). */
typedef enum pd_cpu_feature {
    PD_CPU_AVX2 = 1,         /* AVX2 and FMA3 */
    PD_CPU_AVX512 = 2,       /* AVX-512 F, BW, DQ, VL */
    PD_CPU_AVX512VNNI = 4,   /* AVX-512 VNNI (vpdpbusd) */
    PD_CPU_NEON = 8,         /* aarch64 Advanced SIMD, or armv7 NEON */
    PD_CPU_NEONDOT = 16,     /* aarch64 dot product (sdot / udot) */
    PD_CPU_SHA256 = 32       /* SHA-256 instructions: x86 SHA extensions (with SSE4.1), aarch64 SHA2 */
} pd_cpu_feature;

typedef struct pd_tensor_desc {
    int32_t dtype;           /* pd_dtype */
    int32_t h, w, c;         /* one sample; the batch is set at run time */
    float scale;             /* quantized dtypes only */
    int32_t zero_point;
    const void *data;        /* non-NULL: a constant (batch 1, broadcast), kept in the model mapping */
} pd_tensor_desc;

typedef struct pd_layer_desc {
    int32_t op;              /* pd_op */
    int32_t n_inputs;
    const int32_t *inputs;   /* tensor indices */
    int32_t output;          /* tensor index */

    /* convolution and pooling windows */
    int32_t kernel_h, kernel_w;
    int32_t stride_h, stride_w;
    int32_t dilation_h, dilation_w;
    int32_t pad_top, pad_left, pad_bottom, pad_right;
    int32_t groups;
    int32_t ceil_mode;           /* pooling */
    int32_t count_include_pad;   /* average pooling */

    int32_t binary_kind;     /* pd_binary */
    int32_t pad_mode;        /* pd_pad_mode */
    float pad_value;

    int32_t weight_layout;   /* pd_weight_layout */
    const void *weights;     /* in the model mapping; NULL when the op has none */
    const void *bias;        /* C_out floats, or NULL */

    int32_t act;             /* pd_act (float32 layers; an int8 layer's activation is in q_lo/q_hi/q_lut) */
    float act_alpha, act_beta;

    /* int8 layers (output tensor PD_U8), docs/quantization.md: weights int8,
     * bias int32 with the zero-point term folded in, and the output stage
     * q = clamp(q_zero + ((x * q_mult[i] + 2^(q_shift[i]-1)) >> q_shift[i]), q_lo, q_hi),
     * then q = q_lut[q] when q_lut is set.  n_q entries: C_out for conv,
     * depthwise and fc; kh*kw (one per divisor) for avgpool; 1 for the global
     * average pool and mul; 2 for add/sub (one shared shift); one per input for
     * concat; 0 otherwise.  A uint8 pad writes the byte q_zero.  A uint8
     * softmax reads the 256-entry exp table q_table. */
    int32_t n_q;
    const int32_t *q_mult;
    const int32_t *q_shift;
    int32_t q_zero, q_lo, q_hi;
    const uint8_t *q_lut;
    const int32_t *q_table;

    /* lrn (format key k is lrn_bias): y = x / (lrn_bias + lrn_alpha / lrn_size * sum of x^2 over channels
     * [c - (lrn_size - 1) / 2, c + lrn_size / 2]) ^ lrn_beta */
    int32_t lrn_size;
    float lrn_alpha, lrn_beta, lrn_bias;
    /* resize: pd_resize_mode, pd_resize_coord, pd_resize_nearest, and the scales
     * (output / input) the coordinate transformation divides by */
    int32_t resize_mode, resize_coord, resize_nearest;
    float scale_h, scale_w;
    /* slice: where the output window starts in the input */
    int32_t slice_h, slice_w, slice_c;
    /* transpose: which input axis (0 h, 1 w, 2 c) each output axis is */
    int32_t perm_h, perm_w, perm_c;
} pd_layer_desc;

typedef struct pd_net_desc {
    int32_t n_tensors;
    const pd_tensor_desc *tensors;
    int32_t n_layers;
    const pd_layer_desc *layers;     /* in execution order */
    int32_t n_inputs;
    const int32_t *inputs;           /* tensor indices the caller fills */
    int32_t n_outputs;
    const int32_t *outputs;          /* tensor indices the caller reads */
    int32_t max_batch;               /* the largest batch a run takes (samples run one by one) */
} pd_net_desc;

/* The version of this header and library; Python checks it at import. */
int32_t pd_version(void);

/* A short fixed name for a status, e.g. "PD_ERR_SHAPE". */
const char *pd_status_name(int32_t status);

/* Checks the description, plans tensor lifetimes into one activation arena
 * plus one im2col scratch buffer, and allocates them.  The descriptions are
 * copied; the weight and constant pointers are kept and must outlive the net.
 * On failure *out is NULL and err (if not NULL) holds a message. */
int32_t pd_net_build(const pd_net_desc *desc, pd_net **out, char *err, size_t err_size);

/* Runs batch samples (1 <= batch <= max_batch).  inputs[i] holds the NHWC
 * data of desc->inputs[i]; outputs[i] receives desc->outputs[i].  Allocates
 * nothing.  A net is not to be run from two threads at once. */
int32_t pd_net_run(pd_net *net, int32_t batch, const void *const *inputs,
                   void *const *outputs, char *err, size_t err_size);

/* Whether later runs read input i (an index into desc->inputs) channels
 * first, (batch, c, h, w) as an ONNX convnet takes it, rather than NHWC: the
 * core then transposes it while copying it in, which saves the caller a
 * pass.  Off by default. */
int32_t pd_net_set_input_channels_first(pd_net *net, int32_t input, int32_t channels_first,
                                        char *err, size_t err_size);

/* Whether later runs read input 0 as 8-bit pixels, (batch, h, w, c) uint8,
 * rather than as float32: value v of channel ch becomes table[ch * 256 + v]
 * as the core copies it in.  The table (c * 256 floats, owned by the caller
 * and alive while set) holds a photo model's scale, mean and std, so photos
 * need no float32 copy before the core.  NULL turns it off (the default).
 * Input 0 must be float32 (batch, h, w, c); with pixels on, channels_first
 * does not apply to it. */
int32_t pd_net_set_input_pixels(pd_net *net, const float *table, char *err, size_t err_size);

/* For benchmarks: with seconds not NULL (n_layers doubles, owned by the
 * caller, alive while set), every later run adds each layer's wall time, from
 * a monotonic clock, to seconds[layer] (all samples of the batch); NULL stops
 * it.  Costs two clock reads per layer while set, nothing otherwise. */
int32_t pd_net_set_profile(pd_net *net, double *seconds, int32_t n_layers, char *err,
                           size_t err_size);

/* Bytes of the activation arena and of the scratch buffer, for reports. */
size_t pd_net_arena_bytes(const pd_net *net);
size_t pd_net_scratch_bytes(const pd_net *net);

void pd_net_free(pd_net *net);

/* Threads a run may use (1 by default): the calling thread plus threads - 1
 * pool workers, which sleep between runs.  A batch of one sample has its
 * layers split over them; a larger batch runs its samples in parallel, each
 * thread with its own activation arena (so a net of max_batch > 1 holds
 * threads arenas).  A forked child re-creates its workers on its first run.
 * 1 <= threads <= 64. */
int32_t pd_net_set_threads(pd_net *net, int32_t threads, char *err, size_t err_size);
int32_t pd_net_threads(const pd_net *net);

/* The kernel family a net built now would run with: "ref", "avx2", "avx512",
 * "neon" or "neondot".  The CPU is probed once per process; the environment
 * variable PREDICT_ISA (one of those names) is read at every call and forces
 * a family.  NULL when PREDICT_ISA names a family this build or CPU cannot
 * run: then pd_net_build fails with PD_ERR_UNSUPPORTED and says why. */
const char *pd_isa_name(void);

/* The family a built net runs with (one of the names above). */
const char *pd_net_isa_name(const pd_net *net);

/* pd_cpu_feature bits of this CPU and OS (0 where the probe is not built). */
int32_t pd_cpu_features(void);

/* SHA-256 (FIPS 180-4): the checksum of .pnet files (docs/format.md), here so
 * that loading a model needs no OpenSSL.  The digest is the same on every
 * path; the hashing runs with the CPU's SHA-256 instructions when it has them
 * (PD_CPU_SHA256), else in portable C, and PREDICT_ISA=ref (read at every
 * call) forces the portable C.  No call can fail; data may be NULL when its
 * length is 0.
 *
 * One buffer:  pd_sha256(data, n, digest).
 * A stream:    pd_sha256_init(&s); pd_sha256_update(&s, part, n) per part;
 *              pd_sha256_final(&s, digest).  The state is plain memory the
 *              caller owns (no allocation, nothing to free); final leaves it
 *              to be initialized again before further use. */
typedef struct pd_sha256_state {
    uint32_t h[8];              /* the chaining value */
    uint64_t length;            /* bytes hashed so far */
    unsigned char pending[64];  /* the last length % 64 bytes, not yet a whole block */
} pd_sha256_state;

void pd_sha256_init(pd_sha256_state *s);
void pd_sha256_update(pd_sha256_state *s, const void *data, size_t n);
void pd_sha256_final(pd_sha256_state *s, unsigned char digest[32]);
void pd_sha256(const void *data, size_t n, unsigned char digest[32]);

/* Which implementation a call made now hashes with: "ref" (portable C),
 * "shani" (x86 SHA extensions) or "armv8" (aarch64 SHA2 instructions). */
const char *pd_sha256_impl(void);

/* The tree checksum of .pnet files (docs/format.md): the SHA-256 of the
 * 16-byte tag "PNET-SHA256-T16K" followed by the 32-byte SHA-256 digests of
 * the data's chunks of PD_SHA256_TREE_CHUNK bytes (the last one shorter;
 * none for empty data), in order.  One SHA-256 is a chain of blocks that no
 * CPU can hash faster than its rounds run one after another; the chunks are
 * independent, so a CPU without SHA-256 instructions hashes 4, 8 or 16 of them
 * at once in SIMD lanes (NEON, AVX2, AVX-512) and loads a model several times
 * faster.  The digest is the same on every path; PREDICT_ISA=ref forces the
 * portable C, one chunk at a time. */
#define PD_SHA256_TREE_CHUNK 16384
void pd_sha256_tree(const void *data, size_t n, unsigned char digest[32]);

/* How pd_sha256_tree hashes now: pd_sha256_impl()'s name for one chunk at a
 * time, or "avx2x8", "avx512x16", "neonx4" for the lane kernels. */
const char *pd_sha256_tree_impl(void);

/* Resampling of 8-bit images that gives exactly the bytes of Pillow's
 * Image.resize(size, filter, box=box, reducing_gap=None) on an "L" or "RGB"
 * image (Pillow's libImaging/Resample.c algorithm: separable, weights in
 * double normalized to 1 then fixed point, a horizontal pass over only the
 * rows the vertical pass reads, then the vertical pass; an axis needing no
 * resampling is skipped).  vertical_first (0 or 1) runs the vertical pass
 * first, over only the columns the horizontal pass reads: Pillow 13 does so
 * for some geometries (python-pillow PR #9549), and the intermediate rounding
 * makes the order show in the bytes.  Photo preprocessing runs it in place of Pillow's
 * scalar loops; it runs with the kernel family pd_isa_name() names.
 *
 * x: in_h rows x_stride bytes apart, each in_w pixels of x_px bytes whose
 * first c are the channels (c 1 or 3; x_px = c, or 4 with c = 3 for Pillow's
 * "RGBX" raw layout).  box: the source region (left, top, right, bottom) in
 * pixels, as Pillow takes it (float, 0 <= left <= right <= in_w, likewise
 * for top and bottom).  y: out_h rows y_stride bytes apart of out_w pixels of
 * c bytes.  Python validates everything first; the core checks again and
 * returns PD_ERR_ARGUMENT (bad sizes or box), PD_ERR_NOMEM or
 * PD_ERR_UNSUPPORTED (PREDICT_ISA names a family this CPU lacks) with a
 * message in err.  Allocates its weights and one intermediate image. */
typedef enum pd_resample_filter {
    PD_RESAMPLE_BOX = 1,
    PD_RESAMPLE_BILINEAR = 2,
    PD_RESAMPLE_HAMMING = 3,
    PD_RESAMPLE_BICUBIC = 4,
    PD_RESAMPLE_LANCZOS = 5
} pd_resample_filter;

int32_t pd_resample_u8(const uint8_t *x, int32_t in_w, int32_t in_h, size_t x_stride, int32_t x_px,
                       int32_t c, int32_t filter, const float box[4], int32_t vertical_first,
                       uint8_t *y, int32_t out_w, int32_t out_h, size_t y_stride, char *err,
                       size_t err_size);
