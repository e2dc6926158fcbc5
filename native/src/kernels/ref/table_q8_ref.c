/* table_q8_ref.c: the reference family's int8 kernel table. */
#include "kernels/q8.h"

const pd_q8_kernels pd_q8_ref_table = {
    .gemm = pd_gemm_q8_ref,
    .gemm_f32 = pd_gemm_q8f_ref,
    .conv = pd_conv_q8_ref,
    .depthwise = pd_depthwise_q8_ref,
    .binary = pd_binary_q8_ref,
    .global_avgpool = pd_global_avgpool_q8_ref,
    .quantize = pd_quantize_ref,
};

const pd_q8_kernels *pd_q8_kernels_ref(void)
{
    return &pd_q8_ref_table;
}
