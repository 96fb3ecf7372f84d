"""InceptionV3 laid out as torchvision's ``inception_v3`` (Google's weights, input 299).

Submodules carry torchvision's names (``Conv2d_1a_3x3``, ``Mixed_5b`` ... ``Mixed_7c``, ``fc``),
each ``BasicConv2d`` holding ``conv`` (no bias) and ``bn`` (epsilon 1e-3), so state-dict keys such
as ``Mixed_6e.branch7x7dbl_3.bn.running_var`` map one-to-one. The auxiliary classifier is not
built.

Outputs: ``'features'`` = Mixed_6e, [B, 17, 17, 768] at 299 -- the cut of the CAM localizer ("remove
the last three blocks") and of LCHP's BAP classifier; ``'pre_logits'`` = the global average of
Mixed_7c [B, 2048]; ``'logits'`` = ``fc`` [B, num_classes].

``large_feature_map``: Mixed_6a keeps stride 1 (its strided 3x3 convs and pool get padding 1), as
wsolevaluation's InceptionV3-CAM does to double the map (35x35 at 299). Weights are unchanged.
Input scaling is Google's ``2x - 1`` (torchvision's ``transform_input=True`` does the same).

``pooling``: ``'torchvision'`` (default) or ``'fid_tf2015'``, the ops of Google's 2015 graph that
FID uses (its weights: :mod:`wsol_jax.models.inception_fid`): the branch average pools leave the
padding out of the mean (``count_include_pad=False``), Mixed_7c's pool branch max-pools, and
``input_norm='inception'`` is that graph's ``(255 x - 128) / 128``. Same variables either way.
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

import flax.linen as nn
import jax.numpy as jnp

from wsol_jax.models import blocks
from wsol_jax.models.registry import register_backbone

_BN_EPS = 1e-3
POOLINGS = ("torchvision", "fid_tf2015")
# The outputs ``block_hook`` sees: each Mixed block, by its torchvision name.
BLOCK_NAMES = ("Mixed_5b", "Mixed_5c", "Mixed_5d", "Mixed_6a", "Mixed_6b", "Mixed_6c", "Mixed_6d",
               "Mixed_6e", "Mixed_7a", "Mixed_7b", "Mixed_7c")


class BasicConv2d(nn.Module):
  """Conv (no bias) + batch norm (``norm``, epsilon 1e-3) + ReLU."""

  features: int
  kernel: Any
  stride: int
  padding: Any
  norm: Callable
  dtype: Any

  @nn.compact
  def __call__(self, x):
    x = blocks.torch_conv(self.features, self.kernel, self.stride, self.padding, use_bias=False,
                          dtype=self.dtype, name="conv")(x)
    return nn.relu(self.norm(name="bn")(x))


class _Block(nn.Module):
  """Base of the Inception blocks: ``self.conv(name, features, kernel, ...)`` -> a BasicConv2d;
  ``self.branch_pool(x)`` -> the 3x3/1 pool before the ``branch_pool`` conv (see ``pooling``)."""

  norm: Callable
  dtype: Any
  pooling: str = "torchvision"

  def conv(self, name: str, features: int, kernel, stride=1, padding=0) -> BasicConv2d:
    return BasicConv2d(features, kernel, stride, padding, self.norm, self.dtype, name=name)

  def branch_pool(self, x):
    return blocks.avg_pool_torch(x, 3, 1, 1, count_include_pad=self.pooling == "torchvision")


def _chain(x, layers: Sequence[BasicConv2d]):
  for layer in layers:
    x = layer(x)
  return x


class InceptionA(_Block):
  pool_features: int = 32

  @nn.compact
  def __call__(self, x):
    c = self.conv
    b1 = c("branch1x1", 64, 1)(x)
    b5 = _chain(x, [c("branch5x5_1", 48, 1), c("branch5x5_2", 64, 5, 1, 2)])
    b3 = _chain(x, [c("branch3x3dbl_1", 64, 1), c("branch3x3dbl_2", 96, 3, 1, 1),
                    c("branch3x3dbl_3", 96, 3, 1, 1)])
    bp = c("branch_pool", self.pool_features, 1)(self.branch_pool(x))
    return jnp.concatenate([b1, b5, b3, bp], axis=-1)


class InceptionB(_Block):
  stride: int = 2

  @nn.compact
  def __call__(self, x):
    c = self.conv
    pad = 0 if self.stride == 2 else 1
    b3 = c("branch3x3", 384, 3, self.stride, pad)(x)
    bd = _chain(x, [c("branch3x3dbl_1", 64, 1), c("branch3x3dbl_2", 96, 3, 1, 1),
                    c("branch3x3dbl_3", 96, 3, self.stride, pad)])
    bp = blocks.max_pool_torch(x, 3, self.stride, pad)
    return jnp.concatenate([b3, bd, bp.astype(b3.dtype)], axis=-1)


class InceptionC(_Block):
  channels_7x7: int = 128

  @nn.compact
  def __call__(self, x):
    c, c7 = self.conv, self.channels_7x7
    b1 = c("branch1x1", 192, 1)(x)
    b7 = _chain(x, [c("branch7x7_1", c7, 1), c("branch7x7_2", c7, (1, 7), 1, (0, 3)),
                    c("branch7x7_3", 192, (7, 1), 1, (3, 0))])
    bd = _chain(x, [c("branch7x7dbl_1", c7, 1), c("branch7x7dbl_2", c7, (7, 1), 1, (3, 0)),
                    c("branch7x7dbl_3", c7, (1, 7), 1, (0, 3)),
                    c("branch7x7dbl_4", c7, (7, 1), 1, (3, 0)),
                    c("branch7x7dbl_5", 192, (1, 7), 1, (0, 3))])
    bp = c("branch_pool", 192, 1)(self.branch_pool(x))
    return jnp.concatenate([b1, b7, bd, bp], axis=-1)


class InceptionD(_Block):

  @nn.compact
  def __call__(self, x):
    c = self.conv
    b3 = _chain(x, [c("branch3x3_1", 192, 1), c("branch3x3_2", 320, 3, 2)])
    b7 = _chain(x, [c("branch7x7x3_1", 192, 1), c("branch7x7x3_2", 192, (1, 7), 1, (0, 3)),
                    c("branch7x7x3_3", 192, (7, 1), 1, (3, 0)),
                    c("branch7x7x3_4", 192, 3, 2)])
    bp = blocks.max_pool_torch(x, 3, 2)
    return jnp.concatenate([b3, b7, bp.astype(b3.dtype)], axis=-1)


class InceptionE(_Block):
  max_pool_branch: bool = False  # the FID graph's last block (Mixed_7c)

  @nn.compact
  def __call__(self, x):
    c = self.conv
    b1 = c("branch1x1", 320, 1)(x)
    b3 = c("branch3x3_1", 384, 1)(x)
    b3 = jnp.concatenate([c("branch3x3_2a", 384, (1, 3), 1, (0, 1))(b3),
                          c("branch3x3_2b", 384, (3, 1), 1, (1, 0))(b3)], axis=-1)
    bd = _chain(x, [c("branch3x3dbl_1", 448, 1), c("branch3x3dbl_2", 384, 3, 1, 1)])
    bd = jnp.concatenate([c("branch3x3dbl_3a", 384, (1, 3), 1, (0, 1))(bd),
                          c("branch3x3dbl_3b", 384, (3, 1), 1, (1, 0))(bd)], axis=-1)
    pooled = blocks.max_pool_torch(x, 3, 1, 1) if self.max_pool_branch else self.branch_pool(x)
    bp = c("branch_pool", 192, 1)(pooled)
    return jnp.concatenate([b1, b3, bd, bp], axis=-1)


@register_backbone("inception_v3")
class InceptionV3(blocks.BatchNormBackbone):
  """InceptionV3. ``__call__(x [B,H,W,3] in [0,1], train) -> see module docstring``."""

  input_norm: str = "inception"  # Google's weights
  large_feature_map: bool = False
  dropout_rate: float = 0.5
  pooling: str = "torchvision"  # or 'fid_tf2015' (module docstring)

  def prepare(self, images):
    """The base class's; under ``pooling='fid_tf2015'``, ``input_norm='inception'`` is that graph's
    ``(255 x - 128) / 128``, i.e. ``2 x' - 1`` with ``x' = 255 x / 256``."""
    if self.pooling not in POOLINGS:
      raise ValueError(f"InceptionV3: pooling must be one of {POOLINGS}, got {self.pooling!r}")
    if self.pooling == "fid_tf2015" and self.input_norm == "inception":
      images = images * (255.0 / 256.0)
    return super().prepare(images)

  @nn.compact
  def __call__(self, x, train: bool = False):
    x, dtype = self.prepare(x)
    stem = dict(norm=self.norm(train, _BN_EPS), dtype=dtype)
    kw = dict(stem, pooling=self.pooling)
    x = BasicConv2d(32, 3, 2, 0, name="Conv2d_1a_3x3", **stem)(x)
    x = BasicConv2d(32, 3, 1, 0, name="Conv2d_2a_3x3", **stem)(x)
    x = BasicConv2d(64, 3, 1, 1, name="Conv2d_2b_3x3", **stem)(x)
    x = blocks.max_pool_torch(x, 3, 2)
    x = BasicConv2d(80, 1, 1, 0, name="Conv2d_3b_1x1", **stem)(x)
    x = BasicConv2d(192, 3, 1, 0, name="Conv2d_4a_3x3", **stem)(x)
    x = blocks.max_pool_torch(x, 3, 2)
    x = InceptionA(pool_features=32, name="Mixed_5b", **kw)(x)
    x = self.after_block("Mixed_5b", x, train)
    x = InceptionA(pool_features=64, name="Mixed_5c", **kw)(x)
    x = self.after_block("Mixed_5c", x, train)
    x = InceptionA(pool_features=64, name="Mixed_5d", **kw)(x)
    x = self.after_block("Mixed_5d", x, train)
    x = InceptionB(stride=1 if self.large_feature_map else 2, name="Mixed_6a", **kw)(x)
    x = self.after_block("Mixed_6a", x, train)
    x = InceptionC(channels_7x7=128, name="Mixed_6b", **kw)(x)
    x = self.after_block("Mixed_6b", x, train)
    x = InceptionC(channels_7x7=160, name="Mixed_6c", **kw)(x)
    x = self.after_block("Mixed_6c", x, train)
    x = InceptionC(channels_7x7=160, name="Mixed_6d", **kw)(x)
    x = self.after_block("Mixed_6d", x, train)
    x = InceptionC(channels_7x7=192, name="Mixed_6e", **kw)(x)
    x = self.after_block("Mixed_6e", x, train)
    if self.output == "features":
      return x
    x = InceptionD(name="Mixed_7a", **kw)(x)
    x = self.after_block("Mixed_7a", x, train)
    x = InceptionE(name="Mixed_7b", **kw)(x)
    x = self.after_block("Mixed_7b", x, train)
    x = InceptionE(max_pool_branch=self.pooling == "fid_tf2015", name="Mixed_7c", **kw)(x)
    x = self.after_block("Mixed_7c", x, train)
    return self.classify(x, train, head="fc", dropout_rate=self.dropout_rate)
