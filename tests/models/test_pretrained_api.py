"""pretrained.load_into / weight_sources / convert_weights: placement, checks, errors, cache."""

from __future__ import annotations

import hashlib
import io

import backbone_helpers
import flax
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from wsol_jax.models import get_backbone, mobilenet, pretrained, weight_sources

IMAGES = jnp.zeros((1, 32, 32, 3))


class Regressor(nn.Module):

  @nn.compact
  def __call__(self, x, train=False):
    return nn.Dense(4, name="fc")(jnp.mean(mobilenet.MobileNetV1W050(name="net")(x, train), (1, 2)))


class TwoBackbones(nn.Module):
  """A model holding the backbone twice (e.g. a classifier and a regressor) plus its own layers."""

  @nn.compact
  def __call__(self, x, train=False):
    a = mobilenet.MobileNetV1W050(name="encoder")(x, train)
    return nn.Dense(4, name="fc")(jnp.mean(a, (1, 2))) + Regressor(name="regressor")(x, train)


@pytest.fixture(scope="module")
def h5_050(tmp_path_factory):
  path = tmp_path_factory.mktemp("weights") / "mobilenet_5_0_224_tf.h5"
  weights = backbone_helpers.write_keras_mobilenet_h5(path, width=0.5, seed=3)
  return path, weights


def _shapes(model, images=IMAGES):
  return jax.eval_shape(lambda x: model.init(jax.random.PRNGKey(0), x, train=False), images)


def _filled(model, value=0.25):
  """Variables of ``model`` all set to ``value`` (no init to compile; loaded ones will differ)."""
  return jax.tree.map(lambda s: np.full(s.shape, value, s.dtype), _shapes(model))


def test_finds_every_copy_of_the_backbone_and_leaves_other_layers(h5_050):
  path, weights = h5_050
  model = TwoBackbones()
  variables = _filled(model)
  loaded, report = pretrained.load_into(variables, str(path), "mobilenet_v1")
  assert report.paths == [("encoder",), ("regressor", "net")]
  assert report.loaded == 135  # the ImageNet head is not part of a feature backbone
  assert report.skipped == ["params/conv_preds/bias", "params/conv_preds/kernel"]
  for prefix in report.paths:
    tree = loaded["params"]
    for p in prefix:
      tree = tree[p]
    np.testing.assert_array_equal(tree["conv1"]["kernel"], weights["conv1"]["kernel"])
    dw = weights["conv_dw_7"]["depthwise_kernel"]  # (3, 3, C, 1) -> (3, 3, 1, C)
    np.testing.assert_array_equal(tree["conv_dw_7"]["kernel"], dw.transpose(0, 1, 3, 2))
    stats = loaded["batch_stats"]
    for p in prefix:
      stats = stats[p]
    np.testing.assert_allclose(stats["conv_pw_3_bn"]["var"],
                               weights["conv_pw_3_bn"]["moving_variance"], rtol=1e-6)
  np.testing.assert_array_equal(loaded["params"]["fc"]["kernel"],
                                variables["params"]["fc"]["kernel"])


def test_finds_a_cut_backbone_next_to_head_layers():
  """A VGG16 feature backbone (no fc layers) under 'backbone', beside a CAM head's own layers."""
  file_keys = {("params", f"features_{i}", leaf) for i in (0, 2, 28) for leaf in ("kernel", "bias")}
  file_keys |= {("params", "classifier_0", "kernel"), ("params", "classifier_6", "bias")}
  target = {("params", "backbone", "features_0", "kernel"): 0,
            ("params", "backbone", "features_28", "bias"): 0,
            ("params", "head", "conv", "kernel"): 0, ("params", "head", "fc", "kernel"): 0}
  assert pretrained.find_backbones(target, file_keys, "vgg16") == [("backbone",)]
  target[("params", "backbone", "extra_conv", "kernel")] = 0  # not a VGG16 layer: not a VGG16
  assert pretrained.find_backbones(target, file_keys, "vgg16") == []


