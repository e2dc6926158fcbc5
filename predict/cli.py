"""The ``predict`` command: classify photos, convert models, describe model files.

    predict classify photos/*.jpg --top 3
    predict convert resnet18.onnx -o resnet18.pnet --labels classes.txt
    predict info models/mobilenet_v2.pnet

Errors predict knows about (``predict.PredictError``) print one line to stderr
and exit 2; ``classify`` keeps going past a photo it cannot read and exits 1
at the end if any failed.  ``python -m predict`` is the same command.
"""

import argparse
import json
import os
import sys
import textwrap

import predict
from predict.errors import ConversionError, ImageError, PredictError

DEFAULT_MODEL = os.path.join("models", "mobilenet_v2.pnet")
MODEL_ENV = "PREDICT_MODEL"

# torchvision's ImageNet eval transform, the convention most exported classifiers follow.
IMAGENET_MEAN = [0.485, 0.456, 0.406]
IMAGENET_STD = [0.229, 0.224, 0.225]


class CommandError(Exception):
    """A command-line mistake outside predict's own errors (a missing labels file ...)."""


def _fail_line(message):
    print(f"predict: error: {message}", file=sys.stderr)


# -- classify ---------------------------------------------------------------------------

def _default_model():
    path = os.environ.get(MODEL_ENV) or DEFAULT_MODEL
    if not os.environ.get(MODEL_ENV) and not os.path.exists(path):
        raise CommandError(
            f"no model: {DEFAULT_MODEL} does not exist here ({os.getcwd()}); build it with "
            f"`make model`, or pass --model FILE, or set {MODEL_ENV}")
    return path


def _classify(args):
    path = args.model or _default_model()
    failed = 0
    with predict.load(path, max_batch=1) as net:
        labels = net.labels
        for photo in args.photos:
            try:
                (ranked,), _ = net._rank([photo], args.top, "classify")
            except ImageError as e:
                failed += 1
                _fail_line(str(e))
                if args.json:
                    print(json.dumps({"path": photo, "error": str(e)}), flush=True)
                continue
            named = [(i, labels[i] if i < len(labels) else str(i), p) for i, p in ranked]
            if args.json:
                print(json.dumps({"path": photo, "predictions": [
                    {"index": i, "label": label, "probability": p} for i, label, p in named]}),
                    flush=True)
            else:
                print(photo)
                for _, label, p in named:
                    print(f"  {p:.4f}  {label}")
                sys.stdout.flush()
    if failed:
        _fail_line(f"{failed} of {len(args.photos)} photos failed")
    return 1 if failed else 0


# -- convert --------------------------------------------------------------------------------

def _ints(text, count, what):
    """'3,224,224' -> [3, 224, 224] (count entries, or 1 entry repeated for a size)."""
    try:
        values = [int(v) for v in text.replace("x", ",").split(",")]
    except ValueError:
        raise CommandError(
            f"{what}: expected {count} comma-separated integers, got {text!r}") from None
    if len(values) == 1 and count == 2:
        values = values * 2
    if len(values) != count or min(values) < 1:
        raise CommandError(
            f"{what}: expected {count} positive comma-separated integers, got {text!r}")
    return values


def _read_labels(path):
    try:
        with open(path, encoding="utf-8") as f:
            lines = f.read().splitlines()
    except (OSError, UnicodeDecodeError) as e:
        raise CommandError(f"--labels {path}: cannot read: {e}") from None
    while lines and not lines[-1].strip():
        lines.pop()
    return lines


def _onnx_input_chw(model):
    """The first graph input's [C, H, W] from the ONNX model, 0 where not fixed; or None."""
    initializers = {t.name for t in model.graph.initializer}
    for value in model.graph.input:
        if value.name not in initializers:
            dims = [d.dim_value for d in value.type.tensor_type.shape.dim]  # 0 when symbolic
            return dims[1:] if len(dims) == 4 else None
    return None


