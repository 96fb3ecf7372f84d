"""What several methods share: the classification loss, network building and initialisation,
the optimizer that trains some networks and freezes the rest, and small config checks."""

from __future__ import annotations

import jax.numpy as jnp
import optax


def cross_entropy(logits, labels):
  """Softmax cross-entropy: logits [B, C] float, labels [B] int -> [B] (SLT-Net Eq. 5)."""
  return optax.softmax_cross_entropy_with_integer_labels(logits.astype(jnp.float32), labels)
