/* run.c: one forward pass.  Per sample: copies its inputs into the arena, runs
 * each layer with the net's kernel table, copies its outputs out.  Allocates
 * nothing.
 *
 * A constant tensor has batch 1 and broadcasts: kernels that read several
 * tensors (binary, concat) take a per-input sample stride, 0 for a constant.
 * A layer whose inputs are all constants computes one sample and copies it to
 * the others, so no other kernel needs to know about constants. */
#define _POSIX_C_SOURCE 200809L /* clock_gettime, for pd_net_set_profile */
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core.h"
#include "kernels/ref/ref.h"

static const float *tensor_data(const pd_net *net, int32_t t)
{
    const pd_tensor_desc *d = &net->tensors[t];
    if (d->data != NULL)
        return (const float *)d->data;
    return (const float *)((const unsigned char *)net->arena + net->offset[t]);
}

static float *tensor_arena(const pd_net *net, int32_t t)
{
    return (float *)((unsigned char *)net->arena + net->offset[t]);
}

/* Floats between two samples of tensor t as stored: 0 for a constant. */
static size_t tensor_stride(const pd_net *net, int32_t t)
{
    return net->tensors[t].data != NULL ? 0 : net->elems[t];
}

static pd_dims dims_of(const pd_net *net, int32_t t)
{
    return pd_tensor_dims(&net->tensors[t]);
}

/* The parallel parts of a layer: GEMM tiles, conv pixel tiles, depthwise row
 * chunks.  A job describes one layer's split; task t is one part.  With one
 * thread a GEMM is one task and the kernel does all the blocking. */
typedef struct job {
    const pd_net *net;
    const pd_kernels *k;
    const pd_window_shape *s;
    const pd_act_params *act;
    const float *x, *w, *bias;
    float *y;
    /* GEMM: m x n x k, cut into tiles (pd_gemm_tile) */
    size_t m, n, kdim, lda, ldc;
    pd_gemm_tiles tiles;
    /* conv and depthwise: parts per sample and their size */
    size_t parts, part, x_sample, y_sample;
} job;

static void gemm_task(void *p, size_t t, int32_t worker)
{
    const job *j = p;
    (void)worker;
    size_t i0, i1, c0, c1;
    pd_gemm_tile(&j->tiles, j->m, j->n, t, &i0, &i1, &c0, &c1);
    const size_t rows = i1 - i0, cols = c1 - c0;
    j->k->gemm_f32(rows, cols, j->kdim, j->x + i0 * j->lda, j->lda, j->w + c0 * j->kdim,
                   j->bias != NULL ? j->bias + c0 : NULL, j->y + i0 * j->ldc + c0, j->ldc, j->act);
}

/* Tiles of rows in multiples of 12 (every micro-kernel's row count divides it)
 * and whole panels (pd_plan_gemm_tiles). */
static void run_gemm(const pd_net *net, size_t m, size_t n, size_t kdim, const float *a, size_t lda,
                     const float *b, const float *bias, float *c, size_t ldc, const pd_act_params *act)
{
    const pd_gemm_tiles t = pd_plan_gemm_tiles(net->threads, m, n, 12, PD_PANEL);
    job j = {.net = net, .k = net->kernels, .act = act, .x = a, .w = b, .bias = bias, .y = c,
             .m = m, .n = n, .kdim = kdim, .lda = lda, .ldc = ldc, .tiles = t};
    pd_pool_run(net->pool, t.row_tiles * t.col_tiles, gemm_task, &j);
}

static void conv_task(void *p, size_t t, int32_t worker)
{
    const job *j = p;
    const size_t sample = t / j->parts, p0 = (t % j->parts) * j->part;
    const size_t pixels = (size_t)j->s->out.h * (size_t)j->s->out.w;
    const size_t p1 = pixels - p0 < j->part ? pixels : p0 + j->part;
    float *scratch = (float *)((unsigned char *)j->net->scratch +
                               (size_t)worker * j->net->thread_scratch_bytes);
    j->k->conv_f32(j->k, j->s, j->x + sample * j->x_sample, j->w, j->bias, j->act,
                   j->y + sample * j->y_sample, p0, p1, scratch);
}

