/* test_conv.c: convolution and fully connected layers through the public API
 * (pd_net_build / pd_net_run), the family against the reference: pointwise
 * (a plain GEMM), first layers with 3 input channels, strides, dilations,
 * asymmetric padding, groups, batches, every activation. */
#include <stdlib.h>

#include "layer.h"

void test_window_layer(int32_t op, const test_window *t, int32_t batch, const char *what)
{
    const int32_t oh = test_out_dim(t->h, t->kh, t->sh, t->dh, t->pt, t->pb);
    const int32_t ow = test_out_dim(t->w, t->kw, t->sw, t->dw, t->pl, t->pr);
    const size_t in_n = (size_t)batch * t->h * t->w * t->cin;
    const size_t out_n = (size_t)batch * oh * ow * t->cout;
    const size_t w_n = op == PD_OP_DEPTHWISE ? (size_t)t->kh * t->kw * t->cin
                                             : (size_t)t->cout * t->kh * t->kw * (t->cin / t->groups);
    float *x = malloc(sizeof(float) * in_n);
    float *wt = malloc(sizeof(float) * w_n);
    float *bias = malloc(sizeof(float) * t->cout);
    float *got = malloc(sizeof(float) * out_n);
    float *want = malloc(sizeof(float) * out_n);
    pd_test_fill(x, in_n);
    pd_test_fill(wt, w_n);
    pd_test_fill(bias, (size_t)t->cout);

    pd_tensor_desc tensors[2] = {
        {.dtype = PD_F32, .h = t->h, .w = t->w, .c = t->cin},
        {.dtype = PD_F32, .h = oh, .w = ow, .c = t->cout},
    };
    const int32_t in_index = 0, out_index = 1;
    pd_layer_desc layer = {
        .op = op, .n_inputs = 1, .inputs = &in_index, .output = 1,
        .kernel_h = t->kh, .kernel_w = t->kw, .stride_h = t->sh, .stride_w = t->sw,
        .dilation_h = t->dh, .dilation_w = t->dw,
        .pad_top = t->pt, .pad_left = t->pl, .pad_bottom = t->pb, .pad_right = t->pr,
        .groups = t->groups,
        .weight_layout = op == PD_OP_DEPTHWISE ? PD_LAYOUT_HWC : PD_LAYOUT_OHWI,
        .weights = wt, .bias = bias,
        .act = t->act, .act_alpha = t->alpha, .act_beta = t->beta,
    };
    if (op == PD_OP_FC) {
        layer.kernel_h = layer.kernel_w = layer.stride_h = layer.stride_w = 0;
        layer.dilation_h = layer.dilation_w = layer.groups = 0;
    }
    pd_net_desc desc = {
        .n_tensors = 2, .tensors = tensors, .n_layers = 1, .layers = &layer,
        .n_inputs = 1, .inputs = &in_index, .n_outputs = 1, .outputs = &out_index,
        .max_batch = batch,
    };
    const void *ins[1] = {x};
    void *outs_want[1] = {want}, *outs_got[1] = {got};
    char full[200];
    snprintf(full, sizeof full,
             "%s: in %dx%dx%d out %dx%dx%d kernel %dx%d stride %d,%d dilation %d,%d pads %d,%d,%d,%d "
             "groups %d act %d batch %d",
             what, t->h, t->w, t->cin, oh, ow, t->cout, t->kh, t->kw, t->sh, t->sw, t->dh, t->dw, t->pt,
             t->pl, t->pb, t->pr, t->groups, t->act, batch);
    if (pd_test_run(&desc, "ref", batch, ins, outs_want, full) == PD_OK &&
        pd_test_run(&desc, pd_test_family, batch, ins, outs_got, full) == PD_OK)
        pd_test_close(got, want, out_n, 1e-5f, full);
    free(x);
    free(wt);
    free(bias);
    free(got);
    free(want);
}

void pd_test_conv(void)
{
    pd_test_seed(3);
    static const test_window convs[] = {
        /* h  w cin cout kh kw sh sw dh dw pt pl pb pr groups act */
        {7, 5, 16, 24, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 1, PD_ACT_CLIP, 0.0f, 6.0f}, /* pointwise */
        {3, 3, 17, 5, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 1, PD_ACT_NONE, 0, 0},
        {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 1, PD_ACT_NONE, 0, 0},
        {13, 11, 3, 8, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, 1, PD_ACT_CLIP, 0.0f, 6.0f}, /* a first layer */
        {9, 9, 3, 7, 3, 3, 2, 2, 1, 1, 0, 1, 1, 0, 1, PD_ACT_RELU, 0, 0},
        {8, 10, 5, 9, 5, 3, 1, 2, 2, 1, 4, 1, 0, 2, 1, PD_ACT_HARDSWISH, 0, 0},
        {6, 6, 8, 12, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 4, PD_ACT_SILU, 0, 0},     /* groups */
        {5, 7, 6, 6, 3, 1, 1, 1, 1, 1, 1, 0, 1, 0, 3, PD_ACT_LEAKYRELU, 0.1f, 0},
        {4, 4, 33, 31, 2, 2, 2, 2, 1, 1, 0, 0, 0, 0, 1, PD_ACT_SIGMOID, 0, 0},
        {3, 5, 64, 17, 1, 1, 2, 1, 1, 1, 0, 0, 0, 0, 1, PD_ACT_HARDSIGMOID, 0.2f, 0.5f}, /* strided 1x1 */
        /* stems of few channels on maps wide enough for whole 12-pixel runs (AVX-512 reads
         * them without im2col): panel counts odd and even, narrow last panels, K past 64 */
        {37, 41, 3, 32, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, 1, PD_ACT_CLIP, 0.0f, 6.0f},
        {30, 29, 3, 40, 3, 3, 2, 2, 1, 1, 0, 1, 1, 0, 1, PD_ACT_RELU, 0, 0},
        {25, 27, 1, 16, 5, 5, 1, 1, 1, 1, 2, 2, 2, 2, 1, PD_ACT_NONE, 0, 0},
        {20, 26, 4, 24, 3, 3, 1, 2, 1, 1, 1, 0, 1, 2, 1, PD_ACT_CLIP, -0.25f, 0.5f},
        {19, 23, 2, 48, 7, 7, 2, 2, 1, 1, 3, 3, 3, 3, 1, PD_ACT_RELU, 0, 0},
        {21, 30, 3, 8, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, 1, PD_ACT_HARDSWISH, 0, 0},
    };
    for (size_t i = 0; i < sizeof convs / sizeof convs[0]; i++)
        for (int32_t batch = 1; batch <= 2; batch++)
            test_window_layer(PD_OP_CONV, &convs[i], batch, "conv");

    /* Fully connected: (1, 1, K) -> (1, 1, N), batches up to 3. */
    static const int32_t fcs[][2] = {{1, 1}, {3, 5}, {17, 10}, {64, 33}, {1280, 37}};
    for (size_t i = 0; i < sizeof fcs / sizeof fcs[0]; i++) {
        test_window fc = {.h = 1, .w = 1, .cin = fcs[i][0], .cout = fcs[i][1], .kh = 1, .kw = 1,
                          .sh = 1, .sw = 1, .dh = 1, .dw = 1, .groups = 1, .act = PD_ACT_NONE};
        for (int32_t batch = 1; batch <= 3; batch += 2)
            test_window_layer(PD_OP_FC, &fc, batch, "fc");
    }
}
