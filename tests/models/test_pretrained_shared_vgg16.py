"""The real VGG16 convolutions (../shared/weights, torchvision keys, no fc6/fc7/fc8) in the paper
configs' networks: CAM-VGG16's localizer and SLT-Net's localizer, regressor and classifier."""

from __future__ import annotations

import flax
import jax
import numpy as np
import pytest

from configs import cub_cam, cub_slt
from wsol_jax.methods.cam import method as cam_method
from wsol_jax.methods.slt import method as slt_method
from wsol_jax.models import pretrained
from wsol_jax.training import method as base

FILE = "vgg16_features_torchvision.safetensors"
INFO = base.RunInfo(num_classes=200, steps_per_epoch=4, train_size=64)
SAMPLE = {"image": np.zeros((1, 64, 64, 3), np.uint8)}  # each network resizes it to its own 224
CONV5_3 = "features.28.weight"  # OIHW in the file


@pytest.fixture(scope="module")
def vgg16_file(shared_weights):
  return shared_weights(FILE)


def _conv5_3(params) -> np.ndarray:
  """A network's conv5_3 kernel in the file's OIHW layout."""
  return np.transpose(np.asarray(params["backbone"]["features_28"]["kernel"]), (3, 2, 0, 1))


def test_loads_into_cub_cam_localizer(vgg16_file):
  config = cub_cam.get_config()
  config.model.pretrained = str(vgg16_file)
  state = cam_method.CAM(config, INFO).init_state(jax.random.key(0), SAMPLE)
  file_kernel = pretrained.read_state_dict(vgg16_file)[CONV5_3]
  np.testing.assert_array_equal(_conv5_3(state.params["localizer"]), file_kernel)


def _slt_config(vgg16_file, **allow_random):
  config = cub_slt.get_config()
  config.model.pretrained = str(vgg16_file)
  for net, layers in allow_random.items():
    config.slt[net].pretrained_allow_random = layers
  return config


def test_slt_classifier_refuses_the_file_without_fc6_fc7_by_default(vgg16_file):
  method = slt_method.SLTNet(_slt_config(vgg16_file), INFO)
  with pytest.raises(ValueError, match=r"4 vgg16 tensors are missing from the file: "
                     r"params/classifier_0/bias.*config\.slt\.classifier\.pretrained_allow_random"):
    method.init_state(jax.random.key(0), SAMPLE)


def test_slt_three_networks_load_with_fc6_fc7_allowed_random(vgg16_file, capsys):
  config = _slt_config(vgg16_file, classifier=("classifier_0", "classifier_3"))
  state = slt_method.SLTNet(config, INFO).init_state(jax.random.key(0), SAMPLE)
  file_kernel = pretrained.read_state_dict(vgg16_file)[CONV5_3]
  for net in ("localizer", "regressor", "classifier"):
    np.testing.assert_array_equal(_conv5_3(state.params[net]), file_kernel, err_msg=net)
  # The one start-up line names the layers left random and the field that allowed them.
  lines = [l for l in capsys.readouterr().out.splitlines() if "start from random" in l]
  assert lines == [f"classifier: classifier_0, classifier_3 not in {vgg16_file}: start from "
                   "random (config.slt.classifier.pretrained_allow_random)"]
  fc6 = flax.traverse_util.flatten_dict(state.params["classifier"])[
      ("backbone", "classifier_0", "kernel")]
  assert np.std(np.asarray(fc6)) > 0  # initialised, not zeros
