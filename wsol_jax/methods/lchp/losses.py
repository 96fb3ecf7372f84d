"""LCHP's box losses (Sun & Zhu): the regressor's squared error (Eq. 2) and the refinement loss on
the confident pseudo-labels only (Eq. 6). The classification loss (Eq. 1) is cross-entropy."""

from __future__ import annotations

import jax.numpy as jnp


def box_sq_error(pred_boxes, target_boxes, reduction: str = "sum", keep=None):
  """[B, 4] x [B, 4] normalised boxes -> [B] squared error over the coordinates (sum or mean).

  Rows where ``keep`` [B] is False are exactly 0, gradient included: the difference is selected
  away before squaring, so not even a NaN target there can reach the gradient.
  """
  diff = pred_boxes.astype(jnp.float32) - target_boxes.astype(jnp.float32)
  if keep is not None:
    diff = jnp.where(keep[:, None], diff, 0.0)
  sq = jnp.square(diff)
  return jnp.sum(sq, -1) if reduction == "sum" else jnp.mean(sq, -1)


def refine_loss(pred_boxes, target_boxes, keep, reduction: str = "sum"):
  """Eq. 6: ``(1/N) sum_i 1[keep_i] ||pred_i - target_i||^2``, N the whole batch; rows with
  ``keep`` False contribute exactly nothing, to the loss and to the gradient."""
  return jnp.mean(box_sq_error(pred_boxes, target_boxes, reduction, keep))
