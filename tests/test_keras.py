"""Keras Applications' weights: each application built in Keras (torch backend, no TensorFlow) with
random weights, saved in the three layouts Keras reads and writes, loaded into cnnzoo, and the same
logits on real photographs fed through each side's own preprocessing."""
import os

os.environ.setdefault("KERAS_BACKEND", "torch")

import h5py  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

import cnnzoo  # noqa: E402
from cnnzoo import CnnzooError  # noqa: E402
from cnnzoo.interop.pretrained import WeightsNotFoundError  # noqa: E402

keras = pytest.importorskip("keras")
pytestmark = [
    pytest.mark.skipif(keras.backend.backend() != "torch", reason="these tests run Keras on its torch backend"),
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),  # Keras's torch backend and NumPy 2's copy keyword
]


def randomize(model, seed=0):
    """Every weight random at a scale that keeps activations moderate, BatchNorm statistics included."""
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        arrays = []
        for w in layer.weights:
            shape, role = tuple(w.shape), w.path.rsplit("/", 1)[-1]
            if role == "moving_variance":
                arrays.append(rng.uniform(0.5, 2.0, shape))
            elif role == "gamma":
                arrays.append(rng.uniform(0.5, 1.5, shape))
            elif "kernel" in role:
                fan_in = np.prod(shape[:2]) if layer.__class__.__name__ == "DepthwiseConv2D" else np.prod(shape[:-1])
                arrays.append(rng.standard_normal(shape) * np.sqrt(2 / fan_in))
            else:
                arrays.append(rng.standard_normal(shape) * 0.1)
        if arrays:
            layer.set_weights([a.astype("float32") for a in arrays])
    return model


def photos(size: int) -> torch.Tensor:
    """scikit-learn's two bundled photographs, RGB in [0, 1], resized to size x size."""
    from sklearn.datasets import load_sample_image

    x = torch.stack([torch.from_numpy(np.array(load_sample_image(n))).permute(2, 0, 1).float() / 255 for n in ("china.jpg", "flower.jpg")])
    return torch.nn.functional.interpolate(x, size=(size, size), mode="bilinear", antialias=True)


def keras_logits(model, x: torch.Tensor, mode: str) -> torch.Tensor:
    """Keras's preprocess_input, written out: tf mode [-1, 1]; caffe mode BGR minus the mean, 0-255."""
    if mode == "tf":
        kx = x * 2 - 1
    else:
        kx = (x * 255)[:, [2, 1, 0]] - torch.tensor([103.939, 116.779, 123.68]).view(1, 3, 1, 1)
    with torch.no_grad():
        return torch.as_tensor(model(kx.permute(0, 2, 3, 1))).detach().cpu()


def ours_logits(model, x: torch.Tensor) -> torch.Tensor:
    prep = model.preprocessing
    with torch.no_grad():
        return model.eval()((x - torch.tensor(prep.mean).view(1, 3, 1, 1)) / torch.tensor(prep.std).view(1, 3, 1, 1))


def assert_same(ours, theirs):
    scale = theirs.abs().max()
    torch.testing.assert_close(ours, theirs, atol=2e-5 * scale, rtol=1e-4)


@pytest.fixture(scope="module")
def mobilenet_keras():
    return randomize(keras.applications.MobileNet(weights=None, alpha=0.25, input_shape=(128, 128, 3), classifier_activation=None))


@pytest.mark.parametrize("suffix", [".keras", ".weights.h5", ".h5"])
def test_mobilenet_v1_from_each_keras_layout_gives_keras_outputs(mobilenet_keras, tmp_path, suffix):
    path = tmp_path / f"mobilenet{suffix}"
    mobilenet_keras.save_weights(path) if suffix == ".weights.h5" else mobilenet_keras.save(path)
    ours = cnnzoo.create_model("mobilenet_v1", weights=path, width_mult=0.25)
    x = photos(128)
    assert_same(ours_logits(ours, x), keras_logits(mobilenet_keras, x, "tf"))
    assert ours.model_options == dict(act="relu6", tf_padding=True, width_mult=0.25)


def test_tf_padding_is_what_makes_the_outputs_equal(mobilenet_keras, tmp_path):
    mobilenet_keras.save(tmp_path / "m.keras")
    symmetric = cnnzoo.create_model("mobilenet_v1", weights=tmp_path / "m.keras", width_mult=0.25, tf_padding=False)
    x = photos(128)
    theirs = keras_logits(mobilenet_keras, x, "tf")
    assert (ours_logits(symmetric, x) - theirs).abs().max() > 1e-3 * theirs.abs().max()


