"""The training configuration: one dataclass, validated up front, saved in every run folder."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path

from keras_unet.data.sets import LABEL_RESAMPLING
from keras_unet.losses import LOSSES
from keras_unet.model import MAX_DEPTH, UPSAMPLING_MODES
from runtime.constants import (
    DATA_ROOT,
    VALIDATION_IMAGES,
    VALIDATION_SEED,
    WORKING_FOV_DIAMETER,
    input_multiple,
)
from runtime.datasets import DATASETS
from runtime.errors import UserInputError
from runtime.preparation import PREPARATIONS

LR_SCHEDULES: tuple[str, ...] = ("cosine", "constant")
STRATEGIES: tuple[str, ...] = ("default", "mirrored", "multiworker")
MONITORS: tuple[str, ...] = ("val_dice", "val_auc", "val_loss")


class ConfigError(UserInputError):
    """An invalid training setting."""


@dataclass
class TrainConfig:
    """Everything a training run depends on. Defaults are the shipped model's recipe.

    Attributes:
        data_dir: Data root holding the sets' folders and ``splits.json`` (test splits are
            never read by training).
        datasets: Data sets to train on (their train splits; validation splits pick the
            best epoch and the threshold).
        dataset_weights: Share of the training patches from each set (missing sets weigh 1).
        working_fov_diameter: FOV diameter, in pixels, every photograph is resampled to.
        label_resampling: ``area`` (vessel fractions) or ``binary``.
        input_preparation: Key of :data:`runtime.preparation.PREPARATIONS`, applied to every
            photograph after resampling (and by the engine at inference).
        augmentation: Preset of :data:`keras_unet.data.pipeline.AUGMENTATIONS`.
        runs_dir: Parent of the run folders.
        name: Run folder name under ``runs_dir``.
        filters: Width of the first U-Net level (64 reproduces the seed).
        depth: Number of poolings (4 in the seed).
        upsampling: ``upsample`` (seed) or ``transpose``.
        dropout: Dropout between the two convs of every block.
        loss: One of :data:`keras_unet.losses.LOSSES` (``mse`` is the seed's).
        epochs: Number of epochs.
        patches_per_epoch: Random FOV patches drawn per epoch.
        patch_size: Side of the training patches; a multiple of ``2**depth``.
        batch_size: Patches per step (global batch under a distribution strategy).
        learning_rate: Initial Adam learning rate.
        lr_schedule: ``cosine`` decay to 1 % over all steps, or ``constant``.
        ema_momentum: Keep an exponential moving average of the weights with this momentum
            (Keras' ``use_ema``); validation, the best checkpoint and the shipped model use the
            averaged weights. 0 turns it off.
        validation_images: DRIVE-layout training images held out for validation where the data
            root records no splits (a folder of the user's own).
        validation_seed: Seed choosing them.
        seed: Seed of weights initialisation and patch sampling.
        monitor: Quantity that picks the best checkpoint (``val_dice``, ``val_auc``, ``val_loss``).
        mixed_precision: Train with float16 compute (for GPUs).
        strategy: ``default``, ``mirrored`` (tf.distribute.MirroredStrategy) or ``multiworker``
            (tf.distribute.MultiWorkerMirroredStrategy from ``TF_CONFIG``:
            :mod:`keras_unet.distributed`).
        cpu_replicas: Logical CPU devices to mirror over when no GPU is present.
        limit_images: Use only the first N training images of each set (quick experiments).
    """

    data_dir: str = DATA_ROOT
    datasets: list[str] = field(default_factory=lambda: ["DRIVE"])
    dataset_weights: dict[str, float] = field(default_factory=dict)
    working_fov_diameter: float = WORKING_FOV_DIAMETER
    label_resampling: str = "area"
    input_preparation: str = "none"
    augmentation: str = "classic"
    runs_dir: str = "runs"
    name: str = "unet"
    filters: int = 16
    depth: int = 4
    upsampling: str = "upsample"
    dropout: float = 0.0
    loss: str = "mse"
    epochs: int = 40
    patches_per_epoch: int = 9_600
    patch_size: int = 64
    batch_size: int = 32
    learning_rate: float = 1e-3
    lr_schedule: str = "cosine"
    ema_momentum: float = 0.0
    validation_images: int = VALIDATION_IMAGES
    validation_seed: int = VALIDATION_SEED
    seed: int = 42
    monitor: str = "val_dice"
    mixed_precision: bool = False
    strategy: str = "default"
    cpu_replicas: int = 1
    limit_images: int | None = None

    @property
    def run_dir(self) -> Path:
        """This run's folder."""
        return Path(self.runs_dir) / self.name

    @property
    def steps_per_epoch(self) -> int:
        """Optimizer steps per epoch."""
        return max(1, self.patches_per_epoch // self.batch_size)

    def validate(self) -> None:
        """Refuse impossible settings before any work starts.

        Raises:
            ConfigError: The first invalid setting, saying what was received.
        """

        def positive(name: str) -> None:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(
                    f"--{name.replace('_', '-')} must be a positive integer, received {value!r}"
                )

        for name in (
            "filters",
            "epochs",
            "patches_per_epoch",
            "patch_size",
            "batch_size",
            "cpu_replicas",
        ):
            positive(name)
        if not 1 <= self.depth <= MAX_DEPTH:
            raise ConfigError(f"--depth must be in [1, {MAX_DEPTH}], received {self.depth}")
        multiple = input_multiple(self.depth)
        if self.patch_size % multiple:
            raise ConfigError(
                f"--patch-size must be a multiple of 2**depth = {multiple}, "
                f"received {self.patch_size}"
            )
        from keras_unet.data.pipeline import AUGMENTATIONS

        choices = {
            "loss": LOSSES,
            "upsampling": UPSAMPLING_MODES,
            "lr_schedule": LR_SCHEDULES,
            "strategy": STRATEGIES,
            "label_resampling": LABEL_RESAMPLING,
            "input_preparation": tuple(PREPARATIONS),
            "augmentation": AUGMENTATIONS,
            "monitor": MONITORS,
        }
        for name, allowed in choices.items():
            value = getattr(self, name)
            if value not in allowed:
                raise ConfigError(
                    f"--{name.replace('_', '-')} must be one of {', '.join(allowed)}, "
                    f"received {value!r}"
                )
        if not self.datasets:
            raise ConfigError("--datasets must name at least one data set")
        for name in [*self.datasets, *self.dataset_weights]:
            if name not in DATASETS:
                raise ConfigError(
                    f"--datasets: unknown data set {name!r}; known: {', '.join(DATASETS)}"
                )
        if any(w < 0 for w in self.dataset_weights.values()) or not any(
            self.dataset_weights.get(n, 1.0) > 0 for n in self.datasets
        ):
            raise ConfigError(
                f"--dataset-weights must be >= 0 with one > 0, received {self.dataset_weights}"
            )
        if not 64 <= self.working_fov_diameter <= 4096:
            raise ConfigError(
                f"--working-fov-diameter must be in [64, 4096], received "
                f"{self.working_fov_diameter}"
            )
        if not 0.0 <= self.dropout < 1.0:
            raise ConfigError(f"--dropout must be in [0, 1), received {self.dropout}")
        if not self.learning_rate > 0:
            raise ConfigError(f"--learning-rate must be > 0, received {self.learning_rate}")
        if not 0.0 <= self.ema_momentum < 1.0:
            raise ConfigError(f"--ema-momentum must be in [0, 1), received {self.ema_momentum}")
        if self.ema_momentum and self.strategy == "multiworker":
            raise ConfigError("--ema-momentum is not available with --strategy multiworker")
        if self.validation_images < 0:
            raise ConfigError(
                f"--validation-images must be >= 0, received {self.validation_images}"
            )
        if self.limit_images is not None and self.limit_images < 2:
            raise ConfigError(f"--limit-images must be >= 2, received {self.limit_images}")
        if not self.name or Path(self.name).name != self.name:
            raise ConfigError(f"--name must be a plain folder name, received {self.name!r}")

    def to_dict(self) -> dict:
        """JSON-friendly copy."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict) -> TrainConfig:
        """Rebuild from :meth:`to_dict`, ignoring unknown keys (older/newer run folders).

        Run folders written before the multi-set data layer name a DRIVE-layout folder
        (``data/DRIVE``) and ``augment``; they are read as the data root above it and the
        ``classic`` or ``none`` augmentation.
        """
        known = {f.name for f in dataclasses.fields(cls)}
        values = dict(values)
        if "datasets" not in values and "data_dir" in values:
            values["data_dir"] = str(Path(values["data_dir"]).parent)
            values["augmentation"] = "classic" if values.get("augment", True) else "none"
        return cls(**{k: v for k, v in values.items() if k in known})

    @classmethod
    def load(cls, path: str | Path) -> TrainConfig:
        """Read the ``training`` section of a run's ``config.json``."""
        return cls.from_dict(json.loads(Path(path).read_text())["training"])
