"""LCHP's refine stage (LCHP-R) learns from the fixed LCHP-I, as the paper says (Sec. 3.2, "the
initialized localization network"), each on a case whose answer is known:

* its targets are the FIXED LCHP-I regressor's boxes on I_r, not the boxes of the regressor being
  refined; I_r is the generally augmented training view (the paper's, the default) or, as an
  option, the un-augmented image;
* the regressor's BatchNorm statistics stay LCHP-I's (strongly augmented images with padded borders
  and vertical flips never enter the statistics LCHP-R is evaluated with).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

import lchp_testlib
from lchp_testlib import INFO
from wsol_jax.localization import boxes as box_lib
from wsol_jax.methods.lchp import config as lchp_config
from wsol_jax.methods.lchp import method as lchp
from wsol_jax.models import heads


def _refine_setup(drift: float = 0.5, **lchp_overrides):
  config = lchp_testlib.tiny_config()
  config.lchp.tau = 0.0  # keep every box: the counts then depend on the targets only
  for k, v in lchp_overrides.items():
    config.lchp[k] = v
  config.data.train_plain_images = config.lchp.refine_images == "plain"
  method = lchp.LCHP(config, INFO)
  batch = lchp_testlib.fake_batch()
  state = method.enter_stage(method.init_state(jax.random.key(0), batch), lchp.REFINE)
  # The regressor being refined has drifted away from LCHP-I.
  drifted = jax.tree.map(lambda p: p + drift * jnp.sign(p + 1e-3), state.params["regressor"])
  state = state.replace(params=dict(state.params, regressor=drifted),
                        step=jnp.asarray(method.stage_start(lchp.REFINE), jnp.int32))
  return method, state, batch


def _step(method, state, batch):
  fn = jax.jit(lambda s, b: method.train_step(s, b, jax.random.key(1), stage=lchp.REFINE))
  return fn(state, batch)


def test_refine_defaults_follow_the_paper():
  c = lchp_config.default_config()
  assert (c.refine_teacher, c.refine_images, c.refine_bn) == ("init", "augmented", "frozen")


def _counts_when_gt_is_the_teachers_boxes(method, state, batch, view: str):
  """The refine step's counts on ``batch`` whose GT boxes (of ``view``: 'image' or 'image_plain')
  are replaced by the fixed LCHP-I's boxes on that view, and the other view's images are flipped
  (so their boxes differ)."""
  images = heads.model_input(batch[view])
  teacher = method.regress_boxes(state.extras["init_regressor"], images)
  current = method.regress_boxes({"params": state.params["regressor"],
                                  "batch_stats": state.batch_stats["regressor"]}, images)
  assert float(jnp.abs(teacher - current).max()) > 0.05  # the two teachers disagree
  y = np.asarray(box_lib.denormalize_xyxy(teacher, 32, 32))
  boxes_key = "bboxes_plain" if view == "image_plain" else "bboxes"
  other = "image" if view == "image_plain" else "image_plain"
  batch = dict(batch, **{other: np.ascontiguousarray(batch[other][:, ::-1, ::-1]),
                         boxes_key: np.stack([y, np.zeros_like(y)], 1).astype(np.float32)})
  return jax.device_get(_step(method, state, batch)[0].extras["counts"]), batch


def test_refine_targets_are_the_fixed_lchp_i_boxes_of_the_augmented_view():
  method, state, batch = _refine_setup()
  counts, _ = _counts_when_gt_is_the_teachers_boxes(method, state, batch, "image")
  assert counts["with_gt"] == 8 and counts["all_gt_known"] == 8, counts


def test_refine_targets_are_the_fixed_lchp_i_boxes_of_the_plain_image_option():
  method, state, batch = _refine_setup(refine_images="plain")
  counts, batch = _counts_when_gt_is_the_teachers_boxes(method, state, batch, "image_plain")
  assert counts["with_gt"] == 8 and counts["all_gt_known"] == 8, counts
  # The 'current' option (the regressor being refined as teacher) gives other targets.
  method_c, state_c, _ = _refine_setup(refine_teacher="current", refine_images="plain")
  counts_c = jax.device_get(_step(method_c, state_c, batch)[0].extras["counts"])
  assert counts_c["all_gt_known"] < 8


def test_refine_keeps_the_regressor_batchnorm_statistics_of_lchp_i():
  # No drift: a drifted regressor's sigmoid saturates and leaves no gradient to check.
  method, state, batch = _refine_setup(drift=0.0)
  assert jax.tree.leaves(state.batch_stats["regressor"]), "the test needs BatchNorm"
  new, metrics = _step(method, state, batch)
  for a, b in zip(jax.tree.leaves(new.batch_stats["regressor"]),
                  jax.tree.leaves(state.batch_stats["regressor"])):
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
  assert float(metrics["grad_norm"]) > 0  # it still learns
  # 'train' updates them from the strongly augmented images (an option).
  method_t, state_t, _ = _refine_setup(drift=0.0, refine_bn="train")
  new_t, _ = _step(method_t, state_t, batch)
  assert any(not np.array_equal(np.asarray(a), np.asarray(b)) for a, b in zip(
      jax.tree.leaves(new_t.batch_stats["regressor"]),
      jax.tree.leaves(state_t.batch_stats["regressor"])))
