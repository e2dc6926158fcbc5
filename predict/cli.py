"""The ``predict`` command: classify photos, learn new classes, convert models, describe them.

    predict classify photos/*.jpg --top 3
    predict learn --class cat=photos/cats --class dog=photos/dogs -o pets.predictor
    predict classify --predictor pets.predictor photos/*.jpg
    predict convert resnet18.onnx -o resnet18.pnet --labels classes.txt
    predict info models/mobilenet_v2.pnet
    predict tag ~/Photos --db tags.sqlite
    predict export tags.sqlite --format csv

Errors predict knows about (``predict.PredictError``) print one line to stderr
and exit 2; ``classify`` keeps going past a photo it cannot read and exits 1
at the end if any failed.  ``python -m predict`` is the same command.
"""

import argparse
import json
import os
import platform
import sys
import textwrap

from tqdm import tqdm

import predict
from predict.errors import ConversionError, ImageError, PredictError
from predict.ranking import top_indices

DEFAULT_MODEL = os.path.join("models", "mobilenet_v2.pnet")
MODEL_ENV = "PREDICT_MODEL"

# torchvision's ImageNet eval transform, the convention most exported classifiers follow.
IMAGENET_MEAN = [0.485, 0.456, 0.406]
# `convert --int8 --check`'s default tolerance: int8 is not float32, this only catches a broken
# conversion (the accuracy report measures int8 properly).
INT8_CHECK_RTOL = 0.1
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
    with predict.load(path, max_batch=1, threads=args.threads) as net:
        if args.predictor:
            learned = predict.load_predictor(args.predictor, network=net)
            labels = learned.classes
            tta = True if args.tta else None  # None: as the predictor was trained

            def rank(photo):
                probs = learned.probabilities(net, photo, tta=tta)
                order = top_indices(probs, args.top)
                return [(int(i), float(probs[i])) for i in order]
        else:
            labels = net.labels

            def rank(photo):
                return net._rank([photo], args.top, "classify", tta=args.tta)[0][0]

        for photo in args.photos:
            try:
                ranked = rank(photo)
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


# -- learn ------------------------------------------------------------------------------------

def _classes(pairs):
    """["cat=DIR", ...] -> {"cat": "DIR", ...}, checked."""
    classes = {}
    for pair in pairs:
        name, sep, folder = pair.partition("=")
        name = name.strip()
        if not sep or not name or not folder:
            raise CommandError(
                f"--class {pair!r}: expected NAME=FOLDER, e.g. --class cat=photos/cats")
        if name in classes:
            raise CommandError(f"--class {name!r} is given twice")
        if not os.path.isdir(folder):
            raise CommandError(f"--class {name}={folder}: no such folder")
        classes[name] = folder
    if len(classes) < 2:
        raise CommandError("give at least two classes: --class NAME=FOLDER --class NAME=FOLDER")
    return classes


def _learn_report(learned, output, sha):
    t = learned.training
    names = learned.classes
    width = max(len(n) for n in names)
    lines = [f"learned {len(names)} classes from {sum(t['examples'].values())} photos "
             f"({learned.layer!r}, {learned.feature_dim} features"
             f"{', with mirrored crops' if learned.tta else ''})"]
    lines += [f"  {n:<{width}}  {t['examples'][n]} photos" for n in names]
    lines.append(f"held-out accuracy {t['cv_accuracy']:.1%} ({t['folds']}-fold cross-validation, "
                 f"L2 penalty {learned.penalty:.3g})")
    lines.append("confusion (rows: true class, columns: predicted):")
    for n, row in zip(names, t["cv_confusion"]):
        lines.append(f"  {n:<{width}}  " + " ".join(f"{v:>5}" for v in row))
    lines.append(f"time: features {t['features_seconds']:.1f} s, fitting {t['fit_seconds']:.1f} s")
    lines.append(f"wrote {output} (sha256 {sha})")
    return "\n".join(lines)


