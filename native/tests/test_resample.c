/* test_resample.c: the 8-bit resampling passes (kernels.h, pd_resample_h_u8_fn
 * and pd_resample_v_u8_fn) of the family under test against the reference,
 * byte for byte, on random windows and weights (negative lobes, sums that
 * clamp, windows reaching both ends of a row, empty windows), rows around the
 * SIMD widths, 1 and 3 channels in pixels of 1, 3 and 4 bytes.  Buffers are
 * allocated to their exact size, so `make sanitize` catches a read past a row.
 * Then pd_resample_u8's refusals of bad arguments.  Exactness against Pillow
 * itself is tests/test_resample.py's. */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "kernels/ref/ref.h"

/* n windows over an axis of in samples, kstride weights each (zero past the
 * window), as resample.c lays them out; weights around 2^22 / taps with
 * negative ones, so some sums clamp at 0 or 255. */
static void random_windows(int32_t in, int32_t n, int32_t kstride, int32_t *win, int32_t *w)
{
    for (int32_t i = 0; i < n; i++) {
        int32_t taps = (int32_t)(pd_test_rand() % (uint32_t)(kstride + 1));
        if (taps > in)
            taps = in;
        const int32_t first = (int32_t)(pd_test_rand() % (uint32_t)(in - taps + 1));
        win[2 * i] = first;
        win[2 * i + 1] = taps;
        for (int32_t t = 0; t < kstride; t++)
            w[(size_t)i * kstride + t] =
                t < taps ? (int32_t)(pd_test_uniform() * 1.3f * (float)(1 << 22) / (float)(taps > 1 ? taps - 1 : 1)) +
                               (1 << 22) / (taps > 0 ? taps : 1)
                         : 0;
    }
}

static uint8_t *random_bytes(size_t n)
{
    uint8_t *p = malloc(n > 0 ? n : 1);
    for (size_t i = 0; i < n; i++)
        p[i] = (uint8_t)pd_test_rand();
    return p;
}

static void horizontal_case(int32_t rows, int32_t in_w, int32_t x_px, int32_t c, int32_t out_w,
                            int32_t kstride)
{
    const size_t x_stride = (size_t)in_w * (size_t)x_px, y_stride = (size_t)out_w * (size_t)c;
    uint8_t *x = random_bytes((size_t)rows * x_stride);
    int32_t *win = malloc(sizeof(int32_t) * 2 * (size_t)out_w);
    int32_t *w = malloc(sizeof(int32_t) * (size_t)out_w * (size_t)kstride);
    uint8_t *want = malloc((size_t)rows * y_stride), *got = malloc((size_t)rows * y_stride);
    random_windows(in_w, out_w, kstride, win, w);
    /* the last window reaches the row's end, where a SIMD load must not */
    win[2 * (out_w - 1) + 1] = in_w < kstride ? in_w : kstride;
    win[2 * (out_w - 1)] = in_w - win[2 * (out_w - 1) + 1];
    pd_resample_h_u8_ref(rows, x, x_stride, in_w, x_px, c, win, w, kstride, want, y_stride, out_w);
    pd_test_table->resample_h_u8(rows, x, x_stride, in_w, x_px, c, win, w, kstride, got, y_stride,
                                 out_w);
    size_t bad = 0;
    while (bad < (size_t)rows * y_stride && got[bad] == want[bad])
        bad++;
    CHECK(bad == (size_t)rows * y_stride,
          "horizontal: %d rows of %d pixels (%d channels in %d bytes) -> %d, kstride %d: byte %zu is "
          "%d, the reference says %d",
          (int)rows, (int)in_w, (int)c, (int)x_px, (int)out_w, (int)kstride, bad,
          bad < (size_t)rows * y_stride ? got[bad] : 0, bad < (size_t)rows * y_stride ? want[bad] : 0);
    free(x), free(win), free(w), free(want), free(got);
}

static void vertical_case(int32_t in_h, int32_t row_bytes, int32_t out_h, int32_t kstride)
{
    const size_t stride = (size_t)row_bytes;
    uint8_t *x = random_bytes((size_t)in_h * stride);
    int32_t *win = malloc(sizeof(int32_t) * 2 * (size_t)out_h);
    int32_t *w = malloc(sizeof(int32_t) * (size_t)out_h * (size_t)kstride);
    uint8_t *want = malloc((size_t)out_h * stride + 1), *got = malloc((size_t)out_h * stride + 1);
    random_windows(in_h, out_h, kstride, win, w);
    pd_resample_v_u8_ref(row_bytes, x, stride, win, w, kstride, want, stride, out_h);
    pd_test_table->resample_v_u8(row_bytes, x, stride, win, w, kstride, got, stride, out_h);
    const size_t n = (size_t)out_h * stride;
    size_t bad = 0;
    while (bad < n && got[bad] == want[bad])
        bad++;
    CHECK(bad == n, "vertical: %d rows of %d bytes -> %d, kstride %d: byte %zu is %d, the reference says %d",
          (int)in_h, (int)row_bytes, (int)out_h, (int)kstride, bad, bad < n ? got[bad] : 0,
          bad < n ? want[bad] : 0);
    free(x), free(win), free(w), free(want), free(got);
}

