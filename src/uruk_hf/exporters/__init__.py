"""Export of the renderers to deployment formats (ONNX through Optimum)."""
