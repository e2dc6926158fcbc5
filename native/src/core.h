/* core.h: the net's internal state and the helpers the core's files share.
 * Not part of the public API (that is predict.h alone). */
#ifndef PD_CORE_H
#define PD_CORE_H

#include <stddef.h>
#include <stdint.h>

#include "predict.h"
#include "kernels/kernels.h"
#include "pool.h"

#if defined(__GNUC__) || defined(__clang__)
#define PD_PRINTF(fmt, args) __attribute__((format(printf, fmt, args)))
#else
#define PD_PRINTF(fmt, args)
#endif

/* Arena and scratch offsets are multiples of this, so every tensor starts on a
 * cache line and SIMD kernels may use aligned loads. */
#define PD_ALIGN ((size_t)64)

/* Output pixels per conv task: one im2col tile, which stays in cache while
 * the GEMM reads it.  A multiple of every micro-kernel's rows (6, 12). */
#define PD_CONV_TILE ((size_t)96)

#define PD_MAX_THREADS 64

/* offset[t] of a tensor that has no arena memory (a constant, or unused). */
#define PD_NO_OFFSET SIZE_MAX

struct pd_net {
    /* The description, copied: every pointer below is owned by the net except
     * the tensors' data and the layers' weights and bias. */
    int32_t n_tensors;
    pd_tensor_desc *tensors;
    int32_t n_layers;
    pd_layer_desc *layers;
    int32_t *layer_inputs; /* all layers' input lists, end to end */
    int32_t n_inputs;
    int32_t *inputs;
    int32_t n_outputs;
    int32_t *outputs;
    int32_t max_batch;

    size_t *elems;   /* floats in one sample, per tensor */
    size_t *offset;  /* byte offset in the arena per tensor, or PD_NO_OFFSET */
    size_t arena_bytes;
    size_t scratch_bytes;        /* all threads' */
    size_t thread_scratch_bytes; /* one thread's share, a multiple of PD_ALIGN */
    void *arena_block; /* as malloc returned them; the pointers below are aligned */
    void *scratch_block;
    float *arena;
    float *scratch;
    /* threads - 1 more arenas (arena_bytes each, aligned), for running the
     * samples of a batch in parallel (run.c); NULL with 1 thread or max_batch 1 */
    void *extra_arenas_block;
    void *extra_arenas;
    size_t extra_arenas_bytes;

    const pd_kernels *kernels;
    void **packed;    /* per layer: an OHWI weight packed (PANELS16 or Q8PANELS) at build, or NULL */

    int32_t threads;
    pd_pool *pool;    /* NULL with 1 thread */
    long pool_pid;    /* the process that created the pool: a forked child makes its own */

    uint32_t channels_first; /* bit i: input i is given (batch, c, h, w) (inputs past 31: never) */
    const float *pixel_table; /* not NULL: input 0 is given as 8-bit pixels (pd_net_set_input_pixels) */
    int32_t *fuse;    /* per layer (fuse.c): n > 1 starts a group of n layers run as one, -1 inside one, 0 alone */

    double *profile;  /* pd_net_set_profile: seconds per layer added by each run, or NULL */
};

/* Writes a message to err (if any) and returns status; err always ends up
 * NUL-terminated and is never overrun. */
int32_t pd_fail(char *err, size_t err_size, int32_t status, const char *fmt, ...) PD_PRINTF(4, 5);

/* A short name of an op for messages, "op?" if unknown. */
const char *pd_op_name(int32_t op);

/* Checked size arithmetic: returns 0 and leaves *out alone on overflow. */
static inline int pd_size_mul(size_t a, size_t b, size_t *out)
{
    if (b != 0 && a > SIZE_MAX / b)
        return 0;
    *out = a * b;
    return 1;
}

static inline int pd_size_add(size_t a, size_t b, size_t *out)
{
    if (a > SIZE_MAX - b)
        return 0;
    *out = a + b;
    return 1;
}

