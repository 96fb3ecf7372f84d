"""ResNet50 laid out as torchvision's (and timm's) ``resnet50``.

Submodules mirror the state-dict keys: ``conv1``, ``bn1``, ``layer{s}_{b}`` (Bottleneck with
``conv1..3``, ``bn1..3`` and, in the first block of a stage, ``downsample_0`` / ``downsample_1``),
``fc``. Strides sit on the 3x3 conv (torchvision's "ResNet v1.5").

``stage_strides`` are the strides of layer1..layer4. The WSOL default ``(1, 2, 2, 1)`` keeps layer4
at stride 1, as wsolevaluation's ResNet50-CAM does (a 14x14 map at 224); ``(1, 2, 1, 1)`` is its
``large_feature_map`` (28x28); ``(1, 2, 2, 2)`` is the ImageNet classifier.

Outputs: ``'features'`` = layer4 [B, h, w, 2048]; ``'pre_logits'`` = its global average [B, 2048];
``'logits'`` = ``fc`` [B, num_classes].
"""

from __future__ import annotations

from typing import Any, Callable

import flax.linen as nn

from wsol_jax.models import blocks
from wsol_jax.models.registry import register_backbone

_BN_EPS = 1e-5
# The outputs ``block_hook`` sees: each Bottleneck, ``layer{stage}_{block}`` (of stage_sizes 3/4/6/3).
BLOCK_NAMES = tuple(f"layer{s + 1}_{b}" for s, size in enumerate((3, 4, 6, 3)) for b in range(size))


class Bottleneck(nn.Module):
  planes: int
  stride: int
  downsample: bool
  norm: Callable
  dtype: Any

  @nn.compact
  def __call__(self, x):
    bn = lambda name: self.norm(name=name)
    conv = lambda *a, **k: blocks.torch_conv(*a, use_bias=False, dtype=self.dtype, **k)
    out = nn.relu(bn("bn1")(conv(self.planes, 1, name="conv1")(x)))
    out = nn.relu(bn("bn2")(conv(self.planes, 3, self.stride, 1, name="conv2")(out)))
    out = bn("bn3")(conv(self.planes * 4, 1, name="conv3")(out))
    if self.downsample:
      x = bn("downsample_1")(conv(self.planes * 4, 1, self.stride, name="downsample_0")(x))
    return nn.relu(out + x)


@register_backbone("resnet50")
class ResNet50(blocks.BatchNormBackbone):
  """ResNet50. ``__call__(x [B,H,W,3] in [0,1], train) -> see module docstring``."""

  stage_strides: tuple[int, int, int, int] = (1, 2, 2, 1)
  stage_sizes: tuple[int, int, int, int] = (3, 4, 6, 3)

  @nn.compact
  def __call__(self, x, train: bool = False):
    x, dtype = self.prepare(x)
    norm = self.norm(train, _BN_EPS)
    x = blocks.torch_conv(64, 7, 2, 3, use_bias=False, dtype=dtype, name="conv1")(x)
    x = norm(name="bn1")(x)
    x = blocks.max_pool_torch(nn.relu(x), 3, 2, 1)
    in_channels = 64
    for stage, (size, stride) in enumerate(zip(self.stage_sizes, self.stage_strides)):
      planes = 64 * 2**stage
      for block in range(size):
        first = block == 0
        x = Bottleneck(planes, stride if first else 1,
                       downsample=first and (stride != 1 or in_channels != planes * 4),
                       norm=norm, dtype=dtype, name=f"layer{stage + 1}_{block}")(x)
        x = self.after_block(f"layer{stage + 1}_{block}", x, train)
        in_channels = planes * 4
    if self.output == "features":
      return x
    return self.classify(x, train, head="fc")
