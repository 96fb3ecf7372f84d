"""CAM's config checks: a CAM threshold outside [0, 1] stops the method with one line naming it."""

from __future__ import annotations

import pytest

from wsol_jax import config_defaults
from wsol_jax.methods import cam
from wsol_jax.training import method as base

INFO = base.RunInfo(num_classes=3, steps_per_epoch=1, train_size=4)


@pytest.mark.parametrize("threshold", [-0.1, 1.5])
def test_cam_threshold_outside_the_unit_interval_is_refused(threshold):
  config = config_defaults.get_base_config()
  config.eval.cam_threshold = threshold
  with pytest.raises(ValueError, match=r"config\.eval\.cam_threshold=.* must be in \[0, 1\]"):
    cam.CAM(config, INFO)


def test_the_default_threshold_builds():
  assert cam.CAM(config_defaults.get_base_config(), INFO).primary_eval_group == "localizer"
