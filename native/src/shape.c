/* shape.c: each op's attributes and shape rules, recomputed here.
 *
 * Python checks the same rules, but the kernels index memory with these dims,
 * so the core recomputes every output shape from its inputs and compares it
 * with the output tensor it was given: a wrong description becomes a status,
 * never an out-of-bounds access.  The rules are those of docs/format.md. */
#include "core.h"

#define LAYER_FMT "layer %d (%s): "
#define LAYER_ARGS (int)index, pd_op_name(layer->op)

/* Output size of a window along one axis (format.md): floor, or ceiling
 * reduced by one when the last window would start past the leading padding.
 * 0 if the window does not fit.  In int64, where no int32 input overflows. */
static int64_t window_out(int64_t in, int64_t extent, int64_t stride, int64_t pad_begin,
                          int64_t pad_end, int32_t ceil_mode)
{
    int64_t span = in + pad_begin + pad_end - extent;
    if (span < 0)
        return 0;
    if (!ceil_mode)
        return span / stride + 1;
    int64_t out = (span + stride - 1) / stride + 1;
    if ((out - 1) * stride >= in + pad_begin)
        out--;
    return out;
}

static int same_dims(pd_dims a, pd_dims b)
{
    return a.h == b.h && a.w == b.w && a.c == b.c;
}

static int32_t check_counts(const pd_net *net, int32_t index, char *err, size_t err_size)
{
    const pd_layer_desc *layer = &net->layers[index];
    int has_weights = layer->op == PD_OP_CONV || layer->op == PD_OP_DEPTHWISE || layer->op == PD_OP_FC ||
                      layer->op == PD_OP_CONV_TRANSPOSE;
    int32_t want = layer->op == PD_OP_BINARY ? 2 : 1;

    if (layer->op == PD_OP_CONCAT ? layer->n_inputs < 1 : layer->n_inputs != want)
        return pd_fail(err, err_size, PD_ERR_ARGUMENT, LAYER_FMT "%d inputs, expected %s%d", LAYER_ARGS,
                       (int)layer->n_inputs, layer->op == PD_OP_CONCAT ? "at least " : "", (int)want);
    if (has_weights && layer->weights == NULL)
        return pd_fail(err, err_size, PD_ERR_ARGUMENT, LAYER_FMT "weights missing", LAYER_ARGS);
    if (!has_weights && (layer->weights != NULL || layer->bias != NULL))
        return pd_fail(err, err_size, PD_ERR_ARGUMENT, LAYER_FMT "this op takes no weights or bias",
                       LAYER_ARGS);
    if (layer->act < PD_ACT_NONE || layer->act > PD_ACT_LEAKYRELU)
        return pd_fail(err, err_size, PD_ERR_ARGUMENT, LAYER_FMT "unknown activation %d", LAYER_ARGS,
                       (int)layer->act);
    return PD_OK;
}

