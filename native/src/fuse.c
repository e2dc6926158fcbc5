/* fuse.c: an inverted-residual block's expand 1x1 conv -> depthwise conv
 * (-> project 1x1 conv) run band by band, so the wide tensors between them
 * never leave the cache.
 *
 * MobileNet-style blocks widen a tensor 6x with a 1x1 conv, filter it with a
 * depthwise conv and narrow it again with a 1x1 conv.  Layer by layer, the
 * wide tensors (4.8 MB float32 at 112x112x96) are written to memory and read
 * back.  Here the depthwise output rows are taken in bands of a few rows: the
 * expand GEMM computes only the input rows the band needs into a per-thread
 * buffer (rows the previous band already computed are moved to its front, not
 * recomputed), the depthwise kernel runs on that buffer as on a short image,
 * and the project GEMM consumes its output rows at once.  Every output value
 * is the same sum in the same order as layer by layer (GEMM rows do not
 * depend on the tile that computed them; a band's depthwise shape keeps each
 * pixel's taps and its border or interior case), so results are bit for bit
 * those of the unfused run.
 *
 * With several threads, a residual block's elementwise binary layer (the add
 * of the block's input) joins the group when it reads the project output and
 * nothing else does: the project GEMM writes a band's rows into thread
 * scratch and the binary kernel adds them to the same rows of the other
 * input, in the layer's operand order, straight into the block's output.
 * Elementwise, a row of it is the same value as in the whole (run.c cuts it
 * by rows too), so the bytes are the unfused ones, and the project output
 * needs no arena bytes (joins_group below says when and why).
 *
 * A block without expansion (depthwise -> project) is fused the same way: the
 * depthwise conv reads its input in place, band by band.  The expand layer
 * may also be a conv with a window and one group (an image stem before a
 * block without expansion): its conv kernel computes the band's rows from the
 * input rows they read, as a short image, as the depthwise kernel does.
 *
 * An int8 net's input prologue, float32 constant pad -> float32 depthwise
 * 1x1 (the per-channel affine map into pixel values) -> quantize, runs the
 * same way in bands of rows (input_group below): the two padded float32
 * tensors (613 KB each at 226x226x3) are never stored, and the three passes
 * over memory become one.  Each element is computed as layer by layer (a pad
 * copies, a 1x1 depthwise conv is the same expression at every pixel, a
 * quantize is elementwise), so the bytes are the unfused ones.  When the
 * pad reads a net input that nothing else reads, the prologue takes its rows
 * from the caller's buffer (float32, channels-first float32 or 8-bit pixels
 * through the lookup table, the values run.c would have copied in), and the
 * input has no bytes in the arena.
 *
 * A group is fused when the expand and depthwise (and project) layers follow
 * each other, share a precision (float32, or int8 throughout), each
 * intermediate tensor is read by the next layer only and is no net output,
 * and the wide tensor is large enough for memory traffic to matter. */
#include <string.h>

#include "core.h"
#include "kernels/q8.h"
#include "kernels/ref/ref.h"

/* The wide tensor of a float32 group is at least this large (smaller ones
 * stay in L2 layer by layer), of an int8 group half that (MobileNetV2's
 * 56x56x144 uint8 blocks ran no slower fused); a band's expand buffer is at most
 * BAND_BYTES, BAND_BYTES_Q8 for uint8 (80 KiB: one thread's scratch for the
 * int8 MobileNetV2 150 KB rather than 299 at 160 KiB, and no slower at 80 or
 * 96; 64 KiB left block 2 two-row bands and 0.012 ms slower).  All can be set
 * at build time (PREDICT_CFLAGS) to tune. */
#ifndef FUSE_MIN_BYTES
#define FUSE_MIN_BYTES ((size_t)512 * 1024)
#endif
#ifndef BAND_BYTES
#define BAND_BYTES ((size_t)160 * 1024)
#endif
/* A float32 group whose expand is a pointwise GEMM and whose BAND_BYTES
 * bands would be one row takes BAND_BYTES_PW: MobileNetV2's block 2
 * (112x112x96, 43 KiB a row, depthwise stride 2) had one-row bands, each
 * moving the input row it shares with the next to the buffer's front,
 * running the expand GEMM on two rows and the project GEMM on 56 pixels.
 * With 320 KiB (three rows) it ran 0.025-0.058 ms faster (480: no better).
 * Groups with longer bands gained nothing from 320 KiB (blocks 3 to 7
 * within +-0.006 ms, and a thread's scratch doubled); the stem group (a 3x3
 * conv expand) ran 0.015 ms slower, so it keeps BAND_BYTES. */
#ifndef BAND_BYTES_PW
#define BAND_BYTES_PW ((size_t)320 * 1024)
#endif
#ifndef BAND_BYTES_Q8
#define BAND_BYTES_Q8 ((size_t)80 * 1024)
#endif

