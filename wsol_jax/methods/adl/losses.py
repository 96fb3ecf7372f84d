"""ADL's training loss: softmax cross-entropy of the localizer's logits, as CAM's (ADL changes the
network, not the loss; wsolevaluation's ResNetAdl/InceptionAdl/VggCam use CrossEntropyLoss)."""

from __future__ import annotations

from wsol_jax.methods import common


def adl_loss(logits, labels):
  """The batch mean of softmax cross-entropy: logits [B, C] float, labels [B] int -> scalar."""
  return common.mean_cross_entropy(logits, labels)
