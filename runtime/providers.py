"""The execution providers the runtime can run a model on: one table for the CLI, app and benchmark.

To add one (e.g. DirectML), add a :class:`Provider` row to :data:`PROVIDERS`; the ``--provider``
choices, the app's Model ▸ Run on menu, labels and the benchmark follow from the table.
"""

from __future__ import annotations

from dataclasses import dataclass

from runtime.errors import require


@dataclass(frozen=True)
class Provider:
    """One onnxruntime execution provider.

    Attributes:
        key: What users type and settings store (``--provider cuda``).
        ort_name: onnxruntime's name of it.
        label: How the app and reports name it.
        menu: The app's menu entry (with its ``&`` mnemonic).
        runs_int8: Whether static QDQ int8 graphs are meant for it (the benchmark times them).
    """

    key: str
    ort_name: str
    label: str
    menu: str
    runs_int8: bool = False


#: Providers in order of preference: ``auto`` takes every offered one in this order, and
#: onnxruntime falls back along it. The CPU comes last and is always offered.
PROVIDERS: dict[str, Provider] = {
    p.key: p
    for p in (
        Provider("cuda", "CUDAExecutionProvider", "CUDA (GPU)", "&CUDA (GPU)"),
        Provider("cpu", "CPUExecutionProvider", "CPU", "C&PU", runs_int8=True),
    )
}
CPU = PROVIDERS["cpu"].ort_name
#: What users choose from: ``auto`` (the best offered) or one provider.
PROVIDER_CHOICES: tuple[str, ...] = ("auto", *PROVIDERS)
#: The app's menu entry of ``auto``.
AUTO_MENU = "&Automatic (GPU if available)"


def available_providers() -> list[str]:
    """onnxruntime names of the providers this onnxruntime build offers."""
    require("onnxruntime", "desktop")
    import onnxruntime as ort

    return list(ort.get_available_providers())


def choose_providers(preference: str = "auto") -> list[str]:
    """onnxruntime provider names to ask for, best first, the CPU always last.

    Args:
        preference: ``auto`` or a key of :data:`PROVIDERS`.

    Raises:
        ValueError: Unknown preference.
    """
    if preference not in PROVIDER_CHOICES:
        raise ValueError(
            f"provider preference must be one of {', '.join(PROVIDER_CHOICES)}, "
            f"received {preference!r}"
        )
    offered = available_providers()
    wanted = PROVIDERS.values() if preference == "auto" else [PROVIDERS[preference]]
    chosen = [p.ort_name for p in wanted if p.ort_name in offered and p.ort_name != CPU]
    return [*chosen, CPU]


def provider_label(ort_name: str) -> str:
    """``CUDAExecutionProvider`` -> ``CUDA (GPU)``; unknown providers keep their short name."""
    for provider in PROVIDERS.values():
        if provider.ort_name == ort_name:
            return provider.label
    return ort_name.removesuffix("ExecutionProvider")