/* Whether a group whose wide tensor is t and whose depthwise output is out is
 * worth fusing.  With several threads, every one is whose output has at least
 * 4 rows a thread: a group runs as one part of rows per thread, so a block's
 * tensors stay in the cache of the core that made them, where layer by layer
 * a GEMM cut by columns and the depthwise cut by rows after it pass most of
 * each tensor from one core to the other.  MobileNetV2 at 2 threads: int8
 * 1.469 -> 1.416 ms, float32 3.95 -> 3.81 ms on a quiet machine, and int8
 * 2.2 -> 1.6 ms in spells when the machine's two vCPUs shared data slowly.
 * Fewer rows split unevenly (7 rows: 4 + 3, and the second part computes its
 * first band's expand rows afresh), where layer by layer the GEMMs cut by
 * channels deal evenly (pd_plan_gemm_tiles): MobileNetV2's four 7x7 blocks at
 * 2 threads took float32 0.85 -> 0.79 ms, int8 0.33 -> 0.28 ms (per-layer
 * profile).  With one thread the small blocks stay layer by layer, 1-3%
 * faster there (net.c plans again when the thread count crosses 1). */
static int large(const pd_net *net, const pd_tensor_desc *t, const pd_tensor_desc *out)
{
    if (net->threads > 1)
        return (size_t)out->h >= 4 * (size_t)net->threads;
    const size_t bytes = (size_t)t->h * (size_t)t->w * (size_t)t->c * pd_dtype_size(t->dtype);
    return bytes >= (t->dtype == PD_U8 ? FUSE_MIN_BYTES / 2 : FUSE_MIN_BYTES);
}

static int is_pointwise(const pd_net *net, const pd_layer_desc *layer, int q8)
{
    if (layer->op != PD_OP_CONV)
        return 0;
    pd_window_shape s = pd_layer_window(net, layer);
    return q8 ? pd_conv_q8_is_pointwise(&s) : pd_conv_is_pointwise(&s);
}

/* Bytes of im2col scratch the expand layer e needs for one tile of
 * PD_CONV_TILE pixels: 0 for a pointwise one (a plain GEMM), SIZE_MAX for
 * one that cannot expand (grouped). */
static size_t expand_im2col(const pd_net *net, const pd_layer_desc *e, int q8)
{
    if (e->op != PD_OP_CONV)
        return SIZE_MAX;
    if (is_pointwise(net, e, q8))
        return 0;
    pd_window_shape s = pd_layer_window(net, e);
    if (s.groups != 1)
        return SIZE_MAX;
    size_t n = q8 ? pd_conv_q8_scratch(&s, PD_CONV_TILE) : net->kernels->conv_f32_scratch(&s, PD_CONV_TILE);
    if (n == SIZE_MAX || (!q8 && !pd_size_mul(n, sizeof(float), &n)) || !pd_size_align(n, &n))
        return SIZE_MAX;
    return n;
}

/* 1 for an int8 layer (uint8 output), 0 for a float32 one, -1 for an int8
 * GEMM with the float output stage (run_q8.c): never fused. */
static int layer_q8(const pd_net *net, const pd_layer_desc *layer)
{
    if (net->tensors[layer->output].dtype == PD_U8)
        return 1;
    return pd_layer_is_q8(net, layer) ? -1 : 0;
}

/* How many times each tensor is read (a net output counts as a read). */
static void count_reads(const pd_net *net, int32_t *reads)
{
    for (int32_t t = 0; t < net->n_tensors; t++)
        reads[t] = 0;
    for (int32_t l = 0; l < net->n_layers; l++)
        for (int32_t j = 0; j < net->layers[l].n_inputs; j++)
            reads[net->layers[l].inputs[j]]++;
    for (int32_t i = 0; i < net->n_outputs; i++)
        reads[net->outputs[i]]++;
}

/* Depthwise output rows per band whose expand rows fit in budget bytes (at
 * least one). */
static size_t rows_within(const pd_window_shape *d, size_t esize, size_t budget)
{
    const size_t row = (size_t)d->in.w * (size_t)d->in.c * esize;
    const size_t extent = (size_t)(d->kernel_h - 1) * (size_t)d->dilation_h + 1;
    const size_t fit = budget / (row > 0 ? row : 1);
    if (fit <= extent)
        return 1;
    const size_t r = (fit - extent) / (size_t)d->stride_h + 1;
    return r < (size_t)d->out.h ? r : (size_t)d->out.h;
}

/* Depthwise output rows per band: the expand buffer of the rows they need
 * stays within BAND_BYTES_Q8 (uint8) or BAND_BYTES, or BAND_BYTES_PW for a
 * float32 group after a pointwise expand that BAND_BYTES leaves one row. */
static size_t band_rows(const pd_window_shape *d, size_t esize, int pointwise)
{
    if (esize == 1)
        return rows_within(d, esize, BAND_BYTES_Q8);
    const size_t r = rows_within(d, esize, BAND_BYTES);
    return r == 1 && pointwise ? rows_within(d, esize, BAND_BYTES_PW) : r;
}

/* The layers of the group of n layers starting at l: expand (NULL for a
 * depthwise -> project group), depthwise, project (NULL for expand ->
 * depthwise) and binary (NULL unless the group ends with one). */
typedef struct group_layers {
    const pd_layer_desc *e, *d, *p, *b;
} group_layers;

static group_layers layers_of(const pd_net *net, int32_t l, int32_t n)
{
    const pd_layer_desc *first = &net->layers[l];
    group_layers g = {NULL, NULL, NULL, NULL};
    const int32_t expand = first->op != PD_OP_DEPTHWISE;
    g.e = expand ? first : NULL;
    g.d = &net->layers[l + expand];
    if (n > 1 + expand)
        g.p = &net->layers[l + 1 + expand];
    if (n > 2 + expand)
        g.b = &net->layers[l + 2 + expand];
    return g;
}

