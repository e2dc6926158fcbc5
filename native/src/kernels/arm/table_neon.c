/* table_neon.c: the NEON families' kernel tables.  Each names the kernels it
 * speeds up and the reference ones for the rest (every entry must be set: a
 * new kernels.h entry goes here too, the C tests check none is NULL).
 * "neondot" is "neon" plus the dot-product kernels.  Elsewhere than ARM both
 * functions return NULL: the families were not built. */
#include <stddef.h>

#include "kernels/arm/neon.h"

#if defined(PD_NEON_BUILD)

#include "kernels/ref/ref.h"

#define PD_NEON_COMMON                                   \
    .act_f32 = pd_act_f32_neon,                          \
    .gemm_f32 = pd_gemm_f32_neon,                        \
    .conv_f32_scratch = pd_conv_f32_scratch_ref,         \
    .conv_f32 = pd_conv_f32_ref,                         \
    .depthwise_f32 = pd_depthwise_f32_neon,              \
    .maxpool_f32 = pd_maxpool_f32_ref,                   \
    .avgpool_f32 = pd_avgpool_f32_ref,                   \
    .global_avgpool_f32 = pd_global_avgpool_f32_ref,     \
    .global_maxpool_f32 = pd_global_maxpool_f32_ref,     \
    .binary_f32 = pd_binary_f32_ref,                     \
    .concat_f32 = pd_concat_f32_ref,                     \
    .softmax_f32 = pd_softmax_f32_ref,                   \
    .reshape_f32 = pd_reshape_f32_ref,                   \
    .pad_f32 = pd_pad_f32_ref

static const pd_kernels neon_table = {
    .name = "neon",
    .gemm_u8i8 = pd_gemm_u8i8_neon,
    PD_NEON_COMMON,
};

const pd_kernels *pd_kernels_neon(void)
{
    return &neon_table;
}

#if defined(__aarch64__)
static const pd_kernels neondot_table = {
    .name = "neondot",
    .gemm_u8i8 = pd_gemm_u8i8_neondot,
    PD_NEON_COMMON,
};

const pd_kernels *pd_kernels_neondot(void)
{
    return &neondot_table;
}
#else
const pd_kernels *pd_kernels_neondot(void)
{
    return NULL;
}
#endif

#else

const pd_kernels *pd_kernels_neon(void)
{
    return NULL;
}

const pd_kernels *pd_kernels_neondot(void)
{
    return NULL;
}

#endif
