/* plan.c: tensor lifetimes -> offsets in one activation arena, plus the size
 * of the one scratch buffer the convolutions share.
 *
 * Time is the layer index.  A tensor lives from the layer that writes it (a
 * graph input: from time 0) to the last layer that reads it (a graph output:
 * to time n_layers, after every layer).  Two tensors whose lifetimes meet
 * never share bytes; the others may.  Placement is greedy: largest tensor
 * first, each at the lowest 64-byte aligned offset that is free of every
 * already placed tensor it meets.  That is not optimal (the problem is
 * NP-hard) but is close on chains and residual blocks, and it is
 * deterministic.  Sizes are for one sample: a run takes the samples of a batch
 * one after the other through the whole net (run.c), so max_batch costs no
 * activation memory, and each layer's working set is one sample's. */
#include <stdlib.h>

#include "core.h"
#include "kernels/q8.h"

typedef struct span {
    int32_t tensor;
    int32_t first, last; /* lifetime, inclusive */
    size_t bytes;
    size_t offset;
} span;

static int by_size_desc(const void *pa, const void *pb)
{
    const span *a = pa, *b = pb;
    if (a->bytes != b->bytes)
        return a->bytes > b->bytes ? -1 : 1;
    if (a->first != b->first)
        return a->first < b->first ? -1 : 1;
    return a->tensor < b->tensor ? -1 : a->tensor > b->tensor;
}

/* Whether the input of the pad layer l is a net input that no other layer
 * reads and that is no net output. */
static int prologue_only_reader(const pd_net *net, int32_t l)
{
    const int32_t x = net->layers[l].inputs[0];
    int is_input = 0;
    for (int32_t i = 0; i < net->n_inputs; i++)
        is_input |= net->inputs[i] == x;
    for (int32_t i = 0; i < net->n_outputs; i++)
        if (net->outputs[i] == x)
            return 0;
    for (int32_t k = 0; k < net->n_layers; k++)
        for (int32_t j = 0; j < net->layers[k].n_inputs; j++)
            if (k != l && net->layers[k].inputs[j] == x)
                return 0;
    return is_input;
}

/* Fills first/last of every tensor that needs arena memory; -1 otherwise. */
static void lifetimes(const pd_net *net, int32_t *first, int32_t *last)
{
    for (int32_t t = 0; t < net->n_tensors; t++)
        first[t] = last[t] = -1;
    for (int32_t i = 0; i < net->n_inputs; i++)
        first[net->inputs[i]] = last[net->inputs[i]] = 0;
    for (int32_t l = 0; l < net->n_layers; l++) {
        const pd_layer_desc *layer = &net->layers[l];
        for (int32_t j = 0; j < layer->n_inputs; j++)
            last[layer->inputs[j]] = l; /* layers are in order: the last write wins */
        first[layer->output] = last[layer->output] = l;
    }
    for (int32_t i = 0; i < net->n_outputs; i++)
        last[net->outputs[i]] = net->n_layers;
    for (int32_t t = 0; t < net->n_tensors; t++)
        if (net->tensors[t].data != NULL)
            first[t] = last[t] = -1;
    /* A fused group (fuse.c) keeps its wide tensors in thread scratch, and
     * reads its input while it writes its output band by band: the input
     * lives until the group's last layer. */
    for (int32_t l = 0; l < net->n_layers; l++) {
        const int32_t n = net->fuse[l];
        if (n < 2)
            continue;
        const int32_t x = net->layers[l].inputs[0];
        if (first[x] >= 0 && last[x] < l + n - 1)
            last[x] = l + n - 1;
        for (int32_t j = 0; j < n - 1; j++)
            first[net->layers[l + j].output] = last[net->layers[l + j].output] = -1;
    }
    /* An input read only by an int8 net's fused input prologue is read by it
     * straight from the caller's buffer (fuse.c), band by band: it needs no
     * arena bytes (602 KB float32 at 224x224x3). */
    for (int32_t l = 0; l < net->n_layers; l++)
        if (net->fuse[l] == 3 && net->layers[l].op == PD_OP_PAD && prologue_only_reader(net, l))
            first[net->layers[l].inputs[0]] = last[net->layers[l].inputs[0]] = -1;
}

