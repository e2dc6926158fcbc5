/* shape_convnet.c: attributes and output dims of the ops the classic convnet
 * families brought (LRN, transposed convolution, resize, channel shuffle,
 * slice, transpose), recomputed as shape.c does for the others (docs/format.md).  None of
 * them has an int8 kernel: shape_q8.c refuses a uint8 output. */

#include "core.h"

#define LAYER_FMT "layer %d (%s): "
#define LAYER_ARGS (int)index, pd_op_name(layer->op)

static int finite_positive(float v)
{
    return v > 0.0f && v - v == 0.0f;
}

static int32_t dims_fail(const pd_layer_desc *layer, int32_t index, pd_dims out, int64_t h, int64_t w,
                         int64_t c, char *err, size_t err_size)
{
    return pd_fail(err, err_size, PD_ERR_SHAPE, LAYER_FMT "output dims (%d, %d, %d), expected (%lld, %lld, %lld)",
                   LAYER_ARGS, (int)out.h, (int)out.w, (int)out.c, (long long)h, (long long)w, (long long)c);
}

static int32_t check_lrn(const pd_net *net, int32_t index, char *err, size_t err_size)
{
    const pd_layer_desc *layer = &net->layers[index];
    pd_dims in = pd_tensor_dims(&net->tensors[layer->inputs[0]]);
    pd_dims out = pd_tensor_dims(&net->tensors[layer->output]);
    if (layer->lrn_size < 1 || !finite_positive(layer->lrn_bias) || layer->lrn_alpha - layer->lrn_alpha != 0.0f ||
        layer->lrn_beta - layer->lrn_beta != 0.0f)
        return pd_fail(err, err_size, PD_ERR_ARGUMENT,
                       LAYER_FMT "size %d must be >= 1, bias > 0, alpha and beta finite", LAYER_ARGS,
                       (int)layer->lrn_size);
    if (in.h != out.h || in.w != out.w || in.c != out.c)
        return dims_fail(layer, index, out, in.h, in.w, in.c, err, err_size);
    return PD_OK;
}

/* One axis of a transposed conv: out = stride * (in - 1) + extent - pads + extra, the extra
 * (output padding) in [0, max(stride, dilation)). */
static int axis_fits(int64_t in, int64_t out, int32_t k, int32_t s, int32_t d, int32_t pb, int32_t pe)
{
    int64_t base = (int64_t)s * (in - 1) + (int64_t)(k - 1) * d + 1 - pb - pe;
    int64_t extra = out - base;
    return extra >= 0 && extra < (s > d ? s : d);
}

static int32_t check_conv_transpose(const pd_net *net, int32_t index, char *err, size_t err_size)
{
    const pd_layer_desc *layer = &net->layers[index];
    pd_dims in = pd_tensor_dims(&net->tensors[layer->inputs[0]]);
    pd_dims out = pd_tensor_dims(&net->tensors[layer->output]);
    size_t n;

    if (layer->weight_layout != PD_LAYOUT_IHWO)
        return pd_fail(err, err_size, PD_ERR_UNSUPPORTED, LAYER_FMT "weight layout %d", LAYER_ARGS,
                       (int)layer->weight_layout);
    if (layer->kernel_h < 1 || layer->kernel_w < 1 || layer->stride_h < 1 || layer->stride_w < 1 ||
        layer->dilation_h < 1 || layer->dilation_w < 1)
        return pd_fail(err, err_size, PD_ERR_ARGUMENT, LAYER_FMT "kernel, strides and dilations must be >= 1",
                       LAYER_ARGS);
    if (layer->pad_top < 0 || layer->pad_left < 0 || layer->pad_bottom < 0 || layer->pad_right < 0)
        return pd_fail(err, err_size, PD_ERR_ARGUMENT, LAYER_FMT "pads must be >= 0", LAYER_ARGS);
    if (layer->groups < 1 || in.c % layer->groups != 0 || out.c % layer->groups != 0)
        return pd_fail(err, err_size, PD_ERR_SHAPE,
                       LAYER_FMT "groups %d must divide input channels %d and output channels %d", LAYER_ARGS,
                       (int)layer->groups, (int)in.c, (int)out.c);
    if (!axis_fits(in.h, out.h, layer->kernel_h, layer->stride_h, layer->dilation_h, layer->pad_top,
                   layer->pad_bottom) ||
        !axis_fits(in.w, out.w, layer->kernel_w, layer->stride_w, layer->dilation_w, layer->pad_left,
                   layer->pad_right))
        return pd_fail(err, err_size, PD_ERR_SHAPE,
                       LAYER_FMT "output spatial dims (%d, %d) do not follow from input (%d, %d), the window "
                                 "and an output padding below max(stride, dilation)",
                       LAYER_ARGS, (int)out.h, (int)out.w, (int)in.h, (int)in.w);
    if (!pd_size_mul((size_t)in.c, (size_t)layer->kernel_h, &n) || !pd_size_mul(n, (size_t)layer->kernel_w, &n) ||
        !pd_size_mul(n, (size_t)(out.c / layer->groups), &n))
        return pd_fail(err, err_size, PD_ERR_NOMEM, LAYER_FMT "weights too large", LAYER_ARGS);
    return PD_OK;
}

