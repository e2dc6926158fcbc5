"""Known PyTorch architectures: recognize a state dict's layout and build its ONNX graph.

Every architecture module (resnet, squeezenet, mobilenet_v2, mobilenet_v3, efficientnet) lists
its ``VARIANTS`` and records a variant on a ``torch_graph.GraphBuilder``. A state dict is matched
against every variant's keys and shapes (the class count is read from the classifier's weight,
so fine-tuned checkpoints with other class counts match too); exactly one must fit.

    >>> sorted(ARCHITECTURES)[:3]
    ['efficientnet_b0', 'efficientnet_b1', 'efficientnet_b2']
    >>> expected_shapes("resnet18")["fc.weight"]
    (1000, 512)
"""

import collections
import importlib

import numpy as np

from predict.errors import ConversionError

from .torch_graph import GraphBuilder, check_state_dict, describe_problems, layout_problems

__all__ = ["ARCHITECTURES", "Built", "build_onnx", "detect", "expected_shapes",
           "strip_prefix"]

_FAMILIES = ("resnet", "squeezenet", "mobilenet_v2", "mobilenet_v3", "efficientnet")
MIN_INPUT_SIZE = 32


def _architectures():
    table = collections.OrderedDict()
    for family in _FAMILIES:
        module = importlib.import_module(f"{__package__}.{family}")
        for name in module.VARIANTS:
            table[name] = module
    return table


ARCHITECTURES = _architectures()  # name -> its module

# What build_onnx returns: the ModelProto, the architecture's name, the tensor holding the
# penultimate features (or None), the input's (H, W) and the class count.
Built = collections.namedtuple("Built", "model arch features input_size num_classes")


def strip_prefix(state_dict):
    """The state dict without the ``module.`` prefix that nn.DataParallel / DDP put on every key.

    >>> list(strip_prefix({"module.fc.weight": 1, "module.fc.bias": 2}))
    ['fc.weight', 'fc.bias']
    """
    if state_dict and all(k.startswith("module.") for k in state_dict):
        return collections.OrderedDict((k[len("module."):], v) for k, v in state_dict.items())
    return state_dict


def _num_classes(state_dict, module):
    weight = state_dict.get(module.CLASSIFIER)
    shape = np.shape(weight) if weight is not None else ()
    return int(shape[0]) if len(shape) >= 1 and shape[0] > 0 else 1000


def _size_pair(input_size, name):
    if input_size is None:
        size = ARCHITECTURES[name].default_input_size(name)
        return size, size
    if type(input_size) is int:
        input_size = (input_size, input_size)
    if (not isinstance(input_size, (tuple, list)) or len(input_size) != 2
            or any(type(s) is not int or s < MIN_INPUT_SIZE for s in input_size)):
        raise ConversionError(f"input_size must be an integer >= {MIN_INPUT_SIZE} or a pair of "
                              f"them (height, width), got {input_size!r}")
    return tuple(input_size)


def _record(name, num_classes, input_size):
    g = GraphBuilder()
    head = ARCHITECTURES[name].build(g, name, num_classes, input_size)
    return g, head


def expected_shapes(name, num_classes=1000, input_size=None):
    """Every state-dict key of architecture ``name`` with its shape, in module order
    (``num_batches_tracked`` is optional and not listed).

    >>> expected_shapes("squeezenet1_1", 10)["classifier.1.weight"]
    (10, 512, 1, 1)
    """
    if name not in ARCHITECTURES:
        raise ConversionError(f"unknown architecture {name!r}; known: {', '.join(ARCHITECTURES)}")
    g, _ = _record(name, num_classes, _size_pair(input_size, name))
    return collections.OrderedDict(g.shapes)


def detect(state_dict):
    """The name of the one known architecture whose keys and shapes ``state_dict`` has.

    Raises ``ConversionError`` listing the known architectures and, for the closest ones, the
    missing and unexpected keys and the wrong shapes.

    >>> detect({"fc.weight": np.zeros((2, 3))})  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    predict.errors.ConversionError: the checkpoint matches no known architecture ...
    """
    state_dict = strip_prefix(state_dict)
    fits, misses = [], []
    for name, module in ARCHITECTURES.items():
        g, _ = _record(name, _num_classes(state_dict, module), _size_pair(None, name))
        missing, unexpected, wrong = layout_problems(state_dict, g)
        if not (missing or unexpected or wrong):
            fits.append(name)
        else:
            # Closeness: the share of key names not in common (so a small architecture is not
            # "closer" just for having fewer keys), then the number of wrong shapes.
            distance = (len(missing) + len(unexpected)) / (len(g.shapes) + len(state_dict))
            misses.append((distance, len(wrong), len(misses), name, (missing, unexpected, wrong)))
    if len(fits) == 1:
        return fits[0]
    if fits:  # cannot happen with the tables as they are; refuse rather than guess
        raise ConversionError(f"the checkpoint fits several architectures ({', '.join(fits)}): "
                              "choose one with --arch")
    closest = sorted(misses)[:3]
    lines = [f"  - {name}: {describe_problems(*problems)}" for *_, name, problems in closest]
    raise ConversionError(
        "the checkpoint matches no known architecture (a state dict of "
        f"{len(state_dict)} tensor{'s' if len(state_dict) != 1 else ''}; known: "
        f"{', '.join(ARCHITECTURES)}). The closest:\n"
        + "\n".join(lines))


def build_onnx(state_dict, arch=None, *, opset=17, input_size=None):
    """Build the ONNX graph of a known architecture from its state dict; returns ``Built``.

    ``arch`` names the architecture (``ARCHITECTURES``); by default it is detected from the
    keys and shapes. ``input_size`` (an int or (H, W)) is the photo size the graph takes; by
    default the architecture's own (224, or EfficientNet's resolution). The graph's input is
    ``input`` [N, 3, H, W], its output ``logits`` [N, classes].

    >>> from converters.torch_checkpoint import load_state_dict
    >>> built = build_onnx(load_state_dict("resnet18-f37072fd.pth"))  # doctest: +SKIP
    >>> built.arch, built.num_classes                                   # doctest: +SKIP
    ('resnet18', 1000)
    """
    state_dict = strip_prefix(state_dict)
    if arch is None:
        arch = detect(state_dict)
    elif arch not in ARCHITECTURES:
        raise ConversionError(f"unknown architecture {arch!r}; known: {', '.join(ARCHITECTURES)}")
    module = ARCHITECTURES[arch]
    try:
        import onnx
    except ImportError:
        raise ConversionError("building an ONNX graph needs the onnx package: "
                              "pip install 'predict[convert]'") from None
    newest = onnx.defs.onnx_opset_version()
    if type(opset) is not int or not module.MIN_OPSET <= opset <= newest:
        raise ConversionError(f"opset must be an integer from {module.MIN_OPSET} to {newest} "
                              f"for {arch}, got {opset!r}")
    size = _size_pair(input_size, arch)
    num_classes = _num_classes(state_dict, module)
    g, head = _record(arch, num_classes, size)
    weights = check_state_dict(state_dict, g, module.describe(arch))
    model = g.to_onnx(weights, name=arch, output=head.output, output_channels=head.channels,
                      input_size=size, opset=opset,
                      doc=f"{module.describe(arch)}, built by converters.torch_arch")
    return Built(model, arch, head.features, size, num_classes)
