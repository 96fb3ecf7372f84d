"""scripts/ablate_slt.py's variants are the paper's Table 5 columns; ablate_lchp.py's constant-box
check tells a regressor that follows the object from one that outputs its mean box."""

import numpy as np
import pytest

import backbone_helpers

ablate_slt = backbone_helpers.load_script("ablate_slt")
ablate_lchp = backbone_helpers.load_script("ablate_lchp")
SLT_CONFIG = str(backbone_helpers.REPO / "configs" / "synthetic_slt.py")


def test_slt_variants_switch_exactly_the_ablated_parts():
  base = ablate_slt.variant_config(SLT_CONFIG, "slt", seed=3, overrides=[])
  assert base.seed == 3
  assert not base.slt.regressor.enabled and not base.slt.classifier.enabled  # localizer only
  assert (base.slt.smt_k, base.slt.smt_alpha, base.slt.topk_acam, base.slt.vst_weight) == (
      3, 0.4, True, 10.0)
  expected = {"cam": (1, 1.0, False, 0.0), "smt": (3, 0.4, False, 0.0),
              "smt_acam": (3, 0.4, True, 0.0), "vst": (1, 1.0, False, 10.0)}
  for variant, fields in expected.items():
    c = ablate_slt.variant_config(SLT_CONFIG, variant, seed=0, overrides=[])
    assert (c.slt.smt_k, c.slt.smt_alpha, c.slt.topk_acam, c.slt.vst_weight) == fields, variant
    assert c.train.num_epochs == base.train.num_epochs  # one schedule for every variant


def test_slt_overrides_apply_and_unknown_fields_fail():
  c = ablate_slt.variant_config(SLT_CONFIG, "slt", 0, [("slt.vst_weight", 1.0)])
  assert c.slt.vst_weight == 1.0
  with pytest.raises(ValueError, match="slt.no_such_field"):
    ablate_slt.variant_config(SLT_CONFIG, "slt", 0, [("slt.no_such_field", 1)])


def _quality(boxes, gt):
  n = len(gt)
  return {"boxes": np.asarray(boxes, np.float32), "gt_known": np.ones(n, np.float32),
          "has_gt": np.ones(n, np.float32), "bboxes": np.asarray(gt, np.float32)[:, None],
          "bboxes_valid": np.ones((n, 1), bool), "image_hw": (64, 64)}


def test_constant_box_check_tells_a_tracking_regressor_from_its_mean_box():
  # Objects 20 px wide at four places: a regressor that follows them vs its mean box.
  gt = [[x, y, x + 20, y + 20] for x, y in ((0, 0), (40, 0), (0, 40), (40, 40))]
  follows = ablate_lchp.constant_box_check(_quality(gt, gt))
  assert follows["mean_box_train_gt_known"] == 0.0  # the mean box (centre) misses every object
  assert follows["lchp_i_centre_std_px"] == pytest.approx(follows["gt_centre_std_px"]) == 20.0
  still = ablate_lchp.constant_box_check(_quality([[20, 20, 40, 40]] * 4, gt))
  assert still["lchp_i_centre_std_px"] == 0.0