/* Attributes and spatial output dims of conv, depthwise and the pools. */
static int32_t check_window(const pd_net *net, int32_t index, char *err, size_t err_size)
{
    const pd_layer_desc *layer = &net->layers[index];
    pd_dims in = pd_tensor_dims(&net->tensors[layer->inputs[0]]);
    pd_dims out = pd_tensor_dims(&net->tensors[layer->output]);
    int is_pool = layer->op == PD_OP_MAXPOOL || layer->op == PD_OP_AVGPOOL;

    if (layer->kernel_h < 1 || layer->kernel_w < 1 || layer->stride_h < 1 || layer->stride_w < 1 ||
        layer->dilation_h < 1 || layer->dilation_w < 1)
        return pd_fail(err, err_size, PD_ERR_ARGUMENT,
                       LAYER_FMT "kernel, strides and dilations must be >= 1", LAYER_ARGS);
    if (layer->op == PD_OP_AVGPOOL && (layer->dilation_h != 1 || layer->dilation_w != 1))
        return pd_fail(err, err_size, PD_ERR_UNSUPPORTED, LAYER_FMT "dilated average pooling",
                       LAYER_ARGS);
    if (layer->pad_top < 0 || layer->pad_left < 0 || layer->pad_bottom < 0 || layer->pad_right < 0)
        return pd_fail(err, err_size, PD_ERR_ARGUMENT, LAYER_FMT "pads must be >= 0", LAYER_ARGS);

    int64_t extent_h = (int64_t)(layer->kernel_h - 1) * layer->dilation_h + 1;
    int64_t extent_w = (int64_t)(layer->kernel_w - 1) * layer->dilation_w + 1;
    if (layer->pad_top >= extent_h || layer->pad_bottom >= extent_h || layer->pad_left >= extent_w ||
        layer->pad_right >= extent_w)
        return pd_fail(err, err_size, PD_ERR_ARGUMENT,
                       LAYER_FMT "each pad must be less than the dilated kernel extent", LAYER_ARGS);
    if (layer->ceil_mode != 0 && (layer->ceil_mode != 1 || !is_pool))
        return pd_fail(err, err_size, PD_ERR_ARGUMENT, LAYER_FMT "ceil_mode %d", LAYER_ARGS,
                       (int)layer->ceil_mode);
    if (layer->op == PD_OP_AVGPOOL && layer->count_include_pad != 0 && layer->count_include_pad != 1)
        return pd_fail(err, err_size, PD_ERR_ARGUMENT, LAYER_FMT "count_include_pad %d", LAYER_ARGS,
                       (int)layer->count_include_pad);

    int64_t oh = window_out(in.h, extent_h, layer->stride_h, layer->pad_top, layer->pad_bottom,
                            layer->ceil_mode);
    int64_t ow = window_out(in.w, extent_w, layer->stride_w, layer->pad_left, layer->pad_right,
                            layer->ceil_mode);
    if (oh < 1 || ow < 1)
        return pd_fail(err, err_size, PD_ERR_SHAPE, LAYER_FMT "the window is larger than the padded input",
                       LAYER_ARGS);
    if (oh != out.h || ow != out.w)
        return pd_fail(err, err_size, PD_ERR_SHAPE,
                       LAYER_FMT "output spatial dims (%d, %d), computed (%lld, %lld)", LAYER_ARGS,
                       (int)out.h, (int)out.w, (long long)oh, (long long)ow);
    return PD_OK;
}

/* conv: groups divide both channel counts; the weights' size fits size_t. */
static int32_t check_conv(const pd_net *net, int32_t index, char *err, size_t err_size)
{
    const pd_layer_desc *layer = &net->layers[index];
    pd_dims in = pd_tensor_dims(&net->tensors[layer->inputs[0]]);
    pd_dims out = pd_tensor_dims(&net->tensors[layer->output]);
    size_t n;

    if (layer->weight_layout != PD_LAYOUT_OHWI && layer->weight_layout != PD_LAYOUT_PANELS16 &&
        layer->weight_layout != PD_LAYOUT_Q8PANELS) /* shape_q8.c: which dtype reads which */
        return pd_fail(err, err_size, PD_ERR_UNSUPPORTED, LAYER_FMT "weight layout %d", LAYER_ARGS,
                       (int)layer->weight_layout);
    if (layer->groups < 1 || in.c % layer->groups != 0 || out.c % layer->groups != 0)
        return pd_fail(err, err_size, PD_ERR_SHAPE,
                       LAYER_FMT "groups %d must divide input channels %d and output channels %d",
                       LAYER_ARGS, (int)layer->groups, (int)in.c, (int)out.c);
    if (!pd_size_mul((size_t)out.c, (size_t)layer->kernel_h, &n) ||
        !pd_size_mul(n, (size_t)layer->kernel_w, &n) ||
        !pd_size_mul(n, (size_t)(in.c / layer->groups), &n))
        return pd_fail(err, err_size, PD_ERR_NOMEM, LAYER_FMT "weights too large", LAYER_ARGS);
    return PD_OK;
}

