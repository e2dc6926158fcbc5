/* run_q8.c: one int8 layer (output uint8) or a boundary (quantize,
 * dequantize), with the net's int8 kernel table (kernels/q8.h).  run.c calls
 * it for every layer pd_layer_is_q8 says is one; the float path is untouched.
 * GEMMs (pointwise conv, FC) are split into row and panel tiles, other convs
 * into output pixel tiles, depthwise into output row chunks, over the net's
 * threads as run.c does for float32; kernels stay single-threaded. */
#include <math.h>

#include "core.h"
#include "kernels/q8.h"

/* A conv or fc reading uint8 and writing float32 is an int8 GEMM with the
 * float output stage (shape_q8.c checks the rest). */
int pd_layer_is_q8(const pd_net *net, const pd_layer_desc *layer)
{
    if (layer->op == PD_OP_DEQUANTIZE || net->tensors[layer->output].dtype == PD_U8)
        return 1;
    return (layer->op == PD_OP_CONV || layer->op == PD_OP_FC) && layer->n_inputs > 0 &&
           net->tensors[layer->inputs[0]].dtype == PD_U8;
}

static const void *data_of(const pd_net *net, int32_t t)
{
    const pd_tensor_desc *d = &net->tensors[t];
    if (d->data != NULL)
        return d->data;
    return (const unsigned char *)net->arena + net->offset[t];
}

pd_requant pd_layer_requant(const pd_layer_desc *layer)
{
    pd_requant rq;
    rq.mult = layer->q_mult;
    rq.shift = layer->q_shift;
    rq.zero = layer->q_zero;
    rq.lo = layer->q_lo;
    rq.hi = layer->q_hi;
    rq.lut = layer->q_lut;
    return rq;
}

/* One layer's split (see run.c's job): task t is one part. */
typedef struct job {
    const pd_net *net;
    const pd_q8_kernels *k;
    const pd_window_shape *s;
    const pd_requant *rq;
    const uint8_t *x;
    const int8_t *w;
    const int32_t *bias;
    uint8_t *y;
    float *yf; /* float output (gemm_f32) instead of y */
    int32_t z_in;
    size_t m, n, kdim, lda, ldc;
    pd_gemm_tiles tiles;
    size_t parts, part;
} job;

static void gemm_task(void *p, size_t t, int32_t worker)
{
    const job *j = p;
    (void)worker;
    size_t i0, i1, c0, c1;
    pd_gemm_tile(&j->tiles, j->m, j->n, t, &i0, &i1, &c0, &c1);
    const size_t rows = i1 - i0, cols = c1 - c0;
    pd_requant part = *j->rq;
    part.mult += c0;
    part.shift += c0;
    if (j->yf != NULL)
        j->k->gemm_f32(rows, cols, j->kdim, j->x + i0 * j->lda, j->lda, j->w + c0 * pd_q8_kpad(j->kdim),
                       j->bias != NULL ? j->bias + c0 : NULL, &part, j->yf + i0 * j->ldc + c0, j->ldc);
    else
        j->k->gemm(rows, cols, j->kdim, j->x + i0 * j->lda, j->lda, j->w + c0 * pd_q8_kpad(j->kdim),
                   j->bias != NULL ? j->bias + c0 : NULL, &part, j->y + i0 * j->ldc + c0, j->ldc);
}

/* Tiles as run.c's float GEMM (pd_plan_gemm_tiles).  c is uint8_t, or float
 * with fout (the float output stage). */
static void run_gemm(const pd_net *net, size_t m, size_t n, size_t kdim, const uint8_t *a, size_t lda,
                     const int8_t *b, const int32_t *bias, const pd_requant *rq, void *c, size_t ldc,
                     int fout)
{
    const pd_gemm_tiles t = pd_plan_gemm_tiles(net->threads, m, n, 12, PD_PANEL);
    job j = {.net = net, .k = net->kernels->q8, .rq = rq, .x = a, .w = b, .bias = bias,
             .y = fout ? NULL : c, .yf = fout ? c : NULL,
             .m = m, .n = n, .kdim = kdim, .lda = lda, .ldc = ldc, .tiles = t};
    pd_pool_run(net->pool, t.row_tiles * t.col_tiles, gemm_task, &j);
}

