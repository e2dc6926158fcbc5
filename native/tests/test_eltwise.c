/* test_eltwise.c: binary ops (same shape, and b broadcast over h and w) and
 * global average pooling through the public API, the family against the
 * reference, exactly: one IEEE operation per element, sums in the same order.
 * Also the family's binary kernel called directly with the sample strides the
 * core passes: 0 for one sample (fused blocks, row-split adds) and 0 for a
 * constant broadcast over the batch. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"

static void expect_equal(const float *got, const float *want, size_t n, const char *what)
{
    for (size_t i = 0; i < n; i++) {
        if (memcmp(&got[i], &want[i], sizeof(float)) != 0 && !(isnan(got[i]) && isnan(want[i]))) {
            CHECK(0, "%s: element %zu of %zu is %.9g, reference %.9g (must be equal)", what, i, n,
                  (double)got[i], (double)want[i]);
            return;
        }
    }
}

static void binary(int32_t kind, pd_dims ad, pd_dims bd, int32_t act, int32_t batch)
{
    const size_t an = (size_t)batch * ad.h * ad.w * ad.c, bn = (size_t)batch * bd.h * bd.w * bd.c;
    float *a = malloc(sizeof(float) * an), *b = malloc(sizeof(float) * bn);
    float *got = malloc(sizeof(float) * an), *want = malloc(sizeof(float) * an);
    pd_test_fill(a, an);
    pd_test_fill(b, bn);
    pd_tensor_desc t[3] = {
        {.dtype = PD_F32, .h = ad.h, .w = ad.w, .c = ad.c},
        {.dtype = PD_F32, .h = bd.h, .w = bd.w, .c = bd.c},
        {.dtype = PD_F32, .h = ad.h, .w = ad.w, .c = ad.c},
    };
    const int32_t ins[2] = {0, 1}, outs[1] = {2};
    pd_layer_desc l = {.op = PD_OP_BINARY, .n_inputs = 2, .inputs = ins, .output = 2,
                       .binary_kind = kind, .act = act, .act_alpha = 0.0f, .act_beta = 6.0f};
    pd_net_desc desc = {.n_tensors = 3, .tensors = t, .n_layers = 1, .layers = &l, .n_inputs = 2,
                        .inputs = ins, .n_outputs = 1, .outputs = outs, .max_batch = batch};
    const void *in[2] = {a, b};
    void *out_want[1] = {want}, *out_got[1] = {got};
    char what[160];
    snprintf(what, sizeof what, "binary kind %d a %dx%dx%d b %dx%dx%d act %d batch %d", kind, ad.h,
             ad.w, ad.c, bd.h, bd.w, bd.c, act, batch);
    if (pd_test_run(&desc, "ref", batch, in, out_want, what) == PD_OK &&
        pd_test_run(&desc, pd_test_family, batch, in, out_got, what) == PD_OK)
        expect_equal(got, want, an, what);
    free(a);
    free(b);
    free(got);
    free(want);
}

/* The family's binary_f32 against the reference's, a's sample stride a_stride
 * (0: one sample, or a constant for every sample), b's the whole sample. */
static void binary_direct(int32_t kind, pd_dims d, size_t batch, size_t a_stride, int32_t act)
{
    const size_t sample = (size_t)d.h * d.w * d.c, an = a_stride == 0 ? sample : batch * sample;
    float *a = malloc(sizeof(float) * an), *b = malloc(sizeof(float) * batch * sample);
    float *got = malloc(sizeof(float) * batch * sample), *want = malloc(sizeof(float) * batch * sample);
    pd_test_fill(a, an);
    pd_test_fill(b, batch * sample);
    const pd_act_params p = {.kind = act, .alpha = 0.0f, .beta = 6.0f};
    pd_kernels_ref()->binary_f32(kind, batch, d, a, a_stride, d, b, sample, &p, want);
    pd_test_table->binary_f32(kind, batch, d, a, a_stride, d, b, sample, &p, got);
    char what[160];
    snprintf(what, sizeof what, "binary_f32 direct kind %d %dx%dx%d batch %zu a_stride %zu act %d", kind,
             d.h, d.w, d.c, batch, a_stride, act);
    expect_equal(got, want, batch * sample, what);
    free(a);
    free(b);
    free(got);
    free(want);
}

static void global_avgpool(pd_dims d, int32_t batch)
{
    const size_t n = (size_t)batch * d.h * d.w * d.c, on = (size_t)batch * d.c;
    float *x = malloc(sizeof(float) * n), *got = malloc(sizeof(float) * on), *want = malloc(sizeof(float) * on);
    pd_test_fill(x, n);
    pd_tensor_desc t[2] = {
        {.dtype = PD_F32, .h = d.h, .w = d.w, .c = d.c},
        {.dtype = PD_F32, .h = 1, .w = 1, .c = d.c},
    };
    const int32_t ins[1] = {0}, outs[1] = {1};
    pd_layer_desc l = {.op = PD_OP_GLOBAL_AVGPOOL, .n_inputs = 1, .inputs = ins, .output = 1};
    pd_net_desc desc = {.n_tensors = 2, .tensors = t, .n_layers = 1, .layers = &l, .n_inputs = 1,
                        .inputs = ins, .n_outputs = 1, .outputs = outs, .max_batch = batch};
    const void *in[1] = {x};
    void *out_want[1] = {want}, *out_got[1] = {got};
    char what[120];
    snprintf(what, sizeof what, "global avgpool %dx%dx%d batch %d", d.h, d.w, d.c, batch);
    if (pd_test_run(&desc, "ref", batch, in, out_want, what) == PD_OK &&
        pd_test_run(&desc, pd_test_family, batch, in, out_got, what) == PD_OK)
        expect_equal(got, want, on, what);
    free(x);
    free(got);
    free(want);
}

void pd_test_eltwise(void)
{
    pd_test_seed(6);
    static const pd_dims shapes[] = {{5, 7, 3}, {1, 1, 17}, {4, 4, 16}, {3, 3, 1}, {2, 5, 24}};
    static const int32_t acts[] = {PD_ACT_NONE, PD_ACT_RELU, PD_ACT_CLIP, PD_ACT_SIGMOID};
    for (int32_t kind = PD_BIN_ADD; kind <= PD_BIN_DIV; kind++) {
        for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
            binary(kind, shapes[s], shapes[s], acts[(s + (size_t)kind) % 4], 1 + (int32_t)(s % 2));
            pd_dims per_channel = {1, 1, shapes[s].c};
            binary(kind, shapes[s], per_channel, acts[s % 4], 2);
            const size_t sample = (size_t)shapes[s].h * shapes[s].w * shapes[s].c;
            binary_direct(kind, shapes[s], 1, 0, acts[s % 4]);
            binary_direct(kind, shapes[s], 2, 0, acts[(s + 1) % 4]);
            binary_direct(kind, shapes[s], 2, sample, acts[(s + 2) % 4]);
        }
    }
    static const pd_dims pools[] = {{7, 7, 32}, {3, 5, 17}, {1, 1, 3}, {2, 2, 4}, {10, 1, 7}};
    for (size_t s = 0; s < sizeof pools / sizeof pools[0]; s++)
        global_avgpool(pools[s], 1 + (int32_t)(s % 2));
}
