/* shape_q8.c: the dtype rules and the int8 parameters of one layer, checked
 * after shape.c accepted its shapes.  A float32 layer reads and writes float32
 * only; an int8 layer (output uint8) reads uint8 only and carries the
 * multipliers, shifts, clamps and tables its kernel indexes (docs/quantization.md). */
#include "core.h"
#include "kernels/q8.h"

#define LAYER_FMT "layer %d (%s): "
#define LAYER_ARGS (int)index, pd_op_name(layer->op)

/* Entries of q_mult / q_shift the kernel of this int8 layer reads. */
static int64_t expected_q(const pd_net *net, const pd_layer_desc *layer)
{
    const pd_tensor_desc *out = &net->tensors[layer->output];
    switch (layer->op) {
    case PD_OP_CONV:
    case PD_OP_DEPTHWISE:
    case PD_OP_FC:
        return out->c;
    case PD_OP_AVGPOOL:
        return (int64_t)layer->kernel_h * layer->kernel_w;
    case PD_OP_GLOBAL_AVGPOOL:
        return 1;
    case PD_OP_BINARY:
        return layer->binary_kind == PD_BIN_MUL ? 1 : 2;
    case PD_OP_CONCAT:
        return layer->n_inputs;
    default:
        return 0;
    }
}

/* The reduction length K of a GEMM-like layer, or 0. */
static int64_t reduction(const pd_net *net, const pd_layer_desc *layer)
{
    const pd_tensor_desc *in = &net->tensors[layer->inputs[0]];
    switch (layer->op) {
    case PD_OP_CONV:
        return (int64_t)layer->kernel_h * layer->kernel_w * (in->c / layer->groups);
    case PD_OP_DEPTHWISE:
        return (int64_t)layer->kernel_h * layer->kernel_w;
    case PD_OP_FC:
        return (int64_t)net->elems[layer->inputs[0]];
    case PD_OP_AVGPOOL:
        return (int64_t)layer->kernel_h * layer->kernel_w;
    case PD_OP_GLOBAL_AVGPOOL:
        return (int64_t)in->h * in->w;
    default:
        return 0;
    }
}

static int32_t check_params(const pd_net *net, int32_t index, char *err, size_t err_size)
{
    const pd_layer_desc *layer = &net->layers[index];
    int64_t want = expected_q(net, layer);

    if (layer->op == PD_OP_BINARY && layer->binary_kind == PD_BIN_DIV)
        return pd_fail(err, err_size, PD_ERR_UNSUPPORTED, LAYER_FMT "div has no int8 kernel", LAYER_ARGS);
    if (layer->n_q != want)
        return pd_fail(err, err_size, PD_ERR_ARGUMENT, LAYER_FMT "%d multipliers, expected %lld",
                       LAYER_ARGS, (int)layer->n_q, (long long)want);
    if (want > 0 && (layer->q_mult == NULL || layer->q_shift == NULL))
        return pd_fail(err, err_size, PD_ERR_ARGUMENT, LAYER_FMT "multipliers or shifts missing", LAYER_ARGS);
    for (int64_t i = 0; i < want; i++) {
        if (layer->q_mult[i] < 0)
            return pd_fail(err, err_size, PD_ERR_ARGUMENT, LAYER_FMT "multiplier %lld is negative",
                           LAYER_ARGS, (long long)i);
        if (layer->q_shift[i] < 1 || layer->q_shift[i] > 62)
            return pd_fail(err, err_size, PD_ERR_ARGUMENT, LAYER_FMT "shift %lld is %d, not in [1, 62]",
                           LAYER_ARGS, (long long)i, (int)layer->q_shift[i]);
    }
    if (layer->op == PD_OP_BINARY && layer->binary_kind != PD_BIN_MUL &&
        layer->q_shift[1] != layer->q_shift[0])
        return pd_fail(err, err_size, PD_ERR_ARGUMENT, LAYER_FMT "add/sub shifts differ", LAYER_ARGS);
    if (layer->q_zero < 0 || layer->q_zero > 255 || layer->q_lo < 0 || layer->q_hi > 255 ||
        layer->q_lo > layer->q_hi)
        return pd_fail(err, err_size, PD_ERR_ARGUMENT, LAYER_FMT "zero %d, clamp [%d, %d] not in [0, 255]",
                       LAYER_ARGS, (int)layer->q_zero, (int)layer->q_lo, (int)layer->q_hi);
    /* GEMM: |a - z| * |w| <= 255 * 127 per term; K <= 32767 keeps the sum below 2^30.
     * Pools: 255 per cell. */
    int64_t k = reduction(net, layer);
    int64_t limit = layer->op == PD_OP_AVGPOOL || layer->op == PD_OP_GLOBAL_AVGPOOL ? 8388607 : 32767;
    if (k > limit)
        return pd_fail(err, err_size, PD_ERR_UNSUPPORTED, LAYER_FMT "reduction length %lld above %lld",
                       LAYER_ARGS, (long long)k, (long long)limit);
    if (layer->op == PD_OP_SOFTMAX && layer->q_table == NULL)
        return pd_fail(err, err_size, PD_ERR_ARGUMENT, LAYER_FMT "exp table missing", LAYER_ARGS);
    /* The kernel divides by a row's sum of entries, the max's own being E[0]: with E[0] = 2^16
     * and none negative the sum is at least 2^16, never zero. */
    if (layer->op == PD_OP_SOFTMAX) {
        if (layer->q_table[0] != 65536)
            return pd_fail(err, err_size, PD_ERR_ARGUMENT, LAYER_FMT "exp table entry 0 is %d, not 65536",
                           LAYER_ARGS, (int)layer->q_table[0]);
        for (int32_t i = 0; i < 256; i++)
            if (layer->q_table[i] < 0 || layer->q_table[i] > 65536)
                return pd_fail(err, err_size, PD_ERR_ARGUMENT, LAYER_FMT "exp table entry %d is %d, not in [0, 65536]",
                               LAYER_ARGS, (int)i, (int)layer->q_table[i]);
    }
    if (layer->op == PD_OP_ACTIVATION && layer->q_lut == NULL)
        return pd_fail(err, err_size, PD_ERR_ARGUMENT, LAYER_FMT "lookup table missing", LAYER_ARGS);
    return PD_OK;
}

