"""The training configuration: one dataclass, validated up front, saved in every run folder."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path

from keras_unet.losses import LOSSES
from keras_unet.model import MAX_DEPTH, UPSAMPLING_MODES
from runtime.constants import VALIDATION_IMAGES, VALIDATION_SEED, input_multiple
from runtime.errors import UserInputError

LR_SCHEDULES: tuple[str, ...] = ("cosine", "constant")
STRATEGIES: tuple[str, ...] = ("default", "mirrored")


class ConfigError(UserInputError):
    """An invalid training setting."""


@dataclass
class TrainConfig:
    """Everything a training run depends on. Defaults are the shipped model's recipe.

    Attributes:
        data_dir: DRIVE-layout root holding ``training/`` (``test/`` is never read by training).
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
        validation_images: Training images held out for model selection and the threshold.
        validation_seed: Seed choosing them.
        seed: Seed of weights initialisation and patch sampling.
        augment: Flips, rotations and colour jitter on the training patches.
        monitor: Quantity that picks the best checkpoint (``val_dice``, ``val_auc``, ``val_loss``).
        mixed_precision: Train with float16 compute (for GPUs).
        strategy: ``default`` or ``mirrored`` (tf.distribute.MirroredStrategy).
        cpu_replicas: Logical CPU devices to mirror over when no GPU is present.
        limit_images: Use only the first N training images (quick experiments, tests).
    """

    data_dir: str = "data/DRIVE"
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
    validation_images: int = VALIDATION_IMAGES
    validation_seed: int = VALIDATION_SEED
    seed: int = 42
    augment: bool = True
    monitor: str = "val_dice"
    mixed_precision: bool = False
    strategy: str = "default"
    cpu_replicas: int = 1
    limit_images: int | None = None
    extra: dict = field(default_factory=dict)

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
        if self.loss not in LOSSES:
            raise ConfigError(f"--loss must be one of {', '.join(LOSSES)}, received {self.loss!r}")
        if self.upsampling not in UPSAMPLING_MODES:
            raise ConfigError(
                f"--upsampling must be one of {', '.join(UPSAMPLING_MODES)}, "
                f"received {self.upsampling!r}"
            )
        if self.lr_schedule not in LR_SCHEDULES:
            raise ConfigError(
                f"--lr-schedule must be one of {', '.join(LR_SCHEDULES)}, "
                f"received {self.lr_schedule!r}"
            )
        if self.strategy not in STRATEGIES:
            raise ConfigError(
                f"--strategy must be one of {', '.join(STRATEGIES)}, received {self.strategy!r}"
            )
        if not 0.0 <= self.dropout < 1.0:
            raise ConfigError(f"--dropout must be in [0, 1), received {self.dropout}")
        if not self.learning_rate > 0:
            raise ConfigError(f"--learning-rate must be > 0, received {self.learning_rate}")
        if self.validation_images < 0:
            raise ConfigError(
                f"--validation-images must be >= 0, received {self.validation_images}"
            )
        if self.monitor not in ("val_dice", "val_auc", "val_loss"):
            raise ConfigError(
                f"--monitor must be val_dice, val_auc or val_loss, received {self.monitor!r}"
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
        """Rebuild from :meth:`to_dict`, ignoring unknown keys (older/newer run folders)."""
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in values.items() if k in known})

    @classmethod
    def load(cls, path: str | Path) -> TrainConfig:
        """Read the ``training`` section of a run's ``config.json``."""
        return cls.from_dict(json.loads(Path(path).read_text())["training"])
