"""Deployment side: exporters (TensorFlow needed) and the ONNX runtime wrapper (TensorFlow-free).

Importing this package imports nothing heavy; ``export.convert`` and ``export.exporter`` load
TensorFlow, ``runtime.onnx_session`` and ``export.metadata`` never do.
"""
