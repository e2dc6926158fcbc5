/* pack_q8_ref.c: OHWI int8 weights into the packed layout of q8.h (the
 * converter writes it; the core packs only OHWI weights of older files and
 * hand-made descriptions, once, at build). */
#include <string.h>

#include "kernels/q8.h"

void pd_pack_q8(const int8_t *src, size_t groups, size_t og, size_t k, int8_t *dst)
{
    const size_t kp = pd_q8_kpad(k), group_bytes = pd_q8_packed_group(og, k);
    memset(dst, 0, groups * group_bytes);
    for (size_t g = 0; g < groups; g++) {
        const int8_t *s = src + g * og * k;
        int8_t *d = dst + g * group_bytes;
        for (size_t o = 0; o < og; o++)
            for (size_t p = 0; p < k; p++)
                d[(o / PD_PANEL) * PD_PANEL * kp + (p / PD_Q8_KGROUP) * PD_PANEL * PD_Q8_KGROUP +
                  (o % PD_PANEL) * PD_Q8_KGROUP + p % PD_Q8_KGROUP] = s[o * k + p];
    }
}
