/* status.c: the library version, status names and error messages. */
#include <stdarg.h>
#include <stdio.h>

#include "core.h"

/* Bumped whenever predict.h changes; predict/_native.py checks it at import so
 * a stale build is never used with a newer Python side. */
#define PD_VERSION 3

int32_t pd_version(void)
{
    return PD_VERSION;
}

const char *pd_status_name(int32_t status)
{
    switch (status) {
    case PD_OK: return "PD_OK";
    case PD_ERR_ARGUMENT: return "PD_ERR_ARGUMENT";
    case PD_ERR_SHAPE: return "PD_ERR_SHAPE";
    case PD_ERR_UNSUPPORTED: return "PD_ERR_UNSUPPORTED";
    case PD_ERR_NOMEM: return "PD_ERR_NOMEM";
    case PD_ERR_STATE: return "PD_ERR_STATE";
    default: return "PD_ERR_UNKNOWN";
    }
}

const char *pd_op_name(int32_t op)
{
    switch (op) {
    case PD_OP_CONV: return "conv";
    case PD_OP_DEPTHWISE: return "depthwise";
    case PD_OP_FC: return "fc";
    case PD_OP_MAXPOOL: return "maxpool";
    case PD_OP_AVGPOOL: return "avgpool";
    case PD_OP_GLOBAL_AVGPOOL: return "global_avgpool";
    case PD_OP_GLOBAL_MAXPOOL: return "global_maxpool";
    case PD_OP_BINARY: return "binary";
    case PD_OP_CONCAT: return "concat";
    case PD_OP_SOFTMAX: return "softmax";
    case PD_OP_RESHAPE: return "reshape";
    case PD_OP_PAD: return "pad";
    case PD_OP_ACTIVATION: return "activation";
    case PD_OP_QUANTIZE: return "quantize";
    case PD_OP_DEQUANTIZE: return "dequantize";
    case PD_OP_LRN: return "lrn";
    case PD_OP_CONV_TRANSPOSE: return "conv_transpose";
    case PD_OP_RESIZE: return "resize";
    case PD_OP_CHANNEL_SHUFFLE: return "channel_shuffle";
    case PD_OP_SLICE: return "slice";
    case PD_OP_TRANSPOSE: return "transpose";
    default: return "op?";
    }
}

int32_t pd_fail(char *err, size_t err_size, int32_t status, const char *fmt, ...)
{
    if (err != NULL && err_size > 0) {
        va_list args;
        va_start(args, fmt);
        /* vsnprintf truncates and terminates; a negative return (an encoding
         * error) leaves the buffer unspecified, so terminate it ourselves. */
        if (vsnprintf(err, err_size, fmt, args) < 0)
            err[0] = '\0';
        va_end(args);
    }
    return status;
}
