"""CAM's training loss: softmax cross-entropy of the localizer's logits (Zhou et al., Sec. 2)."""

from __future__ import annotations

from wsol_jax.methods import common


def cam_loss(logits, labels):
  """The batch mean of softmax cross-entropy: logits [B, C] float, labels [B] int -> scalar."""
  return common.mean_cross_entropy(logits, labels)
