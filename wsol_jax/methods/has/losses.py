"""HaS's training loss: softmax cross-entropy of the logits of the hidden images (the paper trains
the unchanged classifier on them, Sec. 3.1; wsolevaluation's main.py: ``cross_entropy_loss``)."""

from __future__ import annotations

from wsol_jax.methods import common


def has_loss(logits, labels):
  """The batch mean of softmax cross-entropy: logits [B, C] float, labels [B] int -> scalar."""
  return common.mean_cross_entropy(logits, labels)
