"""SLT-Net's box regressor works in the paper's units (Eq. 3-4: x/m, in feature cells): its loss is
smooth L1 on cell coordinates, its step trains on them, and its boxes are its cell outputs over the
map size."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

import slt_testlib
from wsol_jax.methods.slt import losses
from wsol_jax.methods.slt import method as slt_lib


def test_regressor_loss_is_smooth_l1_in_feature_cells():
  target = jnp.array([[0.25, 0.25, 0.75, 0.75]])
  cells = (14, 14)  # 224 px at stride 16
  two_cells = target.at[0, 0].add(2.0 / 14)  # x0 two cells off: the L1 branch, 2 - 0.5
  half_cell = target.at[0, 0].add(0.5 / 14)  # half a cell off: the quadratic branch, 0.5 * 0.25
  np.testing.assert_allclose(losses.regressor_loss(two_cells, target, cells), [1.5], rtol=1e-5)
  np.testing.assert_allclose(losses.regressor_loss(half_cell, target, cells), [0.125], rtol=1e-5)
  # On [0, 1] coordinates the same two-cell error would be a vanishing half-MSE.
  np.testing.assert_allclose(losses.smooth_l1_loss(two_cells, target), [0.5 * (2 / 14) ** 2],
                             rtol=1e-5)


def _slt_without_classifier():
  """(method, batch, state): a tiny SLT-Net without VST and classifier, initialised."""
  config = slt_testlib.tiny_config(vst_weight=0.0)
  config.slt.classifier.enabled = False
  method = slt_lib.SLTNet(config, slt_testlib.INFO)
  batch = slt_testlib.batches(1)[0]
  return method, batch, method.init_state(jax.random.key(0), batch)


def test_slt_step_trains_the_regressor_on_cell_units():
  from wsol_jax.models import heads  # pylint: disable=import-outside-toplevel
  method, batch, state = _slt_without_classifier()
  step = jax.jit(lambda st, b, r: method.train_step(st, b, r, stage=slt_lib.LOCALIZATION))
  _, metrics = step(state, {k: v for k, v in batch.items() if k != "image_id"},
                    jax.random.key(1))
  images = heads.model_input(batch["image"])
  out_o, _ = method.localizer().apply(
      {"params": state.params["localizer"], "batch_stats": state.batch_stats["localizer"]},
      images, train=True, mutable=["batch_stats"])
  pseudo = jax.jit(lambda m: slt_lib.pseudo_box_normalized_xyxy(
      m, (16, 16), method.config.slt.pseudo_box_threshold))(method.localization_map(out_o, batch["label"]))
  raw, _ = method.regressor().apply(
      {"params": state.params["regressor"], "batch_stats": state.batch_stats["regressor"]},
      images, train=True, mutable=["batch_stats"])
  assert out_o["features"].shape[1:3] == (8, 8)  # stride 2
  assert method.config.slt.regressor.output == "linear"  # the outputs ARE the paper's cell coordinates
  pred = raw / 8.0
  want = float(jnp.mean(losses.regressor_loss(pred, pseudo, (8, 8))))
  np.testing.assert_allclose(float(metrics["loss_reg"]), want, rtol=1e-4)
  half_mse = float(jnp.mean(losses.smooth_l1_loss(pred, pseudo)))
  assert float(metrics["loss_reg"]) > 10 * half_mse


def test_slt_regressor_boxes_are_its_cell_outputs_over_the_map_size():
  method, batch, state = _slt_without_classifier()
  from wsol_jax.models import heads  # pylint: disable=import-outside-toplevel
  from wsol_jax.models.regressor import ordered_box_xyxy  # pylint: disable=import-outside-toplevel
  images = heads.model_input(batch["image"])
  raw = method.regressor().apply({"params": state.params["regressor"],
                                  "batch_stats": state.batch_stats["regressor"]}, images)
  want = np.clip(np.asarray(ordered_box_xyxy(raw / 8.0)), 0.0, 1.0)
  np.testing.assert_allclose(np.asarray(jax.jit(method.regressor_boxes)(state, images)), want,
                             rtol=1e-6, atol=1e-7)
