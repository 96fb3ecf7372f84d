"""CutMix's training loss: cross-entropy with the mixed label, ``lam * CE(y_a) + (1 - lam) *
CE(y_b)`` (Yun et al., Eq. 1-2; wsolevaluation's main.py ``_wsol_training``)."""

from __future__ import annotations

import jax.numpy as jnp

from wsol_jax.methods import common


def cutmix_loss(logits, labels_a, labels_b, lam):
  """logits [B, C] float, labels_a / labels_b [B] int (own / partner's), lam scalar (the kept
  area fraction) -> the scalar ``lam * mean CE(a) + (1 - lam) * mean CE(b)``."""
  lam = jnp.asarray(lam, jnp.float32)
  return (lam * common.mean_cross_entropy(logits, labels_a)
          + (1.0 - lam) * common.mean_cross_entropy(logits, labels_b))
