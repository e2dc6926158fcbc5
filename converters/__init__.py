"""Model converters: from trained models to predict's .pnet files.

ONNX is the interchange format (``converters.onnx_import``). PyTorch checkpoints of known
architectures are read without torch (``converters.torch_checkpoint``, a restricted unpickler
that only rebuilds tensors), rebuilt as ONNX graphs (``converters.mobilenet_v2``) and go through
the same ONNX path, so onnxruntime can always check what we produce.
``python -m converters.default_model -o models/mobilenet_v2.pnet`` builds the default model.

Importing this package imports nothing else: onnx and the rest load only when a converter runs.
"""