/* n rounded up to a multiple of PD_ALIGN. */
static inline int pd_size_align(size_t n, size_t *out)
{
    size_t padded;
    if (!pd_size_add(n, PD_ALIGN - 1, &padded))
        return 0;
    *out = padded / PD_ALIGN * PD_ALIGN;
    return 1;
}

static inline pd_dims pd_tensor_dims(const pd_tensor_desc *t)
{
    pd_dims d;
    d.h = t->h;
    d.w = t->w;
    d.c = t->c;
    return d;
}

/* Rows [r0, r1) of a (h, w, c) tensor of dims d, r1 <= d.h: their dims, and in
 * *at the element offset of row r0 (an elementwise layer cut by rows). */
static inline pd_dims pd_rows_of(pd_dims d, size_t r0, size_t r1, size_t *at)
{
    *at = r0 * (size_t)d.w * (size_t)d.c;
    d.h = (int32_t)(r1 - r0);
    return d;
}

/* validate.c: tensors, inputs, outputs and the dataflow between layers
 * (indices in range, every tensor written once before it is read).  Sets
 * net->elems. */
int32_t pd_validate_graph(pd_net *net, char *err, size_t err_size);

/* shape.c: one layer's attributes and its output dims recomputed from its
 * inputs.  Needs pd_validate_graph to have passed. */
int32_t pd_check_layer(const pd_net *net, int32_t index, char *err, size_t err_size);

/* shape_convnet.c: the same for lrn, conv_transpose, resize, channel_shuffle
 * and slice (float32 only). */
int32_t pd_check_layer_convnet(const pd_net *net, int32_t index, char *err, size_t err_size);

/* shape.c: the window of a conv, depthwise or pool layer whose shapes passed. */
pd_window_shape pd_layer_window(const pd_net *net, const pd_layer_desc *layer);

/* A layer's fused activation, as the kernels take it. */
static inline pd_act_params pd_layer_act(const pd_layer_desc *layer)
{
    pd_act_params act;
    act.kind = layer->act;
    act.alpha = layer->act_alpha;
    act.beta = layer->act_beta;
    return act;
}

/* run_q8.c: an int8 layer's output requantization (kernels/q8.h), as the
 * kernels take it. */
struct pd_requant pd_layer_requant(const pd_layer_desc *layer);

/* shape_q8.c: dtype rules of every layer and the int8 parameters of an int8
 * one.  Needs pd_check_layer to have passed. */
int32_t pd_check_layer_q8(const pd_net *net, int32_t index, char *err, size_t err_size);

/* run_q8.c: whether a layer runs on the int8 path (output uint8, or a
 * dequantize), and runs one such layer on batch samples. */
int pd_layer_is_q8(const pd_net *net, const pd_layer_desc *layer);
void pd_run_layer_q8(const pd_net *net, const pd_layer_desc *layer, size_t batch);

/* fuse.c: which expand -> depthwise (-> project) layers run as one group
 * (net->fuse; reads is scratch for n_tensors counts) and the most scratch
 * bytes one thread needs for a group; and one group's run. */
int32_t pd_plan_fusion(pd_net *net, int32_t *reads, size_t *scratch_bytes);
/* inputs and s are the run's: an input prologue reads sample s of a net
 * input that has no arena bytes (plan.c) from the caller's buffer. */
void pd_run_fused(const pd_net *net, int32_t l, const void *const *inputs, size_t s);

/* Bytes of one element of a tensor of this dtype (uint8: 1, others 4). */
static inline size_t pd_dtype_size(int32_t dtype)
{
    return dtype == PD_U8 || dtype == PD_I8 ? 1 : 4;
}

/* plan.c: arena offsets of every tensor, arena and per-thread scratch sizes. */
int32_t pd_plan(pd_net *net, char *err, size_t err_size);

/* pack.c: OHWI conv / FC weights into owned PANELS16 copies (net->packed),
 * pointing the layer copies at them. */
int32_t pd_pack_weights(pd_net *net, char *err, size_t err_size);

/* net.c: (re)creates the pool for net->threads in this process and sizes the
 * scratch buffer for it. */
int32_t pd_net_prepare_threads(pd_net *net, char *err, size_t err_size);

#endif
