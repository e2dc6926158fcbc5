/* net.c: building and freeing a net.
 *
 * pd_net_build copies the description (so the caller's arrays may go away),
 * checks it (validate.c for the graph, shape.c for each op), plans the memory
 * (plan.c) and allocates the arena and scratch buffer, the only allocations a
 * net ever makes. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core.h"

/* A copy of count items, or NULL on failure (count 0 gives a valid pointer). */
static void *copy_array(const void *src, size_t count, size_t size)
{
    size_t bytes;
    if (!pd_size_mul(count, size, &bytes))
        return NULL;
    void *dst = malloc(bytes > 0 ? bytes : 1);
    if (dst != NULL && bytes > 0)
        memcpy(dst, src, bytes);
    return dst;
}

/* bytes of memory aligned to PD_ALIGN; *block gets what to free. */
static float *aligned_buffer(size_t bytes, void **block)
{
    size_t padded;
    *block = NULL;
    if (bytes == 0 || !pd_size_add(bytes, PD_ALIGN - 1, &padded))
        return NULL;
    *block = malloc(padded);
    if (*block == NULL)
        return NULL;
    uintptr_t p = ((uintptr_t)*block + PD_ALIGN - 1) & ~(uintptr_t)(PD_ALIGN - 1);
    return (float *)p;
}

static int32_t check_desc(const pd_net_desc *d, char *err, size_t err_size)
{
    if (d->n_tensors < 0 || d->n_layers < 0 || d->n_inputs < 0 || d->n_outputs < 1)
        return pd_fail(err, err_size, PD_ERR_ARGUMENT,
                       "counts: %d tensors, %d layers, %d inputs, %d outputs (need >= 1 output)",
                       (int)d->n_tensors, (int)d->n_layers, (int)d->n_inputs, (int)d->n_outputs);
    if ((d->n_tensors > 0 && d->tensors == NULL) || (d->n_layers > 0 && d->layers == NULL) ||
        (d->n_inputs > 0 && d->inputs == NULL) || d->outputs == NULL)
        return pd_fail(err, err_size, PD_ERR_ARGUMENT, "a NULL array in the net description");
    if (d->max_batch < 1)
        return pd_fail(err, err_size, PD_ERR_ARGUMENT, "max_batch %d must be >= 1", (int)d->max_batch);
    for (int32_t l = 0; l < d->n_layers; l++)
        if (d->layers[l].n_inputs < 0 || (d->layers[l].n_inputs > 0 && d->layers[l].inputs == NULL))
            return pd_fail(err, err_size, PD_ERR_ARGUMENT, "layer %d: %d inputs at a NULL array", (int)l,
                           (int)d->layers[l].n_inputs);
    return PD_OK;
}

/* Copies the description into net; the layers' inputs go into one array. */
static int32_t copy_desc(pd_net *net, const pd_net_desc *d, char *err, size_t err_size)
{
    /* In 64 bits: on a 32-bit target the sum could pass SIZE_MAX. */
    uint64_t total_inputs = 0;
    for (int32_t l = 0; l < d->n_layers; l++)
        total_inputs += (uint64_t)d->layers[l].n_inputs;
    if (total_inputs > SIZE_MAX / sizeof(int32_t))
        return pd_fail(err, err_size, PD_ERR_NOMEM, "too many layer inputs");
    size_t per_tensor = d->n_tensors > 0 ? (size_t)d->n_tensors : 1;

    net->n_tensors = d->n_tensors;
    net->n_layers = d->n_layers;
    net->n_inputs = d->n_inputs;
    net->n_outputs = d->n_outputs;
    net->max_batch = d->max_batch;
    net->tensors = copy_array(d->tensors, (size_t)d->n_tensors, sizeof(pd_tensor_desc));
    net->layers = copy_array(d->layers, (size_t)d->n_layers, sizeof(pd_layer_desc));
    net->layer_inputs = calloc(total_inputs > 0 ? (size_t)total_inputs : 1, sizeof(int32_t));
    net->inputs = copy_array(d->inputs, (size_t)d->n_inputs, sizeof(int32_t));
    net->outputs = copy_array(d->outputs, (size_t)d->n_outputs, sizeof(int32_t));
    net->elems = calloc(per_tensor, sizeof(size_t));
    net->packed = calloc(d->n_layers > 0 ? (size_t)d->n_layers : 1, sizeof(void *));
    net->offset = calloc(per_tensor, sizeof(size_t));
    if (net->tensors == NULL || net->layers == NULL || net->layer_inputs == NULL ||
        net->inputs == NULL || net->outputs == NULL || net->elems == NULL || net->offset == NULL ||
        net->packed == NULL)
        return pd_fail(err, err_size, PD_ERR_NOMEM, "out of memory copying the description");

    size_t at = 0;
    for (int32_t l = 0; l < d->n_layers; l++) {
        size_t n = (size_t)d->layers[l].n_inputs;
        if (n > 0)
            memcpy(net->layer_inputs + at, d->layers[l].inputs, n * sizeof(int32_t));
        net->layers[l].inputs = net->layer_inputs + at;
        at += n;
    }
    return PD_OK;
}

