"""The U-Net: shapes, the seed's parameter count, argument checks, serialisation round-trip."""

from __future__ import annotations

from itertools import pairwise

import numpy as np
import pytest

keras = pytest.importorskip("keras")

from keras_unet.model import build_unet, model_depth, model_multiple  # noqa: E402
from runtime.constants import INPUT_NAME, OUTPUT_NAME  # noqa: E402


def pytorch_seed_parameters() -> int:
    """Parameters of the seed's PyTorch U_Net, counted from its layer definitions."""

    def conv(c_in, c_out, k):
        return c_in * c_out * k * k + c_out

    def block(c_in, c_out):  # conv_block: 2 x (conv3x3 + BN(gamma, beta))
        return conv(c_in, c_out, 3) + 2 * c_out + conv(c_out, c_out, 3) + 2 * c_out

    def up(c_in, c_out):  # up_conv: upsample + conv3x3 + BN
        return conv(c_in, c_out, 3) + 2 * c_out

    widths = [64, 128, 256, 512, 1024]
    total = block(3, 64) + sum(block(a, b) for a, b in pairwise(widths))
    total += sum(up(b, a) + block(b, a) for a, b in pairwise(widths))
    return total + conv(64, 1, 1)


def test_default_is_the_seed_network():
    model = build_unet()
    trainable = sum(int(np.prod(w.shape)) for w in model.trainable_weights)
    assert trainable == pytorch_seed_parameters() == 34_527_041
    assert model_depth(model) == 4 and model_multiple(model) == 16
    assert model.get_layer("bottleneck_conv2").filters == 1024
    assert isinstance(model.get_layer("up4_upsample"), keras.layers.UpSampling2D)


@pytest.mark.parametrize(("filters", "depth"), [(2, 1), (4, 2), (3, 3), (2, 4)])
def test_output_shapes_for_several_widths_and_depths(filters, depth):
    model = build_unet(filters=filters, depth=depth)
    multiple = 2**depth
    x = np.random.default_rng(0).uniform(0, 255, (2, 3 * multiple, 5 * multiple, 3))
    y = np.asarray(model(x.astype(np.float32)))
    assert y.shape == (2, 3 * multiple, 5 * multiple, 1)
    assert y.dtype == np.float32 and y.min() >= 0.0 and y.max() <= 1.0
    assert model.get_layer(f"enc{depth}_pool") is not None


def test_names_inputs_and_normalisation_inside_the_graph():
    mean, std = (100.0, 50.0, 20.0), (10.0, 5.0, 2.0)
    model = build_unet(filters=2, depth=2, mean=mean, std=std)
    assert model.input.name == INPUT_NAME or model.inputs[0].name == INPUT_NAME
    assert model.layers[-1].name == OUTPUT_NAME
    normalize = keras.Model(model.input, model.get_layer("normalize").output)
    out = np.asarray(normalize(np.array([[[[110.0, 40.0, 24.0]]]], np.float32)))
    assert out.ravel() == pytest.approx([1.0, -2.0, 2.0], abs=1e-5)
    names = [layer.name for layer in build_unet(filters=2, depth=2).layers]
    assert names == [layer.name for layer in model.layers]


def test_transpose_upsampling_and_dropout():
    model = build_unet(filters=2, depth=2, upsampling="transpose", dropout=0.2)
    assert isinstance(model.get_layer("up1_transpose"), keras.layers.Conv2DTranspose)
    assert model.get_layer("enc1_dropout").rate == 0.2
    assert model(np.zeros((1, 8, 8, 3), np.float32)).shape == (1, 8, 8, 1)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"filters": 0}, "filters must be a positive integer, received 0"),
        ({"filters": 2.5}, "received 2.5"),
        ({"depth": 0}, r"depth must be an integer in \[1, 7\], received 0"),
        ({"depth": 9}, "received 9"),
        ({"upsampling": "bilinear"}, "received 'bilinear'"),
        ({"dropout": 1.0}, r"dropout must be in \[0, 1\), received 1.0"),
        ({"mean": (1.0, 2.0)}, "mean must have 3 values"),
        ({"std": (1.0, 0.0, 1.0)}, "std values must be > 0"),
    ],
)
def test_invalid_arguments_say_what_was_received(kwargs, message):
    with pytest.raises(ValueError, match=message):
        build_unet(**kwargs)


def test_keras_file_round_trip_gives_identical_outputs(tmp_path):
    from keras_unet.predictors import load_keras_model

    model = build_unet(filters=3, depth=2, mean=(90.0, 60.0, 30.0), std=(40.0, 20.0, 10.0))
    x = np.random.default_rng(1).uniform(0, 255, (1, 12, 16, 3)).astype(np.float32)
    path = tmp_path / "m.keras"
    model.save(path)
    loaded = load_keras_model(path)
    np.testing.assert_array_equal(np.asarray(model(x)), np.asarray(loaded(x)))
    assert [w.name for w in loaded.weights] == [w.name for w in model.weights]


def test_mixed_precision_keeps_a_float32_sigmoid_output():
    previous = keras.mixed_precision.global_policy().name
    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        model = build_unet(filters=2, depth=2)
        assert model.get_layer("enc1_conv1").compute_dtype == "float16"
        y = model(np.zeros((1, 8, 8, 3), np.float32))
        assert y.dtype == "float32"
    finally:
        keras.mixed_precision.set_global_policy(previous)