def _preprocess_spec(args, model, input_shape):
    """The preprocess map for the .pnet from the options, or None for no preprocess.

    With no option at all, a model whose input is a 3-channel image gets
    torchvision's ImageNet preprocessing; anything else gets none.
    """
    options = (args.size, args.resize, args.mean, args.std, args.channels, args.interpolation,
               args.scale)
    explicit = any(v is not None for v in options)
    if args.no_preprocess:
        if explicit:
            raise CommandError("--no-preprocess cannot be combined with preprocess options")
        return None
    chw = input_shape or _onnx_input_chw(model)
    if not explicit and not (chw and chw[0] == 3 and min(chw) > 0):
        return None
    if args.size:
        size = _ints(args.size, 2, "--size")
    elif chw and min(chw[1:]) > 0:
        size = list(chw[1:])
    else:
        raise CommandError("cannot tell the input's height and width from the model: "
                           "give --size H,W or --input-shape C,H,W")
    channels = args.channels or "RGB"
    n = 1 if channels == "L" else 3
    mean = args.mean or (IMAGENET_MEAN if n == 3 else [0.5])
    std = args.std or (IMAGENET_STD if n == 3 else [0.5])
    for name, values in (("--mean", mean), ("--std", std)):
        if len(values) != n:
            raise CommandError(f"{name}: {channels} needs {n} values, got {len(values)}")
    return {
        "size": size,
        # ImageNet's convention: resize to 256 for a 224 crop, in proportion otherwise.
        "resize": round(max(size) * 256 / 224) if args.resize is None else args.resize,
        "interpolation": args.interpolation or "bilinear",
        "channels": channels,
        "scale": 255.0 if args.scale is None else args.scale,
        "mean": [float(v) for v in mean],
        "std": [float(v) for v in std],
    }


def _convert(args):
    try:
        import onnx
    except ImportError:
        raise CommandError("predict convert needs the onnx package, which is not installed: "
                           "pip install 'predict[convert]'") from None
    from converters.onnx_import import convert_onnx_file

    try:
        model = onnx.load(args.src)
    except OSError as e:
        raise CommandError(f"{args.src}: cannot read: {e.strerror or e}") from None
    except Exception as e:  # protobuf's DecodeError and friends: not an ONNX file
        raise ConversionError(
            f"{args.src}: not a readable ONNX model ({type(e).__name__}: {e})") from None
    input_shape = _ints(args.input_shape, 3, "--input-shape") if args.input_shape else None
    spec = _preprocess_spec(args, model, input_shape)
    labels = _read_labels(args.labels) if args.labels else None
    provenance = {"source": os.path.basename(args.src)}
    if args.int8:
        sha = _convert_int8(args, model, input_shape, spec, labels, provenance)
    else:
        if args.calibrate or args.float_layers or args.min_agreement is not None:
            raise CommandError("--calibrate, --float-layers and --min-agreement go with --int8")
        sha = convert_onnx_file(model, args.output, input_shape=input_shape, labels=labels,
                                preprocess=spec, features=args.features, provenance=provenance)
    print(f"wrote {args.output} (sha256 {sha})")
    if spec is not None and not any(
            v is not None for v in (args.mean, args.std, args.scale, args.channels)):
        print(f"preprocess: ImageNet defaults (resize {spec['resize']}, crop {spec['size']}, "
              f"mean {spec['mean']}, std {spec['std']}); change with --mean/--std/--size/--resize, "
              f"or --no-preprocess")
    return 0


# -- info ----------------------------------------------------------------------------------------

def _size_text(n):
    for unit, scale in (("GB", 2**30), ("MB", 2**20), ("KB", 2**10)):
        if n >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{n} bytes"


def _shape(dims):
    return str(tuple(dims))


def _convert_int8(args, model, input_shape, spec, labels, provenance):
    """--int8: convert, calibrate on --calibrate PHOTOS_DIR, gate on --min-agreement."""
    from converters.calibration import folder_photos
    from converters.onnx_import import convert_onnx
    from converters.quantize import calibrate_and_quantize
    from predict.format import write_pnet

    if not args.calibrate:
        raise CommandError("--int8 needs --calibrate PHOTOS_DIR (photos like the ones the model "
                           "will see)")
    header, arrays = convert_onnx(model, input_shape=input_shape, labels=labels,
                                  preprocess=spec, features=args.features, provenance=provenance)
    float_layers = [n for n in (args.float_layers or "").split(",") if n]
    header, arrays, _ = calibrate_and_quantize(
        header, arrays, folder_photos(args.calibrate), method=args.method,
        float_layers=float_layers, max_layer_error=args.max_layer_error,
        min_agreement=args.min_agreement)
    return write_pnet(args.output, header, arrays)