def test_the_published_file_is_found_in_keras_home_by_its_variant(mobilenet_keras, tmp_path, monkeypatch):
    """keras:0.25_128 is mobilenet_2_5_128_tf.h5, in Keras 2's layout (layer_names at the root, as
    Keras publishes it): width 0.25 and 128 px follow from the name."""
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    with pytest.raises(WeightsNotFoundError, match=r"never downloads.*keras-applications/mobilenet/mobilenet_2_5_128_tf\.h5"):
        cnnzoo.create_model("mobilenet_v1", weights="keras:0.25_128")
    full = tmp_path / "full.h5"
    mobilenet_keras.save(full)
    published = tmp_path / "keras" / "models" / "mobilenet_2_5_128_tf.h5"
    published.parent.mkdir(parents=True)
    with h5py.File(full) as src, h5py.File(published, "w") as dst:
        for key in src["model_weights"]:
            src.copy(src["model_weights"][key], dst, key)
        dst.attrs["layer_names"] = src["model_weights"].attrs["layer_names"]
    ours = cnnzoo.create_model("mobilenet_v1", weights="keras:0.25_128")
    assert ours.preprocessing.input_size == 128 and ours.preprocessing.mean == (0.5, 0.5, 0.5)
    x = photos(128)
    assert_same(ours_logits(ours, x), keras_logits(mobilenet_keras, x, "tf"))
    with pytest.raises(CnnzooError, match="no '0.3_128' weights for mobilenet_v1: it has 1.0_224"):
        cnnzoo.create_model("mobilenet_v1", weights="keras:0.3_128")


def test_mobilenet_v2(tmp_path):
    theirs = randomize(keras.applications.MobileNetV2(weights=None, alpha=0.35, input_shape=(96, 96, 3), classifier_activation=None))
    theirs.save_weights(tmp_path / "v2.weights.h5")
    ours = cnnzoo.create_model("mobilenet_v2", weights=tmp_path / "v2.weights.h5", width_mult=0.35)
    x = photos(96)
    assert_same(ours_logits(ours, x), keras_logits(theirs, x, "tf"))


def test_resnet50_caffe_preprocessing_and_conv_biases(tmp_path):
    """Keras's ResNet-50: caffe mode (BGR, mean only), a bias on every conv (folded into the BatchNorm
    after it), the stride in the first 1x1, BatchNorm epsilon 1.001e-5."""
    theirs = randomize(keras.applications.ResNet50(weights=None, input_shape=(64, 64, 3), classifier_activation=None))
    theirs.save(tmp_path / "r50.h5")
    ours = cnnzoo.create_model("resnet50", weights=tmp_path / "r50.h5")
    x = photos(64)
    assert_same(ours_logits(ours, x), keras_logits(theirs, x, "caffe"))
    assert ours.preprocessing.std == pytest.approx((1 / 255,) * 3)


@pytest.mark.parametrize("name, application, size", [
    ("inception_v3", "InceptionV3", 75),  # unnamed conv2d_N layers matched in creation order; pools that skip the padding
    ("xception", "Xception", 71),  # SeparableConv2D: one Keras layer, two cnnzoo convs; TF-"same" max pools
    ("mobilenet_v3_small", "MobileNetV3Small", 64),  # SE convs with biases; the head's 1x1 convs as Linear layers
])
def test_inception_xception_mobilenet_v3(tmp_path, name, application, size):
    kwargs = dict(include_preprocessing=False) if application.startswith("MobileNetV3") else {}
    theirs = randomize(getattr(keras.applications, application)(weights=None, input_shape=(size, size, 3), classifier_activation=None, **kwargs))
    theirs.save_weights(tmp_path / "w.weights.h5")
    ours = cnnzoo.create_model(name, weights=tmp_path / "w.weights.h5")
    x = photos(size)
    assert_same(ours_logits(ours, x), keras_logits(theirs, x, "tf"))


def test_a_file_of_another_network_or_not_of_keras_is_refused(mobilenet_keras, tmp_path):
    mobilenet_keras.save_weights(tmp_path / "m.weights.h5")
    with pytest.raises(CnnzooError, match="no Keras layer conv1_conv .*stem.0.conv"):
        cnnzoo.create_model("resnet50", weights=tmp_path / "m.weights.h5")
    with pytest.raises(CnnzooError, match=r"conv1 .*shape \(8, 3, 3, 3\) where cnnzoo needs \(16, 3, 3, 3\)"):
        cnnzoo.create_model("mobilenet_v1", weights=tmp_path / "m.weights.h5", width_mult=0.5)
    with h5py.File(tmp_path / "other.h5", "w") as f:
        f["x"] = np.zeros(3)
    with pytest.raises(CnnzooError, match="not one of Keras's weight layouts"):
        cnnzoo.create_model("mobilenet_v1", weights=tmp_path / "other.h5")
    (tmp_path / "bad.keras").write_bytes(b"not a zip, not hdf5")
    with pytest.raises(CnnzooError, match="cannot read Keras weights"):
        cnnzoo.create_model("mobilenet_v1", weights=tmp_path / "bad.keras")
    with pytest.raises(CnnzooError, match="Keras Applications has no resnet18"):
        cnnzoo.create_model("resnet18", weights="keras")