/* One thread's buffers for a group: the expand rows of a band (none for
 * depthwise -> project), then (with a project layer) the depthwise rows,
 * then (with a binary layer) the project rows, then an expand conv's im2col
 * tile; total is their sum. */
typedef struct group_bytes {
    size_t band, mid, proj, total;
} group_bytes;

static group_bytes group_scratch(const pd_net *net, int32_t l, int32_t n)
{
    const group_layers gl = layers_of(net, l, n);
    const pd_window_shape d = pd_layer_window(net, gl.d);
    const size_t esize = pd_dtype_size(net->tensors[gl.d->output].dtype);
    const size_t r = band_rows(&d, esize, gl.e != NULL && is_pointwise(net, gl.e, esize == 1));
    group_bytes g = {0, 0, 0, 0};
    if (gl.e != NULL) {
        const size_t extent = (size_t)(d.kernel_h - 1) * (size_t)d.dilation_h + 1;
        size_t in_rows = (r - 1) * (size_t)d.stride_h + extent;
        if (in_rows > (size_t)d.in.h)
            in_rows = (size_t)d.in.h;
        g.band = in_rows * (size_t)d.in.w * (size_t)d.in.c * esize + 64; /* + slack for 16-byte loads */
        pd_size_align(g.band, &g.band); /* small: a few hundred KiB at most */
    }
    if (gl.p != NULL) {
        g.mid = r * (size_t)d.out.w * (size_t)d.out.c * esize + 64;
        pd_size_align(g.mid, &g.mid);
    }
    if (gl.b != NULL) {
        g.proj = r * (size_t)d.out.w * (size_t)net->tensors[gl.p->output].c * esize + 64;
        pd_size_align(g.proj, &g.proj);
    }
    g.total = g.band + g.mid + g.proj + (gl.e != NULL ? expand_im2col(net, gl.e, esize == 1) : 0);
    return g; /* expand_im2col was checked when planned */
}

/* Whether layer k is an elementwise binary layer a group whose last layer
 * writes y can end with: it reads y (that alone reads y) and one other
 * tensor of y's shape that is computed (no constant), and writes that shape,
 * all of the group's precision (q8: uint8, else float32).  Only with several
 * threads: there each add was a layer of its own, cut by rows over the
 * threads, and MobileNetV2 float32 at 2 threads ran 3.62 -> 3.58 ms with the
 * adds in their groups (5 of 5 alternating rounds); at one thread it ran
 * 0.02-0.13 ms slower (8 of 8 pairs of processes, one on each core), int8
 * no faster, as an earlier try had found. */
static int joins_group(const pd_net *net, const int32_t *reads, int32_t k, int32_t y, int q8)
{
    if (net->threads < 2 || k >= net->n_layers)
        return 0;
    const pd_layer_desc *b = &net->layers[k];
    if (b->op != PD_OP_BINARY || b->n_inputs != 2 || reads[y] != 1 || (b->inputs[0] == y) == (b->inputs[1] == y))
        return 0;
    const int32_t dtype = q8 ? (int32_t)PD_U8 : (int32_t)PD_F32;
    const pd_tensor_desc *ty = &net->tensors[y];
    const int32_t ts[3] = {b->inputs[0], b->inputs[1], b->output};
    for (int i = 0; i < 3; i++) {
        const pd_tensor_desc *t = &net->tensors[ts[i]];
        if (t->dtype != dtype || t->data != NULL || t->h != ty->h || t->w != ty->w || t->c != ty->c)
            return 0;
    }
    return 1;
}

/* Rows of an input prologue's band: its two float32 row buffers stay
 * within PROLOGUE_BYTES (at least one row). */
#ifndef PROLOGUE_BYTES
#define PROLOGUE_BYTES ((size_t)32 * 1024)
#endif

static size_t prologue_rows(const pd_tensor_desc *t)
{
    const size_t row = (size_t)t->w * (size_t)t->c * sizeof(float);
    const size_t r = PROLOGUE_BYTES / 2 / (row > 0 ? row : 1);
    return r < 1 ? 1 : r < (size_t)t->h ? r : (size_t)t->h;
}

/* Bytes of the 8-bit pixels' table (pixel_bytes below) for c channels. */
static size_t pixel_bytes_size(size_t c)
{
    size_t b = 257 * c;
    pd_size_align(b, &b); /* the input's c: far below overflow */
    return b;
}

/* One thread's bytes for the prologue whose pad output is t: two bands of
 * float32 rows (the padded rows, their depthwise output), then the 8-bit
 * pixels' table (used in worker 0's share). */
static size_t prologue_scratch(const pd_tensor_desc *t, size_t *band_bytes)
{
    size_t b = prologue_rows(t) * (size_t)t->w * (size_t)t->c * sizeof(float);
    pd_size_align(b, &b); /* at most PROLOGUE_BYTES / 2 */
    *band_bytes = b;
    return 2 * b + pixel_bytes_size((size_t)t->c);
}

/* Whether layers l, l + 1, l + 2 are a constant pad -> depthwise 1x1 (float32)
 * -> quantize whose inner tensors are read by the next layer only. */
