"""VGG16 laid out as torchvision's ``vgg16``: ``features.{i}`` convs and ``classifier.{0,3,6}``.

Submodule ``features_{i}`` is torchvision's ``features[i]`` (so ``features.28.weight`` is conv5_3),
``classifier_{0,3,6}`` are fc6 / fc7 / fc8. Outputs (``output``):

* ``'features'``   -- conv5_3 + ReLU without pool5 (torchvision index 29): the CAM-VGG16 map of Zhou
  et al. and wsolevaluation, [B, H/16, W/16, 512]; ``large_feature_map`` also drops pool4 (H/8).
* ``'pre_logits'`` -- fc7 after ReLU and dropout, [B, 4096] (pool5, 7x7 adaptive pool, fc6, fc7).
* ``'logits'``     -- fc8, [B, num_classes].

fc6 reads a NHWC flatten; torchvision's fc6 reads NCHW, so imported fc6 kernels are permuted
(:mod:`wsol_jax.models.pretrained`).
"""

from __future__ import annotations

import flax.linen as nn
import jax.numpy as jnp

from wsol_jax.models import blocks
from wsol_jax.models.registry import register_backbone

# torchvision's cfg "D": conv widths, "M" = 2x2 max pool; indices count convs, ReLUs and pools.
_CFG_D = (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M")
_POOL4_INDEX = 23
_POOL5_INDEX = 30


def _block_names() -> tuple[str, ...]:
  """torchvision's index of each ReLU and max pool, ``features_{i}``: the outputs ``block_hook``
  sees (e.g. ``features_16`` = pool3, ``features_22`` = conv4_3 + ReLU, ``features_29`` = conv5_3 +
  ReLU)."""
  names, index = [], 0
  for width in _CFG_D:
    names.append(f"features_{index if width == 'M' else index + 1}")
    index += 1 if width == "M" else 2
  return tuple(names)


BLOCK_NAMES = _block_names()


@register_backbone("vgg16")
class VGG16(blocks.ImagenetBackbone):
  """VGG16 (no batch norm). ``__call__(x [B,H,W,3] in [0,1], train) -> see module docstring``."""

  large_feature_map: bool = False
  dropout_rate: float = 0.5

  @nn.compact
  def __call__(self, x, train: bool = False):
    x, dtype = self.prepare(x)
    top = self.output != "features"
    index = 0
    for width in _CFG_D:
      if width == "M":
        skip = (index == _POOL5_INDEX and not top) or (index == _POOL4_INDEX
                                                       and self.large_feature_map)
        if not skip:
          x = nn.max_pool(x, (2, 2), strides=(2, 2))
          x = self.after_block(f"features_{index}", x, train)
        index += 1
        continue
      x = blocks.torch_conv(width, 3, 1, 1, use_bias=True, dtype=dtype, name=f"features_{index}")(x)
      x = self.after_block(f"features_{index + 1}", nn.relu(x), train)
      index += 2
    if not top:
      return x

    x = blocks.adaptive_avg_pool(x, (7, 7))
    x = x.reshape(x.shape[0], -1)
    for name in ("classifier_0", "classifier_3"):
      x = nn.Dense(4096, dtype=dtype, param_dtype=jnp.float32, name=name)(x)
      x = nn.relu(x)
      x = nn.Dropout(self.dropout_rate, deterministic=not train)(x)
    if self.output == "pre_logits":
      return x
    return nn.Dense(self.num_classes, dtype=dtype, param_dtype=jnp.float32, name="classifier_6")(x)
