"""PyTorch files as ONNX graphs: plain checkpoints without torch, whole models through torch.

``predict convert`` hands any file that is not ONNX here:

- a plain checkpoint (``torch.save(model.state_dict())``, zip or legacy format) is read by the
  restricted reader (``torch_checkpoint``, no torch, no code run), its architecture recognized
  from its keys and shapes (``torch_arch``) and its graph built by the architecture's builder;
- a TorchScript archive (``torch.jit.save``) is loaded by ``torch.jit.load`` and exported by
  ``torch.onnx.export``: this needs torch and the input shape;
- a pickled whole model (``torch.save(model)``) can only be loaded by ``torch.load`` with
  ``weights_only=False``, which runs whatever code the file names: like running a program from
  its author. It is done only when asked for explicitly (``trust_pickle``), and needs torch, the
  model's own classes importable, and the input shape.

    >>> sniff("resnet18.onnx")  # doctest: +SKIP
    'onnx'
"""

import os
import tempfile
import zipfile

from predict.errors import ConversionError

__all__ = ["sniff", "torch_to_onnx", "pickle_refused", "EXPORT_OPSET", "TORCH_HINT"]

EXPORT_OPSET = 17
TORCH_HINT = ("pip install torch (a CPU build is enough; only converting needs it, predict runs "
              "without it)")
_PICKLE_RISK = ("loading it with torch.load(weights_only=False) runs code named in the file, "
                "as if you ran a program from its author")


def sniff(path):
    """What ``path`` holds, from its first bytes: ``'checkpoint'`` (a torch.save zip or legacy
    pickle), ``'torchscript'`` (a torch.jit.save archive) or ``'onnx'`` (anything else, left to
    the ONNX reader to accept or refuse).

    >>> import io, tempfile, os
    >>> with tempfile.NamedTemporaryFile(suffix=".pt", delete=False) as f:
    ...     _ = f.write(b"\\x80\\x02}q\\x00.")
    >>> sniff(f.name); os.unlink(f.name)
    'checkpoint'
    """
    try:
        with open(path, "rb") as f:
            head = f.read(4)
    except OSError as e:
        raise ConversionError(f"{path}: cannot read: {e.strerror or e}") from None
    if head[:1] == b"\x80":  # a pickle: the legacy torch.save stream
        return "checkpoint"
    if head != b"PK\x03\x04":
        return "onnx"
    try:
        with zipfile.ZipFile(path) as z:
            names = z.namelist()
    except (zipfile.BadZipFile, OSError) as e:
        raise ConversionError(f"{path}: a damaged zip archive ({e})") from None
    # TorchScript archives carry the model's code and constants beside data.pkl.
    if any("/code/" in n or n.endswith("/constants.pkl") for n in names):
        return "torchscript"
    return "checkpoint"


def _import_torch(what):
    try:
        import torch
    except ImportError:
        raise ConversionError(f"{what} needs PyTorch, which is not installed: {TORCH_HINT}") \
            from None
    return torch


def pickle_refused(reason):
    """The error for a checkpoint the restricted reader refused (``reason``) when loading it
    with torch was not asked for.

    >>> str(pickle_refused("m.pt: refused global a.B")).splitlines()[0]
    'm.pt: refused global a.B'
    """
    return ConversionError(
        f"{reason}\nIf this file is a whole pickled model (torch.save(model)): {_PICKLE_RISK}. "
        "Re-save it with torch.save(model.state_dict(), PATH) (a known architecture then "
        "converts without torch), or pass --trust-pickle (with --input-shape) if you trust "
        "where the file comes from.")


def _load_module(torch, path, kind):
    name = os.path.basename(path)
    try:
        if kind == "torchscript":
            return torch.jit.load(path, map_location="cpu")
        return torch.load(path, map_location="cpu", weights_only=False)
    except Exception as e:  # missing classes, corrupt archives, anything torch raises
        raise ConversionError(f"torch cannot load {name}: {type(e).__name__}: {e}") from None


def torch_to_onnx(path, input_shape, *, kind, trust_pickle=False, opset=EXPORT_OPSET):
    """Load a TorchScript archive (``kind='torchscript'``) or, with ``trust_pickle``, a pickled
    ``nn.Module`` (``kind='checkpoint'``), and export it with ``torch.onnx.export`` for inputs of
    ``input_shape`` ([C, H, W]; the batch stays dynamic); returns the ``onnx.ModelProto``.

    >>> model = torch_to_onnx("model.pt", [3, 224, 224], kind="torchscript")  # doctest: +SKIP
    """
    import onnx

    if kind not in ("torchscript", "checkpoint"):
        raise ConversionError(f"unknown PyTorch file kind {kind!r}")
    if kind == "checkpoint" and not trust_pickle:
        raise pickle_refused(f"{os.path.basename(path)} is not a plain state dict")
    torch = _import_torch("converting a TorchScript or pickled model")
    module = _load_module(torch, path, kind)
    if not isinstance(module, torch.nn.Module):
        raise ConversionError(f"{os.path.basename(path)} holds a {type(module).__name__}, not a "
                              "model (nn.Module)")
    if input_shape is None:
        raise ConversionError("a TorchScript or pickled model does not say what input it takes: "
                              "give --input-shape C,H,W (e.g. 3,224,224)")
    module.eval()
    example = torch.zeros([1] + list(input_shape), dtype=torch.float32)
    with tempfile.TemporaryDirectory(prefix="predict-export-") as folder:
        onnx_path = os.path.join(folder, "model.onnx")
        try:
            with torch.no_grad():
                torch.onnx.export(module, (example,), onnx_path, opset_version=opset,
                                  input_names=["input"], dynamic_axes={"input": {0: "N"}},
                                  do_constant_folding=True, dynamo=False)
        except Exception as e:
            raise ConversionError(f"torch.onnx.export failed for {os.path.basename(path)}: "
                                  f"{type(e).__name__}: {str(e)[:500]}") from None
        return onnx.load(onnx_path)
