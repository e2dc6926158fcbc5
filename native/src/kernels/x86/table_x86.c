/* table_x86.c: the x86 families' fill functions (kernels.h, "Adding a
 * family").  Plain C: it only stores function pointers; the kernels it names
 * are compiled for their instruction sets in their own files. */
#include "kernels/kernels.h"

#if PD_BUILD_X86
#include "kernels/x86/x86.h"

void pd_kernels_fill_avx2(pd_kernels *k)
{
    k->gemm_f32 = pd_gemm_f32_avx2;
    k->conv_f32 = pd_conv_f32_avx2;
    k->depthwise_f32 = pd_depthwise_f32_avx2;
    k->binary_f32 = pd_binary_f32_avx2;
    k->global_avgpool_f32 = pd_global_avgpool_f32_avx2;
    k->resample_h_u8 = pd_resample_h_u8_avx2;
    k->resample_v_u8 = pd_resample_v_u8_avx2;
}

/* AVX-512 brings its own GEMM and depthwise kernels and reuses the AVX2 ones
 * elsewhere (its CPUs all have AVX2; the elementwise kernels are memory-bound). */
void pd_kernels_fill_avx512(pd_kernels *k)
{
    pd_kernels_fill_avx2(k);
    k->gemm_f32 = pd_gemm_f32_avx512;
    k->conv_f32 = pd_conv_f32_avx512;
    k->depthwise_f32 = pd_depthwise_f32_avx512;
    k->channels_last_f32 = pd_channels_last_f32_avx512;
}
#endif

#if PD_BUILD_X86
#include "kernels/q8.h"
#include "predict.h"

void pd_q8_fill_avx2(pd_q8_kernels *k, int32_t cpu)
{
    (void)cpu;
    k->gemm = pd_gemm_q8_avx2;
    k->depthwise = pd_depthwise_q8_avx2;
    k->gemm_f32 = pd_gemm_q8f_avx2;
    k->binary = pd_binary_q8_avx2;
}

void pd_q8_fill_avx512(pd_q8_kernels *k, int32_t cpu)
{
    pd_q8_fill_avx2(k, cpu);
    k->conv = pd_conv_q8_avx512;
    k->depthwise = pd_depthwise_q8_avx512;
    k->binary = pd_binary_q8_avx512;
    k->quantize = pd_quantize_avx512;
    k->global_avgpool = pd_global_avgpool_q8_avx512;
    if (cpu & PD_CPU_AVX512VNNI) {
        k->gemm = pd_gemm_q8_avx512vnni;
        k->gemm_f32 = pd_gemm_q8f_avx512vnni;
        k->depthwise = pd_depthwise_q8_avx512vnni;
    }
}
#endif