static int32_t check_resize(const pd_net *net, int32_t index, char *err, size_t err_size)
{
    const pd_layer_desc *layer = &net->layers[index];
    pd_dims in = pd_tensor_dims(&net->tensors[layer->inputs[0]]);
    pd_dims out = pd_tensor_dims(&net->tensors[layer->output]);
    if (layer->resize_mode < PD_RESIZE_NEAREST || layer->resize_mode > PD_RESIZE_LINEAR ||
        layer->resize_coord < PD_COORD_HALF_PIXEL || layer->resize_coord > PD_COORD_TF_HALF_PIXEL_FOR_NN ||
        layer->resize_nearest < PD_NEAREST_ROUND_PREFER_FLOOR || layer->resize_nearest > PD_NEAREST_CEIL)
        return pd_fail(err, err_size, PD_ERR_ARGUMENT, LAYER_FMT "mode %d, coordinate mode %d, nearest mode %d",
                       LAYER_ARGS, (int)layer->resize_mode, (int)layer->resize_coord, (int)layer->resize_nearest);
    if (!finite_positive(layer->scale_h) || !finite_positive(layer->scale_w))
        return pd_fail(err, err_size, PD_ERR_ARGUMENT, LAYER_FMT "scales (%g, %g) must be finite and > 0",
                       LAYER_ARGS, (double)layer->scale_h, (double)layer->scale_w);
    if (out.c != in.c)
        return pd_fail(err, err_size, PD_ERR_SHAPE, LAYER_FMT "output channels %d, input channels %d",
                       LAYER_ARGS, (int)out.c, (int)in.c);
    return PD_OK;
}

static int32_t check_shuffle(const pd_net *net, int32_t index, char *err, size_t err_size)
{
    const pd_layer_desc *layer = &net->layers[index];
    pd_dims in = pd_tensor_dims(&net->tensors[layer->inputs[0]]);
    pd_dims out = pd_tensor_dims(&net->tensors[layer->output]);
    if (layer->groups < 1 || in.c % layer->groups != 0)
        return pd_fail(err, err_size, PD_ERR_SHAPE, LAYER_FMT "groups %d must divide the channels %d",
                       LAYER_ARGS, (int)layer->groups, (int)in.c);
    if (in.h != out.h || in.w != out.w || in.c != out.c)
        return dims_fail(layer, index, out, in.h, in.w, in.c, err, err_size);
    return PD_OK;
}

static int32_t check_slice(const pd_net *net, int32_t index, char *err, size_t err_size)
{
    const pd_layer_desc *layer = &net->layers[index];
    pd_dims in = pd_tensor_dims(&net->tensors[layer->inputs[0]]);
    pd_dims out = pd_tensor_dims(&net->tensors[layer->output]);
    if (layer->slice_h < 0 || layer->slice_w < 0 || layer->slice_c < 0 ||
        (int64_t)layer->slice_h + out.h > in.h || (int64_t)layer->slice_w + out.w > in.w ||
        (int64_t)layer->slice_c + out.c > in.c)
        return pd_fail(err, err_size, PD_ERR_SHAPE,
                       LAYER_FMT "window (%d, %d, %d) at (%d, %d, %d) does not fit the input (%d, %d, %d)",
                       LAYER_ARGS, (int)out.h, (int)out.w, (int)out.c, (int)layer->slice_h, (int)layer->slice_w,
                       (int)layer->slice_c, (int)in.h, (int)in.w, (int)in.c);
    return PD_OK;
}

static int32_t check_transpose(const pd_net *net, int32_t index, char *err, size_t err_size)
{
    const pd_layer_desc *layer = &net->layers[index];
    pd_dims in = pd_tensor_dims(&net->tensors[layer->inputs[0]]);
    pd_dims out = pd_tensor_dims(&net->tensors[layer->output]);
    const int32_t perm[3] = {layer->perm_h, layer->perm_w, layer->perm_c};
    const int32_t in_dims[3] = {in.h, in.w, in.c}, out_dims[3] = {out.h, out.w, out.c};
    int seen[3] = {0, 0, 0};
    for (int k = 0; k < 3; k++) {
        if (perm[k] < 0 || perm[k] > 2 || seen[perm[k]])
            return pd_fail(err, err_size, PD_ERR_ARGUMENT, LAYER_FMT "perm (%d, %d, %d) is not a permutation of "
                           "(0, 1, 2)", LAYER_ARGS, (int)perm[0], (int)perm[1], (int)perm[2]);
        seen[perm[k]] = 1;
    }
    for (int k = 0; k < 3; k++)
        if (out_dims[k] != in_dims[perm[k]])
            return dims_fail(layer, index, out, in_dims[perm[0]], in_dims[perm[1]], in_dims[perm[2]], err,
                             err_size);
    return PD_OK;
}

int32_t pd_check_layer_convnet(const pd_net *net, int32_t index, char *err, size_t err_size)
{
    const pd_layer_desc *layer = &net->layers[index];
    if (layer->op != PD_OP_CONV_TRANSPOSE && layer->act != PD_ACT_NONE)
        return pd_fail(err, err_size, PD_ERR_ARGUMENT, LAYER_FMT "takes no fused activation", LAYER_ARGS);
    switch (layer->op) {
    case PD_OP_LRN:
        return check_lrn(net, index, err, err_size);
    case PD_OP_CONV_TRANSPOSE:
        return check_conv_transpose(net, index, err, err_size);
    case PD_OP_RESIZE:
        return check_resize(net, index, err, err_size);
    case PD_OP_CHANNEL_SHUFFLE:
        return check_shuffle(net, index, err, err_size);
    case PD_OP_TRANSPOSE:
        return check_transpose(net, index, err, err_size);
    default:
        return check_slice(net, index, err, err_size);
    }
}