def test_missing_tensor_is_a_one_line_error(tmp_path, h5_050):
  import h5py
  path = tmp_path / "broken.h5"
  backbone_helpers.write_keras_mobilenet_h5(path, width=0.5, seed=3)
  with h5py.File(path, "a") as f:
    f["conv_pw_13"].attrs["weight_names"] = np.array([], np.float64)
  model = get_backbone("mobilenet_v1_050")
  with pytest.raises(ValueError, match=r"1 mobilenet_v1 tensors are missing from the file: "
                                       r"params/conv_pw_13/kernel \(to start their layers "
                                       r"from random, name them in allow_random\)$"):
    pretrained.load_into(_shapes(model), str(path), model, paths=[()])


def test_foreign_file_is_rejected(tmp_path):
  from safetensors.numpy import save_file
  path = tmp_path / "resnet.safetensors"
  save_file({"conv1.weight": np.zeros((64, 3, 7, 7), np.float32),
             "layer1.0.conv1.weight": np.zeros((64, 64, 1, 1), np.float32)}, str(path))
  model = get_backbone("vgg16")
  with pytest.raises(ValueError, match=r"2 tensors are not part of vgg16 .*params/conv1/kernel"):
    pretrained.load_into(_shapes(model), str(path), model, paths=[()])


def test_classifier_of_another_class_count_stays_initialised(h5_050):
  path, weights = h5_050
  model = get_backbone("mobilenet_v1_050", output="logits", num_classes=10)
  variables = _filled(model)
  loaded, report = pretrained.load_into(variables, str(path), model, paths=[()])
  assert report.loaded == 135 and len(report.reinitialised) == 2
  assert "classifier left as initialised" in report.summary()
  np.testing.assert_array_equal(loaded["params"]["conv_preds"]["kernel"],
                                variables["params"]["conv_preds"]["kernel"])
  np.testing.assert_array_equal(loaded["params"]["conv1"]["kernel"], weights["conv1"]["kernel"])


def test_densenet_legacy_and_current_names_convert_alike():
  rng = np.random.default_rng(0)
  new = {"features.denseblock2.denselayer3.norm1.weight": rng.random(8),
         "features.denseblock2.denselayer3.conv2.weight": rng.random((48, 192, 3, 3)),
         "features.transition1.norm.running_var": rng.random(8)}
  legacy = {k.replace("norm1", "norm.1").replace("conv2", "conv.2"): v for k, v in new.items()}
  a, b = (pretrained.convert_torch(d, "densenet161") for d in (new, legacy))
  assert sorted(a) == sorted(b) == [
      ("batch_stats", "transition1", "norm", "var"),
      ("params", "denseblock2", "denselayer3", "conv2", "kernel"),
      ("params", "denseblock2", "denselayer3", "norm1", "scale")]
  assert a[("params", "denseblock2", "denselayer3", "conv2", "kernel")].shape == (3, 3, 192, 48)


def test_imagenet_shortcut_picks_the_file_for_the_models_width(tmp_path, monkeypatch, h5_050):
  monkeypatch.setenv("WSOL_JAX_OFFLINE", "1")
  monkeypatch.setenv("WSOL_JAX_CACHE", str(tmp_path))
  # The registry name says width 1.0, the variables say 0.5: the variables win.
  model = get_backbone("mobilenet_v1", width=0.5)
  with pytest.raises(FileNotFoundError, match="mobilenet_5_0_224_tf.h5"):
    pretrained.load_into(_shapes(model), "imagenet", "mobilenet_v1", paths=[()])
  (tmp_path / "mobilenet_5_0_224_tf.h5").write_bytes(h5_050[0].read_bytes())
  _, report = pretrained.load_into(_shapes(model), "imagenet", "mobilenet_v1", paths=[()])
  assert report.loaded == 135 and report.source == "keras:mobilenet_v1_050"


