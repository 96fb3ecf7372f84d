"""Every CAM-shaped method trains on synthetic_wsol: over 40 steps on one fixed batch its training
loss falls (the mean of the last 5 steps under 80 % of the first 5's: a CutMix loss on mixed labels
has a floor well above 0, about the entropy of the mixing weight, so it cannot fall as far as
CAM's), and the trained localizer's cross-entropy on the clean batch (evaluation mode, without the
method's augmentation or ADL's layers) falls too."""

import numpy as np
import pytest

import baseline_testlib

METHODS = ["cam", "has", "cutmix", "adl", "acol", "spg"]


@pytest.mark.parametrize("name", METHODS)
def test_loss_falls_on_synthetic_images(name):
  losses, (before, after) = baseline_testlib.train_losses(name)
  assert np.all(np.isfinite(losses)), losses
  assert np.mean(losses[-5:]) < 0.8 * np.mean(losses[:5]), losses
  assert after < before, (before, after, losses)