static void conv_task(void *p, size_t t, int32_t worker)
{
    const job *j = p;
    const size_t p0 = t * j->part, pixels = (size_t)j->s->out.h * (size_t)j->s->out.w;
    const size_t p1 = pixels - p0 < j->part ? pixels : p0 + j->part;
    uint8_t *scratch = (uint8_t *)j->net->scratch + (size_t)worker * j->net->thread_scratch_bytes;
    j->k->conv(j->k, j->s, j->x, j->z_in, j->w, j->bias, j->rq, j->y, p0, p1, scratch);
}

static void depthwise_task(void *p, size_t t, int32_t worker)
{
    const job *j = p;
    (void)worker;
    const size_t rows = (size_t)j->s->out.h;
    /* 64-bit: t * rows can pass 2^32 on a 32-bit size_t */
    const size_t r0 = (size_t)((uint64_t)t * rows / j->parts);
    const size_t r1 = (size_t)((uint64_t)(t + 1) * rows / j->parts);
    j->k->depthwise(j->s, j->x, j->z_in, j->w, j->bias, j->rq, j->y, (int32_t)r0, (int32_t)r1);
}

/* One sample (run.c runs the net sample by sample); y is float with fout
 * (then the conv is pointwise, shape_q8.c). */
static void run_conv(const pd_net *net, const pd_layer_desc *layer, const uint8_t *x, int32_t z_in,
                     const pd_requant *rq, void *y, int fout)
{
    pd_window_shape s = pd_layer_window(net, layer);
    const size_t cin = (size_t)s.in.c, cout = (size_t)s.out.c;
    if (pd_conv_q8_is_pointwise(&s)) {
        run_gemm(net, (size_t)s.in.h * (size_t)s.in.w, cout, cin, x, cin, layer->weights, layer->bias,
                 rq, y, cout, fout);
        return;
    }
    const size_t pixels = (size_t)s.out.h * (size_t)s.out.w;
    job j = {.net = net, .k = net->kernels->q8, .s = &s, .rq = rq, .x = x, .w = layer->weights,
             .bias = layer->bias, .y = y, .z_in = z_in, .part = PD_CONV_TILE};
    pd_pool_run(net->pool, (pixels + PD_CONV_TILE - 1) / PD_CONV_TILE, conv_task, &j);
}

static void run_depthwise(const pd_net *net, const pd_layer_desc *layer, const uint8_t *x,
                          int32_t z_in, const pd_requant *rq, uint8_t *y)
{
    pd_window_shape s = pd_layer_window(net, layer);
    const size_t rows = (size_t)s.out.h;
    job j = {.net = net, .k = net->kernels->q8, .s = &s, .rq = rq, .x = x, .w = layer->weights,
             .bias = layer->bias, .y = y, .z_in = z_in};
    /* Parts of about 4 rows or more: each call prepares its channel blocks'
     * weights (the VNNI kernel interleaves them), which a 7x7 map's 1-row parts
     * paid 7 times over (a 960-channel layer took twice as long at 2 threads).
     * A multiple of the thread count of them (up to 4 each), the rows dealt
     * evenly, so no thread is left a short last part to wait on: 14 rows at 2
     * threads are 7 + 7, not 4 + 4 + 4 + 2. */
    const size_t threads = (size_t)net->threads, per = rows / (4 * threads);
    j.parts = threads == 1 ? 1 : threads * (per < 1 ? 1 : per > 4 ? 4 : per);
    if (j.parts > rows)
        j.parts = rows > 0 ? rows : 1;
    pd_pool_run(net->pool, j.parts, depthwise_task, &j);
}