/* An int8 GEMM with float32 output (pd_layer_is_q8): pointwise when a conv,
 * its activation a clamp applied in float32, no table. */
static int32_t check_float_output(const pd_net *net, int32_t index, char *err, size_t err_size)
{
    const pd_layer_desc *layer = &net->layers[index];
    if (layer->op == PD_OP_CONV) {
        pd_window_shape s = pd_layer_window(net, layer);
        if (!pd_conv_q8_is_pointwise(&s))
            return pd_fail(err, err_size, PD_ERR_UNSUPPORTED,
                           LAYER_FMT "an int8 conv with float32 output must be 1x1, stride 1, no padding, one group",
                           LAYER_ARGS);
    }
    if (layer->act != PD_ACT_NONE && layer->act != PD_ACT_RELU && layer->act != PD_ACT_CLIP)
        return pd_fail(err, err_size, PD_ERR_UNSUPPORTED,
                       LAYER_FMT "an int8 layer with float32 output takes no activation but relu or clip", LAYER_ARGS);
    if (layer->q_lut != NULL || layer->q_table != NULL)
        return pd_fail(err, err_size, PD_ERR_ARGUMENT, LAYER_FMT "float32 output takes no table", LAYER_ARGS);
    return PD_OK;
}

int32_t pd_check_layer_q8(const pd_net *net, int32_t index, char *err, size_t err_size)
{
    const pd_layer_desc *layer = &net->layers[index];
    int32_t want_in = PD_F32, out = net->tensors[layer->output].dtype;
    /* An int8 GEMM may write float32 (docs/quantization.md, "Float output"). */
    const int float_out = pd_layer_is_q8(net, layer) && out == PD_F32 && layer->op != PD_OP_DEQUANTIZE;
    int32_t st0;

    if (layer->op == PD_OP_QUANTIZE) {
        if (out != PD_U8)
            return pd_fail(err, err_size, PD_ERR_ARGUMENT, LAYER_FMT "output must be uint8", LAYER_ARGS);
    } else if (layer->op == PD_OP_DEQUANTIZE) {
        want_in = PD_U8;
        if (out != PD_F32)
            return pd_fail(err, err_size, PD_ERR_ARGUMENT, LAYER_FMT "output must be float32", LAYER_ARGS);
    } else if (out == PD_U8 || float_out) {
        want_in = PD_U8;
    }
    for (int32_t j = 0; j < layer->n_inputs; j++)
        if (net->tensors[layer->inputs[j]].dtype != want_in)
            return pd_fail(err, err_size, PD_ERR_ARGUMENT, LAYER_FMT "input %d must be %s", LAYER_ARGS,
                           (int)j, want_in == PD_U8 ? "uint8" : "float32");
    /* Each dtype reads its own packed layout; the other's would be misread. */
    const int gemm_op = layer->op == PD_OP_CONV || layer->op == PD_OP_FC;
    if (gemm_op && out != PD_U8 && !float_out && layer->weight_layout == PD_LAYOUT_Q8PANELS)
        return pd_fail(err, err_size, PD_ERR_ARGUMENT,
                       LAYER_FMT "float32 weights cannot be in the int8 layout q8panels16", LAYER_ARGS);
    if ((out != PD_U8 && !float_out) || layer->op == PD_OP_QUANTIZE)
        return PD_OK;
    if (float_out && (st0 = check_float_output(net, index, err, err_size)) != PD_OK)
        return st0;
    if (layer->op >= PD_OP_LRN) /* the classic convnet ops (shape_convnet.c) are float32 only */
        return pd_fail(err, err_size, PD_ERR_UNSUPPORTED, LAYER_FMT "has no int8 kernel", LAYER_ARGS);
    if (gemm_op && layer->weight_layout != PD_LAYOUT_OHWI && layer->weight_layout != PD_LAYOUT_Q8PANELS)
        return pd_fail(err, err_size, PD_ERR_ARGUMENT,
                       LAYER_FMT "int8 weights must be OHWI or q8panels16 (not layout %d)", LAYER_ARGS,
                       (int)layer->weight_layout);
    int32_t st = check_params(net, index, err, err_size);
    if (st != PD_OK || !gemm_op)
        return st;
    /* The packed weights (padding included) must fit in size_t; K <= 32767 now. */
    const size_t groups = (size_t)(layer->op == PD_OP_CONV ? layer->groups : 1);
    const size_t og = (size_t)net->tensors[layer->output].c / groups, k = (size_t)reduction(net, layer);
    size_t bytes;
    if (og > SIZE_MAX - PD_PANEL || !pd_size_mul((og + PD_PANEL - 1) / PD_PANEL * PD_PANEL, pd_q8_kpad(k), &bytes) ||
        !pd_size_mul(bytes, groups, &bytes))
        return pd_fail(err, err_size, PD_ERR_NOMEM, LAYER_FMT "packed int8 weights too large", LAYER_ARGS);
    return PD_OK;
}