static void depthwise_task(void *p, size_t t, int32_t worker)
{
    const job *j = p;
    (void)worker;
    const size_t sample = t / j->parts, r0 = (t % j->parts) * j->part;
    const size_t rows = (size_t)j->s->out.h;
    const size_t r1 = rows - r0 < j->part ? rows : r0 + j->part;
    j->k->depthwise_f32(j->s, j->x + sample * j->x_sample, j->w, j->bias, j->act,
                        j->y + sample * j->y_sample, (int32_t)r0, (int32_t)r1);
}

/* An elementwise binary layer (two inputs of one shape, neither constant):
 * rows [r0, r1) of it are values of the whole, so its rows are split over
 * the threads, parts of at least PART_FLOATS (a 7x7 tensor stays one task
 * rather than paying the hand-off); so is the 8-bit pixels' conversion. */
#define PART_FLOATS ((size_t)4096)

typedef struct binary_job {
    const pd_net *net;
    const pd_layer_desc *layer;
    const pd_act_params *act;
    pd_dims d;
    const float *a, *b;
    float *y;
    size_t part;
} binary_job;

static void binary_task(void *p, size_t t, int32_t worker)
{
    const binary_job *j = p;
    (void)worker;
    const size_t r0 = t * j->part, rows = (size_t)j->d.h;
    size_t at;
    const pd_dims d = pd_rows_of(j->d, r0, rows - r0 < j->part ? rows : r0 + j->part, &at);
    j->net->kernels->binary_f32(j->layer->binary_kind, 1, d, j->a + at, 0, d, j->b + at, 0, j->act,
                                j->y + at);
}

static void run_binary(const pd_net *net, const pd_layer_desc *layer, size_t batch,
                       const pd_act_params *act, float *y)
{
    const int32_t ta = layer->inputs[0], tb = layer->inputs[1];
    const pd_dims ad = dims_of(net, ta), bd = dims_of(net, tb);
    const size_t sample = net->elems[layer->output], rows = (size_t)ad.h;
    const int same = ad.h == bd.h && ad.w == bd.w && ad.c == bd.c && net->tensors[ta].data == NULL &&
                     net->tensors[tb].data == NULL;
    const size_t part = same ? pd_plan_elementwise_part(net->threads, rows, (size_t)ad.w * (size_t)ad.c,
                                                        PART_FLOATS) : 0;
    if (part == 0) {
        net->kernels->binary_f32(layer->binary_kind, batch, ad, tensor_data(net, ta),
                                 tensor_stride(net, ta), bd, tensor_data(net, tb),
                                 tensor_stride(net, tb), act, y);
        return;
    }
    binary_job j = {.net = net, .layer = layer, .act = act, .d = ad, .part = part};
    for (size_t n = 0; n < batch; n++) {
        j.a = tensor_data(net, ta) + n * sample;
        j.b = tensor_data(net, tb) + n * sample;
        j.y = y + n * sample;
        pd_pool_run(net->pool, (rows + j.part - 1) / j.part, binary_task, &j);
    }
}

static void run_conv(const pd_net *net, const pd_layer_desc *layer, size_t batch, const float *x,
                     float *y, const pd_act_params *act)
{
    pd_window_shape s = pd_layer_window(net, layer);
    const size_t cin = (size_t)s.in.c, cout = (size_t)s.out.c;
    if (pd_conv_is_pointwise(&s)) {
        run_gemm(net, batch * (size_t)s.in.h * (size_t)s.in.w, cout, cin, x, cin, layer->weights,
                 layer->bias, y, cout, act);
        return;
    }
    const size_t pixels = (size_t)s.out.h * (size_t)s.out.w;
    job j = {.net = net, .k = net->kernels, .s = &s, .act = act, .x = x, .w = layer->weights,
             .bias = layer->bias, .y = y, .part = PD_CONV_TILE,
             .x_sample = (size_t)s.in.h * (size_t)s.in.w * cin, .y_sample = pixels * cout};
    j.parts = (pixels + PD_CONV_TILE - 1) / PD_CONV_TILE;
    pd_pool_run(net->pool, batch * j.parts, conv_task, &j);
}

