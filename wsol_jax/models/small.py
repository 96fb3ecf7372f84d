"""A small VGG-style backbone for the synthetic dataset, CPU demos and tests (``'small_vgg'``).

Stages of ``convs_per_stage`` 3x3 convolutions (+ BatchNorm) + ReLU, a 2x2 max-pool between stages
and none after the last one (like CAM-VGG16's missing pool5), so a 64 px image with 3 stages gives a
16x16 feature map. Width and depth are options so tests can make it tiny.
"""

from __future__ import annotations

from typing import Any, Sequence

import flax.linen as nn
import jax.numpy as jnp

from wsol_jax.models import blocks
from wsol_jax.models.registry import register_backbone


@register_backbone("small_vgg")
class SmallVGG(nn.Module):
  """``(images [B,H,W,3] float in [0,1], train) -> features [B, H/2^(S-1), W/2^(S-1), widths[-1]]``.

  widths: channels of each stage (S = len(widths) stages).
  convs_per_stage: 3x3 convolutions per stage.
  batch_norm: BatchNorm after each convolution (statistics in the 'batch_stats' collection).
  bn_axis_name: pmap axis to average BatchNorm statistics over (None under jit).
  input_norm: input scaling (:func:`wsol_jax.models.blocks.normalize_input`), as torchvision's.
  dtype: compute dtype (parameters stay float32).
  block_hook: as :class:`wsol_jax.models.blocks.ImagenetBackbone`'s; the block names are the
    convs', ``conv{stage}_{i}`` (1-based), each seen after its ReLU.
  """
  widths: Sequence[int] = (32, 64, 128)
  convs_per_stage: int = 2
  batch_norm: bool = True
  bn_axis_name: str | None = None
  input_norm: str = "imagenet"
  dtype: Any = jnp.float32
  block_hook: Any = None

  @nn.compact
  def __call__(self, images, train: bool):
    x = blocks.normalize_input(images.astype(jnp.float32), self.input_norm).astype(self.dtype)
    for stage, width in enumerate(self.widths):
      if stage > 0:
        x = nn.max_pool(x, (2, 2), strides=(2, 2))
      for i in range(self.convs_per_stage):
        x = nn.Conv(width, (3, 3), padding=1, use_bias=not self.batch_norm, dtype=self.dtype,
                    name=f"conv{stage + 1}_{i + 1}")(x)
        if self.batch_norm:
          x = nn.BatchNorm(use_running_average=not train, momentum=0.9, epsilon=1e-5,
                           axis_name=self.bn_axis_name, dtype=self.dtype,
                           name=f"bn{stage + 1}_{i + 1}")(x)
        x = nn.relu(x)
        if self.block_hook is not None:
          x = self.block_hook(f"conv{stage + 1}_{i + 1}", x, train)
    return x
