/* layer.h: single-layer nets through the public API, for the tests. */
#ifndef PD_TEST_LAYER_H
#define PD_TEST_LAYER_H

#include "check.h"

/* A window layer (conv or depthwise) of one input (h, w, cin) and the
 * output (oh, ow, cout) that its attributes give. */
typedef struct test_window {
    int32_t h, w, cin, cout;
    int32_t kh, kw, sh, sw, dh, dw;
    int32_t pt, pl, pb, pr;
    int32_t groups;
    int32_t act;
    float alpha, beta;
} test_window;

/* Output size along one axis (floor mode). */
static inline int32_t test_out_dim(int32_t in, int32_t k, int32_t s, int32_t d, int32_t p0, int32_t p1)
{
    return (in + p0 + p1 - ((k - 1) * d + 1)) / s + 1;
}

/* Builds the one-layer net of op with weights and bias, runs batch samples of
 * x with the reference and with the family, and compares the outputs. */
void test_window_layer(int32_t op, const test_window *t, int32_t batch, const char *what);

#endif
