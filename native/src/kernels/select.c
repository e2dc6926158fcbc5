/* select.c: which kernel family nets run with.
 *
 * Only the reference family exists so far.  When SIMD families arrive, this is
 * where the CPU is probed once (cpuid / getauxval) and the best family whose
 * path was both built and is supported is returned; the tables themselves stay
 * read-only. */
#include "kernels/kernels.h"

const pd_kernels *pd_kernels_get(void)
{
    return pd_kernels_ref();
}