static void run_depthwise(const pd_net *net, const pd_layer_desc *layer, size_t batch,
                          const float *x, float *y, const pd_act_params *act)
{
    pd_window_shape s = pd_layer_window(net, layer);
    const size_t rows = (size_t)s.out.h;
    job j = {.net = net, .k = net->kernels, .s = &s, .act = act, .x = x, .w = layer->weights,
             .bias = layer->bias, .y = y,
             .x_sample = (size_t)s.in.h * (size_t)s.in.w * (size_t)s.in.c,
             .y_sample = rows * (size_t)s.out.w * (size_t)s.out.c};
    j.part = pd_plan_row_part(net->threads, rows, batch);
    j.parts = (rows + j.part - 1) / j.part;
    pd_pool_run(net->pool, batch * j.parts, depthwise_task, &j);
}

static void conv_transpose_task(void *p, size_t t, int32_t worker)
{
    const job *j = p;
    (void)worker;
    const size_t sample = t / j->parts, r0 = (t % j->parts) * j->part;
    const size_t rows = (size_t)j->s->out.h;
    const size_t r1 = rows - r0 < j->part ? rows : r0 + j->part;
    j->k->conv_transpose_f32(j->s, j->x + sample * j->x_sample, j->w, j->bias, j->act,
                             j->y + sample * j->y_sample, (int32_t)r0, (int32_t)r1);
}

static void run_conv_transpose(const pd_net *net, const pd_layer_desc *layer, size_t batch,
                               const float *x, float *y, const pd_act_params *act)
{
    pd_window_shape s = pd_layer_window(net, layer);
    s.groups = layer->groups;
    const size_t rows = (size_t)s.out.h;
    job j = {.net = net, .k = net->kernels, .s = &s, .act = act, .x = x, .w = layer->weights,
             .bias = layer->bias, .y = y,
             .x_sample = (size_t)s.in.h * (size_t)s.in.w * (size_t)s.in.c,
             .y_sample = rows * (size_t)s.out.w * (size_t)s.out.c};
    j.part = pd_plan_row_part(net->threads, rows, batch);
    j.parts = (rows + j.part - 1) / j.part;
    pd_pool_run(net->pool, batch * j.parts, conv_transpose_task, &j);
}

/* Runs layer on batch samples.  Returns 1 when the kernel applied the
 * layer's activation itself, 0 when the caller must. */
static int run_layer(const pd_net *net, const pd_layer_desc *layer, size_t batch)
{
    const pd_kernels *k = net->kernels;
    const pd_act_params act = pd_layer_act(layer);
    const float *x = tensor_data(net, layer->inputs[0]);
    float *y = tensor_arena(net, layer->output);
    pd_dims in = dims_of(net, layer->inputs[0]);
    pd_dims out = dims_of(net, layer->output);

    switch (layer->op) {
    case PD_OP_CONV:
        run_conv(net, layer, batch, x, y, &act);
        return 1;
    case PD_OP_DEPTHWISE:
        run_depthwise(net, layer, batch, x, y, &act);
        return 1;
    case PD_OP_FC: {
        size_t kdim = net->elems[layer->inputs[0]];
        run_gemm(net, batch, (size_t)out.c, kdim, x, kdim, layer->weights, layer->bias, y,
                 (size_t)out.c, &act);
        return 1;
    }
    case PD_OP_MAXPOOL: {
        pd_window_shape s = pd_layer_window(net, layer);
        k->maxpool_f32(&s, batch, x, y);
        return 0;
    }
    case PD_OP_AVGPOOL: {
        pd_window_shape s = pd_layer_window(net, layer);
        k->avgpool_f32(&s, layer->count_include_pad, batch, x, y);
        return 0;
    }
    case PD_OP_GLOBAL_AVGPOOL:
        k->global_avgpool_f32(in, batch, x, y);
        return 0;
    case PD_OP_GLOBAL_MAXPOOL:
        k->global_maxpool_f32(in, batch, x, y);
        return 0;
    case PD_OP_BINARY:
        run_binary(net, layer, batch, &act, y);
        return 1;
    case PD_OP_CONCAT: {
        int32_t offset = 0;
        for (int32_t j = 0; j < layer->n_inputs; j++) {
            int32_t t = layer->inputs[j];
            int32_t c = net->tensors[t].c;
            k->concat_f32(batch, (size_t)out.h * (size_t)out.w, tensor_data(net, t), tensor_stride(net, t),
                          c, y, out.c, offset);
            offset += c;
        }
        return 0;
    }
    case PD_OP_SOFTMAX:
        k->softmax_f32(batch * (size_t)in.h * (size_t)in.w, (size_t)in.c, x, y);
        return 0;
    case PD_OP_RESHAPE:
        k->reshape_f32(batch, in, x, out, y);
        return 0;
    case PD_OP_PAD:
        k->pad_f32(batch, in, x, out, layer->pad_top, layer->pad_left, layer->pad_mode, layer->pad_value,
                   y);
        return 0;
    case PD_OP_ACTIVATION:
        k->act_f32(y, x, batch * net->elems[layer->inputs[0]], &act);
        return 1;
    case PD_OP_LRN:
        k->lrn_f32(batch * (size_t)in.h * (size_t)in.w, (size_t)in.c, layer->lrn_size, layer->lrn_alpha,
                   layer->lrn_beta, layer->lrn_bias, x, y);
        return 0;
    case PD_OP_CONV_TRANSPOSE:
        run_conv_transpose(net, layer, batch, x, y, &act);
        return 1;
    case PD_OP_RESIZE:
        k->resize_f32(batch, in, x, out, layer->resize_mode, layer->resize_coord, layer->resize_nearest,
                      layer->scale_h, layer->scale_w, y);
        return 0;
    case PD_OP_CHANNEL_SHUFFLE:
        k->shuffle_f32(batch * (size_t)in.h * (size_t)in.w, (size_t)in.c, (size_t)layer->groups, x, y);
        return 0;
    case PD_OP_SLICE:
        k->slice_f32(batch, in, x, out, layer->slice_h, layer->slice_w, layer->slice_c, y);
        return 0;
    case PD_OP_TRANSPOSE: {
        const int32_t perm[3] = {layer->perm_h, layer->perm_w, layer->perm_c};
        k->transpose_f32(batch, in, x, perm, y);
        return 0;
    }
    default:
        return 1; /* unreachable: shape.c refused unknown ops */
    }
}

