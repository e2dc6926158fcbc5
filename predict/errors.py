"""The exceptions predict raises: every user-facing failure is one of these.

Catch ``PredictError`` to handle them all::

    >>> import predict
    >>> try:
    ...     predict.load("missing.pnet")
    ... except predict.PredictError as e:
    ...     print(type(e).__name__)
    ModelFormatError
"""


class PredictError(Exception):
    """Base class of every error predict raises on purpose."""


class ModelFormatError(PredictError, ValueError):
    """A .pnet file is missing, truncated, corrupt, lies about itself, or breaks a limit."""


class UnsupportedModelError(PredictError, ValueError):
    """A source model uses operators or attributes predict cannot run.

    ``problems`` lists every one found, as ``(node_name, op_type, reason)``.
    """

    def __init__(self, message, problems=()):
        super().__init__(message)
        self.problems = list(problems)


class ConversionError(PredictError, ValueError):
    """A source model could not be converted for a reason other than a missing operator."""


class CheckpointError(PredictError, ValueError):
    """A PyTorch checkpoint is malformed or names something the restricted reader refuses."""


class ImageError(PredictError, ValueError):
    """An image cannot be read, decoded, or is too large to decode safely."""


class InputError(PredictError, ValueError):
    """An input array has the wrong shape, dtype or batch size for the network."""


class PredictorError(PredictError, ValueError):
    """A predictor file (``predict learn``) is missing, truncated, corrupt, or was trained on a
    different model or layer than the one it is applied to."""


class NativeError(PredictError, RuntimeError):
    """The C core refused a request; ``status`` is its pd_status name, e.g. 'PD_ERR_SHAPE'."""

    def __init__(self, message, status="PD_ERR_ARGUMENT"):
        super().__init__(message)
        self.status = status