int32_t pd_net_build(const pd_net_desc *desc, pd_net **out, char *err, size_t err_size)
{
    int32_t st;
    pd_fail(err, err_size, PD_OK, "%s", "");
    if (out == NULL)
        return pd_fail(err, err_size, PD_ERR_ARGUMENT, "out is NULL");
    *out = NULL;
    /* First, so that a PREDICT_ISA this CPU cannot run is reported whatever
     * the description (predict/_native.py relies on it). */
    const pd_kernels *kernels = pd_kernels_select(err, err_size);
    if (kernels == NULL)
        return PD_ERR_UNSUPPORTED;
    if (desc == NULL)
        return pd_fail(err, err_size, PD_ERR_ARGUMENT, "desc is NULL");
    if ((st = check_desc(desc, err, err_size)) != PD_OK)
        return st;

    pd_net *net = calloc(1, sizeof(pd_net));
    if (net == NULL)
        return pd_fail(err, err_size, PD_ERR_NOMEM, "out of memory");
    net->threads = 1;
    net->kernels = kernels;
    if ((st = copy_desc(net, desc, err, err_size)) != PD_OK)
        goto fail;
    if ((st = pd_validate_graph(net, err, err_size)) != PD_OK)
        goto fail;
    for (int32_t l = 0; l < net->n_layers; l++)
        if ((st = pd_check_layer(net, l, err, err_size)) != PD_OK ||
            (st = pd_check_layer_q8(net, l, err, err_size)) != PD_OK)
            goto fail;
    if ((st = pd_plan(net, err, err_size)) != PD_OK)
        goto fail;
    if ((st = pd_pack_weights(net, err, err_size)) != PD_OK)
        goto fail;

    net->arena = aligned_buffer(net->arena_bytes, &net->arena_block);
    if (net->arena_bytes > 0 && net->arena == NULL) {
        st = pd_fail(err, err_size, PD_ERR_NOMEM, "out of memory: arena %zu bytes", net->arena_bytes);
        goto fail;
    }
    if ((st = pd_net_prepare_threads(net, err, err_size)) != PD_OK)
        goto fail;
    *out = net;
    return PD_OK;
fail:
    pd_net_free(net);
    return st;
}

void pd_net_free(pd_net *net)
{
    if (net == NULL)
        return;
    free(net->tensors);
    free(net->layers);
    free(net->layer_inputs);
    free(net->inputs);
    free(net->outputs);
    free(net->elems);
    free(net->offset);
    free(net->fuse);
    if (net->pool_pid == (long)getpid())
        pd_pool_free(net->pool); /* in a forked child the workers are the parent's: leave them */
    for (int32_t l = 0; net->packed != NULL && l < net->n_layers; l++)
        free(net->packed[l]);
    free(net->packed);
    free(net->arena_block);
    free(net->scratch_block);
    free(net->extra_arenas_block);
    free(net);
}

size_t pd_net_arena_bytes(const pd_net *net)
{
    return net != NULL ? net->arena_bytes : 0;
}

size_t pd_net_scratch_bytes(const pd_net *net)
{
    return net != NULL ? net->scratch_bytes : 0;
}

