/* test_depthwise.c: depthwise convolution through the public API, the family
 * against the reference: 3x3 and 5x5, stride 1 and 2, dilation, asymmetric
 * padding, channel counts around the SIMD widths (4 and 16), batches. */
#include "layer.h"

void pd_test_depthwise(void)
{
    pd_test_seed(4);
    static const int32_t channels[] = {1, 3, 4, 5, 15, 16, 17, 32, 35};
    static const int32_t kernels[][2] = {{3, 3}, {5, 5}, {3, 1}, {1, 1}};
    for (size_t c = 0; c < sizeof channels / sizeof channels[0]; c++) {
        for (size_t k = 0; k < sizeof kernels / sizeof kernels[0]; k++) {
            for (int32_t stride = 1; stride <= 2; stride++) {
                const int32_t kh = kernels[k][0], kw = kernels[k][1];
                const int32_t ch = channels[c];
                test_window t = {
                    .h = 7 + (int32_t)c % 3, .w = 6 + (int32_t)k, .cin = ch, .cout = ch,
                    .kh = kh, .kw = kw, .sh = stride, .sw = stride, .dh = 1, .dw = 1,
                    .pt = kh / 2, .pl = kw / 2, .pb = kh / 2, .pr = kw / 2, .groups = ch,
                    .act = (int32_t)(c % 3 == 0 ? PD_ACT_CLIP : c % 3 == 1 ? PD_ACT_RELU : PD_ACT_NONE),
                    .alpha = 0.0f, .beta = 6.0f,
                };
                test_window_layer(PD_OP_DEPTHWISE, &t, 1 + (int32_t)(c % 2), "depthwise");
            }
        }
    }
    /* Asymmetric padding (TensorFlow "same" at stride 2), dilation, no padding. */
    test_window odd[] = {
        {8, 8, 24, 24, 3, 3, 2, 2, 1, 1, 0, 0, 1, 1, 24, PD_ACT_CLIP, 0.0f, 6.0f},
        {9, 7, 20, 20, 3, 3, 1, 1, 2, 2, 2, 2, 2, 2, 20, PD_ACT_HARDSWISH, 0, 0},
        {5, 5, 19, 19, 5, 5, 1, 1, 1, 1, 0, 0, 0, 0, 19, PD_ACT_NONE, 0, 0},
        {1, 1, 7, 7, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 7, PD_ACT_SIGMOID, 0, 0},
        /* 1x1: an image's 3-channel pixel rewrite (a run of 13 x 3 floats per row), other widths */
        {21, 13, 3, 3, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 3, PD_ACT_NONE, 0, 0},
        {6, 11, 7, 7, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 7, PD_ACT_HARDSWISH, 0, 0},
        {5, 9, 40, 40, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 40, PD_ACT_CLIP, 0.0f, 6.0f},
        {7, 9, 5, 5, 1, 1, 2, 2, 1, 1, 0, 0, 0, 0, 5, PD_ACT_RELU, 0, 0},
    };
    for (size_t i = 0; i < sizeof odd / sizeof odd[0]; i++)
        test_window_layer(PD_OP_DEPTHWISE, &odd[i], 2, "depthwise");
}
