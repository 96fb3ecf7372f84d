"""The Attention-based Dropout Layer (Choe & Shim, CVPR 2019, Sec. 3) and the backbone hook that
inserts it after named blocks.

On a feature map x [B, h, w, K] in training: the self-attention map is the channel mean of x; the
drop mask is 1 where the attention is below ``threshold`` x its per-image maximum (so the most
active cells are hidden) and the importance map is its sigmoid; one map is chosen, the drop mask
with probability ``drop_rate``, and x is multiplied by it. At evaluation ADL is the identity.
"""

from __future__ import annotations

import dataclasses

import flax.linen as nn
import jax
import jax.numpy as jnp


def self_attention(features):
  """The channel mean of a feature map: [B, h, w, K] -> [B, h, w, 1] float32."""
  return jnp.mean(features.astype(jnp.float32), axis=-1, keepdims=True)


def drop_mask(attention, threshold: float):
  """1.0 where ``attention`` [B, h, w, 1] < ``threshold`` x its image's maximum, else 0.0 (the cells
  hidden from the network); same shape, float32, no gradient (a comparison)."""
  peak = jnp.max(attention, axis=(1, 2, 3), keepdims=True)
  return (attention < threshold * peak).astype(jnp.float32)


def importance_map(attention):
  """The sigmoid of ``attention`` [B, h, w, 1]: the map that highlights the attended cells."""
  return jax.nn.sigmoid(attention)


class ADLayer(nn.Module):
  """``(features [B, h, w, K], train) -> [B, h, w, K]``: ADL; parameter-free.

  drop_rate: probability that the drop mask (not the importance map) is applied. One draw per call
    for the whole batch, as wsolevaluation's ``torch.rand([])`` (under pmap: one per device shard).
  threshold: gamma, the drop mask's fraction of the maximum attention.
  Randomness: the 'dropout' rng stream.
  """
  drop_rate: float = 0.75
  threshold: float = 0.9

  @nn.compact
  def __call__(self, features, train: bool):
    if not train:
      return features
    attention = self_attention(features)
    use_drop_mask = jax.random.bernoulli(self.make_rng("dropout"), self.drop_rate)
    chosen = jnp.where(use_drop_mask, drop_mask(attention, self.threshold),
                       importance_map(attention))
    return features * chosen.astype(features.dtype)


@dataclasses.dataclass(frozen=True)
class ADLHook:
  """A backbone ``block_hook`` that puts an :class:`ADLayer` named ``adl_<block>`` (a submodule of
  the backbone, no parameters) after each block named in ``positions``."""
  positions: tuple[str, ...]
  drop_rate: float = 0.75
  threshold: float = 0.9

  def __call__(self, block_name: str, x, train: bool):
    if block_name not in self.positions:
      return x
    return ADLayer(self.drop_rate, self.threshold, name=f"adl_{block_name}")(x, train)


@dataclasses.dataclass(frozen=True)
class BlockRecorder:
  """A ``block_hook`` that records the name of each block it sees, in order, and changes nothing."""
  seen: list = dataclasses.field(default_factory=list, hash=False, compare=False)

  def __call__(self, block_name: str, x, train: bool):
    del train
    self.seen.append(block_name)
    return x
