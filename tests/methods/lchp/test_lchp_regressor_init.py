"""LCHP's box regressor starts at the mean Algorithm-1 box of the first batch, not at the centre
point: from the centre the first steps all pushed the same way, and SGD momentum carried the sigmoid
into saturation (LCHP-I and LCHP-R then output the whole image)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

import lchp_testlib
from lchp_testlib import INFO
from wsol_jax.localization import boxes as box_lib
from wsol_jax.methods.lchp import method as lchp
from wsol_jax.models import heads
from wsol_jax.models import regressor


def test_output_bias_for_box_is_the_logit_of_the_box_kept_off_the_border():
  bias = regressor.output_bias_for_box(jnp.array([0.0, 0.25, 0.5, 1.0]), "sigmoid")
  np.testing.assert_allclose(np.asarray(jax.nn.sigmoid(bias)), [0.02, 0.25, 0.5, 0.98], atol=1e-6)
  box = jnp.array([0.1, 0.2, 0.7, 0.9])
  np.testing.assert_array_equal(np.asarray(regressor.output_bias_for_box(box, "linear")), box)


def test_regressor_starts_at_the_mean_pseudo_box_of_the_first_batch():
  batch = lchp_testlib.fake_batch()
  images = heads.model_input(batch["image"])

  def start_boxes(bias_init):
    config = lchp_testlib.tiny_config()
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