static int all_inputs_constant(const pd_net *net, const pd_layer_desc *layer)
{
    for (int32_t j = 0; j < layer->n_inputs; j++)
        if (net->tensors[layer->inputs[j]].data == NULL)
            return 0;
    return 1;
}

static void execute(const pd_net *net, const pd_layer_desc *layer, size_t batch)
{
    size_t elems = net->elems[layer->output];
    float *y = tensor_arena(net, layer->output);
    size_t computed = all_inputs_constant(net, layer) ? 1 : batch;

    if (pd_layer_is_q8(net, layer)) {
        size_t bytes = elems * pd_dtype_size(net->tensors[layer->output].dtype);
        pd_run_layer_q8(net, layer, computed);
        for (size_t n = computed; n < batch; n++)
            memcpy((unsigned char *)y + n * bytes, y, bytes);
        return;
    }

    if (!run_layer(net, layer, computed) && layer->act != PD_ACT_NONE) {
        pd_act_params act = pd_layer_act(layer);
        net->kernels->act_f32(y, y, computed * elems, &act);
    }
    for (size_t n = computed; n < batch; n++)
        memcpy(y + n * elems, y, elems * sizeof(float));
}

/* One sample of tensor t from (c, h, w) order into the arena's (h, w, c). */
static void copy_channels_last(const pd_net *net, const pd_tensor_desc *t, const unsigned char *x, void *y)
{
    const size_t c = (size_t)t->c, hw = (size_t)t->h * (size_t)t->w;
    if (pd_dtype_size(t->dtype) == 1) {
        unsigned char *out = y;
        for (size_t ch = 0; ch < c; ch++)
            for (size_t p = 0; p < hw; p++)
                out[p * c + ch] = x[ch * hw + p];
        return;
    }
    net->kernels->channels_last_f32(c, hw, hw, (const float *)(const void *)x, y);
}

int32_t pd_net_set_input_channels_first(pd_net *net, int32_t input, int32_t channels_first, char *err,
                                        size_t err_size)
{
    pd_fail(err, err_size, PD_OK, "%s", "");
    if (net == NULL)
        return pd_fail(err, err_size, PD_ERR_ARGUMENT, "net is NULL");
    if (input < 0 || input >= net->n_inputs || input >= 32)
        return pd_fail(err, err_size, PD_ERR_ARGUMENT, "input %d is not one of the net's %d (or past 31)",
                       (int)input, (int)net->n_inputs);
    if (channels_first)
        net->channels_first |= 1u << input;
    else
        net->channels_first &= ~(1u << input);
    return PD_OK;
}