static int is_prologue(const pd_net *net, const int32_t *reads, int32_t l)
{
    if (l + 2 >= net->n_layers)
        return 0;
    const pd_layer_desc *pad = &net->layers[l], *dw = &net->layers[l + 1], *q = &net->layers[l + 2];
    if (pad->op != PD_OP_PAD || pad->pad_mode != PD_PAD_CONSTANT || dw->op != PD_OP_DEPTHWISE ||
        q->op != PD_OP_QUANTIZE)
        return 0;
    if (net->tensors[pad->output].dtype != PD_F32 || net->tensors[dw->output].dtype != PD_F32 ||
        net->tensors[pad->inputs[0]].data != NULL)
        return 0;
    if (dw->inputs[0] != pad->output || q->inputs[0] != dw->output || reads[pad->output] != 1 ||
        reads[dw->output] != 1)
        return 0;
    const pd_window_shape s = pd_layer_window(net, dw);
    return s.kernel_h == 1 && s.kernel_w == 1 && s.stride_h == 1 && s.stride_w == 1 &&
           s.pad_top == 0 && s.pad_left == 0 && s.pad_bottom == 0 && s.pad_right == 0;
}

int32_t pd_plan_fusion(pd_net *net, int32_t *reads, size_t *scratch_bytes)
{
    *scratch_bytes = 0;
    count_reads(net, reads);
    for (int32_t l = 0; l < net->n_layers; l++)
        net->fuse[l] = 0;
    for (int32_t l = 0; l + 1 < net->n_layers; l++) {
        const pd_layer_desc *e = &net->layers[l], *d = &net->layers[l + 1];
        if (is_prologue(net, reads, l)) {
            size_t band;
            const size_t bytes = prologue_scratch(&net->tensors[e->output], &band);
            if (bytes > *scratch_bytes)
                *scratch_bytes = bytes;
            net->fuse[l] = 3;
            net->fuse[l + 1] = net->fuse[l + 2] = -1;
            l += 2;
            continue;
        }
        const int q8 = layer_q8(net, e);
        if (q8 < 0)
            continue;
        if (e->op == PD_OP_DEPTHWISE) { /* a block without expansion: depthwise -> project */
            const pd_tensor_desc *mid = &net->tensors[e->output];
            if (!is_pointwise(net, d, q8) || layer_q8(net, d) != q8 || d->inputs[0] != e->output ||
                reads[e->output] != 1 || net->tensors[e->inputs[0]].data != NULL || !large(net, mid, mid))
                continue;
            const int32_t n = 2 + joins_group(net, reads, l + 2, d->output, q8);
            const size_t bytes = group_scratch(net, l, n).total;
            if (bytes > *scratch_bytes)
                *scratch_bytes = bytes;
            net->fuse[l] = n;
            for (int32_t j = 1; j < n; j++)
                net->fuse[l + j] = -1;
            l += n - 1;
            continue;
        }
        if (expand_im2col(net, e, q8) == SIZE_MAX || d->op != PD_OP_DEPTHWISE || layer_q8(net, d) != q8 ||
            d->inputs[0] != e->output || reads[e->output] != 1 ||
            net->tensors[e->inputs[0]].data != NULL)
            continue;
        if (!large(net, &net->tensors[e->output], &net->tensors[d->output]))
            continue;
        int32_t n = 2;
        if (l + 2 < net->n_layers) {
            const pd_layer_desc *p = &net->layers[l + 2];
            if (is_pointwise(net, p, q8) && layer_q8(net, p) == q8 && p->inputs[0] == d->output &&
                reads[d->output] == 1)
                n = 3 + joins_group(net, reads, l + 3, p->output, q8);
        }
        const size_t bytes = group_scratch(net, l, n).total;
        if (bytes > *scratch_bytes)
            *scratch_bytes = bytes;
        net->fuse[l] = n;
        for (int32_t j = 1; j < n; j++)
            net->fuse[l + j] = -1;
        l += n - 1;
    }
    return PD_OK;
}

static void *arena_of(const pd_net *net, int32_t t)
{
    return (unsigned char *)net->arena + net->offset[t];
}

static const void *data_of(const pd_net *net, int32_t t)
{
    const pd_tensor_desc *d = &net->tensors[t];
    return d->data != NULL ? d->data : arena_of(net, t);
}

/* One group's run: its layers, shapes and where rows go. */
typedef struct group {
    const pd_net *net;
    const pd_layer_desc *e, *d, *p, *b; /* as in group_layers */
    pd_window_shape dw;                 /* the depthwise layer's whole shape */
    int q8;
    size_t esize, band, part;           /* bytes per element, rows per band, rows per task */
    group_bytes bytes;                  /* one thread's scratch */
    const unsigned char *x;         /* the expand layer's input */
    unsigned char *y;               /* the last layer's output */
} group;

/* Rows [r0, r1) of the expand conv's output by its conv kernel, from the
 * input rows they read, as a short image (the same bytes, as in
 * depthwise_rows), PD_CONV_TILE pixels at a time through col. */
