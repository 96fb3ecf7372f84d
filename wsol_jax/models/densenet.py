"""DenseNet161 laid out as torchvision's (and timm's) ``densenet161``.

Submodules carry the state-dict names without the ``features.`` prefix: ``conv0``, ``norm0``,
``denseblock{b}`` (``denselayer{l}`` with ``norm1``, ``conv1``, ``norm2``, ``conv2``),
``transition{t}`` (``norm``, ``conv``), ``norm5``, and ``classifier``. Growth 48, bottleneck 4x48,
96 stem channels, blocks (6, 12, 36, 24).

Outputs: ``'features'`` = ReLU(norm5) [B, H/32, W/32, 2208] (``transition3_pool=False`` skips the
last transition's average pool: H/16); ``'pre_logits'`` = its global average; ``'logits'`` =
``classifier``.
"""

from __future__ import annotations

from typing import Any, Callable

import flax.linen as nn
import jax.numpy as jnp

from wsol_jax.models import blocks
from wsol_jax.models.registry import register_backbone

_BN_EPS = 1e-5


class _DenseLayer(nn.Module):
  growth_rate: int
  bn_size: int
  norm: Callable
  dtype: Any

  @nn.compact
  def __call__(self, x):
    y = nn.relu(self.norm(name="norm1")(x))
    y = blocks.torch_conv(self.bn_size * self.growth_rate, 1, use_bias=False, dtype=self.dtype,
                          name="conv1")(y)
    y = nn.relu(self.norm(name="norm2")(y))
    y = blocks.torch_conv(self.growth_rate, 3, 1, 1, use_bias=False, dtype=self.dtype,
                          name="conv2")(y)
    return jnp.concatenate([x, y.astype(x.dtype)], axis=-1)


class _DenseBlock(nn.Module):
  num_layers: int
  growth_rate: int
  bn_size: int
  norm: Callable
  dtype: Any

  @nn.compact
  def __call__(self, x):
    for i in range(self.num_layers):
      x = _DenseLayer(self.growth_rate, self.bn_size, self.norm, self.dtype,
                      name=f"denselayer{i + 1}")(x)
    return x


class _Transition(nn.Module):
  features: int
  pool: bool
  norm: Callable
  dtype: Any

  @nn.compact
  def __call__(self, x):
    x = self.norm(name="norm")(x)
    x = blocks.torch_conv(self.features, 1, use_bias=False, dtype=self.dtype,
                          name="conv")(nn.relu(x))
    return blocks.avg_pool_torch(x, 2, 2) if self.pool else x


@register_backbone("densenet161")
class DenseNet161(blocks.BatchNormBackbone):
  """DenseNet161. ``__call__(x [B,H,W,3] in [0,1], train) -> see module docstring``."""

  transition3_pool: bool = True
  growth_rate: int = 48
  block_config: tuple[int, ...] = (6, 12, 36, 24)
  num_init_features: int = 96
  bn_size: int = 4

  @nn.compact
  def __call__(self, x, train: bool = False):
    x, dtype = self.prepare(x)
    norm = self.norm(train, _BN_EPS)
    x = blocks.torch_conv(self.num_init_features, 7, 2, 3, use_bias=False, dtype=dtype,
                          name="conv0")(x)
    x = norm(name="norm0")(x)
    x = blocks.max_pool_torch(nn.relu(x), 3, 2, 1)
    channels = self.num_init_features
    last = len(self.block_config) - 1
    for b, num_layers in enumerate(self.block_config):
      x = _DenseBlock(num_layers, self.growth_rate, self.bn_size, norm, dtype,
                      name=f"denseblock{b + 1}")(x)
      channels += num_layers * self.growth_rate
      if b != last:
        channels //= 2
        pool = self.transition3_pool or b != last - 1
        x = _Transition(channels, pool, norm, dtype, name=f"transition{b + 1}")(x)
    x = norm(name="norm5")(x)
    x = nn.relu(x)
    if self.output == "features":
      return x
    return self.classify(x, train, head="classifier")
