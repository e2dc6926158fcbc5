/* table_arm.c: the ARM families' fill functions (kernels.h, "Adding a
 * family").  Plain C: it only stores function pointers; the kernels it names
 * are compiled for their instruction sets in their own files.  Convolution
 * keeps the reference driver, which im2col's into the NEON GEMM. */
#include "kernels/kernels.h"

#if PD_BUILD_NEON
#include "kernels/arm/neon.h"

void pd_kernels_fill_neon(pd_kernels *k)
{
    k->act_f32 = pd_act_f32_neon;
    k->gemm_f32 = pd_gemm_f32_neon;
    k->gemm_u8i8 = pd_gemm_u8i8_neon;
    k->depthwise_f32 = pd_depthwise_f32_neon;
    k->resample_h_u8 = pd_resample_h_u8_neon;
    k->resample_v_u8 = pd_resample_v_u8_neon;
#if defined(__aarch64__)
    k->binary_f32 = pd_binary_f32_neon;
    k->global_avgpool_f32 = pd_global_avgpool_f32_neon;
#endif
}
#endif

#if PD_BUILD_NEONDOT
/* NEON plus the dot-product kernels. */
void pd_kernels_fill_neondot(pd_kernels *k)
{
    pd_kernels_fill_neon(k);
    k->gemm_u8i8 = pd_gemm_u8i8_neondot;
}
#endif

#if PD_BUILD_NEON
#include "kernels/q8.h"

/* The int8 table of plain NEON (aarch64 without the dot product, armv7): its
 * GEMM on the packed weights (conv keeps the reference driver, which
 * im2col's into it), depthwise, add / sub and, on aarch64, quantize; the rest
 * is the reference. */
void pd_q8_fill_neon(pd_q8_kernels *k, int32_t cpu)
{
    (void)cpu;
    k->gemm = pd_gemm_q8_neon;
    k->depthwise = pd_depthwise_q8_neon;
    k->binary = pd_binary_q8_neon;
#if defined(__aarch64__)
    k->quantize = pd_quantize_neon;
#endif
}
#endif

#if PD_BUILD_NEONDOT
/* NEON plus the dot-product GEMM. */
void pd_q8_fill_neondot(pd_q8_kernels *k, int32_t cpu)
{
    pd_q8_fill_neon(k, cpu);
    k->gemm = pd_gemm_q8_neondot;
    k->gemm_f32 = pd_gemm_q8f_neondot;
}
#endif
