/* validate.c: the graph's structure, before any op's shape rules.
 *
 * Every tensor index in range; every tensor float32 with dims >= 1 and a size
 * that fits in size_t; the caller fills the graph inputs; every other tensor
 * that is not a constant is written by exactly one layer, before any layer
 * reads it.  After this, the plan and the kernels can trust indices. */
#include <stdlib.h>

#include "core.h"

static int32_t check_tensors(pd_net *net, char *err, size_t err_size)
{
    for (int32_t t = 0; t < net->n_tensors; t++) {
        const pd_tensor_desc *d = &net->tensors[t];
        size_t hw, elems, bytes;
        if (d->dtype < PD_F32 || d->dtype > PD_I32)
            return pd_fail(err, err_size, PD_ERR_ARGUMENT, "tensor %d: unknown dtype %d", (int)t,
                           (int)d->dtype);
        if (d->dtype != PD_F32 && d->dtype != PD_U8)
            return pd_fail(err, err_size, PD_ERR_UNSUPPORTED,
                           "tensor %d: dtype %d is not supported (float32 and uint8 only)", (int)t,
                           (int)d->dtype);
        if (d->dtype == PD_U8 && d->data != NULL)
            return pd_fail(err, err_size, PD_ERR_UNSUPPORTED, "tensor %d: a uint8 constant", (int)t);
        /* !(s > 0) also refuses NaN; s - s != 0 refuses infinity. */
        if (d->dtype == PD_U8 && (!(d->scale > 0.0f) || d->scale - d->scale != 0.0f ||
                                  d->zero_point < 0 || d->zero_point > 255))
            return pd_fail(err, err_size, PD_ERR_ARGUMENT,
                           "tensor %d: uint8 scale %g must be finite and > 0, zero point %d in [0, 255]",
                           (int)t, (double)d->scale, (int)d->zero_point);
        if (d->h < 1 || d->w < 1 || d->c < 1)
            return pd_fail(err, err_size, PD_ERR_ARGUMENT, "tensor %d: dims (%d, %d, %d) must be >= 1",
                           (int)t, (int)d->h, (int)d->w, (int)d->c);
        /* The whole batch in bytes must fit, not just one sample. */
        if (!pd_size_mul((size_t)d->h, (size_t)d->w, &hw) || !pd_size_mul(hw, (size_t)d->c, &elems) ||
            !pd_size_mul(elems, (size_t)net->max_batch, &bytes) ||
            !pd_size_mul(bytes, sizeof(float), &bytes))
            return pd_fail(err, err_size, PD_ERR_NOMEM, "tensor %d: (%d, %d, %d) x batch %d is too large",
                           (int)t, (int)d->h, (int)d->w, (int)d->c, (int)net->max_batch);
        net->elems[t] = elems;
    }
    return PD_OK;
}

static int32_t check_index(const pd_net *net, int32_t t, const char *what, int32_t where, char *err,
                           size_t err_size)
{
    if (t < 0 || t >= net->n_tensors)
        return pd_fail(err, err_size, PD_ERR_ARGUMENT, "%s %d: tensor index %d out of range [0, %d)",
                       what, (int)where, (int)t, (int)net->n_tensors);
    return PD_OK;
}

/* ready[t]: the tensor holds data at this point of the run. */
static int32_t check_dataflow(const pd_net *net, unsigned char *ready, char *err, size_t err_size)
{
    int32_t st;
    for (int32_t t = 0; t < net->n_tensors; t++)
        ready[t] = net->tensors[t].data != NULL;

    for (int32_t i = 0; i < net->n_inputs; i++) {
        int32_t t = net->inputs[i];
        if ((st = check_index(net, t, "input", i, err, err_size)) != PD_OK)
            return st;
        if (net->tensors[t].data != NULL)
            return pd_fail(err, err_size, PD_ERR_ARGUMENT, "input %d: tensor %d is a constant", (int)i,
                           (int)t);
        if (ready[t])
            return pd_fail(err, err_size, PD_ERR_ARGUMENT, "input %d: tensor %d is listed twice", (int)i,
                           (int)t);
        ready[t] = 1;
    }

    for (int32_t l = 0; l < net->n_layers; l++) {
        const pd_layer_desc *layer = &net->layers[l];
        for (int32_t j = 0; j < layer->n_inputs; j++) {
            int32_t t = layer->inputs[j];
            if ((st = check_index(net, t, "layer", l, err, err_size)) != PD_OK)
                return st;
            if (!ready[t])
                return pd_fail(err, err_size, PD_ERR_ARGUMENT,
                               "layer %d (%s): input tensor %d is read before any layer writes it",
                               (int)l, pd_op_name(layer->op), (int)t);
        }
        if ((st = check_index(net, layer->output, "layer", l, err, err_size)) != PD_OK)
            return st;
        if (ready[layer->output])
            return pd_fail(err, err_size, PD_ERR_ARGUMENT,
                           "layer %d (%s): output tensor %d is a constant, a graph input or "
                           "already written",
                           (int)l, pd_op_name(layer->op), (int)layer->output);
        ready[layer->output] = 1;
    }

    for (int32_t i = 0; i < net->n_outputs; i++) {
        int32_t t = net->outputs[i];
        if ((st = check_index(net, t, "output", i, err, err_size)) != PD_OK)
            return st;
        if (!ready[t])
            return pd_fail(err, err_size, PD_ERR_ARGUMENT, "output %d: tensor %d is never written",
                           (int)i, (int)t);
    }
    return PD_OK;
}

int32_t pd_validate_graph(pd_net *net, char *err, size_t err_size)
{
    int32_t st = check_tensors(net, err, err_size);
    if (st != PD_OK)
        return st;
    unsigned char *ready = malloc(net->n_tensors > 0 ? (size_t)net->n_tensors : 1);
    if (ready == NULL)
        return pd_fail(err, err_size, PD_ERR_NOMEM, "out of memory");
    st = check_dataflow(net, ready, err, err_size);
    free(ready);
    return st;
}
