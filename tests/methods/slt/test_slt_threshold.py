"""SLT-Net's pseudo-box threshold chosen on box-annotated training images: the best-threshold
search on maps whose answer is known, the evenly spaced subset of a split, and the loop writing the
chosen value into the state ``slt.pseudo_threshold_per_epoch`` times per localization epoch."""

from __future__ import annotations

import json

import numpy as np
import pytest

import loop_testlib
from loop_testlib import fast_cpu_random  # noqa: F401  (autouse fixture)
from wsol_jax.data import pipeline
from wsol_jax.localization import metrics as metrics_lib
from wsol_jax.methods import common
from wsol_jax.methods.slt import config as slt_config
from wsol_jax.methods.slt import method as slt_lib
from wsol_jax.training import loop as train
from wsol_jax.training import method as base


def _ring_maps(boxes_xyxy, size, inside=1.0, outside=0.37):
  """Maps that are ``inside`` on each box and ``outside`` elsewhere."""
  maps = np.full((len(boxes_xyxy), size, size), outside, np.float32)
  for m, (x0, y0, x1, y1) in zip(maps, boxes_xyxy):
    m[y0:y1, x0:x1] = inside
  return maps


def test_best_box_threshold_is_the_lowest_that_separates_the_box():
  # Below 0.37 the map's box is the whole 32 x 32 image (IoU <= 0.14 with these boxes); from the
  # first grid value above it (0.40) the box is exact.
  boxes = np.array([[4, 6, 16, 14], [10, 10, 22, 24], [0, 0, 12, 12]])
  maps = _ring_maps(boxes, 32)
  gt = boxes[:, None, :].astype(np.float32)
  batches = [(maps[:2], gt[:2], np.ones((2, 1), bool), np.ones(2, bool)),
             (maps[2:], gt[2:], np.ones((1, 1), bool), np.ones(1, bool))]
  threshold, accuracy = metrics_lib.best_box_threshold(batches, cam_curve_interval=0.05)
  assert threshold == pytest.approx(0.40)
  assert accuracy == 100.0
  # A padded (invalid) image with a wrong map changes nothing.
  padded = [(np.concatenate([maps, np.zeros((1, 32, 32), np.float32)]),
             np.concatenate([gt, gt[:1]]), np.ones((4, 1), bool), np.array([1, 1, 1, 0], bool))]
  assert metrics_lib.best_box_threshold(padded, 0.05) == (threshold, accuracy)


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
  return tmp_path_factory.mktemp("tfds")


def test_eval_loader_num_records_takes_evenly_spaced_records(data_dir):
  config = loop_testlib.tiny_config(data_dir)
  ids = lambda loader: [i for b in loader for i, v in zip(b["image_id"], b["valid"]) if v]
  full = ids(pipeline.make_eval_loader(config.data, 16, split="train"))
  some = ids(pipeline.make_eval_loader(config.data, 16, split="train", num_records=8))
  assert len(full) == 64
  assert some == [full[i] for i in np.linspace(0, 63, 8).round().astype(int)]


def test_the_loop_writes_the_chosen_threshold_into_the_state_each_half_epoch(tmp_path, data_dir,
                                                                           monkeypatch):
  config = loop_testlib.tiny_config(data_dir, num_steps=8)  # 2 epochs of 4 steps
  config.method = "slt"
  config.slt = slt_config.default_config()
  config.slt.smt_k, config.slt.canvas_multiple = 2, 4
  config.slt.regressor.hidden_units = 8
  config.slt.classifier.enabled = False
  config.slt.pseudo_threshold_images_per_class = 2
  config.slt.pseudo_threshold_per_epoch = 2
  config.eval.figure_images = 0
  train.train_and_evaluate(config, str(tmp_path))
  logged = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
  chosen = [(r["step"], r["localization/pseudo_box_threshold"]) for r in logged
            if "localization/pseudo_box_threshold" in r]
  assert [step for step, _ in chosen] == [2, 4, 6, 8]
  _, state, _ = train.load_checkpoint(config, str(tmp_path))
  final = float(np.asarray(state.extras[slt_lib.PSEUDO_THRESHOLD]))
  assert final == pytest.approx(chosen[-1][1])
  # ... and it is what select_pseudo_box_threshold gives for that state.
  method = train.setup(config, str(tmp_path)).method
  assert method.select_pseudo_box_threshold(state)[0] == pytest.approx(final)
  # Held-out images without a GT box (most of ImageNet's training images) are left out; with none
  # at all, a one-line error.
  real_loader = pipeline.make_eval_loader

  def boxes_kept(keep):
    return lambda *a, **k: [dict(b, bboxes_valid=b["bboxes_valid"] & keep(len(b["valid"]))[:, None])
                            for b in real_loader(*a, **k)]

  monkeypatch.setattr(common.pipeline, "make_eval_loader",
                      boxes_kept(lambda n: np.arange(n) % 2 == 0))
  assert 0.0 <= method.select_pseudo_box_threshold(state)[0] <= 1.0
  monkeypatch.setattr(common.pipeline, "make_eval_loader", boxes_kept(lambda n: np.zeros(n, bool)))
  with pytest.raises(ValueError, match="pseudo_threshold_images_per_class=0"):
    method.select_pseudo_box_threshold(state)


@pytest.mark.parametrize("times", [0, -2])
def test_re_choosing_per_epoch_must_be_a_whole_number(data_dir, times):
  config = loop_testlib.tiny_config(data_dir)
  config.method = "slt"
  config.slt = slt_config.default_config()
  config.slt.smt_k, config.slt.pseudo_threshold_per_epoch = 2, times
  method = slt_lib.SLTNet(config, base.RunInfo(num_classes=4, steps_per_epoch=4, train_size=64))
  with pytest.raises(ValueError, match=r"config\.slt\.pseudo_threshold_per_epoch must be a whole"):
    method.extras_per_epoch()
