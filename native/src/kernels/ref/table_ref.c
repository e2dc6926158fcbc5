/* table_ref.c: the reference family's kernel table. */
#include "kernels/q8.h"
#include "kernels/ref/ref.h"



static const pd_kernels ref_table = {
    .name = "ref",
    .isa = PD_ISA_REF,
    .act_f32 = pd_act_f32_ref,
    .gemm_f32 = pd_gemm_f32_ref,
    .gemm_u8i8 = pd_gemm_u8i8_ref,
    .conv_f32_scratch = pd_conv_f32_scratch_ref,
    .conv_f32 = pd_conv_f32_ref,
    .depthwise_f32 = pd_depthwise_f32_ref,
    .maxpool_f32 = pd_maxpool_f32_ref,
    .avgpool_f32 = pd_avgpool_f32_ref,
    .global_avgpool_f32 = pd_global_avgpool_f32_ref,
    .global_maxpool_f32 = pd_global_maxpool_f32_ref,
    .binary_f32 = pd_binary_f32_ref,
    .concat_f32 = pd_concat_f32_ref,
    .softmax_f32 = pd_softmax_f32_ref,
    .reshape_f32 = pd_reshape_f32_ref,
    .pad_f32 = pd_pad_f32_ref,
    .lrn_f32 = pd_lrn_f32_ref,
    .conv_transpose_f32 = pd_conv_transpose_f32_ref,
    .resize_f32 = pd_resize_f32_ref,
    .shuffle_f32 = pd_shuffle_f32_ref,
    .slice_f32 = pd_slice_f32_ref,
    .transpose_f32 = pd_transpose_f32_ref,
    .channels_last_f32 = pd_channels_last_f32_ref,
    .resample_h_u8 = pd_resample_h_u8_ref,
    .resample_v_u8 = pd_resample_v_u8_ref,
    .q8 = &pd_q8_ref_table,
};

const pd_kernels *pd_kernels_ref(void)
{
    return &ref_table;
}
