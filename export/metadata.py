"""The ONNX ``metadata_props`` contract between export and every runtime (TensorFlow-free).

Export writes these keys from the model card; the runtime reads them and hard-codes nothing.
All values are strings; structured values are JSON.
"""

from __future__ import annotations

import json
from typing import Any

from runtime.constants import INPUT_NAME, INPUT_VALUE_RANGE, OUTPUT_NAME
from runtime.model_card import card_threshold

#: Keys every exported ONNX model carries, and what they hold.
METADATA_KEYS: dict[str, str] = {
    "model_name": "name of the model",
    "model_version": "version of the model / package that trained it",
    "input_name": "name of the single graph input",
    "output_name": "name of the single graph output",
    "input_layout": "layout and colour order of the input",
    "input_multiple": "height and width must be multiples of this (2**depth)",
    "input_value_range": "JSON [low, high] of the raw input values",
    "threshold": "recommended probability threshold (chosen on validation data)",
    "threshold_source": "how the threshold was chosen",
    "training_data": "data the model was trained on",
    "validation_metrics": "JSON pooled FOV metrics on the validation images",
    "test_metrics": "JSON pooled FOV metrics on the DRIVE test set ({} if not evaluated)",
    "test_metrics_tta": "JSON the same with flip test-time augmentation ({} if not evaluated)",
    "precision": "fp32, int8 (static QDQ) or fp16",
}


def build_metadata(card: dict[str, Any], precision: str = "fp32") -> dict[str, str]:
    """Metadata for an exported model from its Keras model card.

    Args:
        card: The ``config.json`` beside the ``.keras`` file (see :mod:`runtime.model_card`).
        precision: Numeric precision of the exported graph.

    Returns:
        A dict with exactly the keys of :data:`METADATA_KEYS`.

    Raises:
        ValueError: The card lacks the model section (multiple).
    """
    model = card.get("model", {})
    if "multiple" not in model:
        raise ValueError("model card has no 'model.multiple' (was the model trained here?)")
    data = card.get("data", {})
    training = (
        f"{data.get('source', 'DRIVE training')}: fit on {len(data.get('train_ids', []))} images "
        f"({', '.join(data.get('train_ids', []))}), validation on "
        f"{len(data.get('validation_ids', []))} ({', '.join(data.get('validation_ids', []))})"
    )
    validation = card.get("validation_summary") or card.get("validation", {}).get(
        "at_threshold", {}
    )
    return {
        "model_name": str(card.get("name", "unet")),
        "model_version": str(card.get("version", "0")),
        "input_name": INPUT_NAME,
        "output_name": OUTPUT_NAME,
        "input_layout": "NHWC float32 RGB",
        "input_multiple": str(int(model["multiple"])),
        "input_value_range": json.dumps(list(INPUT_VALUE_RANGE)),
        "threshold": repr(card_threshold(card)),
        "threshold_source": str(card.get("threshold_source", "default")),
        "training_data": training,
        "validation_metrics": json.dumps(_numbers(validation)),
        "test_metrics": json.dumps(_numbers(card.get("test_summary", {}))),
        "test_metrics_tta": json.dumps(_numbers(card.get("test_summary_tta", {}))),
        "precision": precision,
    }


def _numbers(metrics: dict[str, Any]) -> dict[str, float]:
    return {k: round(float(v), 4) for k, v in metrics.items() if isinstance(v, int | float)}


def parse_metadata(props: dict[str, str], source: str = "model") -> dict[str, Any]:
    """Check and decode metadata read from an ONNX model.

    Args:
        props: ``metadata_props`` as a dict (``onnxruntime``'s ``custom_metadata_map``).
        source: Name used in error messages (the file).

    Returns:
        The values, typed: ints, floats, lists and dicts where the key holds them.

    Raises:
        ValueError: A required key is missing or malformed (names the key).
    """
    missing = [
        k for k in ("input_multiple", "threshold", "input_name", "output_name") if k not in props
    ]
    if missing:
        raise ValueError(
            f"{source}: ONNX metadata lacks {', '.join(missing)} "
            "(not exported by this project's exporter?)"
        )
    try:
        out: dict[str, Any] = dict(props)
        out["input_multiple"] = int(props["input_multiple"])
        out["threshold"] = float(props["threshold"])
        for key in ("input_value_range", "validation_metrics", "test_metrics", "test_metrics_tta"):
            if key in props:
                out[key] = json.loads(props[key])
    except (ValueError, json.JSONDecodeError) as exc:
        raise ValueError(f"{source}: malformed ONNX metadata ({exc})") from None
    if out["input_multiple"] < 1 or not 0.0 < out["threshold"] < 1.0:
        raise ValueError(
            f"{source}: ONNX metadata out of range (input_multiple "
            f"{out['input_multiple']}, threshold {out['threshold']})"
        )
    return out
