/* run.c: one forward pass.  Copies the inputs into the arena, runs each layer
 * with the net's kernel table, copies the outputs out.  Allocates nothing.
 *
 * A constant tensor has batch 1 and broadcasts: kernels that read several
 * tensors (binary, concat) take a per-input sample stride, 0 for a constant.
 * A layer whose inputs are all constants computes one sample and copies it to
 * the others, so no other kernel needs to know about constants. */
#include <string.h>

#include "core.h"

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

static pd_act_params layer_act(const pd_layer_desc *layer)
{
    pd_act_params act;
    act.kind = layer->act;
    act.alpha = layer->act_alpha;
    act.beta = layer->act_beta;
    return act;
}

static pd_dims dims_of(const pd_net *net, int32_t t)
{
    return pd_tensor_dims(&net->tensors[t]);
}

/* Runs layer on batch samples.  Returns 1 when the kernel applied the
 * layer's activation itself, 0 when the caller must. */
static int run_layer(const pd_net *net, const pd_layer_desc *layer, size_t batch)
{
    const pd_kernels *k = net->kernels;
    const pd_act_params act = layer_act(layer);
    const float *x = tensor_data(net, layer->inputs[0]);
    float *y = tensor_arena(net, layer->output);
    pd_dims in = dims_of(net, layer->inputs[0]);
    pd_dims out = dims_of(net, layer->output);

    switch (layer->op) {
    case PD_OP_CONV: {
        pd_window_shape s = pd_layer_window(net, layer);
        k->conv_f32(k, &s, batch, x, layer->weights, layer->bias, &act, y, net->scratch);
        return 1;
    }
    case PD_OP_DEPTHWISE: {
        pd_window_shape s = pd_layer_window(net, layer);
        k->depthwise_f32(&s, batch, x, layer->weights, layer->bias, &act, y);
        return 1;
    }
    case PD_OP_FC: {
        size_t kdim = net->elems[layer->inputs[0]];
        k->gemm_f32(batch, (size_t)out.c, kdim, x, kdim, layer->weights, kdim, layer->bias, y,
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
    case PD_OP_BINARY: {
        int32_t b = layer->inputs[1];
        k->binary_f32(layer->binary_kind, batch, in, x, tensor_stride(net, layer->inputs[0]),
                      dims_of(net, b), tensor_data(net, b), tensor_stride(net, b), &act, y);
        return 1;
    }
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
        pd_act_params act = layer_act(layer);
        net->kernels->act_f32(y, y, computed * elems, &act);
    }
    for (size_t n = computed; n < batch; n++)
        memcpy(y + n * elems, y, elems * sizeof(float));
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

    size_t n = (size_t)batch;
    for (int32_t i = 0; i < net->n_inputs; i++) {
        int32_t t = net->inputs[i];
        memcpy(tensor_arena(net, t), inputs[i], n * net->elems[t] * pd_dtype_size(net->tensors[t].dtype));
    }
    for (int32_t l = 0; l < net->n_layers; l++)
        execute(net, &net->layers[l], n);
    for (int32_t i = 0; i < net->n_outputs; i++) {
        int32_t t = net->outputs[i];
        size_t size = pd_dtype_size(net->tensors[t].dtype), sample = net->elems[t] * size;
        const unsigned char *src = (const unsigned char *)tensor_data(net, t);
        unsigned char *dst = outputs[i];
        size_t stride = tensor_stride(net, t) * size;
        for (size_t s = 0; s < n; s++)
            memcpy(dst + s * sample, src + s * stride, sample);
    }
    return PD_OK;
}