/* An add, sub or mul of two tensors of one shape is elementwise: rows
 * [r0, r1) of it are bytes of the whole, so its rows are split over the
 * threads like a depthwise layer's (the 10 adds of MobileNetV2 ran on one
 * thread).  A part has at least BINARY_PART_BYTES, so a small tensor (7x7)
 * stays one task rather than paying the hand-off. */
#define BINARY_PART_BYTES ((size_t)8192)

typedef struct binary_job {
    const pd_net *net;
    int32_t kind;
    pd_dims d;
    const uint8_t *a, *b;
    int32_t za, zb;
    const pd_requant *rq;
    uint8_t *y;
    size_t part;
} binary_job;

static void binary_task(void *p, size_t t, int32_t worker)
{
    const binary_job *j = p;
    (void)worker;
    const size_t r0 = t * j->part, rows = (size_t)j->d.h;
    size_t at;
    const pd_dims d = pd_rows_of(j->d, r0, rows - r0 < j->part ? rows : r0 + j->part, &at);
    j->net->kernels->q8->binary(j->kind, 1, d, j->a + at, j->za, d, j->b + at, j->zb, j->rq, j->y + at);
}

static void run_binary(const pd_net *net, const pd_layer_desc *layer, size_t batch, const pd_requant *rq,
                       uint8_t *y)
{
    const pd_tensor_desc *ta = &net->tensors[layer->inputs[0]], *tb = &net->tensors[layer->inputs[1]];
    const pd_dims ad = pd_tensor_dims(ta), bd = pd_tensor_dims(tb);
    const size_t sample = net->elems[layer->output], rows = (size_t)ad.h;
    const int same = ad.h == bd.h && ad.w == bd.w && ad.c == bd.c && ta->data == NULL && tb->data == NULL;
    const size_t part = same ? pd_plan_elementwise_part(net->threads, rows, (size_t)ad.w * (size_t)ad.c,
                                                        BINARY_PART_BYTES) : 0;
    if (part == 0) {
        net->kernels->q8->binary(layer->binary_kind, batch, ad, data_of(net, layer->inputs[0]),
                                 ta->zero_point, bd, data_of(net, layer->inputs[1]), tb->zero_point, rq, y);
        return;
    }
    binary_job j = {.net = net, .kind = layer->binary_kind, .d = ad, .za = ta->zero_point,
                    .zb = tb->zero_point, .rq = rq, .part = part};
    for (size_t n = 0; n < batch; n++) {
        j.a = (const uint8_t *)data_of(net, layer->inputs[0]) + n * sample;
        j.b = (const uint8_t *)data_of(net, layer->inputs[1]) + n * sample;
        j.y = y + n * sample;
        pd_pool_run(net->pool, (rows + j.part - 1) / j.part, binary_task, &j);
    }
}

