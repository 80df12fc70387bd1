"""The shipped models (``<name>/<name>.onnx``, ``.int8.onnx``, ``config.json``).

In the repository this is a plain folder; a wheel carries its ONNX files and cards as the
package ``runtime.shipped`` (``setup.cfg``: ``package_dir``), where :mod:`runtime.models` finds
them with :mod:`importlib.resources`, from any working directory.
"""
