"""The clinic desktop app: a PySide6 window around the onnxruntime engine (no TensorFlow).

Start it with ``python -m desktop`` or the ``vessel-desktop`` console script.

The package is split into a Qt-free core, tested without a display, and a thin Qt shell:

* core: :mod:`desktop.preferences` (settings values, recent files), :mod:`desktop.state`
  (what each view shows), :mod:`desktop.formatting` (text for panels and the About box),
  :mod:`runtime.cancellation`, :mod:`desktop.tasks` (what the workers run) and
  :mod:`desktop.batch` (folder runs with per-image progress);
* shell: :mod:`desktop.workers`, :mod:`desktop.image_view`, :mod:`desktop.panels`,
  :mod:`desktop.batch_dialog`, :mod:`desktop.main_window`, :mod:`desktop.settings` and
  :mod:`desktop.app`.

Importing this package imports neither Qt nor onnxruntime, and nothing in it ever imports
TensorFlow or Keras.
"""
