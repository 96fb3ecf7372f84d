"""Every CAM-shaped method trains on synthetic_wsol: over 40 steps on one fixed batch its loss
falls well below where it started (the mean of the last 5 steps under 60 % of the first 5's)."""

import numpy as np
import pytest

import baseline_testlib

METHODS = ["cam", "has", "cutmix", "adl", "acol", "spg"]


@pytest.mark.parametrize("name", METHODS)
def test_loss_falls_on_synthetic_images(name):
  try:
    losses = baseline_testlib.train_losses(name)
  except ModuleNotFoundError as e:
    pytest.fail(f"method {name!r} is not importable: {e}")
  assert np.all(np.isfinite(losses)), losses
  assert np.mean(losses[-5:]) < 0.6 * np.mean(losses[:5]), losses