static void expand_conv_rows(const group *g, size_t r0, size_t r1, unsigned char *dst, unsigned char *col)
{
    const pd_layer_desc *e = g->e;
    const pd_window_shape full = pd_layer_window(g->net, e);
    pd_window_shape s = full;
    const int64_t extent = (int64_t)(s.kernel_h - 1) * s.dilation_h + 1;
    const int64_t top = (int64_t)r0 * s.stride_h - s.pad_top;
    const int64_t bottom = ((int64_t)r1 - 1) * s.stride_h - s.pad_top + extent;
    const size_t lo = top > 0 ? (size_t)top : 0;
    const size_t hi = bottom < full.in.h ? (size_t)bottom : (size_t)full.in.h;
    s.in.h = (int32_t)(hi - lo);
    s.out.h = (int32_t)(r1 - r0);
    s.pad_top = (int32_t)((int64_t)full.pad_top + (int64_t)lo - (int64_t)r0 * full.stride_h);
    const int64_t below = ((int64_t)s.out.h - 1) * s.stride_h + extent - s.in.h - s.pad_top;
    s.pad_bottom = below > 0 ? (int32_t)below : 0;
    const unsigned char *x = g->x + lo * (size_t)full.in.w * (size_t)full.in.c * g->esize;
    const size_t pixels = (r1 - r0) * (size_t)s.out.w;
    for (size_t p0 = 0; p0 < pixels; p0 += PD_CONV_TILE) {
        const size_t p1 = pixels - p0 < PD_CONV_TILE ? pixels : p0 + PD_CONV_TILE;
        if (g->q8) {
            const pd_requant rq = pd_layer_requant(e);
            g->net->kernels->q8->conv(g->net->kernels->q8, &s, x, g->net->tensors[e->inputs[0]].zero_point,
                                      e->weights, e->bias, &rq, dst, p0, p1, col);
        } else {
            const pd_act_params act = pd_layer_act(e);
            g->net->kernels->conv_f32(g->net->kernels, &s, (const float *)(const void *)x, e->weights,
                                      e->bias, &act, (float *)(void *)dst, p0, p1, (float *)(void *)col);
        }
    }
}

/* Expand rows [r0, r1) of the wide tensor into dst (col: an expand conv's
 * im2col tile). */
static void expand_rows(const group *g, size_t r0, size_t r1, unsigned char *dst, unsigned char *col)
{
    const pd_layer_desc *e = g->e;
    if (!is_pointwise(g->net, e, g->q8)) {
        expand_conv_rows(g, r0, r1, dst, col);
        return;
    }
    const size_t w = (size_t)g->dw.in.w, cin = (size_t)g->net->tensors[e->inputs[0]].c;
    const size_t cout = (size_t)g->dw.in.c, m = (r1 - r0) * w;
    const unsigned char *a = g->x + r0 * w * cin * g->esize;
    if (g->q8) {
        const pd_requant rq = pd_layer_requant(e);
        g->net->kernels->q8->gemm(m, cout, cin, a, cin, e->weights, e->bias, &rq, dst, cout);
    } else {
        const pd_act_params act = pd_layer_act(e);
        g->net->kernels->gemm_f32(m, cout, cin, (const float *)(const void *)a, cin, e->weights,
                                  e->bias, (float *)(void *)dst, cout, &act);
    }
}

/* Project rows [r0, r1) of the depthwise output (in src) into c. */
static void project_rows(const group *g, size_t r0, size_t r1, const unsigned char *src, unsigned char *c)
{
    const pd_layer_desc *p = g->p;
    const size_t w = (size_t)g->dw.out.w, cin = (size_t)g->dw.out.c;
    const size_t cout = (size_t)g->net->tensors[p->output].c, m = (r1 - r0) * w;
    if (g->q8) {
        const pd_requant rq = pd_layer_requant(p);
        g->net->kernels->q8->gemm(m, cout, cin, src, cin, p->weights, p->bias, &rq, c, cout);
    } else {
        const pd_act_params act = pd_layer_act(p);
        g->net->kernels->gemm_f32(m, cout, cin, (const float *)(const void *)src, cin, p->weights,
                                  p->bias, (float *)(void *)c, cout, &act);
    }
}

/* Rows [r0, r1) of the binary layer into the output, from the project rows
 * in proj and the same rows of its other input, in the layer's operand order. */
static void binary_rows(const group *g, size_t r0, size_t r1, const unsigned char *proj)
{
    const pd_layer_desc *b = g->b;
    const pd_tensor_desc *ta = &g->net->tensors[b->inputs[0]], *tb = &g->net->tensors[b->inputs[1]];
    size_t at;
    const pd_dims d = pd_rows_of(pd_tensor_dims(ta), r0, r1, &at);
    at *= g->esize; /* in bytes */
    const int proj_first = b->inputs[0] == g->p->output;
    const unsigned char *other = (const unsigned char *)data_of(g->net, b->inputs[proj_first ? 1 : 0]) + at;
    const unsigned char *lhs = proj_first ? proj : other, *rhs = proj_first ? other : proj;
    if (g->q8) {
        const pd_requant rq = pd_layer_requant(b);
        g->net->kernels->q8->binary(b->binary_kind, 1, d, lhs, ta->zero_point, d, rhs, tb->zero_point, &rq,
                                    g->y + at);
    } else {
        const pd_act_params act = pd_layer_act(b);
        g->net->kernels->binary_f32(b->binary_kind, 1, d, (const float *)(const void *)lhs, 0, d,
                                    (const float *)(const void *)rhs, 0, &act, (float *)(void *)(g->y + at));
    }
}

