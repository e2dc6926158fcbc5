"""Model converters: from trained models to predict's .pnet files.

ONNX is the interchange format (``converters.onnx_import``). PyTorch checkpoints of known
architectures are read without torch (``converters.torch_checkpoint``, a restricted unpickler
that only rebuilds tensors), recognized and rebuilt as ONNX graphs (``converters.torch_arch``
with one builder per family: ``resnet``, ``squeezenet``, ``mobilenet_v2``, ``mobilenet_v3``,
``efficientnet``, on the helpers of ``torch_graph``) and go through the same ONNX path, so
onnxruntime can always check what we produce. TorchScript files go through torch.onnx.export
(``converters.torch_import``).
``python -m converters.default_model -o models/mobilenet_v2.pnet`` builds the default model.

Importing this package imports nothing else: onnx and the rest load only when a converter runs.
"""