def test_offline_name_error_says_what_to_place_where(tmp_path, monkeypatch):
  monkeypatch.setenv("WSOL_JAX_OFFLINE", "1")
  monkeypatch.setenv("WSOL_JAX_CACHE", str(tmp_path / "cache"))
  with pytest.raises(FileNotFoundError) as info:
    weight_sources.resolve("torchvision:vgg16")
  message = str(info.value)
  assert "\n" not in message
  assert "https://download.pytorch.org/models/vgg16-397923af.pth" in message
  assert str(tmp_path / "cache" / "vgg16-397923af.pth") in message
  with pytest.raises(FileNotFoundError, match="does not exist"):
    weight_sources.resolve(str(tmp_path / "nope.pth"))
  with pytest.raises(ValueError, match="unknown pretrained weights 'torchvision:vgg19'"):
    weight_sources.resolve("torchvision:vgg19")


class _FakeResponse(io.BytesIO):
  headers = {}

  def __enter__(self):
    return self

  def __exit__(self, *exc):
    self.close()


def test_download_checks_sha256_and_records_it(tmp_path, monkeypatch):
  monkeypatch.delenv("WSOL_JAX_OFFLINE", raising=False)
  payload = b"not really a weights file"
  monkeypatch.setattr(weight_sources.urllib.request, "urlopen",
                      lambda url, timeout: _FakeResponse(payload))
  # torchvision: the file name carries the SHA256 prefix; a mismatching download is not kept.
  with pytest.raises(ValueError, match="expected 397923af"):
    weight_sources.fetch("torchvision:vgg16", tmp_path)
  assert list(tmp_path.iterdir()) == []
  # timm / Keras: no published checksum; recorded at download and checked on later use.
  path = weight_sources.fetch("timm:resnet50.a1_in1k", tmp_path)
  assert path.read_bytes() == payload
  recorded = path.with_name(path.name + ".sha256").read_text().strip()
  assert recorded == hashlib.sha256(payload).hexdigest()
  path.write_bytes(payload + b"!")
  with pytest.raises(ValueError, match="corrupt"):
    weight_sources.fetch("timm:resnet50.a1_in1k", tmp_path)


def _convert_script():
  return backbone_helpers.load_script("convert_weights")


def test_convert_to_msgpack_loads_the_same(tmp_path, h5_050):
  path, _ = h5_050
  out = tmp_path / "mobilenet_050.msgpack"
  _convert_script().main(["--arch", "mobilenet_v1_050", "--weights", str(path), "--out", str(out)])
  model = get_backbone("mobilenet_v1_050", output="logits")
  from_h5, _ = pretrained.load_into(_shapes(model), str(path), model, paths=[()])
  from_msgpack, _ = pretrained.load_into(_shapes(model), str(out), model, paths=[()])
  flat_a = flax.traverse_util.flatten_dict(from_h5)
  flat_b = flax.traverse_util.flatten_dict(from_msgpack)
  assert flat_a.keys() == flat_b.keys()
  for key in flat_a:
    np.testing.assert_array_equal(flat_a[key], flat_b[key])
  with pytest.raises(ValueError, match="Keras file"):
    _convert_script().convert(str(path), "mobilenet_v1_050", tmp_path / "x.safetensors")
  assert not (tmp_path / "x.safetensors").exists()


def test_bfloat16_compute_keeps_float32_params(h5_050):
  path, _ = h5_050
  images = jnp.asarray(np.random.default_rng(0).uniform(0, 1, (2, 64, 64, 3)), jnp.float32)
  out = {}
  for dtype in ("float32", "bfloat16"):
    model = get_backbone("mobilenet_v1_050", dtype=dtype)
    variables, _ = backbone_helpers.load_file(model, path, images)
    assert all(a.dtype == jnp.float32 for a in jax.tree.leaves(variables))
    out[dtype] = backbone_helpers.fast_apply(model, variables, images)
  assert out["bfloat16"].dtype == jnp.bfloat16
  ref = out["float32"]
  err = np.abs(out["bfloat16"].astype(np.float32) - ref).max()
  assert err < 0.05 * np.abs(ref).max(), err