void pd_run_layer_q8(const pd_net *net, const pd_layer_desc *layer, size_t batch)
{
    const int32_t t_in = layer->inputs[0];
    const pd_tensor_desc *tin = &net->tensors[t_in], *tout = &net->tensors[layer->output];
    const uint8_t *x = data_of(net, t_in);
    uint8_t *y = (uint8_t *)net->arena + net->offset[layer->output];
    const pd_dims in = pd_tensor_dims(tin), out = pd_tensor_dims(tout);
    const int32_t z_in = tin->zero_point;
    pd_requant rq = pd_layer_requant(layer);
    const int fout = tout->dtype == PD_F32; /* a conv or fc with the float output stage */

    switch (layer->op) {
    case PD_OP_QUANTIZE:
        net->kernels->q8->quantize(batch * net->elems[t_in], (const float *)data_of(net, t_in), tout->scale,
                        tout->zero_point, y);
        return;
    case PD_OP_DEQUANTIZE:
        pd_dequantize_ref(batch * net->elems[t_in], x, tin->scale, z_in, (float *)(void *)y);
        return;
    case PD_OP_CONV:
        for (size_t n = 0; n < batch; n++)
            run_conv(net, layer, x + n * net->elems[t_in], z_in, &rq,
                     y + n * net->elems[layer->output] * pd_dtype_size(tout->dtype), fout);
        break;
    case PD_OP_DEPTHWISE:
        for (size_t n = 0; n < batch; n++)
            run_depthwise(net, layer, x + n * net->elems[t_in], z_in, &rq,
                          y + n * net->elems[layer->output]);
        return;
    case PD_OP_FC: {
        size_t k = net->elems[t_in];
        run_gemm(net, batch, (size_t)out.c, k, x, k, layer->weights, layer->bias, &rq, y, (size_t)out.c,
                 fout);
        break;
    }
    case PD_OP_MAXPOOL: {
        pd_window_shape s = pd_layer_window(net, layer);
        pd_maxpool_q8_ref(&s, batch, x, y);
        return;
    }
    case PD_OP_AVGPOOL: {
        pd_window_shape s = pd_layer_window(net, layer);
        pd_avgpool_q8_ref(&s, layer->count_include_pad, batch, x, z_in, &rq, y);
        return;
    }
    case PD_OP_GLOBAL_AVGPOOL:
        net->kernels->q8->global_avgpool(in, batch, x, z_in, &rq, y);
        return;
    case PD_OP_GLOBAL_MAXPOOL:
        pd_global_maxpool_q8_ref(in, batch, x, y);
        return;
    case PD_OP_BINARY:
        run_binary(net, layer, batch, &rq, y);
        return;
    case PD_OP_CONCAT: {
        int32_t offset = 0;
        for (int32_t j = 0; j < layer->n_inputs; j++) {
            const pd_tensor_desc *tj = &net->tensors[layer->inputs[j]];
            pd_requant part = rq;
            part.mult = rq.mult + j;
            part.shift = rq.shift + j;
            pd_concat_q8_ref(batch, (size_t)out.h * (size_t)out.w, data_of(net, layer->inputs[j]),
                             tj->zero_point, tj->c, &part, y, out.c, offset);
            offset += tj->c;
        }
        return;
    }
    case PD_OP_SOFTMAX:
        pd_softmax_q8_ref(batch * (size_t)in.h * (size_t)in.w, (size_t)in.c, x, layer->q_table, y);
        return;
    case PD_OP_RESHAPE:
        pd_reshape_q8_ref(batch, in, x, out, y);
        return;
    case PD_OP_PAD:
        pd_pad_q8_ref(batch, in, x, out, layer->pad_top, layer->pad_left, layer->pad_mode,
                      (uint8_t)layer->q_zero, y);
        return;
    case PD_OP_ACTIVATION:
        pd_lut_q8_ref(batch * net->elems[t_in], x, layer->q_lut, y);
        return;
    default:
        return; /* unreachable: shape_q8.c refused it */
    }
    /* conv and fc: a float output's clamp (relu or clip, shape_q8.c), here
     * rather than by the family's float kernel so that every family gives the
     * same bits (a SIMD max may keep -0 where this gives 0, or the reverse) */
    if (fout && layer->act != PD_ACT_NONE) {
        const float lo = layer->act == PD_ACT_RELU ? 0.0f : layer->act_alpha;
        const float hi = layer->act == PD_ACT_RELU ? INFINITY : layer->act_beta;
        float *v = (float *)(void *)y;
        const size_t n = batch * net->elems[layer->output];
        /* Locals (v may alias layer) and two steps: GCC vectorizes this; with
         * lo <= hi it is clamp(a) = a < lo ? lo : a > hi ? hi : a exactly. */
        if (lo <= hi) {
            for (size_t i = 0; i < n; i++) {
                const float a = v[i] < lo ? lo : v[i];
                v[i] = a > hi ? hi : a;
            }
        } else {
            for (size_t i = 0; i < n; i++)
                v[i] = v[i] < lo ? lo : v[i] > hi ? hi : v[i];
        }
    }
}
