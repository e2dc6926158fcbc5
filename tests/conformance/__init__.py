"""Conformance of the converter and the engine against the ONNX backend test data."""
