"""ACoL's training loss: the cross-entropy of each branch's logits, summed (Zhang et al., Sec. 3;
wsolevaluation ``acol.get_loss``)."""

from __future__ import annotations

from wsol_jax.methods import common


def acol_loss(logits_a, logits_b, labels):
  """``CE(A) + CE(B)``, each the batch mean of softmax cross-entropy: logits [B, C] float, labels
  [B] int -> scalar."""
  return common.mean_cross_entropy(logits_a, labels) + common.mean_cross_entropy(logits_b, labels)
