"""Train the U-Net on DRIVE: ``python -m keras_unet.train --help``.

A run folder ``runs/<name>/`` receives::

    config.json        full configuration, model card (threshold, validation metrics) at the end
    environment.json   versions, devices, host
    history.csv        per-epoch losses and metrics        loss_curves.png  the same, plotted
    tensorboard/       TensorBoard logs                    state.json       epoch, best, time
    last.keras         checkpoint after every epoch (with optimizer, for ``--resume``)
    best.keras         best epoch by the monitored validation metric
    model.keras        the best weights without optimizer state: the model to evaluate and ship
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import shutil
import sys
import time
import warnings
from pathlib import Path
from typing import Any

# Keras warns that fit's shuffle=True is ignored for a tf.data.Dataset; ours shuffles itself.
warnings.filterwarnings("ignore", message=".*shuffle=True.*was passed.*")

from keras_unet import __version__  # noqa: E402
from keras_unet.config import ConfigError, TrainConfig  # noqa: E402
from runtime.cli import comma_list  # noqa: E402
from runtime.constants import input_multiple  # noqa: E402
from runtime.errors import cli_errors  # noqa: E402
from runtime.model_card import CARD_NAME, ModelCard  # noqa: E402
from runtime.preparation import PREPARATIONS  # noqa: E402
from runtime.reports import write_json  # noqa: E402

RUN_FILES = (
    "config.json",
    "environment.json",
    "history.csv",
    "loss_curves.png",
    "state.json",
    "last.keras",
    "best.keras",
    "model.keras",
    "tensorboard",
)


def is_run_file(name: str) -> bool:
    """Whether a file of a run folder is one training writes (so ``--overwrite`` may remove it)."""
    return (
        name in RUN_FILES
        or (name.startswith("environment.resume") and name.endswith(".json"))
        or name.endswith(".tmp.keras")
    )


def environment_info() -> dict[str, Any]:
    """Versions, devices and host of this process (saved with every run)."""
    import keras
    import numpy as np
    import tensorflow as tf

    return {
        "keras_unet": __version__,
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
        "numpy": np.__version__,
        "gpus": [d.name for d in tf.config.list_physical_devices("GPU")],
        "logical_devices": [d.name for d in tf.config.list_logical_devices()],
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }


def _prepare_run_dir(config: TrainConfig, resume: bool, overwrite: bool) -> Path:
    run_dir = config.run_dir
    if resume:
        if not (run_dir / "last.keras").is_file():
            raise ConfigError(f"{run_dir}: nothing to resume (no last.keras checkpoint)")
        return run_dir
    if run_dir.exists() and any(run_dir.iterdir()):
        if not overwrite:
            raise ConfigError(
                f"{run_dir}: run folder exists; pass --resume to continue it or "
                "--overwrite to replace it"
            )
        foreign = [p.name for p in run_dir.iterdir() if not is_run_file(p.name)]
        if foreign:
            raise ConfigError(
                f"{run_dir}: holds files a run does not write "
                f"({', '.join(foreign)}); refusing to overwrite, move them or pick "
                "another --name"
            )
        for item in run_dir.iterdir():
            shutil.rmtree(item) if item.is_dir() else item.unlink()
    run_dir.mkdir(parents=True, exist_ok=True)
    return run_dir


def _configure_devices(config: TrainConfig) -> None:
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    if config.strategy == "mirrored" and config.cpu_replicas > 1 and not gpus:
        cpu = tf.config.list_physical_devices("CPU")[0]
        # RuntimeError: TF already initialised (e.g. in-process tests); use what exists.
        with contextlib.suppress(RuntimeError):
            tf.config.set_logical_device_configuration(
                cpu, [tf.config.LogicalDeviceConfiguration()] * config.cpu_replicas
            )
    if config.mixed_precision:
        import keras

        keras.mixed_precision.set_global_policy("mixed_float16")


def _strategy(config: TrainConfig):
    import tensorflow as tf

    if config.strategy == "multiworker":
        from keras_unet.distributed import multiworker_strategy

        return multiworker_strategy()
    if config.strategy == "mirrored":
        if tf.config.list_physical_devices("GPU"):
            return tf.distribute.MirroredStrategy()
        cpus = [d.name for d in tf.config.list_logical_devices("CPU")]
        return tf.distribute.MirroredStrategy(devices=cpus)
    return tf.distribute.get_strategy()


def _compile(model, config: TrainConfig) -> None:
    import keras

    from keras_unet.losses import get_loss, training_metrics

    steps = config.epochs * config.steps_per_epoch
    if config.lr_schedule == "cosine":
        learning_rate = keras.optimizers.schedules.CosineDecay(
            config.learning_rate, decay_steps=steps, alpha=0.01
        )
    else:
        learning_rate = config.learning_rate
    model.compile(
        optimizer=keras.optimizers.Adam(
            learning_rate,
            use_ema=config.ema_momentum > 0,
            ema_momentum=config.ema_momentum or 0.99,
        ),
        loss=get_loss(config.loss),
        metrics=training_metrics(),
    )


def _make_run_callbacks(config: TrainConfig, run_dir: Path, state: dict[str, Any]) -> list:
    """Callbacks that save ``last.keras``, ``best.keras``, ``state.json`` and the loss plot.

    With ``ema_momentum`` the last checkpoint is written before Keras' ``SwapEMAWeights`` puts
    the averaged weights into the model (so ``--resume`` continues from the trained weights
    with the average in the optimizer), and the best checkpoint after it (so validation, the
    best epoch and the shipped model all use the averaged weights).
    """
    import keras

    from keras_unet.plots import plot_history

    monitor = config.monitor if state.get("has_validation", True) else "loss"
    mode_max = monitor in ("val_dice", "val_auc")

    def save(model, name: str) -> None:
        model.save(run_dir / f".{name}.tmp.keras")
        os.replace(run_dir / f".{name}.tmp.keras", run_dir / name)

    class LastCheckpoint(keras.callbacks.Callback):
        """Saves the model and its optimizer after every epoch, for ``--resume``."""

        def on_epoch_end(self, epoch, logs=None):
            save(self.model, "last.keras")

    class RunCheckpoint(keras.callbacks.Callback):
        """Saves the best checkpoint, the state file and the loss plot after every epoch."""

        def on_train_begin(self, logs=None):
            self._started = time.monotonic()
            self._seconds_before = state.get("train_seconds", 0.0)

        def on_epoch_end(self, epoch, logs=None):
            logs = logs or {}
            value = float(logs.get(monitor, float("nan")))
            best = state.get("best")
            improved = best is None or (value > best if mode_max else value < best)
            if improved:
                save(self.model, "best.keras")
                state.update(best=value, best_epoch=epoch + 1)
            state.update(
                epoch=epoch + 1,
                monitor=monitor,
                train_seconds=self._seconds_before + time.monotonic() - self._started,
            )
            write_json(run_dir / "state.json", state)
            plot_history(run_dir / "history.csv", run_dir / "loss_curves.png", config.name)

    averaging = [keras.callbacks.SwapEMAWeights(swap_on_epoch=True)] if config.ema_momentum else []
    return [LastCheckpoint(), *averaging, RunCheckpoint()]


def _choose_threshold(model, run_dir: Path, validation: dict[str, list]) -> dict[str, Any]:
    """Pick the F1-maximising threshold on the validation images (FOV pixels, pooled over sets).

    Every image is at the working scale, so each weighs about the same whatever its camera.
    The card also gets each set's scores at that threshold.
    """
    import numpy as np

    from keras_unet.data.sets import binary_labels
    from keras_unet.predictors import keras_engine
    from runtime.constants import DEFAULT_THRESHOLD
    from runtime.metrics import best_f1_threshold, evaluate_probabilities
    from runtime.model_card import ModelCard

    if not validation:
        return {"threshold": DEFAULT_THRESHOLD, "threshold_source": "default (no validation)"}
    # The validation images are at the working scale already.
    engine = keras_engine(model, ModelCard(), run_dir / "model.keras", rescale=False)
    per_set: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for name, samples in validation.items():
        probs, truth = [], []
        for sample in samples:
            probability = engine.probability(sample.image, sample.fov).probability
            probs.append(probability[sample.fov])
            truth.append(binary_labels(sample)[sample.fov])
        per_set[name] = (np.concatenate(probs), np.concatenate(truth))
    probability = np.concatenate([p for p, _ in per_set.values()])
    vessels = np.concatenate([t for _, t in per_set.values()])
    threshold, _ = best_f1_threshold(probability, vessels)
    threshold = round(threshold, 4)
    return {
        "threshold": threshold,
        "threshold_source": "max F1 on the validation images (FOV, pooled)",
        "validation": {
            "at_threshold": evaluate_probabilities(probability, vessels, threshold).as_dict(),
            "at_0.5": evaluate_probabilities(probability, vessels, DEFAULT_THRESHOLD).as_dict(),
            "per_set": {
                name: evaluate_probabilities(p, t, threshold).as_dict()
                for name, (p, t) in per_set.items()
            },
        },
    }


def train(
    config: TrainConfig,
    *,
    resume: bool = False,
    overwrite: bool = False,
    verbose: int | str = "auto",
) -> Path:
    """Train a U-Net as ``config`` says and leave everything in its run folder.

    Args:
        config: The run's settings (validated here first).
        resume: Continue ``config.run_dir`` from its last checkpoint (get ``config`` from
            :func:`resume_config`). The learning-rate schedule keeps its original length.
        overwrite: Replace an existing run folder (only files a run writes).
        verbose: Keras progress: 0 silent, 1 progress bar, 2 one line per epoch, ``auto``.

    Returns:
        The run folder; its ``model.keras`` is the trained model.

    Raises:
        ConfigError: Invalid settings, or a run folder that exists / has nothing to resume.
        DatasetError, ImageReadError: Problems with the data.
    """
    config.validate()
    if config.strategy == "multiworker":  # TF_CONFIG checked before any work is done.
        from keras_unet.distributed import worker_config

        config = worker_config(config, resume)  # Not the chief: a temporary run folder.
    from keras_unet.data import channel_statistics
    from keras_unet.data.sets import load_split

    def load(split: str) -> dict[str, list]:
        return load_split(
            config.data_dir,
            config.datasets,
            split,
            config.working_fov_diameter,
            config.label_resampling,
            config.input_preparation,
            limit=config.limit_images if split == "train" else None,
            validation_images=config.validation_images,
            seed=config.validation_seed,
        )

    fit_sets, val_sets = load("train"), load("validation")
    if not fit_sets:
        raise ConfigError(f"{config.data_dir}: no training images in {config.datasets}")
    run_dir = _prepare_run_dir(config, resume, overwrite)
    if config.strategy == "multiworker":  # Joins the cluster before anything initialises TF.
        _strategy(config)
    fit_samples = [s for samples in fit_sets.values() for s in samples]
    val_samples = [s for samples in val_sets.values() for s in samples]
    mean, std = channel_statistics(fit_samples)

    _configure_devices(config)
    import keras

    from keras_unet.data.pipeline import AUGMENTATIONS, full_image_dataset, patch_dataset
    from keras_unet.model import build_unet
    from keras_unet.predictors import load_keras_model

    keras.utils.set_random_seed(config.seed)
    state: dict[str, Any] = {}
    if resume:
        state = json.loads((run_dir / "state.json").read_text())
    state["has_validation"] = bool(val_samples)
    if not resume:
        write_json(run_dir / "environment.json", environment_info())
    else:
        write_json(run_dir / f"environment.resume{state.get('epoch', 0)}.json", environment_info())
    strategy = _strategy(config)
    with strategy.scope():
        if resume:
            model = keras.saving.load_model(run_dir / "last.keras", compile=True, safe_mode=True)
        else:
            model = build_unet(
                config.filters,
                config.depth,
                config.upsampling,
                config.dropout,
                mean=mean,
                std=std,
                name=f"unet_w{config.filters}_d{config.depth}",
            )
            _compile(model, config)
    card = ModelCard(
        name=config.name,
        version=__version__,
        model={
            "architecture": "U-Net (Ronneberger 2015), seed variant",
            "filters": config.filters,
            "depth": config.depth,
            "upsampling": config.upsampling,
            "multiple": input_multiple(config.depth),
            "parameters": int(model.count_params()),
            "input": "raw RGB float32 0-255, NHWC, H and W multiples of 'multiple'",
            "normalization": {"mean": mean, "std": std},
        },
        training=config.to_dict(),
        data={
            "datasets": list(fit_sets),
            "train_ids": {name: [s.sample_id for s in v] for name, v in fit_sets.items()},
            "validation_ids": {name: [s.sample_id for s in v] for name, v in val_sets.items()},
            "working_fov_diameter": config.working_fov_diameter,
            "label_resampling": config.label_resampling,
            "input_preparation": config.input_preparation,
            "source": str(config.data_dir),
        },
    )
    card.save(run_dir / CARD_NAME)

    initial_epoch = int(state.get("epoch", 0))
    train_ds = patch_dataset(
        fit_sets,
        config.patch_size,
        config.batch_size,
        config.seed,
        AUGMENTATIONS[config.augmentation],
        patches_per_epoch=config.steps_per_epoch * config.batch_size,
        start_epoch=initial_epoch,
        weights=config.dataset_weights,
    )
    val_ds = None
    if val_samples:
        val_ds = full_image_dataset(
            val_samples, input_multiple(config.depth), batch_size=strategy.num_replicas_in_sync
        )
    callbacks = [
        keras.callbacks.CSVLogger(str(run_dir / "history.csv"), append=resume),
        keras.callbacks.TensorBoard(str(run_dir / "tensorboard"), write_graph=False),
        *_make_run_callbacks(config, run_dir, state),
        keras.callbacks.TerminateOnNaN(),
    ]
    if verbose == "auto":
        verbose = 1 if sys.stdout.isatty() else 2
    if initial_epoch < config.epochs and config.strategy == "multiworker":
        from keras_unet.distributed import fit_across_workers

        fit_across_workers(model, train_ds, val_ds, callbacks, config, state, verbose)
    elif initial_epoch < config.epochs:
        model.fit(
            train_ds,
            epochs=config.epochs,
            initial_epoch=initial_epoch,
            steps_per_epoch=config.steps_per_epoch,
            validation_data=val_ds,
            callbacks=callbacks,
            verbose=verbose,
        )
    best = load_keras_model(run_dir / "best.keras")
    best.save(run_dir / "model.keras")  # Loaded without compile: no optimizer state is saved.
    for key, value in _choose_threshold(best, run_dir, val_sets).items():
        setattr(card, key, value)
    card.best_epoch = state.get("best_epoch")
    card.train_seconds = round(state.get("train_seconds", 0.0), 1)
    card.save(run_dir / CARD_NAME)
    return run_dir


def resume_config(runs_dir: str | Path, name: str, epochs: int | None = None) -> TrainConfig:
    """The saved configuration of ``runs_dir/name``, with ``epochs`` raised if given.

    Raises:
        ConfigError: The run folder has no ``config.json``.
    """
    path = Path(runs_dir) / name / "config.json"
    if not path.is_file():
        raise ConfigError(f"{path.parent}: nothing to resume (no config.json)")
    config = TrainConfig.load(path)
    if epochs is not None:
        config.epochs = epochs
    return config


def _weights(text: str) -> dict[str, float]:
    try:
        pairs = [item.split("=") for item in comma_list(text)]
        return {name.strip(): float(value) for name, value in pairs}
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected NAME=WEIGHT,..., received {text!r}") from None


def build_parser(add_help: bool = True) -> argparse.ArgumentParser:
    """The command-line interface (every flag documented in ``--help``).

    Args:
        add_help: Give the parser its own ``--help`` (``False`` when another CLI, e.g.
            :mod:`keras_unet.lodo`, takes these flags as a parent parser).
    """
    from keras_unet.data.pipeline import AUGMENTATIONS
    from keras_unet.data.sets import LABEL_RESAMPLING
    from keras_unet.losses import LOSSES
    from runtime.datasets import DATASETS

    d = TrainConfig()
    p = argparse.ArgumentParser(
        add_help=add_help,
        prog="python -m keras_unet.train",
        description="Train the Keras U-Net on DRIVE-layout data. Writes runs/<name>/ with "
        "checkpoints, config, environment, history.csv, TensorBoard logs and loss_curves.png.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    a = p.add_argument
    a(
        "--data",
        dest="data_dir",
        default=d.data_dir,
        help="data root with the sets' folders and splits.json (test splits are never read)",
    )
    a(
        "--datasets",
        type=comma_list,
        default=d.datasets,
        help=f"comma-separated data sets to train on ({', '.join(DATASETS)})",
    )
    a(
        "--dataset-weights",
        type=_weights,
        default=d.dataset_weights,
        help="share of the patches per set, e.g. DRIVE=2,STARE=1 (unnamed sets: 1)",
    )
    a(
        "--working-fov-diameter",
        type=float,
        default=d.working_fov_diameter,
        help="FOV diameter in pixels every photograph is resampled to",
    )
    a(
        "--label-resampling",
        default=d.label_resampling,
        choices=LABEL_RESAMPLING,
        help="labels at the working scale: area fractions or binary",
    )
    a(
        "--input-preparation",
        default=d.input_preparation,
        choices=tuple(PREPARATIONS),
        help="what is done to each photograph before the model (runtime.preparation): none, "
        "standardize (per-image colour statistics), flat_field (illumination removed, then "
        "standardised)",
    )
    a(
        "--augmentation",
        default=d.augmentation,
        choices=tuple(AUGMENTATIONS),
        help="augmentation preset (camera: colour, blur, noise, JPEG, illumination, scale)",
    )
    a("--runs-dir", default=d.runs_dir, help="parent folder of run folders")
    a("--name", default=d.name, help="run folder name under --runs-dir")
    a("--filters", type=int, default=d.filters, help="width of the first level (64 = the seed)")
    a("--depth", type=int, default=d.depth, help="number of 2x2 poolings (4 = the seed)")
    a(
        "--upsampling",
        default=d.upsampling,
        help="'upsample' (seed: nearest + 3x3 conv) or 'transpose' (2x2 transposed conv)",
    )
    a("--dropout", type=float, default=d.dropout, help="dropout between the convs of each block")
    a("--loss", default=d.loss, choices=tuple(LOSSES), help="training loss (mse: the seed's)")
    a(
        "--epochs",
        type=int,
        default=None,
        help=f"number of epochs (default {d.epochs}; with --resume: the saved total, or a new one)",
    )
    a(
        "--patches-per-epoch",
        type=int,
        default=d.patches_per_epoch,
        help="random FOV patches per epoch",
    )
    a("--patch-size", type=int, default=d.patch_size, help="patch side, a multiple of 2**depth")
    a("--batch-size", type=int, default=d.batch_size, help="patches per step (global batch)")
    a("--learning-rate", type=float, default=d.learning_rate, help="initial Adam learning rate")
    a("--lr-schedule", default=d.lr_schedule, help="cosine (decay to 1%%) or constant")
    a(
        "--ema-momentum",
        type=float,
        default=d.ema_momentum,
        help="validate, select and ship an exponential moving average of the weights with this "
        "momentum (e.g. 0.999); 0: off",
    )
    a(
        "--validation-images",
        type=int,
        default=d.validation_images,
        help="training images held out for model selection and the threshold",
    )
    a("--validation-seed", type=int, default=d.validation_seed, help="seed choosing them")
    a("--seed", type=int, default=d.seed, help="seed of initialisation and patch sampling")
    a("--monitor", default=d.monitor, help="best-checkpoint metric: val_dice, val_auc, val_loss")
    a("--mixed-precision", action="store_true", help="float16 compute (for GPUs)")
    a(
        "--strategy",
        default=d.strategy,
        help="'default', 'mirrored' (MirroredStrategy over all GPUs, or over --cpu-replicas "
        "logical CPUs) or 'multiworker' (MultiWorkerMirroredStrategy over the machines "
        "TF_CONFIG lists: run the same command on every worker; docs/cohort.md)",
    )
    a(
        "--cpu-replicas",
        type=int,
        default=d.cpu_replicas,
        help="logical CPU devices for --strategy mirrored without GPUs",
    )
    a("--limit-images", type=int, default=None, help="use only the first N training images")
    a("--resume", action="store_true", help="continue runs/<name> from last.keras")
    a("--overwrite", action="store_true", help="replace an existing run folder")
    a(
        "--verbose",
        type=int,
        choices=(0, 1, 2),
        default=None,
        help="0 silent, 1 progress bar, 2 one line per epoch (default: 1 on a terminal)",
    )
    return p


@cli_errors
def main(argv: list[str] | None = None) -> int:
    """Entry point of ``python -m keras_unet.train``."""
    args = vars(build_parser().parse_args(argv))
    resume, overwrite, verbose = args.pop("resume"), args.pop("overwrite"), args.pop("verbose")
    if resume:
        config = resume_config(args["runs_dir"], args["name"], args["epochs"])
    else:
        config = TrainConfig(**{k: v for k, v in args.items() if v is not None})
    run_dir = train(
        config, resume=resume, overwrite=overwrite, verbose="auto" if verbose is None else verbose
    )
    if config.strategy == "multiworker":
        from keras_unet.distributed import worker_task

        if not worker_task().is_chief:
            print(f"{worker_task()}: done; the chief writes the run folder")
            return 0
    card = ModelCard.load(run_dir / "model.keras")
    val = card.validation.get("at_threshold", {})
    print(f"run folder: {run_dir}")
    print(f"model: {run_dir / 'model.keras'}  threshold: {card.threshold}")
    if val:
        print(
            f"validation (FOV): F1 {val['f1']:.4f}  AUC {val['auc_roc']:.4f}  "
            f"Acc {val['accuracy']:.4f}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
