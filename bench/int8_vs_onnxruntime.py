"""Our int8 MobileNetV2 beside onnxruntime's static quantization (QDQ, per-channel, uint8
activations, after quant_pre_process), calibrated on the same inputs and measured on the same
held-out photos and crops/flips, in one run.

    python bench/int8_vs_onnxruntime.py [--variants 4] [--calib-variants 3]

Prints, for each engine: top-1 agreement with its float32 model, float top-1 inside the int8
top-5, cosine of the logits.
"""

import argparse
import os
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from converters import calibration as cal  # noqa: E402
from converters.quantize import _cosine, format_report, quantize_model  # noqa: E402


def _metrics(f, q):
    ftop = f.argmax(1)
    top5 = np.argsort(-q, axis=1, kind="stable")[:, :5]
    return (float(np.mean(top5[:, 0] == ftop)), float(np.mean(np.any(top5 == ftop[:, None], 1))),
            float(np.mean(_cosine(f, q))))


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--variants", type=int, default=4)
    p.add_argument("--calib-variants", type=int, default=3)
    args = p.parse_args(argv)

    import onnxruntime as ort
    from onnxruntime.quantization import (CalibrationDataReader, QuantFormat, QuantType,
                                          quantize_static)
    from onnxruntime.quantization.shape_inference import quant_pre_process

    from converters.default_model import (INT8_OPTIONS, PREPROCESS, find_checkpoint,
                                          imagenet_labels, int8_sets, tuning_set)
    from converters.mobilenet_v2 import build_onnx
    from converters.onnx_import import convert_onnx
    from converters.torch_checkpoint import load_state_dict

    model = build_onnx(load_state_dict(find_checkpoint()))
    photos = [px for _, px in cal.packaged_photos()]
    calib, valid = int8_sets(photos, dict(PREPROCESS), calib_variants=args.calib_variants)
    tuning = tuning_set(photos, dict(PREPROCESS))
    _, held = cal.split_sets(photos, dict(PREPROCESS), calib_variants=0,
                             held_variants=args.variants, seed=12345)
    print(f"calibration {len(calib)} inputs (onnxruntime: the same), validation {len(valid)} "
          f"(predict's float32 fallback choice), {len(tuning)} more (its range tuning), held-out "
          f"{len(held)} inputs")

    with tempfile.TemporaryDirectory() as d:
        src, pre, dst = (os.path.join(d, n) for n in ("f.onnx", "pre.onnx", "q.onnx"))
        with open(src, "wb") as f:
            f.write(model.SerializeToString())
        quant_pre_process(src, pre, skip_symbolic_shape=True)
        name = model.graph.input[0].name

        class Reader(CalibrationDataReader):
            def __init__(self):
                self.it = iter(calib)

            def get_next(self):
                x = next(self.it, None)
                return None if x is None else {name: x[None]}

        quantize_static(pre, dst, Reader(), quant_format=QuantFormat.QDQ, per_channel=True,
                        activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8)
        opts = ort.SessionOptions()
        opts.intra_op_num_threads, opts.inter_op_num_threads = 1, 1
        fs = ort.InferenceSession(src, opts, providers=["CPUExecutionProvider"])
        qs = ort.InferenceSession(dst, opts, providers=["CPUExecutionProvider"])
        f_ort = np.concatenate([fs.run(None, {name: x[None]})[0] for x in held])
        q_ort = np.concatenate([qs.run(None, {name: x[None]})[0] for x in held])
        ort_size = os.path.getsize(dst)

    header, arrays = convert_onnx(model, labels=imagenet_labels(), preprocess=dict(PREPROCESS))
    t0 = time.perf_counter()
    qh, qa, report = quantize_model(header, arrays, calib, heldout=held, validation=valid,
                                    tuning=tuning, **INT8_OPTIONS)
    print(f"predict calibration + measurement {time.perf_counter() - t0:.1f} s")
    print("\n".join(format_report(report)))
    t1, t5, cos = _metrics(f_ort, q_ort)
    print(f"onnxruntime QDQ ({ort_size / 1e6:.2f} MB): top-1 agreement {t1:.2%}, "
          f"float top-1 in int8 top-5 {t5:.2%}, cosine {cos:.4f}")
    print(f"predict int8:           top-1 agreement {report['top1_agreement']:.2%}, "
          f"float top-1 in int8 top-5 {report['top5_agreement']:.2%}, "
          f"cosine {report['cosine_mean']:.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