static void refusals(void)
{
    uint8_t x[4 * 3 * 3] = {0}, y[2 * 2 * 3];
    char err[128];
    const float whole[4] = {0, 0, 4, 3}, outside[4] = {0, 0, 4.5f, 3}, empty[4] = {1, 0, 1, 3},
                nan_box[4] = {0, 0, 4, 0.0f / 0.0f};
    struct { const char *what; int32_t w, h, px, c, filter, ow, oh; const float *box; size_t xs, ys; } cases[] = {
        {"zero width", 0, 3, 3, 3, PD_RESAMPLE_BILINEAR, 2, 2, whole, 12, 6},
        {"zero output", 4, 3, 3, 3, PD_RESAMPLE_BILINEAR, 0, 2, whole, 12, 6},
        {"2 channels", 4, 3, 2, 2, PD_RESAMPLE_BILINEAR, 2, 2, whole, 12, 6},
        {"1 channel in 4 bytes", 4, 3, 4, 1, PD_RESAMPLE_BILINEAR, 2, 2, whole, 12, 6},
        {"filter 0 (nearest)", 4, 3, 3, 3, 0, 2, 2, whole, 12, 6},
        {"filter 6", 4, 3, 3, 3, 6, 2, 2, whole, 12, 6},
        {"box past the image", 4, 3, 3, 3, PD_RESAMPLE_BILINEAR, 2, 2, outside, 12, 6},
        {"empty box", 4, 3, 3, 3, PD_RESAMPLE_BILINEAR, 2, 2, empty, 12, 6},
        {"NaN box", 4, 3, 3, 3, PD_RESAMPLE_BILINEAR, 2, 2, nan_box, 12, 6},
        {"short input stride", 4, 3, 3, 3, PD_RESAMPLE_BILINEAR, 2, 2, whole, 11, 6},
        {"short output stride", 4, 3, 3, 3, PD_RESAMPLE_BILINEAR, 2, 2, whole, 12, 5},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        err[0] = '\0';
        const int32_t status = pd_resample_u8(x, cases[i].w, cases[i].h, cases[i].xs, cases[i].px, cases[i].c,
                                              cases[i].filter, cases[i].box, 0, y, cases[i].ow, cases[i].oh,
                                              cases[i].ys, err, sizeof err);
        CHECK(status == PD_ERR_ARGUMENT && err[0] != '\0', "pd_resample_u8 with %s: status %d, message '%s'",
              cases[i].what, (int)status, err);
    }
    CHECK(pd_resample_u8(NULL, 4, 3, 12, 3, 3, PD_RESAMPLE_BOX, whole, 0, y, 2, 2, 6, NULL, 0) == PD_ERR_ARGUMENT,
          "pd_resample_u8 with a NULL input");
    CHECK(pd_resample_u8(x, 4, 3, 12, 3, 3, PD_RESAMPLE_BOX, whole, 1, y, 2, 2, 6, err, sizeof err) == PD_OK,
          "pd_resample_u8 on a good request: %s", err);
}

void pd_test_resample(void)
{
    pd_test_seed(2026);
    static const int32_t widths[] = {1, 2, 3, 4, 5, 7, 8, 9, 15, 16, 17, 31, 33, 64, 101};
    for (size_t i = 0; i < sizeof(widths) / sizeof(widths[0]); i++) {
        const int32_t in_w = widths[i];
        for (int32_t kstride = 8; kstride <= 24; kstride += 8) {
            const int32_t out_w = 1 + (int32_t)(pd_test_rand() % 40);
            horizontal_case(3, in_w, 1, 1, out_w, kstride);
            horizontal_case(2, in_w, 3, 3, out_w, kstride);
            horizontal_case(2, in_w, 4, 3, out_w, kstride);
            /* blocks of 4 rows (and a remainder), where kernels share a window's
             * weights across rows and pair windows of up to 4 taps */
            horizontal_case(9, in_w, 4, 3, out_w, kstride);
            horizontal_case(5, in_w, 3, 3, out_w, kstride);
            vertical_case(in_w, 1 + (int32_t)(pd_test_rand() % 100), out_w, kstride);
            vertical_case(in_w, widths[(i + 5) % 15] * 3, out_w, kstride);
        }
    }
    refusals();
}
