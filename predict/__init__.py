"""predict: fast, small convnet inference on small CPUs.

Load a .pnet model and ask it what is in a photo::

    >>> import predict
    >>> net = predict.load("models/mobilenet_v2.pnet")        # doctest: +SKIP
    >>> net.classify("chelsea.jpg", top=3)                    # doctest: +SKIP
    [('Egyptian cat', 0.69...), ('tabby, tabby cat', 0.15...), ('tiger cat', 0.14...)]

``Network.run`` takes and returns arrays in the source model's layout,
``Network.features`` gives the penultimate vectors (or any layer's).  ``predict.learn``
teaches a model new classes from a few example photos each and returns a ``Predictor``;
``predict.load_predictor`` reads a saved one back::

    >>> pets = predict.learn(net, {"cat": "cats/", "dog": "dogs/"})  # doctest: +SKIP
    >>> pets.save("pets.predictor")                                  # doctest: +SKIP
  Every error predict
raises on purpose is a ``predict.PredictError``.  Converting models
(``converters``, needing the ``convert`` extra) is separate: importing
predict never imports onnx.
"""

from predict.errors import (
    CheckpointError,
    ConversionError,
    ImageError,
    InputError,
    ModelFormatError,
    NativeError,
    PredictError,
    PredictorError,
    UnsupportedModelError,
)
from predict.network import Network, load

# Learning new classes is not every process's job: its modules load on first use.
_LAZY = {"learn": "predict.learning", "Predictor": "predict.predictor",
         "load_predictor": "predict.predictor"}


def __getattr__(name):
    if name in _LAZY:
        import importlib

        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'predict' has no attribute {name!r}")

__version__ = "0.1.0"

__all__ = [
    "CheckpointError",
    "ConversionError",
    "ImageError",
    "InputError",
    "ModelFormatError",
    "NativeError",
    "Network",
    "PredictError",
    "Predictor",
    "PredictorError",
    "UnsupportedModelError",
    "__version__",
    "learn",
    "load",
    "load_predictor",
]