/* The project layer on a band's depthwise rows (src), then the binary layer
 * if the group has one (its project rows in proj), into the output. */
static void finish_rows(const group *g, size_t r0, size_t r1, const unsigned char *src, unsigned char *proj)
{
    if (g->b == NULL) {
        const size_t row = (size_t)g->dw.out.w * (size_t)g->net->tensors[g->p->output].c * g->esize;
        project_rows(g, r0, r1, src, g->y + r0 * row);
        return;
    }
    project_rows(g, r0, r1, src, proj);
    binary_rows(g, r0, r1, proj);
}

/* The depthwise layer on a band: output rows [r0, r1) from the wide rows
 * [lo, hi) held in src, as a short image whose top padding is what remains
 * of the layer's (the band holds every row its outputs read). */
static void depthwise_rows(const group *g, size_t r0, size_t r1, size_t lo, size_t hi,
                           const unsigned char *src, unsigned char *dst)
{
    pd_window_shape s = g->dw;
    s.in.h = (int32_t)(hi - lo);
    s.out.h = (int32_t)(r1 - r0);
    s.pad_top = (int32_t)((int64_t)g->dw.pad_top + (int64_t)lo - (int64_t)r0 * g->dw.stride_h);
    const int64_t extent = (int64_t)(s.kernel_h - 1) * s.dilation_h + 1;
    const int64_t below = ((int64_t)s.out.h - 1) * s.stride_h + extent - s.in.h - s.pad_top;
    s.pad_bottom = below > 0 ? (int32_t)below : 0;
    const pd_layer_desc *d = g->d;
    if (g->q8) {
        const pd_requant rq = pd_layer_requant(d);
        g->net->kernels->q8->depthwise(&s, src, g->net->tensors[d->inputs[0]].zero_point, d->weights,
                                      d->bias, &rq, dst, 0, s.out.h);
    } else {
        const pd_act_params act = pd_layer_act(d);
        g->net->kernels->depthwise_f32(&s, (const float *)(const void *)src, d->weights, d->bias, &act,
                                       (float *)(void *)dst, 0, s.out.h);
    }
}

/* Task t: depthwise output rows [t * part, ...), band after band. */
static void group_task(void *ctx, size_t t, int32_t worker)
{
    const group *g = ctx;
    const pd_window_shape *s = &g->dw;
    const size_t rows = (size_t)s->out.h, first = t * g->part;
    const size_t last = rows - first < g->part ? rows : first + g->part;
    const size_t wide_row = (size_t)s->in.w * (size_t)s->in.c * g->esize;
    const size_t out_row = (size_t)s->out.w * (size_t)s->out.c * g->esize;
    const int64_t extent = (int64_t)(s->kernel_h - 1) * s->dilation_h + 1;
    unsigned char *scratch = (unsigned char *)g->net->scratch + (size_t)worker * g->net->thread_scratch_bytes;
    unsigned char *wide = scratch, *mid = wide + g->bytes.band, *proj = mid + g->bytes.mid;
    unsigned char *col = proj + g->bytes.proj;
    if (g->e == NULL) { /* depthwise -> project: the depthwise reads its input in place */
        for (size_t r0 = first; r0 < last; r0 += g->band) {
            const size_t r1 = last - r0 < g->band ? last : r0 + g->band;
            const int64_t top = (int64_t)r0 * s->stride_h - s->pad_top;
            const int64_t bottom = ((int64_t)r1 - 1) * s->stride_h - s->pad_top + extent;
            const size_t lo = top > 0 ? (size_t)top : 0;
            const size_t hi = bottom < s->in.h ? (size_t)bottom : (size_t)s->in.h;
            depthwise_rows(g, r0, r1, lo, hi, g->x + lo * wide_row, mid);
            finish_rows(g, r0, r1, mid, proj);
        }
        return;
    }
    size_t have_lo = 0, have_hi = 0; /* wide rows in `wide`, from its start */
    for (size_t r0 = first; r0 < last; r0 += g->band) {
        const size_t r1 = last - r0 < g->band ? last : r0 + g->band;
        const int64_t top = (int64_t)r0 * s->stride_h - s->pad_top;
        const int64_t bottom = ((int64_t)r1 - 1) * s->stride_h - s->pad_top + extent;
        const size_t lo = top > 0 ? (size_t)top : 0;
        const size_t hi = bottom < s->in.h ? (size_t)bottom : (size_t)s->in.h;
        size_t from = lo;
        if (have_hi > lo && have_lo <= lo) { /* keep the rows this band shares with the last */
            memmove(wide, wide + (lo - have_lo) * wide_row, (have_hi - lo) * wide_row);
            from = have_hi;
        }
        if (hi > from)
            expand_rows(g, from, hi, wide + (from - lo) * wide_row, col);
        have_lo = lo;
        have_hi = hi > from ? hi : from;
        if (g->p != NULL) {
            depthwise_rows(g, r0, r1, lo, hi, wide, mid);
            finish_rows(g, r0, r1, mid, proj);
        } else {
            depthwise_rows(g, r0, r1, lo, hi, wide, g->y + r0 * out_row);
        }
    }
}