def _info_text(info):
    by_count = sorted(info["ops"].items(), key=lambda kv: (-kv[1], kv[0]))
    ops = ", ".join(f"{op} {n}" for op, n in by_count)
    lines = [
        info["path"],
        f"  file        {_size_text(info['file_bytes'])} ({info['file_bytes']:,} bytes), "
        f"format version {info['format_version']}",
        f"  sha256      {info['sha256']}",
        f"  layers      {info['layers']}: {ops}",
        f"  parameters  {info['parameters']:,} ({_size_text(info['weight_bytes'])} of weights), "
        f"{info['macs'] / 1e6:,.1f} M multiply-adds per sample",
    ]
    for io in info["inputs"]:
        lines.append(f"  input       {io['name']!r} {_shape(io['shape'])}")
    for io in info["outputs"]:
        lines.append(f"  output      {io['name']!r} {_shape(io['shape'])}")
    if info["features"]:
        features = info["features"]
        lines.append(f"  features    {features['name']!r} {_shape(features['shape'])}")
    pre = info["preprocess"]
    if pre:
        resize = f"resize {pre['resize']}, crop" if pre["resize"] else "resize to"
        lines.append(f"  preprocess  {resize} {pre['size'][0]}x{pre['size'][1]} "
                     f"{pre['interpolation']}, {pre['channels']}, /{pre['scale']:g}, "
                     f"mean {pre['mean']}, std {pre['std']}")
    else:
        lines.append("  preprocess  none (not an image model: use Network.run with arrays)")
    lines.append(f"  labels      {info['labels'] or 'none'}")
    lines.append(f"  memory      activations {_size_text(info['arena_bytes'])}, scratch "
                 f"{_size_text(info['scratch_bytes'])} at batch {info['max_batch']}")
    q = info.get("quantization")
    if q:
        lines.append(f"  int8        {q.get('int8_layers')} int8 layers, "
                     f"{len(q.get('float_layers', []))} float32; calibrated ({q.get('method')}) on "
                     f"{q.get('calibration_images')} inputs; on {q.get('images')} held-out: top-1 "
                     f"agreement {q.get('top1_agreement', 0):.2%}, float top-1 in int8 top-5 "
                     f"{q.get('top5_agreement', 0):.2%}, cosine {q.get('cosine_mean', 0):.4f}")
    heading = "provenance"
    for key, value in sorted(info["provenance"].items()):
        lines.append(f"  {heading:<11} {key}: {value}")
        heading = ""
    return "\n".join(lines)


def _info(args):
    with predict.load(args.model, max_batch=1) as net:
        info = net.info()
    print(json.dumps(info, indent=2) if args.json else _info_text(info))
    return 0


# -- the parser ------------------------------------------------------------------------------------

def _subcommand(subparsers, name, summary, description, example):
    # Raw formatting keeps the example's line as written; the description is wrapped here.
    return subparsers.add_parser(
        name, help=summary, description=textwrap.fill(description, 79),
        epilog=f"example:\n  {example}", formatter_class=argparse.RawDescriptionHelpFormatter)


