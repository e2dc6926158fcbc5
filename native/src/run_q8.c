/* run_q8.c: one int8 layer (output uint8) or a boundary (quantize,
 * dequantize), with the reference int8 kernels of kernels/q8.h.  run.c calls
 * it for every layer pd_layer_is_q8 says is one; the float path is untouched. */
#include "core.h"
#include "kernels/q8.h"

int pd_layer_is_q8(const pd_net *net, const pd_layer_desc *layer)
{
    return layer->op == PD_OP_DEQUANTIZE || net->tensors[layer->output].dtype == PD_U8;
}

static const void *data_of(const pd_net *net, int32_t t)
{
    const pd_tensor_desc *d = &net->tensors[t];
    if (d->data != NULL)
        return d->data;
    return (const unsigned char *)net->arena + net->offset[t];
}

static pd_requant requant_of(const pd_layer_desc *layer)
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

void pd_run_layer_q8(const pd_net *net, const pd_layer_desc *layer, size_t batch)
{
    const int32_t t_in = layer->inputs[0];
    const pd_tensor_desc *tin = &net->tensors[t_in], *tout = &net->tensors[layer->output];
    const uint8_t *x = data_of(net, t_in);
    uint8_t *y = (uint8_t *)net->arena + net->offset[layer->output];
    const pd_dims in = pd_tensor_dims(tin), out = pd_tensor_dims(tout);
    const int32_t z_in = tin->zero_point;
    pd_requant rq = requant_of(layer);

    switch (layer->op) {
    case PD_OP_QUANTIZE:
        pd_quantize_ref(batch * net->elems[t_in], (const float *)data_of(net, t_in), tout->scale,
                        tout->zero_point, y);
        return;
    case PD_OP_DEQUANTIZE:
        pd_dequantize_ref(batch * net->elems[t_in], x, tin->scale, z_in, (float *)(void *)y);
        return;
    case PD_OP_CONV: {
        pd_window_shape s = pd_layer_window(net, layer);
        pd_conv_q8_ref(&s, batch, x, z_in, layer->weights, layer->bias, &rq, y, (uint8_t *)net->scratch);
        return;
    }
    case PD_OP_DEPTHWISE: {
        pd_window_shape s = pd_layer_window(net, layer);
        pd_depthwise_q8_ref(&s, batch, x, z_in, layer->weights, layer->bias, &rq, y);
        return;
    }
    case PD_OP_FC: {
        size_t k = net->elems[t_in];
        pd_gemm_q8_ref(batch, (size_t)out.c, k, x, k, layer->weights, k, layer->bias, &rq, y,
                       (size_t)out.c);
        return;
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
        pd_global_avgpool_q8_ref(in, batch, x, z_in, &rq, y);
        return;
    case PD_OP_GLOBAL_MAXPOOL:
        pd_global_maxpool_q8_ref(in, batch, x, y);
        return;
    case PD_OP_BINARY: {
        const pd_tensor_desc *tb = &net->tensors[layer->inputs[1]];
        pd_binary_q8_ref(layer->binary_kind, batch, in, x, z_in, pd_tensor_dims(tb),
                         data_of(net, layer->inputs[1]), tb->zero_point, &rq, y);
        return;
    }
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
}
