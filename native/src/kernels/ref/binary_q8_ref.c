/* binary_q8_ref.c: add, sub and mul of uint8 tensors with their own scales.
 * add/sub: x = (qa - za) * ma +- (qb - zb) * mb in int64, one shared shift;
 * mul: x = (qa - za) * (qb - zb), one multiplier.  b broadcasts per dim. */
#include "core.h"
#include "kernels/q8.h"

void pd_binary_q8_ref(int32_t kind, size_t batch, pd_dims ad, const uint8_t *a, int32_t za,
                      pd_dims bd, const uint8_t *b, int32_t zb, const pd_requant *rq, uint8_t *y)
{
    const size_t a_sample = (size_t)ad.h * (size_t)ad.w * (size_t)ad.c;
    const size_t b_sample = (size_t)bd.h * (size_t)bd.w * (size_t)bd.c;
    for (size_t n = 0; n < batch; n++) {
        const uint8_t *as = a + n * a_sample, *bs = b + n * b_sample;
        uint8_t *ys = y + n * a_sample;
        for (int32_t h = 0; h < ad.h; h++) {
            for (int32_t w = 0; w < ad.w; w++) {
                for (int32_t c = 0; c < ad.c; c++) {
                    size_t ia = ((size_t)h * (size_t)ad.w + (size_t)w) * (size_t)ad.c + (size_t)c;
                    size_t ib = ((size_t)(bd.h == 1 ? 0 : h) * (size_t)bd.w + (size_t)(bd.w == 1 ? 0 : w)) *
                                    (size_t)bd.c + (size_t)(bd.c == 1 ? 0 : c);
                    int64_t da = (int64_t)as[ia] - za, db = (int64_t)bs[ib] - zb, v;
                    if (kind == PD_BIN_MUL) {
                        v = pd_rq(da * db, rq->mult[0], rq->shift[0]);
                    } else {
                        int64_t x = da * rq->mult[0] + (kind == PD_BIN_SUB ? -db : db) * rq->mult[1];
                        v = (x + ((int64_t)1 << (rq->shift[0] - 1))) >> rq->shift[0];
                    }
                    ys[ia] = pd_rq_out(v, rq);
                }
            }
        }
    }
}