int32_t pd_net_prepare_threads(pd_net *net, char *err, size_t err_size)
{
    size_t bytes;
    if (!pd_size_mul(net->thread_scratch_bytes, (size_t)net->threads, &bytes))
        return pd_fail(err, err_size, PD_ERR_NOMEM, "scratch for %d threads is too large", (int)net->threads);
    if (bytes != net->scratch_bytes || (bytes > 0 && net->scratch == NULL)) {
        free(net->scratch_block);
        net->scratch_bytes = 0;
        net->scratch = aligned_buffer(bytes, &net->scratch_block);
        if (bytes > 0 && net->scratch == NULL)
            return pd_fail(err, err_size, PD_ERR_NOMEM, "out of memory: scratch %zu bytes", bytes);
        net->scratch_bytes = bytes;
    }
    /* the arenas of the other threads, for batches run sample-parallel */
    size_t extra = 0;
    if (net->threads > 1 && net->max_batch > 1 &&
        !pd_size_mul(net->arena_bytes, (size_t)net->threads - 1, &extra))
        return pd_fail(err, err_size, PD_ERR_NOMEM, "arenas for %d threads are too large", (int)net->threads);
    if (extra != net->extra_arenas_bytes) {
        free(net->extra_arenas_block);
        net->extra_arenas_block = NULL;
        net->extra_arenas = NULL;
        net->extra_arenas_bytes = 0;
        if (extra > 0) {
            net->extra_arenas = aligned_buffer(extra, &net->extra_arenas_block);
            if (net->extra_arenas == NULL)
                return pd_fail(err, err_size, PD_ERR_NOMEM, "out of memory: arenas %zu bytes", extra);
            net->extra_arenas_bytes = extra;
        }
    }
    const long pid = (long)getpid();
    if (net->pool != NULL && net->pool_pid != pid)
        net->pool = NULL; /* a forked child: the parent's workers do not exist here; leak, never touch */
    if (net->pool == NULL && net->threads > 1) {
        net->pool = pd_pool_create(net->threads);
        if (net->pool == NULL)
            return pd_fail(err, err_size, PD_ERR_NOMEM, "cannot start %d threads", (int)net->threads);
        net->pool_pid = pid;
    }
    return PD_OK;
}

/* Plans the net again (fuse.c fuses more blocks with several threads than
 * with one) and moves it to an arena of the new plan's size.  Any plan runs
 * at any thread count, so if this cannot be done (out of memory) the old plan
 * is kept, whole, and the net runs as before. */
static void replan(pd_net *net)
{
    const size_t n = net->n_tensors > 0 ? (size_t)net->n_tensors : 1;
    size_t *offsets = malloc(n * sizeof(size_t));
    if (offsets == NULL)
        return;
    memcpy(offsets, net->offset, (size_t)net->n_tensors * sizeof(size_t));
    int32_t *fuse = net->fuse;
    const size_t arena_bytes = net->arena_bytes, thread_scratch = net->thread_scratch_bytes;
    void *block = NULL, *arena = NULL;
    net->fuse = NULL;
    if (pd_plan(net, NULL, 0) == PD_OK) {
        arena = aligned_buffer(net->arena_bytes, &block);
        if (arena != NULL || net->arena_bytes == 0) {
            free(fuse);
            free(offsets);
            free(net->arena_block);
            net->arena_block = block;
            net->arena = arena;
            return;
        }
    }
    free(net->fuse); /* the new plan's, if it got that far */
    net->fuse = fuse;
    memcpy(net->offset, offsets, (size_t)net->n_tensors * sizeof(size_t));
    net->arena_bytes = arena_bytes;
    net->thread_scratch_bytes = thread_scratch;
    free(offsets);
}

int32_t pd_net_set_threads(pd_net *net, int32_t threads, char *err, size_t err_size)
{
    pd_fail(err, err_size, PD_OK, "%s", "");
    if (net == NULL)
        return pd_fail(err, err_size, PD_ERR_ARGUMENT, "net is NULL");
    if (threads < 1 || threads > PD_MAX_THREADS)
        return pd_fail(err, err_size, PD_ERR_ARGUMENT, "threads %d must be in [1, %d]", (int)threads,
                       PD_MAX_THREADS);
    if (threads == net->threads)
        return PD_OK;
    if (net->pool != NULL && net->pool_pid == (long)getpid())
        pd_pool_free(net->pool);
    net->pool = NULL;
    const int crosses = (threads > 1) != (net->threads > 1);
    net->threads = threads;
    if (crosses)
        replan(net);
    int32_t st = pd_net_prepare_threads(net, err, err_size);
    if (st != PD_OK) {
        /* back to one thread, which needs no pool and less scratch: still runnable */
        net->threads = 1;
        replan(net);
        pd_net_prepare_threads(net, NULL, 0);
    }
    return st;
}

int32_t pd_net_threads(const pd_net *net)
{
    return net != NULL ? net->threads : 0;
}

const char *pd_net_isa_name(const pd_net *net)
{
    return net != NULL ? net->kernels->name : NULL;
}