/* The input prologue's run: its layers and rows per band. */
typedef struct prologue {
    const pd_net *net;
    const pd_layer_desc *pad, *dw, *q;
    pd_dims in, out; /* the pad's */
    size_t band;
    const float *x;        /* the pad's input, (h, w, c) or with channels_first (c, h, w) */
    const uint8_t *pixels; /* or 8-bit pixels (h, w, c) through table (pd_net_set_input_pixels) */
    const float *table;
    const uint8_t *bytes; /* with pixels: pixel_bytes' table */
    int channels_first;
    uint8_t *y;
} prologue;

/* Row r of the pad's float32 input into dst as (w, c): the values the run
 * would have copied into the arena (run.c), so the bytes are the same. */
static void input_row(const prologue *p, size_t r, float *dst)
{
    const size_t w = (size_t)p->in.w, c = (size_t)p->in.c;
    if (p->channels_first) {
        p->net->kernels->channels_last_f32(c, w, (size_t)p->in.h * w, p->x + r * w, dst);
    } else {
        memcpy(dst, p->x + r * w * c, w * c * sizeof(float));
    }
}

/* The prologue's output byte of every 8-bit pixel value: bytes[v * c + ch]
 * for value v of channel ch, and bytes[256 * c + ch] for the pad value.
 * Each element of the three layers depends on its own value alone (a pad
 * copies, a 1x1 depthwise conv and a quantize map each element by its
 * channel), so the table's entries through the same kernels, as a one-row
 * image of 257 pixels in chunks of the band buffers, are the bytes the layers
 * give; a pixel is then one lookup, where the float32 path costs a lookup,
 * the depthwise kernel and the quantize kernel (MobileNetV2's 224x224 input:
 * about 0.11 ms of a 2.7 ms int8 run). */
static void pixel_bytes(const prologue *p, unsigned char *scratch, size_t band_bytes, uint8_t *bytes)
{
    const size_t c = (size_t)p->in.c, chunk = band_bytes / (c * sizeof(float));
    float *in = (float *)(void *)scratch, *mapped = (float *)(void *)(scratch + band_bytes);
    pd_window_shape s = pd_layer_window(p->net, p->dw);
    const pd_act_params act = pd_layer_act(p->dw);
    const pd_tensor_desc *tq = &p->net->tensors[p->q->output];
    for (size_t v0 = 0; v0 < 257; v0 += chunk) {
        const size_t n = 257 - v0 < chunk ? 257 - v0 : chunk;
        for (size_t i = 0; i < n; i++)
            for (size_t ch = 0; ch < c; ch++)
                in[i * c + ch] = v0 + i < 256 ? p->table[ch * 256 + v0 + i] : p->pad->pad_value;
        s.in.h = s.out.h = 1;
        s.in.w = s.out.w = (int32_t)n;
        p->net->kernels->depthwise_f32(&s, in, p->dw->weights, p->dw->bias, &act, mapped, 0, 1);
        p->net->kernels->q8->quantize(n * c, mapped, tq->scale, tq->zero_point, bytes + v0 * c);
    }
}

/* Output rows [r0, r1) from 8-bit pixels through pixel_bytes' table.  Every
 * pointer is a local: a byte store may alias anything, so fields of p would
 * be loaded again after each one. */
static void pixel_rows(const prologue *p, size_t r0, size_t r1)
{
    const size_t c = (size_t)p->out.c, w = (size_t)p->out.w, in_w = (size_t)p->in.w;
    const size_t top = (size_t)p->pad->pad_top, left = (size_t)p->pad->pad_left, in_h = (size_t)p->in.h;
    const uint8_t *const bytes = p->bytes, *const pad = bytes + 256 * c, *const pixels = p->pixels;
    uint8_t *const y = p->y;
    for (size_t r = r0; r < r1; r++) {
        uint8_t *dst = y + r * w * c;
        if (r < top || r >= top + in_h) {
            for (size_t i = 0; i < w; i++)
                memcpy(dst + i * c, pad, c);
            continue;
        }
        for (size_t i = 0; i < left; i++)
            memcpy(dst + i * c, pad, c);
        const uint8_t *v = pixels + (r - top) * in_w * c;
        uint8_t *d = dst + left * c;
        if (c == 3) { /* RGB: the common case, unrolled */
            for (size_t i = 0; i < in_w; i++, v += 3, d += 3) {
                const uint8_t a = bytes[(size_t)v[0] * 3], b = bytes[(size_t)v[1] * 3 + 1],
                              e = bytes[(size_t)v[2] * 3 + 2];
                d[0] = a;
                d[1] = b;
                d[2] = e;
            }
        } else {
            for (size_t i = 0; i < in_w * c; i += c)
                for (size_t ch = 0; ch < c; ch++)
                    d[i + ch] = bytes[(size_t)v[i + ch] * c + ch];
        }
        for (size_t i = left + in_w; i < w; i++)
            memcpy(dst + i * c, pad, c);
    }
}

/* Task t: output rows [t * band, ...) padded into one buffer, through the
 * depthwise kernel into the other, quantized into place (8-bit pixels: looked
 * up in pixel_bytes' table). */