static int32_t check_depthwise(const pd_net *net, int32_t index, char *err, size_t err_size)
{
    const pd_layer_desc *layer = &net->layers[index];
    pd_dims in = pd_tensor_dims(&net->tensors[layer->inputs[0]]);
    pd_dims out = pd_tensor_dims(&net->tensors[layer->output]);
    size_t n;

    if (layer->weight_layout != PD_LAYOUT_HWC)
        return pd_fail(err, err_size, PD_ERR_UNSUPPORTED, LAYER_FMT "weight layout %d", LAYER_ARGS,
                       (int)layer->weight_layout);
    if (out.c != in.c || layer->groups != in.c)
        return pd_fail(err, err_size, PD_ERR_SHAPE,
                       LAYER_FMT "input channels %d, output channels %d and groups %d must be equal",
                       LAYER_ARGS, (int)in.c, (int)out.c, (int)layer->groups);
    if (!pd_size_mul((size_t)layer->kernel_h, (size_t)layer->kernel_w, &n) ||
        !pd_size_mul(n, (size_t)in.c, &n))
        return pd_fail(err, err_size, PD_ERR_NOMEM, LAYER_FMT "weights too large", LAYER_ARGS);
    return PD_OK;
}

/* fc: K = h * w * c of the input sample; the output is (1, 1, C_out). */
static int32_t check_fc(const pd_net *net, int32_t index, char *err, size_t err_size)
{
    const pd_layer_desc *layer = &net->layers[index];
    pd_dims out = pd_tensor_dims(&net->tensors[layer->output]);
    size_t n;

    if (layer->weight_layout != PD_LAYOUT_OHWI && layer->weight_layout != PD_LAYOUT_PANELS16 &&
        layer->weight_layout != PD_LAYOUT_Q8PANELS) /* shape_q8.c: which dtype reads which */
        return pd_fail(err, err_size, PD_ERR_UNSUPPORTED, LAYER_FMT "weight layout %d", LAYER_ARGS,
                       (int)layer->weight_layout);
    if (out.h != 1 || out.w != 1)
        return pd_fail(err, err_size, PD_ERR_SHAPE, LAYER_FMT "output dims (%d, %d, %d), expected (1, 1, C)",
                       LAYER_ARGS, (int)out.h, (int)out.w, (int)out.c);
    if (!pd_size_mul((size_t)out.c, net->elems[layer->inputs[0]], &n))
        return pd_fail(err, err_size, PD_ERR_NOMEM, LAYER_FMT "weights too large", LAYER_ARGS);
    return PD_OK;
}

static int32_t check_binary(const pd_net *net, int32_t index, char *err, size_t err_size)
{
    const pd_layer_desc *layer = &net->layers[index];
    pd_dims a = pd_tensor_dims(&net->tensors[layer->inputs[0]]);
    pd_dims b = pd_tensor_dims(&net->tensors[layer->inputs[1]]);
    pd_dims out = pd_tensor_dims(&net->tensors[layer->output]);

    if (layer->binary_kind < PD_BIN_ADD || layer->binary_kind > PD_BIN_DIV)
        return pd_fail(err, err_size, PD_ERR_ARGUMENT, LAYER_FMT "unknown binary kind %d", LAYER_ARGS,
                       (int)layer->binary_kind);
    if (!same_dims(a, out))
        return pd_fail(err, err_size, PD_ERR_SHAPE,
                       LAYER_FMT "output dims (%d, %d, %d) differ from the first input's (%d, %d, %d)",
                       LAYER_ARGS, (int)out.h, (int)out.w, (int)out.c, (int)a.h, (int)a.w, (int)a.c);
    if ((b.h != a.h && b.h != 1) || (b.w != a.w && b.w != 1) || (b.c != a.c && b.c != 1))
        return pd_fail(err, err_size, PD_ERR_SHAPE,
                       LAYER_FMT "second input (%d, %d, %d) does not broadcast to (%d, %d, %d)", LAYER_ARGS,
                       (int)b.h, (int)b.w, (int)b.c, (int)a.h, (int)a.w, (int)a.c);
    return PD_OK;
}

