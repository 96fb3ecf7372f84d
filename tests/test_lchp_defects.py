"""Issue 11's LCHP defects, each on a case whose answer is known.

6. Refine targets come from the FIXED LCHP-I regressor on the un-augmented image I_r (Sec. 3.2,
   "the initialized localization network"), not from the regressor being refined.
7. The regressor's BatchNorm statistics stay LCHP-I's in refine (strongly augmented images with
   padded borders and vertical flips never enter the statistics LCHP-R is evaluated with).

And one found on real birds: the regressor starts at the mean Algorithm-1 box of the first batch,
not at the centre point (from there the first steps all pushed the same way, and SGD momentum
carried the sigmoid into saturation: LCHP-I and LCHP-R output the whole image).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from wsol_jax.localization import boxes as box_lib
from wsol_jax.methods.lchp import method as lchp
from wsol_jax.models import heads
from wsol_jax.models import regressor
from wsol_jax.training import method as base

import test_lchp

INFO = base.RunInfo(num_classes=3, steps_per_epoch=2, train_size=16)


def _refine_setup(drift: float = 0.5, **lchp_overrides):
  config = test_lchp.tiny_config()
  config.lchp.tau = 0.0  # keep every box: the counts then depend on the targets only
  for k, v in lchp_overrides.items():
    config.lchp[k] = v
  method = lchp.LCHP(config, INFO)
  batch = test_lchp.fake_batch()
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
  c = lchp.default_lchp_config()
  assert (c.refine_teacher, c.refine_images, c.refine_bn) == ("init", "plain", "frozen")


def test_refine_targets_are_the_fixed_lchp_i_boxes_of_the_plain_image():
  method, state, batch = _refine_setup()
  plain = heads.model_input(batch["image_plain"])
  teacher = method.regress_boxes(state.extras["init_regressor"], plain)
  current = method.regress_boxes({"params": state.params["regressor"],
                                  "batch_stats": state.batch_stats["regressor"]}, plain)
  assert float(jnp.abs(teacher - current).max()) > 0.05  # the two teachers disagree
  # GT = LCHP-I's own boxes on the plain image; the augmented image is something else entirely.
  y = np.asarray(box_lib.denormalize_xyxy(teacher, 32, 32))
  batch = dict(batch, image=np.ascontiguousarray(batch["image"][:, ::-1, ::-1]),
               bboxes_plain=np.stack([y, np.zeros_like(y)], 1).astype(np.float32))
  new, _ = _step(method, state, batch)
  counts = jax.device_get(new.extras["counts"])
  assert counts["with_gt"] == 8 and counts["all_gt_known"] == 8, counts
  # The 'current' option still exists and gives other targets.
  method_c, state_c, _ = _refine_setup(refine_teacher="current")
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
  # 'train' updates them from the strongly augmented images (the old behaviour, an option).
  method_t, state_t, _ = _refine_setup(drift=0.0, refine_bn="train")
  new_t, _ = _step(method_t, state_t, batch)
  assert any(not np.array_equal(np.asarray(a), np.asarray(b)) for a, b in zip(
      jax.tree.leaves(new_t.batch_stats["regressor"]),
      jax.tree.leaves(state_t.batch_stats["regressor"])))


def test_output_bias_for_box_is_the_logit_of_the_box_kept_off_the_border():
  bias = regressor.output_bias_for_box(jnp.array([0.0, 0.25, 0.5, 1.0]), "sigmoid")
  np.testing.assert_allclose(np.asarray(jax.nn.sigmoid(bias)), [0.02, 0.25, 0.5, 0.98], atol=1e-6)
  box = jnp.array([0.1, 0.2, 0.7, 0.9])
  np.testing.assert_array_equal(np.asarray(regressor.output_bias_for_box(box, "linear")), box)


def test_regressor_starts_at_the_mean_pseudo_box_of_the_first_batch():
  batch = test_lchp.fake_batch()
  images = heads.model_input(batch["image"])

  def start_boxes(bias_init):
    config = test_lchp.tiny_config()
    config.lchp.regressor_bias_init = bias_init
    method = lchp.LCHP(config, INFO)
    state = method.init_state(jax.random.key(0), batch)
    # fc2's weights zeroed: what remains of the output is the bias alone.
    params = state.params["regressor"]
    params = {**params, "fc2": {**params["fc2"], "kernel": jnp.zeros_like(params["fc2"]["kernel"])}}
    boxes = method.regress_boxes({"params": params, "batch_stats": state.batch_stats["regressor"]},
                                 images)
    pseudo = method.pseudo_boxes(state.ema_params, images).boxes_xyxy
    return np.asarray(boxes), np.asarray(box_lib.normalize_xyxy(pseudo, 32, 32)).mean(0)

  boxes, mean_pseudo = start_boxes("mean_pseudo_box")
  assert np.abs(mean_pseudo - 0.5).max() > 0.1  # the mean box is not the centre point
  np.testing.assert_allclose(boxes, np.broadcast_to(np.clip(mean_pseudo, 0.02, 0.98), (8, 4)),
                             atol=1e-5)
  boxes_zero, _ = start_boxes("zero")  # the option kept: Flax's zero bias, the centre point
  np.testing.assert_allclose(boxes_zero, 0.5, atol=1e-6)
