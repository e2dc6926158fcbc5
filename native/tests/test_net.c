/* test_net.c: a whole small network through the public API, the family
 * against the reference: conv 3x3/2 + ReLU6, depthwise 3x3 + ReLU, pointwise
 * conv, global average pool, fully connected, softmax (a MobileNet in
 * miniature), two samples in a batch; then with 2 and 3 threads, which
 * must give the one-thread result exactly. */
#include <stdlib.h>

#include "check.h"

enum { H = 13, W = 12, C0 = 3, C1 = 16, C2 = 21, CLASSES = 10, BATCH = 2 };

void pd_test_whole_net(void)
{
    pd_test_seed(5);
    static float w0[C1 * 3 * 3 * C0], b0[C1], w1[3 * 3 * C1], b1[C1], w2[C2 * C1], b2[C2];
    static float w3[CLASSES * C2], b3[CLASSES], x[BATCH * H * W * C0];
    static float got[BATCH * CLASSES], want[BATCH * CLASSES];
    float *blobs[] = {w0, b0, w1, b1, w2, b2, w3, b3, x};
    size_t sizes[] = {sizeof w0, sizeof b0, sizeof w1, sizeof b1, sizeof w2, sizeof b2, sizeof w3,
                      sizeof b3, sizeof x};
    for (size_t i = 0; i < sizeof blobs / sizeof blobs[0]; i++)
        pd_test_fill(blobs[i], sizes[i] / sizeof(float));

    const int32_t oh = (H + 2 - 3) / 2 + 1, ow = (W + 2 - 3) / 2 + 1;
    pd_tensor_desc t[7] = {
        {.dtype = PD_F32, .h = H, .w = W, .c = C0},
        {.dtype = PD_F32, .h = oh, .w = ow, .c = C1},
        {.dtype = PD_F32, .h = oh, .w = ow, .c = C1},
        {.dtype = PD_F32, .h = oh, .w = ow, .c = C2},
        {.dtype = PD_F32, .h = 1, .w = 1, .c = C2},
        {.dtype = PD_F32, .h = 1, .w = 1, .c = CLASSES},
        {.dtype = PD_F32, .h = 1, .w = 1, .c = CLASSES},
    };
    static const int32_t in[6] = {0, 1, 2, 3, 4, 5};
    pd_layer_desc l[6] = {
        {.op = PD_OP_CONV, .n_inputs = 1, .inputs = &in[0], .output = 1, .kernel_h = 3, .kernel_w = 3,
         .stride_h = 2, .stride_w = 2, .dilation_h = 1, .dilation_w = 1, .pad_top = 1, .pad_left = 1,
         .pad_bottom = 1, .pad_right = 1, .groups = 1, .weight_layout = PD_LAYOUT_OHWI, .weights = w0,
         .bias = b0, .act = PD_ACT_CLIP, .act_alpha = 0.0f, .act_beta = 6.0f},
        {.op = PD_OP_DEPTHWISE, .n_inputs = 1, .inputs = &in[1], .output = 2, .kernel_h = 3,
         .kernel_w = 3, .stride_h = 1, .stride_w = 1, .dilation_h = 1, .dilation_w = 1, .pad_top = 1,
         .pad_left = 1, .pad_bottom = 1, .pad_right = 1, .groups = C1, .weight_layout = PD_LAYOUT_HWC,
         .weights = w1, .bias = b1, .act = PD_ACT_RELU},
        {.op = PD_OP_CONV, .n_inputs = 1, .inputs = &in[2], .output = 3, .kernel_h = 1, .kernel_w = 1,
         .stride_h = 1, .stride_w = 1, .dilation_h = 1, .dilation_w = 1, .groups = 1,
         .weight_layout = PD_LAYOUT_OHWI, .weights = w2, .bias = b2},
        {.op = PD_OP_GLOBAL_AVGPOOL, .n_inputs = 1, .inputs = &in[3], .output = 4},
        {.op = PD_OP_FC, .n_inputs = 1, .inputs = &in[4], .output = 5, .weight_layout = PD_LAYOUT_OHWI,
         .weights = w3, .bias = b3},
        {.op = PD_OP_SOFTMAX, .n_inputs = 1, .inputs = &in[5], .output = 6},
    };
    const int32_t inputs[1] = {0}, outputs[1] = {6};
    pd_net_desc desc = {.n_tensors = 7, .tensors = t, .n_layers = 6, .layers = l, .n_inputs = 1,
                        .inputs = inputs, .n_outputs = 1, .outputs = outputs, .max_batch = BATCH};
    const void *ins[1] = {x};
    void *outs_want[1] = {want}, *outs_got[1] = {got};
    const char *what = "whole net (conv3x3/2, depthwise, pointwise, global avgpool, fc, softmax), batch 2";
    if (pd_test_run(&desc, "ref", BATCH, ins, outs_want, what) != PD_OK)
        return;
    if (pd_test_run(&desc, pd_test_family, BATCH, ins, outs_got, what) == PD_OK)
        pd_test_close(got, want, BATCH * CLASSES, 1e-5f, what);
    /* Two and three threads split the same work: the same sums, the same result. */
    for (int32_t threads = 2; threads <= 3; threads++) {
        static float split[BATCH * CLASSES];
        void *outs_split[1] = {split};
        if (pd_test_run_threads(&desc, pd_test_family, threads, BATCH, ins, outs_split, what) == PD_OK)
            pd_test_close(split, got, BATCH * CLASSES, 0.0f, "whole net, threads vs one thread");
    }
}