def _learn(args):
    classes = _classes(args.classes)
    path = args.model or _default_model()
    with predict.load(path, max_batch=16) as net:
        net.feature_tensor(args.layer)  # an unknown layer fails before any photo is read
        from predict.learning import photos_in

        photos = {name: photos_in(folder) for name, folder in classes.items()}
        empty = [f"{name}={classes[name]}" for name, found in photos.items() if not found]
        if empty:
            raise CommandError(f"no photos in {', '.join(empty)}")
        total = sum(len(found) for found in photos.values())
        with tqdm(total=total, unit="photo", desc="features", file=sys.stderr,
                  disable=args.json or not sys.stderr.isatty()) as bar:
            def progress(done, _total):
                bar.update(done - bar.n)

            learned = predict.learn(net, photos, layer=args.layer, tta=args.tta,
                                    folds=args.folds, seed=args.seed, progress=progress)
    for photo, message in learned.skipped:
        print(f"predict: warning: skipped {message}", file=sys.stderr)
    sha = learned.save(args.output)
    if args.json:
        print(json.dumps({"output": args.output, "sha256": sha, "classes": learned.classes,
                          "layer": learned.layer, "tta": learned.tta, "penalty": learned.penalty,
                          "skipped": [m for _, m in learned.skipped],
                          **{k: v for k, v in learned.training.items()}}))
    else:
        print(_learn_report(learned, args.output, sha))
    return 0


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


def _input_shape(text):
    """--input-shape: C,H,W, or N,C,H,W with the batch N dropped."""
    if not text:
        return None
    values = _ints(text, 4, "--input-shape") if text.replace("x", ",").count(",") == 3 else None
    return values[1:] if values else _ints(text, 3, "--input-shape")


def _torch_source(args, kind, input_shape):
    """(ONNX model, features tensor, provenance) from a PyTorch file (converters.torch_import)."""
    from converters.torch_checkpoint import RefusedObjectError, load_state_dict
    from converters.torch_import import pickle_refused, torch_to_onnx
    from predict.batch.worker import file_sha256

    provenance = {"source": os.path.basename(args.src), "source_sha256": file_sha256(args.src)}
    state = None
    if kind == "checkpoint":
        try:
            state = load_state_dict(args.src)
        except RefusedObjectError as e:  # not a plain state dict: maybe a whole pickled model
            if not args.trust_pickle:
                raise pickle_refused(str(e)) from None
    if state is not None:
        from converters.torch_arch import build_onnx

        if input_shape and input_shape[0] != 3:
            raise CommandError(f"--input-shape: the known architectures take 3 channels, "
                               f"got {input_shape[0]}")
        built = build_onnx(state, args.arch, input_size=input_shape[1:] if input_shape else None)
        provenance["architecture"] = built.arch
        print(f"{args.src}: {built.arch} state dict ({built.num_classes} classes, input "
              f"{built.input_size[0]}x{built.input_size[1]})")
        return built.model, args.features or built.features, provenance
    if args.arch:
        raise CommandError("--arch names the architecture of a plain state dict; a TorchScript "
                           "or pickled model carries its own")
    return torch_to_onnx(args.src, input_shape, kind=kind, trust_pickle=args.trust_pickle), \
        args.features, provenance


def _convert(args):
    try:
        import onnx
    except ImportError:
        raise CommandError("predict convert needs the onnx package, which is not installed: "
                           "pip install 'predict[convert]'") from None
    from converters.onnx_import import convert_onnx_file
    from converters.torch_import import sniff

    input_shape = _input_shape(args.input_shape)
    kind = sniff(args.src)
    if kind == "onnx":
        if args.arch or args.trust_pickle:
            raise CommandError("--arch and --trust-pickle are for PyTorch files; "
                               f"{args.src} is not one")
        try:
            model = onnx.load(args.src)
        except OSError as e:
            raise CommandError(f"{args.src}: cannot read: {e.strerror or e}") from None
        except Exception as e:  # protobuf's DecodeError and friends: not an ONNX file
            raise ConversionError(
                f"{args.src}: not a readable ONNX model ({type(e).__name__}: {e})") from None
        features, provenance = args.features, {"source": os.path.basename(args.src)}
    else:
        model, features, provenance = _torch_source(args, kind, input_shape)
        input_shape = None  # the graph's input is fixed now
    args.features = features
    spec = _preprocess_spec(args, model, input_shape)
    labels = _read_labels(args.labels) if args.labels else None
    if args.int8:
        sha = _convert_int8(args, model, input_shape, spec, labels, provenance)
    else:
        if args.calibrate or args.float_layers or args.min_agreement is not None:
            raise CommandError("--calibrate, --float-layers and --min-agreement go with --int8")
        sha = convert_onnx_file(model, args.output, input_shape=input_shape, labels=labels,
                                preprocess=spec, features=args.features, provenance=provenance)
    print(f"wrote {args.output} (sha256 {sha})")
    status = _check(args, model, input_shape) if args.check else 0
    if spec is not None and not any(
            v is not None for v in (args.mean, args.std, args.scale, args.channels)):
        print(f"preprocess: ImageNet defaults (resize {spec['resize']}, crop {spec['size']}, "
              f"mean {spec['mean']}, std {spec['std']}); change with --mean/--std/--size/--resize, "
              f"or --no-preprocess")
    return status


