"""HaS (Hide-and-Seek): the hidden patches follow the grid (patches of config.has.grid_size px
from the top-left corner), each all hidden or all kept, hidden at the drop rate, filled with the
colour the backbone reads as zero; drop rate 0 changes nothing; bad fields are one-line errors; at
evaluation HaS predicts exactly as CAM with the same parameters."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from wsol_jax import config_defaults
from wsol_jax.methods import cam, common, has
from wsol_jax.methods.has import config as has_config
from wsol_jax.methods.has import hiding
from wsol_jax.training import method as base

INFO = base.RunInfo(num_classes=3, steps_per_epoch=1, train_size=8)
FILL = np.array([0.485, 0.456, 0.406], np.float32)


def tiny_config(method: str = "has", **fields):
  config = config_defaults.get_base_config()
  config.method = method
  config.model.backbone_kwargs = {"widths": (4, 8), "convs_per_stage": 1}
  config.model.head_channels = 4
  config.has = has_config.default_config()
  for key, value in fields.items():
    config.has[key] = value
  return config


def random_images(n=8, size=16, seed=0):
  return np.random.default_rng(seed).uniform(0.0, 1.0, (n, size, size, 3)).astype(np.float32)


def test_patches_are_hidden_whole_on_the_grid_with_the_fill_colour():
  # 18 px with 4 px patches: a 5 x 5 grid, the last row and column 2 px wide (has.py's min()).
  images = random_images(n=6, size=18)
  out = np.asarray(hiding.hide_patches(jnp.asarray(images), jax.random.key(3), patch_px=4,
                                       drop_rate=0.5, fill_rgb=FILL))
  hidden = np.all(out == FILL, axis=-1)
  kept = np.all(out == images, axis=-1)
  assert np.all(hidden | kept)  # every pixel is either the fill colour or its own value
  for i in range(6):
    for r0 in range(0, 18, 4):
      for c0 in range(0, 18, 4):
        patch = hidden[i, r0:r0 + 4, c0:c0 + 4]
        assert patch.all() or not patch.any(), (i, r0, c0)  # whole patches only
  assert 0 < hidden.mean() < 1


def test_hidden_fraction_is_the_drop_rate():
  mask = np.asarray(hiding.hidden_mask(jax.random.key(0), 400, 16, 16, 4, 0.3))
  patches = mask[:, ::4, ::4]  # one pixel per patch: 400 x 16 independent draws
  assert abs(patches.mean() - 0.3) < 0.02  # 6400 Bernoulli(0.3): std 0.006
  assert abs(mask.mean() - 0.3) < 0.02
  # Each pixel has its 4 px patch's draw, and neighbouring patches are drawn independently (were
  # the patches larger, neighbours would agree more often than p^2 + (1 - p)^2 = 0.58).
  np.testing.assert_array_equal(mask, np.repeat(np.repeat(patches, 4, axis=1), 4, axis=2))
  agree = np.mean(patches[:, :, 1:] == patches[:, :, :-1])
  assert abs(agree - 0.58) < 0.03


def test_drop_rate_zero_and_grid_size_zero_change_nothing():
  images = jnp.asarray(random_images())
  for patch_px, drop_rate in ((4, 0.0), (0, 1.0)):
    out = hiding.hide_patches(images, jax.random.key(1), patch_px=patch_px, drop_rate=drop_rate,
                              fill_rgb=FILL)
    np.testing.assert_array_equal(np.asarray(out), np.asarray(images))


def test_training_inputs_are_hidden_with_the_backbones_zero_colour():
  method = has.HideAndSeek(tiny_config(drop_rate=1.0), INFO)
  batch = {"image": np.full((2, 8, 8, 3), 200, np.uint8), "label": np.zeros(2, np.int32)}
  images, labels = jax.jit(method.train_inputs)(batch, {"augment": jax.random.key(0)})
  zero = np.asarray(common.zero_rgb(method.config.model.backbone,
                                    method.config.model.backbone_kwargs))
  np.testing.assert_array_equal(np.asarray(images), np.broadcast_to(zero, (2, 8, 8, 3)))
  np.testing.assert_array_equal(np.asarray(labels), batch["label"])


@pytest.mark.parametrize("field,value,match", [
    ("drop_rate", 1.5, r"^config\.has\.drop_rate=1\.5 must be in \[0, 1\]"),
    ("drop_rate", -0.1, r"^config\.has\.drop_rate=-0\.1 must be in \[0, 1\]"),
    ("grid_size", -2, r"^config\.has\.grid_size=-2 must be an integer >= 0")])
def test_bad_fields_are_one_line_errors_naming_them(field, value, match):
  with pytest.raises(ValueError, match=match) as error:
    has.HideAndSeek(tiny_config(**{field: value}), INFO)
  assert "\n" not in str(error.value)


def test_evaluation_predicts_as_cam_with_the_same_parameters():
  method = has.HideAndSeek(tiny_config(drop_rate=1.0), INFO)
  baseline = cam.CAM(tiny_config("cam"), INFO)
  rng = np.random.default_rng(0)
  batch = {"image": rng.integers(0, 256, (4, 16, 16, 3), dtype=np.uint8),
           "label": np.array([0, 1, 2, 0], np.int32)}
  state = method.init_state(jax.random.key(0), batch)
  ours, theirs = method.predict(state, batch), baseline.predict(state, batch)
  for key in ("logits", "cam_gt"):
    np.testing.assert_array_equal(np.asarray(ours["localizer"][key]),
                                  np.asarray(theirs["localizer"][key]))