static int32_t check_concat(const pd_net *net, int32_t index, char *err, size_t err_size)
{
    const pd_layer_desc *layer = &net->layers[index];
    pd_dims out = pd_tensor_dims(&net->tensors[layer->output]);
    int64_t channels = 0;

    for (int32_t j = 0; j < layer->n_inputs; j++) {
        pd_dims in = pd_tensor_dims(&net->tensors[layer->inputs[j]]);
        if (in.h != out.h || in.w != out.w)
            return pd_fail(err, err_size, PD_ERR_SHAPE,
                           LAYER_FMT "input %d spatial dims (%d, %d) differ from the output's (%d, %d)",
                           LAYER_ARGS, (int)j, (int)in.h, (int)in.w, (int)out.h, (int)out.w);
        channels += in.c;
    }
    if (channels != out.c)
        return pd_fail(err, err_size, PD_ERR_SHAPE, LAYER_FMT "output channels %d, inputs add up to %lld",
                       LAYER_ARGS, (int)out.c, (long long)channels);
    return PD_OK;
}

static int32_t check_pad(const pd_net *net, int32_t index, char *err, size_t err_size)
{
    const pd_layer_desc *layer = &net->layers[index];
    pd_dims in = pd_tensor_dims(&net->tensors[layer->inputs[0]]);
    pd_dims out = pd_tensor_dims(&net->tensors[layer->output]);

    if (layer->pad_top < 0 || layer->pad_left < 0 || layer->pad_bottom < 0 || layer->pad_right < 0)
        return pd_fail(err, err_size, PD_ERR_ARGUMENT, LAYER_FMT "pads must be >= 0", LAYER_ARGS);
    if (layer->pad_mode < PD_PAD_CONSTANT || layer->pad_mode > PD_PAD_EDGE)
        return pd_fail(err, err_size, PD_ERR_ARGUMENT, LAYER_FMT "unknown pad mode %d", LAYER_ARGS,
                       (int)layer->pad_mode);
    if (layer->pad_mode == PD_PAD_REFLECT &&
        (layer->pad_top >= in.h || layer->pad_bottom >= in.h || layer->pad_left >= in.w ||
         layer->pad_right >= in.w))
        return pd_fail(err, err_size, PD_ERR_SHAPE, LAYER_FMT "reflect needs each pad < its dim",
                       LAYER_ARGS);
    int64_t oh = (int64_t)in.h + layer->pad_top + layer->pad_bottom;
    int64_t ow = (int64_t)in.w + layer->pad_left + layer->pad_right;
    if (oh != out.h || ow != out.w || in.c != out.c)
        return pd_fail(err, err_size, PD_ERR_SHAPE,
                       LAYER_FMT "output dims (%d, %d, %d), computed (%lld, %lld, %d)", LAYER_ARGS,
                       (int)out.h, (int)out.w, (int)out.c, (long long)oh, (long long)ow, (int)in.c);
    return PD_OK;
}

/* The output's dims must be these, for the ops whose output follows directly. */
static int32_t expect_dims(const pd_net *net, int32_t index, pd_dims want, char *err, size_t err_size)
{
    const pd_layer_desc *layer = &net->layers[index];
    pd_dims out = pd_tensor_dims(&net->tensors[layer->output]);
    if (!same_dims(out, want))
        return pd_fail(err, err_size, PD_ERR_SHAPE, LAYER_FMT "output dims (%d, %d, %d), expected (%d, %d, %d)",
                       LAYER_ARGS, (int)out.h, (int)out.w, (int)out.c, (int)want.h, (int)want.w,
                       (int)want.c);
    return PD_OK;
}