def _check(args, model, input_shape):
    """--check: the written network against onnxruntime (or onnx's reference evaluator) on
    random inputs; 1 when an output differs by more than the tolerance."""
    from converters.onnx_check import DEFAULT_RTOL, check_onnx, format_check

    rtol = args.check_rtol if args.check_rtol is not None else (
        INT8_CHECK_RTOL if args.int8 else DEFAULT_RTOL)
    report = check_onnx(model, input_shape=input_shape, rtol=rtol, pnet=args.output)
    print(format_check(report))
    return 0 if report["ok"] else 1


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
        min_agreement=args.min_agreement, equalize=not args.no_equalize,
        fallback_budget=args.fallback_budget,
        pixel_input=not args.no_pixel_input, rounding=args.rounding, tune=args.tune_ranges)
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


def _cpu_info():
    """What the C core found in this CPU and the kernel family it runs with."""
    from predict import _native, checksum
    from predict.errors import NativeError

    try:
        isa = _native.isa()
    except NativeError as e:
        isa = f"none: {e}"
    return {"machine": platform.machine(), "cpu_features": _native.cpu_features(),
            "runnable_isas": _native.runnable_isas(), "isa": isa, "sha256": checksum.implementation(),
            "sha256_tree": checksum.tree_implementation(),
            "forced_by": "PREDICT_ISA" if os.environ.get("PREDICT_ISA") else None}


def _info(args):
    if args.model is None and not args.cpu:
        _fail_line("give a MODEL, or --cpu")
        return 2
    info = {}
    if args.model is not None:
        with predict.load(args.model, max_batch=1) as net:
            info = net.info()
    if args.cpu:
        info = {**info, "cpu": _cpu_info()} if info else _cpu_info()
    if args.json:
        print(json.dumps(info, indent=2))
        return 0
    if args.model is not None:
        print(_info_text(info))
    if args.cpu:
        cpu = info["cpu"] if args.model is not None else info
        print(f"cpu         {cpu['machine']}, features: {', '.join(cpu['cpu_features']) or 'none'}")
        print(f"  kernels   {cpu['isa']}" + (" (forced by PREDICT_ISA)" if cpu["forced_by"] else "")
              + f"; this CPU runs: {', '.join(cpu['runnable_isas'])}")
        print(f"  checksum  {cpu['sha256_tree']} (the model checksum: a SHA-256 tree; plain "
              f"SHA-256 with {cpu['sha256']})")
    return 0


