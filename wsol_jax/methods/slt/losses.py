"""SLT-Net's losses (Guo et al., CVPR 2021): SMT (Eq. 8), VST (Eq. 13), the regressor's smooth L1
(Eq. 3-4). Each returns a per-example array ``[B]``; the equation is named in each docstring.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import optax

from wsol_jax.methods.common import cross_entropy


def label_in_top_k(logits, labels, k: int):
  """[B] bool: is the true class among the ``k`` largest logits?

  The rank of the true class is the number of logits strictly larger than its own, so a tie counts
  in the label's favour. The result carries no gradient (it is boolean).
  """
  label_logit = jnp.take_along_axis(logits, labels[:, None], axis=-1)
  rank = jnp.sum(logits > label_logit, axis=-1)
  return rank < k


def smt_loss(logits, labels, k: int, alpha: float):
  """Semantic mistakes tolerance loss, SLT-Net Eq. 8: [B, C], [B] -> [B].

  ``alpha * CE`` where the true class is within the top-``k`` logits, plain ``CE`` elsewhere. The
  indicator is a constant of the step (no gradient flows through the choice of factor); ``k = 1,
  alpha = 1`` is exactly cross-entropy.
  """
  if k < 1:
    raise ValueError(f"SMT needs k >= 1, got k={k}")
  if not 0.0 <= alpha <= 1.0:
    raise ValueError(f"SMT needs 0 <= alpha <= 1 (Eq. 8), got alpha={alpha}")
  factor = jnp.where(label_in_top_k(jax.lax.stop_gradient(logits), labels, k), alpha, 1.0)
  return factor * cross_entropy(logits, labels)


def vst_loss(maps_original, maps_inverse_transformed, valid=None, class_reduce: str = "sum"):
  """Visual stimulus tolerance loss, SLT-Net Eq. 13: ``||M^o - M^it||^2 / (W * H)`` per example.

  Maps are [B, H, W, C] (all class maps, or a single top-K ACAM with C = 1); the squared difference
  is summed over H, W and C and divided by ``H * W`` (``class_reduce='sum'``, Eq. 13 as written), or
  also divided by C (``'mean'``: the mean squared error the text names, PyTorch's ``MSELoss``).
  ``valid`` [B, H, W] (optional) drops map cells
  with no counterpart in the transformed image; the divisor stays ``H * W`` so the loss of an
  example does not grow when a transform leaves fewer cells to compare.
  """
  if maps_original.shape != maps_inverse_transformed.shape:
    raise ValueError(f"VST maps differ in shape: {maps_original.shape} vs "
                     f"{maps_inverse_transformed.shape}")
  sq = jnp.square(maps_original.astype(jnp.float32) - maps_inverse_transformed.astype(jnp.float32))
  if valid is not None:
    sq = sq * valid[..., None].astype(sq.dtype)
  _, h, w, c = maps_original.shape
  if class_reduce not in ("sum", "mean"):
    raise ValueError(f"vst_loss: class_reduce={class_reduce!r} is not 'sum' or 'mean'")
  return jnp.sum(sq, axis=(1, 2, 3)) / (h * w * (c if class_reduce == "mean" else 1))


def smooth_l1_loss(predictions, targets, beta: float = 1.0):
  """SLT-Net Eq. 3-4: ``sum_i smoothL1(p_i - p^_i)`` over the last axis: [B, 4], [B, 4] -> [B].

  ``smoothL1(x) = 0.5 x^2 / beta`` for ``|x| < beta``, ``|x| - 0.5 beta`` otherwise (the paper's
  Eq. 4 is ``beta = 1``; other values follow torch's ``SmoothL1Loss(beta)``). With normalised box
  coordinates every ``|x| < 1``, so at ``beta = 1`` it is half the squared error.
  """
  # optax's Huber loss is beta times the smooth L1 of the same threshold.
  return jnp.sum(optax.huber_loss(predictions.astype(jnp.float32), targets.astype(jnp.float32),
                                  delta=beta), axis=-1) / beta


def regressor_loss(pred_normalized_xyxy, target_normalized_xyxy, cells_hw, beta: float = 1.0):
  """SLT-Net's L_REG (Eq. 3-4) in the paper's units: [B, 4], [B, 4] normalised xyxy -> [B].

  Both boxes are rescaled to feature cells, ``p = (x1/m, y1/m, x2/m, y2/m)`` with ``m`` the
  localizer's downsampling factor (``cells_hw`` = the map's (h, w) = image size / m), before the
  smooth L1, so its switch at ``|x| = beta = 1`` falls at one cell. (On [0, 1] coordinates every
  error is below 1 and the loss is a half-MSE whose gradients are 50-150x smaller.)
  """
  h, w = cells_hw
  units = jnp.asarray([w, h, w, h], jnp.float32)
  return smooth_l1_loss(pred_normalized_xyxy.astype(jnp.float32) * units,
                        target_normalized_xyxy.astype(jnp.float32) * units, beta)
