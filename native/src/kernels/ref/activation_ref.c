/* activation_ref.c: the fused activations (pd_act) over a span of floats.
 * Also the output stage of the GEMM, depthwise and binary kernels.
 *
 * NaN goes through every activation as NaN (as in ONNX): the comparisons are
 * written so that a NaN input takes the branch that returns x itself. */
#include <assert.h>
#include <math.h>

#include "core.h"
#include "kernels/ref/ref.h"

static float clamp(float x, float lo, float hi)
{
    return x < lo ? lo : x > hi ? hi : x;
}

/* 1 / (1 + e^-x) without overflow: exp only ever sees a negative argument. */
static float sigmoid(float x)
{
    if (x >= 0.0f)
        return 1.0f / (1.0f + expf(-x));
    float e = expf(x);
    return e / (1.0f + e);
}

void pd_act_f32_ref(float *y, const float *x, size_t n, const pd_act_params *act)
{
    const float alpha = act->alpha, beta = act->beta;
    switch (act->kind) {
    case PD_ACT_NONE:
        for (size_t i = 0; i < n; i++)
            y[i] = x[i];
        break;
    case PD_ACT_RELU:
        for (size_t i = 0; i < n; i++)
            y[i] = x[i] < 0.0f ? 0.0f : x[i];
        break;
    case PD_ACT_CLIP:
        for (size_t i = 0; i < n; i++)
            y[i] = clamp(x[i], alpha, beta);
        break;
    case PD_ACT_HARDSWISH:
        for (size_t i = 0; i < n; i++)
            y[i] = x[i] * clamp(x[i] + 3.0f, 0.0f, 6.0f) / 6.0f;
        break;
    case PD_ACT_HARDSIGMOID:
        for (size_t i = 0; i < n; i++)
            y[i] = clamp(alpha * x[i] + beta, 0.0f, 1.0f);
        break;
    case PD_ACT_SIGMOID:
        for (size_t i = 0; i < n; i++)
            y[i] = sigmoid(x[i]);
        break;
    case PD_ACT_SILU:
        for (size_t i = 0; i < n; i++)
            y[i] = x[i] * sigmoid(x[i]);
        break;
    case PD_ACT_LEAKYRELU:
        for (size_t i = 0; i < n; i++)
            y[i] = x[i] < 0.0f ? alpha * x[i] : x[i];
        break;
    default:
        assert(!"activation kind checked at build");
        break;
    }
}