def _bench(args):
    from predict.benchmark import measure, report

    if args.runs < 1 or args.batch < 1 or args.threads < 1:
        _fail_line("--runs, --batch and --threads must be >= 1")
        return 2
    result = measure(args.model or _default_model(), args.photo, threads=args.threads,
                     batch=args.batch, runs=args.runs, fresh=not args.no_memory)
    print(json.dumps(result, indent=2) if args.json else report(result))
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
            "Fast, small convnet inference: classify photos with .pnet models, tag whole "
            "collections into a database, teach models new classes from example photos, "
            "convert ONNX and PyTorch models to .pnet, describe model files.", 79),
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
    p.add_argument("--predictor", "-p", metavar="FILE",
                   help="name the classes learned by `predict learn` instead of the model's "
                        "own; the model must be the one it was trained on")
    p.add_argument("--tta", action="store_true",
                   help="also look at each photo's mirror image and average (twice the work); "
                        "a predictor learned with --tta always does")
    p.add_argument("--threads", "-t", type=int, default=1,
                   help="threads one photo's inference uses (default 1)")
    p.set_defaults(run=_classify)

    p = _subcommand(
        commands, "learn", "learn new classes from example photos",
        "Teach the model new classes from a folder of example photos per class (a few dozen "
        "each is often enough): the photos go through the model once, a logistic-regression "
        "head is fitted on their features with its regularization chosen by cross-validation, "
        "the held-out accuracy is printed, and the predictor is saved for `predict classify "
        "--predictor`. Photos that cannot be read are skipped and listed on stderr.",
        "predict learn --class cat=photos/cats --class dog=photos/dogs -o pets.predictor")
    p.add_argument("--class", "-c", dest="classes", action="append", required=True,
                   metavar="NAME=FOLDER",
                   help="a class and its folder of photos (searched recursively); repeat for "
                        "each class, two or more")
    p.add_argument("-o", "--output", required=True, metavar="FILE",
                   help="the predictor file to write")
    p.add_argument("--model", "-m",
                   help=f"the .pnet model (default: ${MODEL_ENV} or {DEFAULT_MODEL})")
    p.add_argument("--layer", metavar="TENSOR",
                   help="learn on this tensor's output instead of the model's penultimate "
                        "features (names: `predict info --json`)")
    p.add_argument("--tta", action="store_true",
                   help="average each photo's features with its mirror image's, when learning "
                        "and when classifying (twice the work)")
    p.add_argument("--folds", type=int, default=5,
                   help="cross-validation folds for choosing the regularization (default 5)")
    p.add_argument("--seed", type=int, default=0, help="how the folds are shuffled (default 0)")
    p.add_argument("--json", action="store_true",
                   help="print one JSON document with the training report")
    p.set_defaults(run=_learn)

    p = _subcommand(
        commands, "convert", "convert an ONNX or PyTorch model to .pnet",
        "Convert a convnet to a .pnet file, with its class labels and how photos are prepared "
        "for it. SRC is an ONNX model; or a PyTorch state dict (torch.save(model.state_dict())) "
        "of a known architecture, read without torch and recognized from its keys: "
        "torchvision's ResNet/ResNeXt/Wide ResNet, SqueezeNet 1.0/1.1, MobileNetV2, "
        "MobileNetV3 large/small, and EfficientNet-Lite0-4 / B0-7 in the efficientnet_pytorch "
        "layout; or a TorchScript file (needs torch and --input-shape). A whole pickled model "
        "(torch.save(model)) is loaded only with --trust-pickle, since loading it runs code "
        "from the file. Without preprocess options an RGB image model gets torchvision's "
        "ImageNet preprocessing (resize 256, crop 224, mean/std). Needs the onnx package "
        "(pip install 'predict[convert]').",
        "predict convert resnet18.onnx -o resnet18.pnet --labels imagenet.txt --size 224")
    p.add_argument("src", metavar="SRC",
                   help="the model file: .onnx, a PyTorch state dict (.pth), or TorchScript (.pt)")
    p.add_argument("-o", "--output", required=True, metavar="DST", help="the .pnet file to write")
    p.add_argument("--input-shape", metavar="C,H,W",
                   help="the input's shape without the batch (N,C,H,W is accepted, N ignored): "
                        "for an ONNX model whose shape is not fixed, a TorchScript or pickled "
                        "model (required), or the photo size a state dict's network is built for")
    p.add_argument("--arch", metavar="NAME",
                   help="the architecture of a PyTorch state dict (default: recognized from its "
                        "keys and shapes), e.g. resnet50, mobilenet_v3_small, efficientnet_lite0")
    p.add_argument("--trust-pickle", action="store_true",
                   help="load a whole pickled PyTorch model with torch.load(weights_only=False), "
                        "which runs code from the file: only for files you trust; needs torch")
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
    c = p.add_argument_group("checking the result")
    c.add_argument("--check", action="store_true",
                   help="run the written network and onnxruntime (or onnx's reference "
                        "evaluator) on the same random inputs, print the largest difference "
                        "per output, exit 1 when one is above the tolerance")
    c.add_argument("--check-rtol", type=float, metavar="R",
                   help="the tolerance, relative to each output's largest magnitude "
                        "(default 1e-4; 0.1 with --int8)")
    q = p.add_argument_group("int8 quantization (docs/quantization.md)")
    q.add_argument("--int8", action="store_true", help="quantize to int8, calibrated on photos")
    q.add_argument("--calibrate", metavar="PHOTOS_DIR",
                   help="a folder of photos to calibrate on (every 4th is held out to measure)")
    q.add_argument("--method", choices=("minmax", "percentile", "entropy", "mse"), default="mse",
                   help="how activation ranges are chosen (default: mse, the clipping range "
                        "with the smallest squared quantization error)")
    q.add_argument("--no-equalize", action="store_true",
                   help="skip cross-layer equalization of channel ranges before calibration")
    q.add_argument("--no-pixel-input", action="store_true",
                   help="quantize the normalized input instead of giving the first "
                        "convolution the exact pixels")
    q.add_argument("--rounding", choices=("gptq", "nearest"), default="gptq",
                   help="how fc and 1x1 conv weights are rounded to int8 (default: gptq, by "
                        "their output error on the calibration photos; nearest: each alone)")
    q.add_argument("--float-layers", metavar="NAME,...",
                   help="layers to keep in float32 (names as `predict info --json` lists them)")
    q.add_argument("--max-layer-error", type=float, metavar="E",
                   help="keep float32 the layers whose own relative error passes E")
    q.add_argument("--fallback-budget", type=int, metavar="BYTES",
                   help="keep float32 the layers whose int8 error moves the output most "
                        "(measured one at a time on calibration photos), while their float "
                        "weights add at most BYTES to the file")
    q.add_argument("--tune-ranges", action="store_true",
                   help="choose each uint8 tensor's range among a few scalings of its "
                        "calibrated one by the error of the model's output (KL divergence) "
                        "on every fourth calibration photo, kept out of the ranges; slower")
    q.add_argument("--min-agreement", type=float, metavar="X",
                   help="fail when int8 top-1 agreement with float32 is below X (0..1)")
    p.set_defaults(run=_convert)

    p = _subcommand(
        commands, "info", "describe a .pnet model file",
        "Print what a .pnet file holds: operators, parameters, sizes, input and output shapes, "
        "preprocessing, labels, memory needed and where the model came from.",
        "predict info models/mobilenet_v2.pnet --json")
    p.add_argument("model", metavar="MODEL", nargs="?", help="the .pnet file")
    p.add_argument("--cpu", action="store_true",
                   help="also (or only) show the CPU's SIMD features and the kernels chosen "
                        "(PREDICT_ISA=ref|avx2|avx512|neon|neondot forces a family)")
    p.add_argument("--json", action="store_true", help="print one JSON document")
    p.set_defaults(run=_info)

    p = _subcommand(
        commands, "bench", "measure a model's speed and memory on this machine",
        "Time loading the model, inference at batch 1 (median and 90th percentile) and "
        "throughput at a larger batch, and report the peak resident memory of a fresh process "
        "that imports predict, loads the model and classifies one photo. bench/ in the source "
        "tree compares with onnxruntime side by side.",
        "predict bench --model models/mobilenet_v2_int8.pnet --threads 2")
    p.add_argument("--model", "-m",
                   help=f"the .pnet model (default: ${MODEL_ENV} or {DEFAULT_MODEL})")
    p.add_argument("--photo", metavar="PHOTO",
                   help="the photo to classify and time (default: a synthetic 640x480 JPEG)")
    p.add_argument("--threads", "-t", type=int, default=1, help="inference threads (default 1)")
    p.add_argument("--batch", "-b", type=int, default=8,
                   help="batch size of the throughput figure (default 8)")
    p.add_argument("--runs", "-n", type=int, default=30,
                   help="batch-1 runs timed (default 30)")
    p.add_argument("--no-memory", action="store_true",
                   help="skip the fresh-process memory measurement")
    p.add_argument("--json", action="store_true", help="print one JSON document")
    p.set_defaults(run=_bench)

    from predict.batch.command import add_commands

    add_commands(commands, _subcommand,
                 f"the .pnet model (default: ${MODEL_ENV} or {DEFAULT_MODEL})")
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