/* Places spans[0..n) in order; placed[0..) is kept sorted by offset. */
static int place(span *spans, int32_t n, span **placed, size_t *arena_bytes)
{
    int32_t n_placed = 0;
    size_t end = 0;
    for (int32_t i = 0; i < n; i++) {
        span *s = &spans[i];
        size_t offset = 0, stop;
        for (int32_t j = 0; j < n_placed; j++) {
            const span *p = placed[j];
            if (p->last < s->first || s->last < p->first)
                continue; /* never alive together */
            if (!pd_size_add(offset, s->bytes, &stop))
                return 0;
            if (stop <= p->offset)
                break; /* fits in the gap below p */
            if (p->offset + p->bytes > offset)
                offset = p->offset + p->bytes;
        }
        if (!pd_size_add(offset, s->bytes, &stop))
            return 0;
        s->offset = offset;
        if (stop > end)
            end = stop;
        int32_t k = n_placed++;
        while (k > 0 && placed[k - 1]->offset > offset) {
            placed[k] = placed[k - 1];
            k--;
        }
        placed[k] = s;
    }
    *arena_bytes = end;
    return 1;
}

static int32_t plan_arena(pd_net *net, size_t *fused_scratch, char *err, size_t err_size)
{
    size_t n = net->n_tensors > 0 ? (size_t)net->n_tensors : 1;
    int32_t *first = malloc(n * sizeof(int32_t));
    int32_t *last = malloc(n * sizeof(int32_t));
    span *spans = malloc(n * sizeof(span));
    span **placed = malloc(n * sizeof(span *));
    int32_t st = PD_OK, n_spans = 0;

    if (first == NULL || last == NULL || spans == NULL || placed == NULL) {
        st = pd_fail(err, err_size, PD_ERR_NOMEM, "out of memory");
        goto done;
    }
    if ((st = pd_plan_fusion(net, first, fused_scratch)) != PD_OK) /* first: scratch counts */
        goto done;
    lifetimes(net, first, last);
    for (int32_t t = 0; t < net->n_tensors; t++) {
        net->offset[t] = PD_NO_OFFSET;
        if (first[t] < 0)
            continue;
        span *s = &spans[n_spans++];
        s->tensor = t;
        s->first = first[t];
        s->last = last[t];
        /* A tensor takes its dtype's bytes (uint8: 1 an element), plus a cache
         * line after a uint8 one, so a SIMD kernel's 16-byte loads past its
         * last pixel stay inside the arena.  validate.c checked that
         * elems * max_batch * 4 fits; the rounding may not. */
        const size_t esize = pd_dtype_size(net->tensors[t].dtype);
        if (!pd_size_align(net->elems[t] * esize + (esize == 1 ? PD_ALIGN : 0), &s->bytes)) {
            st = pd_fail(err, err_size, PD_ERR_NOMEM, "tensor %d is too large", (int)t);
            goto done;
        }
    }
    qsort(spans, (size_t)n_spans, sizeof(span), by_size_desc);
    if (!place(spans, n_spans, placed, &net->arena_bytes)) {
        st = pd_fail(err, err_size, PD_ERR_NOMEM, "the activation arena is too large");
        goto done;
    }
    for (int32_t i = 0; i < n_spans; i++)
        net->offset[spans[i].tensor] = spans[i].offset;
done:
    free(first);
    free(last);
    free(spans);
    free(placed);
    return st;
}

/* Each thread has its own scratch for one conv task (PD_CONV_TILE output
 * pixels of one sample), so it scales with neither the batch nor the image. */
static int32_t plan_scratch(pd_net *net, size_t most, char *err, size_t err_size)
{
    for (int32_t l = 0; l < net->n_layers; l++) {
        const pd_layer_desc *layer = &net->layers[l];
        if (layer->op != PD_OP_CONV)
            continue;
        pd_window_shape s = pd_layer_window(net, layer);
        size_t floats, bytes;
        if (pd_layer_is_q8(net, layer)) { /* int8 im2col rows: bytes */
            floats = 1;
            bytes = pd_conv_q8_scratch(&s, PD_CONV_TILE);
        } else {
            floats = net->kernels->conv_f32_scratch(&s, PD_CONV_TILE);
            bytes = sizeof(float);
        }
        if (floats == SIZE_MAX || bytes == SIZE_MAX || !pd_size_mul(floats, bytes, &bytes) ||
            !pd_size_align(bytes, &bytes))
            return pd_fail(err, err_size, PD_ERR_NOMEM, "layer %d (conv): scratch buffer too large",
                           (int)l);
        if (bytes > most)
            most = bytes;
    }
    net->thread_scratch_bytes = most;
    return PD_OK;
}

int32_t pd_plan(pd_net *net, char *err, size_t err_size)
{
    size_t fused = 0;
    net->fuse = calloc(net->n_layers > 0 ? (size_t)net->n_layers : 1, sizeof(int32_t));
    if (net->fuse == NULL)
        return pd_fail(err, err_size, PD_ERR_NOMEM, "out of memory");
    int32_t st = plan_arena(net, &fused, err, err_size);
    if (st != PD_OK)
        return st;
    return plan_scratch(net, fused, err, err_size);
}
