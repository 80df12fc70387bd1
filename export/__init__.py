"""Deployment side: exporters (TensorFlow needed) and the ONNX runtime wrapper (TensorFlow-free).

Importing this package imports nothing heavy; ``export.convert`` and ``export.exporter`` load
TensorFlow, ``export.onnx_model`` and ``export.metadata`` never do.
"""
