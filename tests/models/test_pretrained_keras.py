"""MobileNetV1 from Keras HDF5 weights: the layout vs a NumPy reference; the real ImageNet file."""

from __future__ import annotations

import json

import backbone_helpers
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from numpy.lib.stride_tricks import sliding_window_view

from wsol_jax.models import get_backbone, pretrained

# ----------------------------------------------------------------------------------------------
# NumPy reference with TensorFlow's 'SAME' padding.


def _same_pad(x, k, s):
  pads = []
  for n in x.shape[1:3]:
    total = max((-(-n // s) - 1) * s + k - n, 0)
    pads.append((total // 2, total - total // 2))
  return np.pad(x, ((0, 0), pads[0], pads[1], (0, 0)))


def _windows(x, k, s):
  return sliding_window_view(_same_pad(x, k, s), (k, k), axis=(1, 2))[:, ::s, ::s]


def mobilenet_numpy(w, images, features_only):
  x = images.astype(np.float64) * 2 - 1  # x_uint8 / 127.5 - 1

  def bn_relu6(x, name):
    p = w[f"{name}_bn"]
    x = (x - p["moving_mean"]) / np.sqrt(p["moving_variance"] + 1e-3) * p["gamma"] + p["beta"]
    return np.clip(x, 0, 6)

  x = bn_relu6(np.einsum("bhwcij,ijco->bhwo", _windows(x, 3, 2), w["conv1"]["kernel"]), "conv1")
  for i, (_, stride) in enumerate(backbone_helpers.MOBILENET_BLOCKS, start=1):
    dw = w[f"conv_dw_{i}"]["depthwise_kernel"][..., 0]
    x = bn_relu6(np.einsum("bhwcij,ijc->bhwc", _windows(x, 3, stride), dw), f"conv_dw_{i}")
    x = bn_relu6(np.einsum("bhwc,co->bhwo", x, w[f"conv_pw_{i}"]["kernel"][0, 0]), f"conv_pw_{i}")
  if features_only:
    return x
  return x.mean(axis=(1, 2)) @ w["conv_preds"]["kernel"][0, 0] + w["conv_preds"]["bias"]


# ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("impl", ["conv", "shifted"])
def test_mobilenet_keras_layout_matches_numpy_reference(tmp_path, impl):
  """50 px: feature maps 25, 13, 7, 4, 2 -- odd and even sizes under TF 'SAME' stride-2 padding."""
  path = tmp_path / "mobilenet_5_0_224_tf.h5"
  weights = backbone_helpers.write_keras_mobilenet_h5(path, width=0.5, seed=1)
  images = np.random.default_rng(2).uniform(0, 1, (2, 50, 50, 3)).astype(np.float32)
  model = get_backbone("mobilenet_v1_050", output="logits", depthwise_impl=impl)
  variables, report = backbone_helpers.load_file(model, path, images)
  assert report.loaded == 137 and not report.skipped
  logits = backbone_helpers.fast_apply(model, variables, images)
  features = backbone_helpers.fast_apply(model.clone(output="features"), variables, images)
  ref_logits, ref_features = mobilenet_numpy(weights, images, False), mobilenet_numpy(
      weights, images, True)
  assert features.shape == ref_features.shape == (2, 2, 2, 512)
  for ours, ref in ((logits, ref_logits), (features, ref_features)):
    scale = max(1.0, np.abs(ref).max())
    assert np.abs(ours - ref).max() <= 1e-4 * scale, (impl, np.abs(ours - ref).max(), scale)


def test_mobilenet_wrong_width_file_names_the_mismatch(tmp_path):
  path = tmp_path / "mobilenet_5_0_224_tf.h5"
  backbone_helpers.write_keras_mobilenet_h5(path, width=0.5, num_classes=10)
  model = get_backbone("mobilenet_v1_075")
  shapes = jax.eval_shape(lambda x: model.init(jax.random.PRNGKey(0), x, train=False),
                          jnp.zeros((1, 32, 32, 3)))
  with pytest.raises(ValueError, match=r"shape mismatches: params/conv1/kernel file "
                                       r"\(3, 3, 3, 16\) vs model \(3, 3, 3, 24\)"):
    pretrained.load_into(shapes, str(path), model, paths=[()])


def test_real_mobilenet_weights_classify_tiny_imagenet(shared_dir, tmp_path):
  """Acceptance: the shared Keras MobileNet-0.75 file, imported, is a real ImageNet classifier.

  A fixed subset (the first 300 val photos by file name) keeps the test short; on all 1,000 the
  script gives top-1 24.8% / top-5 50.2% (chance 0.1% / 0.5%).
  """
  out = tmp_path / "check.json"
  backbone_helpers.load_script("check_pretrained").main([
      "--arch", "mobilenet_v1_075",
      "--weights", str(shared_dir / "weights" / "mobilenet_7_5_224_tf.h5"),
      "--tiny_imagenet", str(shared_dir / "data" / "tiny-imagenet-200-sub20.zip"),
      "--synsets", str(shared_dir / "data" / "imagenet_synsets.txt"),
      "--limit", "300", "--out", str(out)])
  result = json.loads(out.read_text())
  assert result["images"] == 300 and result["input_size"] == 224
  assert result["top5"] > 0.40, result
  assert result["top1"] > 0.15, result
