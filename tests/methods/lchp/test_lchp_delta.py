"""LCHP's Algorithm-1 threshold delta chosen on box-annotated training images: the choice on maps
whose answer is known, the per-delta boxes against Algorithm 1 run once per delta, and the loop
writing the chosen delta into the state after every init epoch."""

from __future__ import annotations

import json

import jax.numpy as jnp
import numpy as np
import pytest

import lchp_testlib
from wsol_jax.localization import metrics
from wsol_jax.methods.lchp import attention_boxes
from wsol_jax.methods.lchp import method as lchp
from wsol_jax.training import loop as train

BACKGROUND, CLUTTER, BODY, PART = 0.3, 0.45, 0.6, 1.0


def _bird_images(bodies_xyxy, size=32):
  """Images whose every channel is a map: background 0.3, a 4 x 4 clutter patch 0.45 in a corner
  away from the bird, the bird's body 0.6 and a discriminative part (its left half's centre) 1.0.

  With min-max normalisation (background 0, clutter 0.21, body 0.43, part 1) and erasing with
  0.3, Algorithm 1 returns the body's box only for delta >= 0.5 (strict >): the first box is the
  part, and on the erased image (body 1, clutter 0.5) only the body passes. Below 0.43 the first box
  is the body (or body and clutter below 0.21), and on the erased image the clutter is the
  maximum, so the merged box spans body and clutter.
  """
  maps = np.full((len(bodies_xyxy), size, size), BACKGROUND, np.float32)
  for m, (x0, y0, x1, y1) in zip(maps, bodies_xyxy):
    m[y0:y1, x0:x1] = BODY
    m[y0 + 2:y1 - 2, x0 + 1:(x0 + x1) // 2] = PART
    cx = 0 if x0 >= 8 else size - 4
    m[0:4, cx:cx + 4] = CLUTTER
  return np.repeat(maps[..., None], 3, axis=-1)


def _identity_features(x):
  return x


def _scored(boxes_fn, batches):
  """Held-out batches as metrics.best_candidate_boxes reads them (boxes per delta first)."""
  return [(boxes_fn(b["image"]), b["bboxes"], b["bboxes_valid"], b["valid"], b["image"].shape[1:3])
          for b in batches]


def test_best_delta_is_the_lowest_whose_merged_box_is_the_body():
  bodies = np.array([[10, 12, 26, 28], [12, 10, 30, 26], [2, 14, 18, 30]])
  images = _bird_images(bodies)
  deltas = (0.2, 0.3, 0.4, 0.5, 0.6)
  boxes_fn = lambda x: attention_boxes.pseudo_boxes_per_delta(
      _identity_features, jnp.asarray(x), deltas, erase_value=BACKGROUND)
  gt = bodies[:, None, :].astype(np.float32)
  batches = [{"image": images[:2], "bboxes": gt[:2], "bboxes_valid": np.ones((2, 1), bool),
              "valid": np.ones(2, bool)},
             {"image": images[2:], "bboxes": gt[2:], "bboxes_valid": np.ones((1, 1), bool),
              "valid": np.ones(1, bool)}]
  assert metrics.best_candidate_boxes(_scored(boxes_fn, batches), deltas) == (0.5, 100.0)
  per_delta = np.asarray(boxes_fn(images))
  np.testing.assert_array_equal(per_delta[3], bodies)  # 0.5: the body exactly
  assert (per_delta[2, :, 1] == 0).all()  # 0.4: the merged box reaches up to the clutter
  # A padded (invalid) row with a wrong box changes nothing; no GT box at all is an error.
  padded = [{"image": np.concatenate([images, images[:1] * 0]),
             "bboxes": np.concatenate([gt, gt[:1]]), "bboxes_valid": np.ones((4, 1), bool),
             "valid": np.array([1, 1, 1, 0], bool)}]
  assert metrics.best_candidate_boxes(_scored(boxes_fn, padded), deltas) == (0.5, 100.0)
  no_gt = [dict(batches[0], bboxes_valid=np.zeros((2, 1), bool))]
  with pytest.raises(ValueError, match="no image with a GT box"):
    metrics.best_candidate_boxes(_scored(boxes_fn, no_gt), deltas)


def test_boxes_per_delta_equal_algorithm_1_run_once_per_delta():
  rng = np.random.default_rng(0)
  images = jnp.asarray(rng.uniform(size=(4, 32, 32, 3)).astype(np.float32))
  features = lambda x: jnp.stack([x[..., 0] * x[..., 1], x[..., 2]], -1)
  deltas = (0.3, 0.6, 0.8)
  together = attention_boxes.pseudo_boxes_per_delta(features, images, deltas, erase_value=0.5)
  for delta, boxes in zip(deltas, together):
    alone = attention_boxes.pseudo_box_xyxy(features, images, delta, erase_value=0.5)
    np.testing.assert_array_equal(np.asarray(boxes), np.asarray(alone.boxes_xyxy))


def test_the_loop_writes_the_chosen_delta_into_the_state_every_init_epoch(tmp_path):
  config = lchp_testlib.loop_config(tmp_path / "tfds")  # 4 steps per epoch
  config.train.num_steps = 8
  config.lchp.run_refine = False
  config.lchp.delta = 0.05  # not a candidate: a chosen delta is told apart from the start
  config.lchp.delta_images_per_class = 2
  config.lchp.delta_candidates = (0.3, 0.5, 0.7)
  config.eval.figure_images = 0
  train.train_and_evaluate(config, str(tmp_path / "run"))
  logged = [json.loads(line)
            for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
  chosen = [(r["step"], r["init/delta"]) for r in logged if "init/delta" in r]
  assert [step for step, _ in chosen] == [4, 8]
  assert all(delta in config.lchp.delta_candidates for _, delta in chosen)
  _, state, _ = train.load_checkpoint(config, str(tmp_path / "run"))
  final = float(np.asarray(state.extras[lchp.DELTA]))
  assert final == pytest.approx(chosen[-1][1])
  # ... it is what select_delta gives for that state, and the pseudo-label group uses it.
  method = train.setup(config, str(tmp_path / "run")).method
  assert method.select_delta(state)[0] == pytest.approx(final)
  batch = lchp_testlib.fake_batch()
  images = jnp.asarray(batch["image"], jnp.float32) / 255.0
  np.testing.assert_array_equal(
      np.asarray(method.state_pseudo_boxes(state, images).boxes_xyxy),
      np.asarray(method.pseudo_boxes(state.ema_params, images, final).boxes_xyxy))
