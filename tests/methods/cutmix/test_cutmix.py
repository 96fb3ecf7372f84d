"""CutMix: the pasted box is one rectangle of the partner's pixels whose area fraction is exactly
1 - lam (the label weight), its size follows lam's draw; the loss is lam * CE(a) + (1 - lam) *
CE(b) as computed by hand; prob 0 changes no image and the loss is CE; bad fields are one-line
errors; at evaluation CutMix predicts exactly as CAM with the same parameters."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from wsol_jax import config_defaults
from wsol_jax.methods import cam, cutmix
from wsol_jax.methods.cutmix import config as cutmix_config
from wsol_jax.methods.cutmix import losses, mixing
from wsol_jax.models import heads
from wsol_jax.training import method as base

INFO = base.RunInfo(num_classes=3, steps_per_epoch=1, train_size=8)


def tiny_config(method: str = "cutmix", **fields):
  config = config_defaults.get_base_config()
  config.method = method
  config.model.backbone_kwargs = {"widths": (4, 8), "convs_per_stage": 1}
  config.model.head_channels = 4
  config.cutmix = cutmix_config.default_config()
  for key, value in fields.items():
    config.cutmix[key] = value
  return config


def distinct_images(n=6, height=20, width=24):
  """Every pixel of every image different, so a pasted pixel tells where it came from."""
  return jnp.arange(n * height * width * 3, dtype=jnp.float32).reshape(n, height, width, 3)


mix = jax.jit(mixing.cutmix, static_argnames=("beta", "prob"))


@pytest.mark.parametrize("seed", range(8))
def test_the_box_comes_from_the_partner_and_its_area_is_one_minus_lam(seed):
  images = distinct_images()
  labels = jnp.arange(6, dtype=jnp.int32) % 3
  out = mix(images, labels, jax.random.key(seed), beta=1.0, prob=1.0)
  box, partner = np.asarray(out.box_mask), np.asarray(out.partner)
  assert sorted(partner) == list(range(6))  # a permutation of the batch
  rows, cols = np.nonzero(box)
  if rows.size:  # one filled rectangle
    assert box[rows.min():rows.max() + 1, cols.min():cols.max() + 1].all()
  # lam is the kept fraction 1 - box area / (H W), to float32 rounding (one pixel is 1/480).
  np.testing.assert_allclose(float(out.lam), 1.0 - box.sum() / (20 * 24), rtol=0, atol=1e-7)
  mixed, original = np.asarray(out.images), np.asarray(images)
  np.testing.assert_array_equal(mixed[:, box], original[partner][:, box])
  np.testing.assert_array_equal(mixed[:, ~box], original[:, ~box])
  np.testing.assert_array_equal(np.asarray(out.labels_a), np.asarray(labels))
  np.testing.assert_array_equal(np.asarray(out.labels_b), np.asarray(labels)[partner])


def test_box_sides_follow_the_drawn_lam_before_clipping():
  # wsolevaluation's rand_bbox: sides int(H sqrt(1 - lam)), corners centre -/+ side // 2.
  for seed in range(20):
    lam = jax.random.uniform(jax.random.key(seed), minval=0.05, maxval=0.95)
    y0, x0, y1, x1 = np.asarray(mixing.box_corners(jax.random.key(100 + seed), 64, 48, lam))
    half_h = int(64 * np.sqrt(1.0 - float(lam))) // 2
    half_w = int(48 * np.sqrt(1.0 - float(lam))) // 2
    assert 0 <= y0 <= y1 <= 64 and 0 <= x0 <= x1 <= 48
    centre_y = y1 - half_h if y1 < 64 else y0 + half_h
    centre_x = x1 - half_w if x1 < 48 else x0 + half_w
    assert (y0, y1) == (max(centre_y - half_h, 0), min(centre_y + half_h, 64))
    assert (x0, x1) == (max(centre_x - half_w, 0), min(centre_x + half_w, 48))


def test_the_loss_is_the_lam_weighted_cross_entropy_of_both_labels():
  logits = jnp.asarray([[2.0, 0.5, -1.0], [0.1, 0.2, 0.3], [-2.0, 1.0, 0.0]])
  labels_a, labels_b, lam = jnp.asarray([0, 2, 1]), jnp.asarray([1, 2, 0]), 0.3
  log_p = np.asarray(jax.nn.log_softmax(logits))
  by_hand = (lam * -np.mean(log_p[np.arange(3), [0, 2, 1]])
             + (1 - lam) * -np.mean(log_p[np.arange(3), [1, 2, 0]]))
  np.testing.assert_allclose(float(losses.cutmix_loss(logits, labels_a, labels_b, lam)), by_hand,
                             rtol=1e-6)


def test_prob_zero_changes_no_image_and_the_loss_is_cross_entropy():
  method = cutmix.CutMix(tiny_config(prob=0.0), INFO)
  rng = np.random.default_rng(0)
  batch = {"image": rng.integers(0, 256, (4, 16, 16, 3), dtype=np.uint8),
           "label": np.array([0, 1, 2, 0], np.int32)}
  images, targets = jax.jit(method.train_inputs)(batch, {"augment": jax.random.key(0)})
  np.testing.assert_array_equal(np.asarray(images), np.asarray(heads.model_input(batch["image"])))
  assert float(targets["lam"]) == 1.0
  logits = jnp.asarray(rng.normal(size=(4, 3)), jnp.float32)
  log_p = np.asarray(jax.nn.log_softmax(logits))
  assert float(method.train_loss({"logits": logits}, targets)) == pytest.approx(
      -np.mean(log_p[np.arange(4), batch["label"]]), rel=1e-6)


@pytest.mark.parametrize("field,value,match", [
    ("beta", 0.0, r"^config\.cutmix\.beta=0\.0 must be > 0"),
    ("prob", 1.5, r"^config\.cutmix\.prob=1\.5 must be in \[0, 1\]"),
    ("prob", -0.5, r"^config\.cutmix\.prob=-0\.5 must be in \[0, 1\]")])
def test_bad_fields_are_one_line_errors_naming_them(field, value, match):
  with pytest.raises(ValueError, match=match) as error:
    cutmix.CutMix(tiny_config(**{field: value}), INFO)
  assert "\n" not in str(error.value)


def test_evaluation_predicts_as_cam_with_the_same_parameters():
  method = cutmix.CutMix(tiny_config(), INFO)
  baseline = cam.CAM(tiny_config("cam"), INFO)
  rng = np.random.default_rng(0)
  batch = {"image": rng.integers(0, 256, (4, 16, 16, 3), dtype=np.uint8),
           "label": np.array([0, 1, 2, 0], np.int32)}
  state = method.init_state(jax.random.key(0), batch)
  ours, theirs = method.predict(state, batch), baseline.predict(state, batch)
  for key in ("logits", "cam_gt"):
    np.testing.assert_array_equal(np.asarray(ours["localizer"][key]),
                                  np.asarray(theirs["localizer"][key]))