int32_t pd_net_set_input_pixels(pd_net *net, const float *table, char *err, size_t err_size)
{
    pd_fail(err, err_size, PD_OK, "%s", "");
    if (net == NULL)
        return pd_fail(err, err_size, PD_ERR_ARGUMENT, "net is NULL");
    if (table != NULL) {
        if (net->n_inputs < 1)
            return pd_fail(err, err_size, PD_ERR_ARGUMENT, "the net has no input");
        const pd_tensor_desc *t = &net->tensors[net->inputs[0]];
        if (t->dtype != PD_F32)
            return pd_fail(err, err_size, PD_ERR_ARGUMENT, "pixels need a float32 input, input 0 is not");
    }
    net->pixel_table = table;
    return PD_OK;
}

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

int32_t pd_net_set_profile(pd_net *net, double *seconds, int32_t n_layers, char *err, size_t err_size)
{
    pd_fail(err, err_size, PD_OK, "%s", "");
    if (net == NULL)
        return pd_fail(err, err_size, PD_ERR_ARGUMENT, "net is NULL");
    if (seconds != NULL && n_layers != net->n_layers)
        return pd_fail(err, err_size, PD_ERR_ARGUMENT, "profile of %d layers, the net has %d",
                       (int)n_layers, (int)net->n_layers);
    net->profile = seconds;
    return PD_OK;
}

/* 8-bit pixels to the float input through the net's table (pd_net_set_input_pixels),
 * rows split over the threads: with one thread a 224x224 photo's conversion
 * would be serial work beside layers that all run in parallel. */
typedef struct pixels_job {
    const pd_net *net;
    const uint8_t *x;
    float *y;
    size_t c, w, rows, part; /* the input's channels, width and rows; rows per task */
} pixels_job;

static void pixels_task(void *p, size_t t, int32_t worker)
{
    const pixels_job *j = p;
    (void)worker;
    const size_t r0 = t * j->part, r1 = j->rows - r0 < j->part ? j->rows : r0 + j->part;
    const size_t at = r0 * j->w * j->c;
    pd_pixels_f32_ref(j->c, (r1 - r0) * j->w, j->x + at, j->net->pixel_table, j->y + at);
}

static void convert_pixels(const pd_net *net, const uint8_t *x, float *y)
{
    const pd_tensor_desc *d = &net->tensors[net->inputs[0]];
    pixels_job j = {.net = net, .x = x, .y = y, .c = (size_t)d->c, .w = (size_t)d->w,
                    .rows = (size_t)d->h};
    j.part = pd_plan_elementwise_part(net->threads, j.rows, j.w * j.c, PART_FLOATS);
    if (j.part == 0) /* one task, run on this thread by pd_pool_run */
        j.part = j.rows > 0 ? j.rows : 1;
    pd_pool_run(net->pool, (j.rows + j.part - 1) / j.part, pixels_task, &j);
}

/* Sample s of inputs through the whole net into outputs. */
static void run_sample(const pd_net *net, size_t s, const void *const *inputs, void *const *outputs)
{
    for (int32_t i = 0; i < net->n_inputs; i++) {
        int32_t t = net->inputs[i];
        size_t sample = net->elems[t] * pd_dtype_size(net->tensors[t].dtype);
        const unsigned char *from = (const unsigned char *)inputs[i] + s * sample;
        if (net->offset[t] == PD_NO_OFFSET)
            continue; /* read in place by the input prologue (fuse.c) */
        if (i == 0 && net->pixel_table != NULL) {
            /* one byte a value: the sample holds elems bytes, not sample */
            convert_pixels(net, (const uint8_t *)inputs[i] + s * net->elems[t], tensor_arena(net, t));
        } else if (i < 32 && (net->channels_first >> i & 1u))
            copy_channels_last(net, &net->tensors[t], from, tensor_arena(net, t));
        else
            memcpy(tensor_arena(net, t), from, sample);
    }
    /* a fused group (fuse.c) runs at its first layer; its time is that layer's */
    if (net->profile == NULL) {
        for (int32_t l = 0; l < net->n_layers; l++)
            if (net->fuse[l] > 1)
                pd_run_fused(net, l, inputs, s);
            else if (net->fuse[l] == 0)
                execute(net, &net->layers[l], 1);
    } else {
        for (int32_t l = 0; l < net->n_layers; l++) {
            const double t0 = now_seconds();
            if (net->fuse[l] > 1)
                pd_run_fused(net, l, inputs, s);
            else if (net->fuse[l] == 0)
                execute(net, &net->layers[l], 1);
            net->profile[l] += now_seconds() - t0;
        }
    }
    for (int32_t i = 0; i < net->n_outputs; i++) {
        int32_t t = net->outputs[i];
        size_t sample = net->elems[t] * pd_dtype_size(net->tensors[t].dtype);
        memcpy((unsigned char *)outputs[i] + s * sample, tensor_data(net, t), sample);
    }
}

