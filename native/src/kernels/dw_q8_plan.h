/* dw_q8_plan.h: how the SIMD int8 depthwise kernels (x86/depthwise_q8_avx2.c,
 * arm/depthwise_q8_neon.c) walk a layer, in plain C so both share it.
 *
 * A kernel runs blocks of 16 channels (the last one ending at the last
 * channel, overlapping the one before: recomputed channels get the same
 * bytes) over bands of output rows whose input rows take about 16 kB, so
 * they stay in L1 while every channel block passes over them.  For each
 * pixel it first computes its taps' addresses: inside the image (the whole
 * window in the input) pixel + toff[t], with no check; elsewhere a
 * branch-free select between the input cell and a 16-byte buffer of z_in
 * (the reference multiplies z_in for padding taps).  Fewer than 16 channels
 * or more than PD_DWQ8_MAX_TAPS taps: the kernels run the reference. */
#ifndef PD_DW_Q8_PLAN_H
#define PD_DW_Q8_PLAN_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "kernels/kernels.h"

#define PD_DWQ8_MAX_TAPS 49 /* up to 7x7 */
#define PD_DWQ8_BLOCK 16
#define PD_DWQ8_BAND_BYTES 16384

typedef struct pd_dwq8_plan {
    const pd_window_shape *s;
    const uint8_t *x;
    uint8_t zbuf[PD_DWQ8_BLOCK];       /* z_in: what a padding tap reads */
    ptrdiff_t toff[PD_DWQ8_MAX_TAPS];  /* tap t's offset from tap (0, 0) of its pixel */
    int32_t ow_lo, ow_hi;              /* output columns whose window is inside the input's */
    int32_t band;                      /* output rows per band */
} pd_dwq8_plan;

/* Fills *p for the layer; 0 when the SIMD kernels do not take it. */
static inline int pd_dwq8_plan_init(pd_dwq8_plan *p, const pd_window_shape *s, const uint8_t *x,
                                    int32_t z_in)
{
    const size_t c = (size_t)s->in.c;
    if (c < PD_DWQ8_BLOCK || (int64_t)s->kernel_h * s->kernel_w > PD_DWQ8_MAX_TAPS)
        return 0;
    p->s = s;
    p->x = x;
    memset(p->zbuf, z_in, sizeof p->zbuf);
    for (int32_t kh = 0; kh < s->kernel_h; kh++)
        for (int32_t kw = 0; kw < s->kernel_w; kw++)
            p->toff[kh * s->kernel_w + kw] =
                (ptrdiff_t)(((size_t)kh * (size_t)s->dilation_h * (size_t)s->in.w +
                             (size_t)kw * (size_t)s->dilation_w) * c);
    /* columns with 0 <= ow * stride - pad_left and the last tap inside */
    const int64_t span = (int64_t)(s->kernel_w - 1) * s->dilation_w;
    int64_t lo = ((int64_t)s->pad_left + s->stride_w - 1) / s->stride_w;
    int64_t hi = (int64_t)s->in.w - 1 - span + s->pad_left;
    hi = hi < 0 ? 0 : hi / s->stride_w + 1;
    lo = lo > s->out.w ? s->out.w : lo;
    hi = hi > s->out.w ? s->out.w : hi < lo ? lo : hi;
    p->ow_lo = (int32_t)lo;
    p->ow_hi = (int32_t)hi;
    const size_t row_bytes = (size_t)s->in.w * c * (size_t)s->stride_h;
    p->band = row_bytes >= PD_DWQ8_BAND_BYTES ? 1 : (int32_t)(PD_DWQ8_BAND_BYTES / row_bytes);
    return 1;
}

/* One output row's input rows: per kh, the offset of its row plus c0 (0 when
 * outside) and whether it is inside; returns whether all are inside. */