def build_parser():
    """The argparse parser of the ``predict`` command (for main and for docs).

    >>> build_parser().parse_args(["info", "m.pnet"]).model
    'm.pnet'
    """
    parser = argparse.ArgumentParser(
        prog="predict", description=textwrap.fill(
            "Fast, small convnet inference: classify photos with .pnet models, convert ONNX "
            "models to .pnet, describe model files.", 79),
        epilog="example:\n  predict classify photo.jpg\n\n"
               "Run `predict COMMAND --help` for a command's options.",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"predict {predict.__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    p = _subcommand(
        commands, "classify", "name what is in photos",
        "Classify photos and print, per photo, its path and the top classes as "
        "'probability  label' lines (or JSON lines with --json). A photo that cannot be read "
        f"is reported on stderr, the others still run, and the exit code is 1. The model is "
        f"--model, else ${MODEL_ENV}, else {DEFAULT_MODEL} (build it with `make model`).",
        "predict classify photos/cat.jpg photos/coffee.jpg --top 3")
    p.add_argument("photos", nargs="+", metavar="PHOTO", help="image files (JPEG, PNG, WebP, ...)")
    p.add_argument("--model", "-m",
                   help=f"the .pnet model (default: ${MODEL_ENV} or {DEFAULT_MODEL})")
    p.add_argument("--top", "-k", type=int, default=5,
                   help="how many classes per photo (default 5)")
    p.add_argument("--json", action="store_true",
                   help='one JSON object per photo and line: {"path", "predictions": '
                        '[{"index", "label", "probability"}]} or {"path", "error"}')
    p.set_defaults(run=_classify)

    p = _subcommand(
        commands, "convert", "convert an ONNX model to .pnet",
        "Convert an ONNX convnet to a .pnet file, with its class labels and how photos are "
        "prepared for it. Without preprocess options an RGB image model gets torchvision's "
        "ImageNet preprocessing (resize 256, crop 224, mean/std). Needs the onnx package "
        "(pip install 'predict[convert]').",
        "predict convert resnet18.onnx -o resnet18.pnet --labels imagenet.txt --size 224")
    p.add_argument("src", metavar="SRC", help="the ONNX model file")
    p.add_argument("-o", "--output", required=True, metavar="DST", help="the .pnet file to write")
    p.add_argument("--input-shape", metavar="C,H,W",
                   help="the input's shape without the batch, for a model whose shape is not fixed")
    p.add_argument("--labels", metavar="FILE", help="class names, one per line, in output order")
    p.add_argument("--features", metavar="TENSOR",
                   help="the ONNX tensor holding the penultimate features (for Network.features)")
    g = p.add_argument_group("preprocess (how a photo becomes the input)")
    g.add_argument("--size", metavar="H,W",
                   help="the input's height and width (default: the model's)")
    g.add_argument("--resize", type=int, metavar="N",
                   help="resize the shorter side to N, then centre-crop to --size; 0 resizes "
                        "straight to --size (default: size * 256 / 224)")
    g.add_argument("--mean", type=float, nargs="+", metavar="M",
                   help="per-channel mean after scaling")
    g.add_argument("--std", type=float, nargs="+", metavar="S",
                   help="per-channel std after scaling")
    g.add_argument("--scale", type=float, help="pixels are divided by this first (default 255)")
    g.add_argument("--channels", choices=("RGB", "BGR", "L"),
                   help="the input's channel order (default RGB)")
    g.add_argument("--interpolation", choices=("bilinear", "bicubic", "nearest"),
                   help="the resize filter (default bilinear)")
    g.add_argument("--no-preprocess", action="store_true",
                   help="store no preprocess: the model is run with arrays only")
    q = p.add_argument_group("int8 quantization (docs/quantization.md)")
    q.add_argument("--int8", action="store_true", help="quantize to int8, calibrated on photos")
    q.add_argument("--calibrate", metavar="PHOTOS_DIR",
                   help="a folder of photos to calibrate on (every 4th is held out to measure)")
    q.add_argument("--method", choices=("minmax", "percentile", "entropy"), default="percentile",
                   help="how activation ranges are chosen (default: percentile 99.99)")
    q.add_argument("--float-layers", metavar="NAME,...",
                   help="layers to keep in float32 (names as `predict info --json` lists them)")
    q.add_argument("--max-layer-error", type=float, metavar="E",
                   help="keep float32 the layers whose own relative error passes E")
    q.add_argument("--min-agreement", type=float, metavar="X",
                   help="fail when int8 top-1 agreement with float32 is below X (0..1)")
    p.set_defaults(run=_convert)

    p = _subcommand(
        commands, "info", "describe a .pnet model file",
        "Print what a .pnet file holds: operators, parameters, sizes, input and output shapes, "
        "preprocessing, labels, memory needed and where the model came from.",
        "predict info models/mobilenet_v2.pnet --json")
    p.add_argument("model", metavar="MODEL", help="the .pnet file")
    p.add_argument("--json", action="store_true", help="print one JSON document")
    p.set_defaults(run=_info)
    return parser


def main(argv=None):
    """Runs the ``predict`` command; returns the exit code.

    >>> main(["info", "missing.pnet"])                        # doctest: +SKIP
    2
    """
    args = build_parser().parse_args(argv)
    try:
        return args.run(args)
    except (PredictError, CommandError) as e:
        _fail_line(str(e))
        return 2
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # `predict classify ... | head`: the reader left, which is not an error.  Point
        # stdout at devnull so the interpreter's final flush does not fail again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


if __name__ == "__main__":
    sys.exit(main())