static void prologue_task(void *ctx, size_t t, int32_t worker)
{
    const prologue *p = ctx;
    const size_t c = (size_t)p->out.c, w = (size_t)p->out.w, row = w * c;
    const size_t r0 = t * p->band, r1 = (size_t)p->out.h - r0 < p->band ? (size_t)p->out.h : r0 + p->band;
    if (p->bytes != NULL) {
        pixel_rows(p, r0, r1);
        return;
    }
    size_t band_bytes;
    prologue_scratch(&p->net->tensors[p->pad->output], &band_bytes);
    unsigned char *scratch = (unsigned char *)p->net->scratch + (size_t)worker * p->net->thread_scratch_bytes;
    float *padded = (float *)(void *)scratch, *mapped = (float *)(void *)(scratch + band_bytes);
    const size_t top = (size_t)p->pad->pad_top, left = (size_t)p->pad->pad_left;
    const float value = p->pad->pad_value;
    for (size_t r = r0; r < r1; r++) {
        float *dst = padded + (r - r0) * row;
        if (r < top || r >= top + (size_t)p->in.h) {
            for (size_t i = 0; i < row; i++)
                dst[i] = value;
            continue;
        }
        for (size_t i = 0; i < left * c; i++)
            dst[i] = value;
        input_row(p, r - top, dst + left * c);
        for (size_t i = (left + (size_t)p->in.w) * c; i < row; i++)
            dst[i] = value;
    }
    /* the band as a short image: a 1x1 window reads each pixel alone */
    pd_window_shape s = pd_layer_window(p->net, p->dw);
    s.in.h = s.out.h = (int32_t)(r1 - r0);
    const pd_act_params act = pd_layer_act(p->dw);
    p->net->kernels->depthwise_f32(&s, padded, p->dw->weights, p->dw->bias, &act, mapped, 0, s.out.h);
    const pd_tensor_desc *tq = &p->net->tensors[p->q->output];
    p->net->kernels->q8->quantize((r1 - r0) * row, mapped, tq->scale, tq->zero_point, p->y + r0 * row);
}

static void run_prologue(const pd_net *net, int32_t l, const void *const *inputs, size_t s)
{
    prologue p;
    p.net = net;
    p.pad = &net->layers[l];
    p.dw = &net->layers[l + 1];
    p.q = &net->layers[l + 2];
    p.in = pd_tensor_dims(&net->tensors[p.pad->inputs[0]]);
    p.out = pd_tensor_dims(&net->tensors[p.pad->output]);
    p.band = prologue_rows(&net->tensors[p.pad->output]);
    const int32_t x = p.pad->inputs[0];
    p.x = NULL;
    p.pixels = NULL;
    p.table = NULL;
    p.bytes = NULL;
    p.channels_first = 0;
    if (net->offset[x] != PD_NO_OFFSET) {
        p.x = (const float *)data_of(net, x);
    } else { /* a net input with no arena bytes (plan.c): sample s of the caller's */
        int32_t i = 0;
        while (net->inputs[i] != x)
            i++;
        const size_t elems = net->elems[x];
        if (i == 0 && net->pixel_table != NULL) {
            p.pixels = (const uint8_t *)inputs[i] + s * elems;
            p.table = net->pixel_table;
        } else {
            p.x = (const float *)inputs[i] + s * elems;
            p.channels_first = i < 32 && (net->channels_first >> i & 1u);
        }
    }
    p.y = arena_of(net, p.q->output);
    if (p.pixels != NULL) { /* the table in worker 0's scratch, read by every task */
        size_t band_bytes;
        prologue_scratch(&net->tensors[p.pad->output], &band_bytes);
        unsigned char *scratch = (unsigned char *)net->scratch;
        uint8_t *bytes = scratch + 2 * band_bytes;
        pixel_bytes(&p, scratch, band_bytes, bytes);
        p.bytes = bytes;
    }
    pd_pool_run(net->pool, ((size_t)p.out.h + p.band - 1) / p.band, prologue_task, &p);
}

void pd_run_fused(const pd_net *net, int32_t l, const void *const *inputs, size_t s)
{
    if (net->layers[l].op == PD_OP_PAD) {
        run_prologue(net, l, inputs, s);
        return;
    }
    group g;
    g.net = net;
    const group_layers gl = layers_of(net, l, net->fuse[l]);
    g.e = gl.e;
    g.d = gl.d;
    g.p = gl.p;
    g.b = gl.b;
    g.bytes = group_scratch(net, l, net->fuse[l]);
    g.dw = pd_layer_window(net, g.d);
    g.q8 = layer_q8(net, g.d);
    g.esize = g.q8 ? 1 : sizeof(float);
    g.band = band_rows(&g.dw, g.esize, g.e != NULL && is_pointwise(net, g.e, g.q8));
    /* one part per thread: each part computes its first band's expand rows
     * afresh (the rows above it belong to the part before), so more parts
     * would cost more than they balance */
    g.part = ((size_t)g.dw.out.h + (size_t)net->threads - 1) / (size_t)net->threads;
    g.x = data_of(net, (g.e != NULL ? g.e : g.d)->inputs[0]);
    g.y = arena_of(net, (g.b != NULL ? g.b : g.p != NULL ? g.p : g.d)->output);
    pd_pool_run(net->pool, ((size_t)g.dw.out.h + g.part - 1) / g.part, group_task, &g);
}