int32_t pd_check_layer(const pd_net *net, int32_t index, char *err, size_t err_size)
{
    const pd_layer_desc *layer = &net->layers[index];
    int32_t st;

    if (layer->op < PD_OP_CONV || layer->op > PD_OP_TRANSPOSE)
        return pd_fail(err, err_size, PD_ERR_ARGUMENT, "layer %d: unknown op %d", (int)index,
                       (int)layer->op);
    if ((st = check_counts(net, index, err, err_size)) != PD_OK)
        return st;

    pd_dims in = pd_tensor_dims(&net->tensors[layer->inputs[0]]);
    pd_dims out = pd_tensor_dims(&net->tensors[layer->output]);
    switch (layer->op) {
    case PD_OP_CONV:
        if ((st = check_window(net, index, err, err_size)) != PD_OK)
            return st;
        return check_conv(net, index, err, err_size);
    case PD_OP_DEPTHWISE:
        if ((st = check_window(net, index, err, err_size)) != PD_OK)
            return st;
        return check_depthwise(net, index, err, err_size);
    case PD_OP_MAXPOOL:
    case PD_OP_AVGPOOL:
        if ((st = check_window(net, index, err, err_size)) != PD_OK)
            return st;
        if (out.c != in.c)
            return pd_fail(err, err_size, PD_ERR_SHAPE, LAYER_FMT "output channels %d, input channels %d",
                           LAYER_ARGS, (int)out.c, (int)in.c);
        return PD_OK;
    case PD_OP_FC:
        return check_fc(net, index, err, err_size);
    case PD_OP_GLOBAL_AVGPOOL:
    case PD_OP_GLOBAL_MAXPOOL: {
        pd_dims want = {1, 1, in.c};
        return expect_dims(net, index, want, err, err_size);
    }
    case PD_OP_BINARY:
        return check_binary(net, index, err, err_size);
    case PD_OP_CONCAT:
        return check_concat(net, index, err, err_size);
    case PD_OP_SOFTMAX:
    case PD_OP_ACTIVATION:
    case PD_OP_QUANTIZE:
    case PD_OP_DEQUANTIZE:
        return expect_dims(net, index, in, err, err_size);
    case PD_OP_RESHAPE:
        if (net->elems[layer->output] != net->elems[layer->inputs[0]])
            return pd_fail(err, err_size, PD_ERR_SHAPE,
                           LAYER_FMT "output has %zu elements, input %zu", LAYER_ARGS,
                           net->elems[layer->output], net->elems[layer->inputs[0]]);
        return PD_OK;
    case PD_OP_PAD:
        return check_pad(net, index, err, err_size);
    case PD_OP_LRN:
    case PD_OP_CONV_TRANSPOSE:
    case PD_OP_RESIZE:
    case PD_OP_CHANNEL_SHUFFLE:
    case PD_OP_SLICE:
    case PD_OP_TRANSPOSE:
        return pd_check_layer_convnet(net, index, err, err_size);
    default:
        return pd_fail(err, err_size, PD_ERR_ARGUMENT, "layer %d: unknown op %d", (int)index,
                       (int)layer->op);
    }
}

pd_window_shape pd_layer_window(const pd_net *net, const pd_layer_desc *layer)
{
    pd_window_shape s;
    s.in = pd_tensor_dims(&net->tensors[layer->inputs[0]]);
    s.out = pd_tensor_dims(&net->tensors[layer->output]);
    s.kernel_h = layer->kernel_h;
    s.kernel_w = layer->kernel_w;
    s.stride_h = layer->stride_h;
    s.stride_w = layer->stride_w;
    s.dilation_h = layer->dilation_h;
    s.dilation_w = layer->dilation_w;
    s.pad_top = layer->pad_top;
    s.pad_left = layer->pad_left;
    s.pad_bottom = layer->pad_bottom;
    s.pad_right = layer->pad_right;
    s.groups = layer->op == PD_OP_CONV ? layer->groups : layer->op == PD_OP_DEPTHWISE ? s.in.c : 1;
    return s;
}