static inline int pd_dwq8_rows(const pd_dwq8_plan *p, int32_t oh, size_t c0, ptrdiff_t *rowoff,
                               int *rowok)
{
    const pd_window_shape *s = p->s;
    const size_t in_row = (size_t)s->in.w * (size_t)s->in.c;
    const int64_t ih0 = (int64_t)oh * s->stride_h - s->pad_top;
    int all = 1;
    for (int32_t kh = 0; kh < s->kernel_h; kh++) {
        const int64_t ih = ih0 + (int64_t)kh * s->dilation_h;
        rowok[kh] = ih >= 0 && ih < s->in.h;
        rowoff[kh] = rowok[kh] ? (ptrdiff_t)((size_t)ih * in_row + c0) : 0;
        all &= rowok[kh];
    }
    return all;
}

/* The T = KH * KW tap addresses of output pixel ow (channel c0 on, as in
 * rowoff); rows_in: every row of the window is inside. */
static inline __attribute__((always_inline)) void pd_dwq8_taps(
    const int KH, const int KW, const pd_dwq8_plan *p, const ptrdiff_t *rowoff, const int *rowok,
    int rows_in, int32_t ow, const uint8_t **tp)
{
    (void)KH;
    const pd_window_shape *s = p->s;
    const int T = KH * KW;
    const size_t c = (size_t)s->in.c;
    const int64_t iw0 = (int64_t)ow * s->stride_w - s->pad_left;
    if (rows_in && ow >= p->ow_lo && ow < p->ow_hi) {
        const uint8_t *px = p->x + rowoff[0] + (size_t)iw0 * c;
        _Pragma("GCC unroll 25")
        for (int t = 0; t < T; t++)
            tp[t] = px + p->toff[t];
    } else {
        _Pragma("GCC unroll 25")
        for (int t = 0; t < T; t++) {
            const int kh = t / KW, kw = t % KW;
            const int64_t iw = iw0 + (int64_t)kw * s->dilation_w;
            const int ok = rowok[kh] & (iw >= 0) & (iw < s->in.w);
            tp[t] = ok ? p->x + rowoff[kh] + (size_t)(ok ? iw : 0) * c : p->zbuf;
        }
    }
}

/* What every 16-channel block of one kernel call shares. */
typedef struct pd_dwq8_call {
    pd_dwq8_plan plan;
    const int8_t *w;
    const int32_t *bias;
    const struct pd_requant *rq;
    uint8_t *y;
} pd_dwq8_call;

/* A kernel's rows [r0, r1) of channels [c0, c0 + 16). */
typedef void (*pd_dwq8_block_fn)(const pd_dwq8_call *cl, size_t c0, int32_t r0, int32_t r1);

/* Runs output rows [r0, r1) of a layer with a kernel's blocks (for 3x3, 5x5
 * and any other window): band by band, every 16-channel block of a band (the
 * last one ending at the last channel, overlapping the one before: the same
 * bytes again).  Returns 0, having done nothing, for a layer the plan refuses. */
static inline int pd_dwq8_run(const pd_window_shape *s, const uint8_t *x, int32_t z_in,
                              const int8_t *w, const int32_t *bias, const struct pd_requant *rq,
                              uint8_t *y, int32_t r0, int32_t r1, pd_dwq8_block_fn fn33,
                              pd_dwq8_block_fn fn55, pd_dwq8_block_fn fn_any)
{
    pd_dwq8_call cl;
    if (!pd_dwq8_plan_init(&cl.plan, s, x, z_in))
        return 0;
    cl.w = w, cl.bias = bias, cl.rq = rq, cl.y = y;
    const pd_dwq8_block_fn fn = s->kernel_h == 3 && s->kernel_w == 3   ? fn33
                                : s->kernel_h == 5 && s->kernel_w == 5 ? fn55
                                                                       : fn_any;
    const size_t c = (size_t)s->in.c;
    for (int32_t b0 = r0; b0 < r1; b0 += cl.plan.band) {
        const int32_t b1 = r1 - b0 < cl.plan.band ? r1 : b0 + cl.plan.band;
        size_t c0 = 0;
        for (; c0 + PD_DWQ8_BLOCK <= c; c0 += PD_DWQ8_BLOCK)
            fn(&cl, c0, b0, b1);
        if (c0 < c)
            fn(&cl, c - PD_DWQ8_BLOCK, b0, b1);
    }
    return 1;
}

#endif
