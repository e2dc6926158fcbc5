/* pack.c: OHWI conv and FC weights into PANELS16 (float32) or Q8PANELS
 * (int8) (predict.h), once, at build.
 *
 * The converter writes the packed layouts, which the kernels read in place
 * from the model mapping; an OHWI weight (an older file, a hand-made
 * description) is packed here into a copy the net owns, so kernels only ever
 * see packed weights. */
#include <stdlib.h>

#include "core.h"
#include "kernels/q8.h"

/* One group's [og][kdim] matrix, row-major, into panels. */
static void pack_group(const float *src, size_t og, size_t kdim, float *dst)
{
    for (size_t o0 = 0; o0 < og; o0 += PD_PANEL) {
        const size_t width = og - o0 < PD_PANEL ? og - o0 : PD_PANEL;
        float *panel = dst + o0 * kdim;
        for (size_t j = 0; j < width; j++)
            for (size_t p = 0; p < kdim; p++)
                panel[p * width + j] = src[(o0 + j) * kdim + p];
    }
}

int32_t pd_pack_weights(pd_net *net, char *err, size_t err_size)
{
    for (int32_t l = 0; l < net->n_layers; l++) {
        pd_layer_desc *layer = &net->layers[l];
        if ((layer->op != PD_OP_CONV && layer->op != PD_OP_FC) || layer->weight_layout != PD_LAYOUT_OHWI)
            continue;
        const pd_dims in = pd_tensor_dims(&net->tensors[layer->inputs[0]]);
        const size_t cout = (size_t)net->tensors[layer->output].c;
        size_t groups = 1, kdim = net->elems[layer->inputs[0]];
        if (layer->op == PD_OP_CONV) {
            groups = (size_t)layer->groups;
            kdim = (size_t)layer->kernel_h * (size_t)layer->kernel_w * ((size_t)in.c / groups);
        }
        const size_t og = cout / groups;
        if (pd_layer_is_q8(net, layer)) {
            /* shape_q8.c checked that the padded size fits */
            const size_t bytes = groups * pd_q8_packed_group(og, kdim);
            int8_t *dst = malloc(bytes > 0 ? bytes : 1);
            if (dst == NULL)
                return pd_fail(err, err_size, PD_ERR_NOMEM, "layer %d: out of memory packing weights", (int)l);
            pd_pack_q8(layer->weights, groups, og, kdim, dst);
            net->packed[l] = dst;
            layer->weights = dst;
            layer->weight_layout = PD_LAYOUT_Q8PANELS;
            continue;
        }
        /* shape.c checked that cout * kdim fits; so does it in bytes on 64 bits,
         * but check anyway. */
        size_t bytes;
        if (!pd_size_mul(cout * kdim, sizeof(float), &bytes))
            return pd_fail(err, err_size, PD_ERR_NOMEM, "layer %d: weights too large", (int)l);
        float *dst = malloc(bytes > 0 ? bytes : 1);
        if (dst == NULL)
            return pd_fail(err, err_size, PD_ERR_NOMEM, "layer %d: out of memory packing weights", (int)l);
        for (size_t g = 0; g < groups; g++)
            pack_group((const float *)layer->weights + g * og * kdim, og, kdim, dst + g * og * kdim);
        net->packed[l] = dst;
        layer->weights = dst;
        layer->weight_layout = PD_LAYOUT_PANELS16;
    }
    return PD_OK;
}