typedef struct sample_job {
    const pd_net *net;
    const void *const *inputs;
    void *const *outputs;
} sample_job;

/* Task s: sample s on worker `worker`'s arena and scratch, through a copy of
 * the net that runs every layer on this thread alone (no pool). */
static void sample_task(void *p, size_t s, int32_t worker)
{
    const sample_job *j = p;
    pd_net local = *j->net;
    if (worker > 0)
        local.arena = (float *)(void *)((unsigned char *)j->net->extra_arenas +
                                        (size_t)(worker - 1) * j->net->arena_bytes);
    local.scratch = (float *)(void *)((unsigned char *)j->net->scratch +
                                      (size_t)worker * j->net->thread_scratch_bytes);
    local.pool = NULL;
    local.threads = 1;
    local.profile = NULL;
    run_sample(&local, s, j->inputs, j->outputs);
}

int32_t pd_net_run(pd_net *net, int32_t batch, const void *const *inputs, void *const *outputs,
                   char *err, size_t err_size)
{
    pd_fail(err, err_size, PD_OK, "%s", "");
    if (net == NULL)
        return pd_fail(err, err_size, PD_ERR_ARGUMENT, "net is NULL");
    if (batch < 1)
        return pd_fail(err, err_size, PD_ERR_ARGUMENT, "batch %d must be >= 1", (int)batch);
    if (batch > net->max_batch)
        return pd_fail(err, err_size, PD_ERR_STATE, "batch %d is above max_batch %d", (int)batch,
                       (int)net->max_batch);
    if ((net->n_inputs > 0 && inputs == NULL) || outputs == NULL)
        return pd_fail(err, err_size, PD_ERR_ARGUMENT, "inputs or outputs is NULL");
    for (int32_t i = 0; i < net->n_inputs; i++)
        if (inputs[i] == NULL)
            return pd_fail(err, err_size, PD_ERR_ARGUMENT, "input %d is NULL", (int)i);
    for (int32_t i = 0; i < net->n_outputs; i++)
        if (outputs[i] == NULL)
            return pd_fail(err, err_size, PD_ERR_ARGUMENT, "output %d is NULL", (int)i);

    /* A forked child has none of its parent's pool threads: start its own. */
    if (net->threads > 1 && net->pool_pid != (long)getpid()) {
        int32_t st = pd_net_prepare_threads(net, err, err_size);
        if (st != PD_OK)
            return st;
    }
    if (net->threads > 1 && batch > 1 && net->pool != NULL && net->extra_arenas != NULL &&
        net->profile == NULL) {
        /* Samples in parallel, each thread through the whole net with its own
         * arena and scratch: one hand-off per batch rather than per layer and
         * sample.  Each sample's layers run as with one thread, so the results
         * are the same bit for bit. */
        sample_job j = {.net = net, .inputs = inputs, .outputs = outputs};
        pd_pool_run(net->pool, (size_t)batch, sample_task, &j);
        return PD_OK;
    }
    /* One sample after the other through the whole net (plan.c): each layer's
     * working set is one sample's, which stays in cache, and the results are
     * those of batch 1 bit for bit. */
    for (size_t s = 0; s < (size_t)batch; s++)
        run_sample(net, s, inputs, outputs);
    return PD_OK;
}
