"""Single source of truth for constants shared by training, evaluation, export and runtime."""

from __future__ import annotations

#: The data root of a checkout: one folder per data set plus ``splits.json`` (data/README.md).
DATA_ROOT: str = "data"

#: Raw model input: RGB, float32, values in [0, 255], NHWC. Normalisation happens inside the graph.
INPUT_VALUE_RANGE: tuple[float, float] = (0.0, 255.0)

#: Per-channel RGB mean and standard deviation of the DRIVE training images inside the FOV (0-255
#: scale), all 20 training images. ``keras_unet.data.channel_statistics`` recomputes them; a test
#: keeps the two in step. Training recomputes them on its own training split.
DRIVE_RGB_MEAN: tuple[float, float, float] = (180.7304, 97.2773, 57.1066)
DRIVE_RGB_STD: tuple[float, float, float] = (46.2073, 29.1316, 17.5587)

#: Diameter of the field of view, in pixels, at which models see every photograph (the working
#: scale, see :mod:`runtime.scaling`): DRIVE's own (the mean of ``runtime.fov.fov_diameter`` over
#: its training masks is 539.25, range 536-541), so DRIVE images are used as they are. A model
#: records the diameter it was trained at (model card, ONNX metadata); this is the default for
#: models that carry none. ``RESCALE_TOLERANCE`` is the relative difference below which an image
#: is used as it is.
WORKING_FOV_DIAMETER: float = 539.0
RESCALE_TOLERANCE: float = 0.1
#: Diameter of the FOV, in pixels, at which vessel maps are measured and the quality gate judges
#: sharpness, whatever scale the model works at: DRIVE's, where the measurements' pixel
#: constants (spurs, junction merges, arc steps) and the gate's thresholds were chosen. A fixed
#: definition, so a cohort measured with two models (at 539 or 768 px) gives comparable numbers.
MEASUREMENT_FOV_DIAMETER: float = 539.0

#: Angular field of view of a fundus camera (degrees across the FOV disc) assumed when the
#: user gives none: DRIVE's Canon CR5 and most clinic cameras image 45 degrees.
DEFAULT_FOV_DEGREES: float = 45.0
#: Micrometres of retina per degree of visual angle (emmetropic schematic eye, Drasdo & Fowler
#: 1974: 0.288 mm per degree; about 0.29 in the Gullstrand eye). With it a 45-degree FOV spans
#: 45 * 288 = 12,960 um, so a DRIVE pixel (539 px across) is about 24 um.
RETINA_UM_PER_DEGREE: float = 288.0
#: Relative change of the FOV diameter below which measurements use the map as it is instead of
#: resampling it to exactly the working diameter (see :mod:`runtime.units`).
MEASURE_RESCALE_TOLERANCE: float = 0.01

#: Threshold used when a model carries none chosen on validation data, and the second operating
#: point every evaluation reports.
DEFAULT_THRESHOLD: float = 0.5

#: Names of the model's input and output tensors in every exported format.
INPUT_NAME: str = "image"
OUTPUT_NAME: str = "vessel_probability"

#: The seed's U-Net: 4 poolings, 64 filters in the first level.
SEED_DEPTH: int = 4
SEED_FILTERS: int = 64

#: Number of DRIVE training images held out for validation (model selection, threshold choice).
VALIDATION_IMAGES: int = 4
#: Seed of the validation split, so every run holds out the same images.
VALIDATION_SEED: int = 2004


def input_multiple(depth: int) -> int:
    """Return the spatial multiple a U-Net of ``depth`` poolings needs (``2**depth``).

    Args:
        depth: Number of 2x2 max-pooling steps.

    Returns:
        The number that input height and width must be divisible by.
    """
    return 2**depth


#: Largest allowed drop of DRIVE test F1 (FOV protocol, pooled) of any exported artifact or
#: backend/precision variant against onnxruntime fp32: the accuracy gate of export and runtime.
MAX_F1_DROP: float = 0.005
#: Environment variable naming the folder where per-machine facts (accuracy-gate records of the
#: backends) are kept; default: ``$XDG_CACHE_HOME/drive-vessel-unet``, else
#: ``~/.cache/drive-vessel-unet``.
CACHE_ENV: str = "VESSEL_CACHE_DIR"

#: zlib level of every PNG the product writes (masks, probability maps, overlays). Level 1 encodes
#: a DRIVE overlay about 5x faster than Pillow's default 6 for files about 14 % larger
#: (README, "End to end"); PNG stays lossless at every level.
PNG_COMPRESS_LEVEL: int = 1
