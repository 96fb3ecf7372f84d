"""The evaluator's prediction groups: CAM maps, regressor boxes, logits only; padding is masked;
the results table and results.json."""

import json

import numpy as np
import pytest

from wsol_jax import config_defaults
from wsol_jax.training import evaluator as evaluate


def _batch():
  """4 examples (the last is padding) of 32x32 images, one GT box each."""
  boxes = np.zeros((4, 2, 4), np.float32)
  boxes[:, 0] = [8, 8, 24, 24]
  valid_boxes = np.zeros((4, 2), bool)
  valid_boxes[:, 0] = True
  return {"image": np.zeros((4, 32, 32, 3), np.uint8), "label": np.array([0, 1, 2, 0], np.int32),
          "bboxes": boxes, "bboxes_valid": valid_boxes,
          "valid": np.array([True, True, True, False])}


def _logits(top1):
  logits = np.zeros((4, 6), np.float32)
  logits[np.arange(4), top1] = 5.0
  return logits


def _scorer():
  eval_cfg = config_defaults.get_base_config().eval
  eval_cfg.cam_curve_interval = 0.1
  return evaluate.GroupScorer(eval_cfg)


def test_cam_group_scores_boxes_from_the_gt_class_map():
  cam = np.zeros((4, 8, 8), np.float32)
  cam[:, 2:6, 2:6] = 1.0  # the GT box region at 1/4 scale
  cam[1] = np.random.default_rng(0).random((8, 8))  # noise: not localised
  scorer = _scorer()
  scorer.update({"logits": _logits([0, 1, 3, 5]), "cam_gt": cam}, _batch())
  out = scorer.result()
  assert out["num_images"] == 3  # the padding row is masked
  assert out["top1_cls"] == pytest.approx(200 / 3)
  assert out["gt_known_loc"] == pytest.approx(200 / 3)  # examples 0 and 2 localised
  assert out["top1_loc"] == pytest.approx(100 / 3)  # only example 0 is both right and localised
  assert out["MaxBoxAcc"] >= out["gt_known_loc"]


def test_box_group_and_logits_only_group():
  boxes = np.array([[0.25, 0.25, 0.75, 0.75], [0.0, 0.0, 0.2, 0.2], [0.25, 0.25, 0.75, 0.75],
                    [0.0, 0.0, 1.0, 1.0]], np.float32)  # normalised xyxy
  scorer = _scorer()
  scorer.update({"logits": _logits([0, 1, 3, 5]), "boxes": boxes}, _batch())
  out = scorer.result()
  assert out["gt_known_loc"] == pytest.approx(200 / 3)
  assert out["top1_loc"] == pytest.approx(100 / 3)
  assert "MaxBoxAcc" not in out
  only = _scorer()
  only.update({"logits": _logits([0, 2, 2, 5])}, _batch())
  # Ties among the other logits rank lower class indices first: every label is in the top 5.
  assert only.result() == {"top1_cls": pytest.approx(200 / 3), "top5_cls": 100.0}


def test_results_table_and_json(tmp_path):
  results = {"top1_cls": 91.5, "gt_known_loc": 70.0, "MaxBoxAcc": 72.25, "MaxBoxAccV2": 60.0,
             "localizer/gt_known_loc": 65.0, "step": 12}
  table = evaluate.results_table(results, "system")
  lines = table.splitlines()
  assert lines[0] == "results at step 12"
  assert "Top-1 CLS" in lines[1] and "MaxBoxAccV2" in lines[1]
  assert lines[3].split("|")[0].strip() == "system" and "91.50" in lines[3]
  assert lines[4].split("|")[0].strip() == "localizer" and "65.00" in lines[4]
  path = evaluate.write_results(str(tmp_path), results)
  assert json.loads(open(path).read()) == results
  assert sorted(evaluate.headline_keys(results, "eval/")) == sorted(
      f"eval/{k}" for k in results if k != "step")
