"""A plain classifier network (backbone + GAP + FC, or a backbone ending in logits) and test-time
ten-crop. SLT-Net's separate classifier is this module."""

from __future__ import annotations

import flax.linen as nn
import jax.numpy as jnp


class Classifier(nn.Module):
  """SLT-Net's separate classifier: ``images -> logits [B, C]``.

  ``head='linear'``: the backbone's output (a feature map, pooled by GAP, or a vector such as
  VGG16's fc7) goes through dropout and a new FC layer (``fc``); ``head='none'``: the backbone
  already ends in class logits (e.g. torchvision's VGG16 with its ImageNet fc8).
  """
  backbone: nn.Module
  num_classes: int
  head: str = "linear"
  dropout_rate: float = 0.0
  dtype: jnp.dtype = jnp.float32

  @nn.compact
  def __call__(self, images, train: bool = False):
    x = self.backbone(images, train=train)
    if self.head == "none":
      if x.ndim != 2 or x.shape[-1] != self.num_classes:
        raise ValueError(f"classifier head 'none' needs backbone logits [B, {self.num_classes}], "
                         f"got shape {x.shape}")
      return x.astype(jnp.float32)
    if self.head != "linear":
      raise ValueError(f"classifier head must be 'linear' or 'none', got {self.head!r}")
    if x.ndim == 4:
      x = jnp.mean(x, axis=(1, 2))
    x = nn.Dropout(self.dropout_rate, deterministic=not train)(x)
    return nn.Dense(self.num_classes, dtype=self.dtype, name="fc")(x).astype(jnp.float32)



def ten_crop(images, crop_hw: tuple[int, int]):
  """torchvision's ``TenCrop``: images [B, H, W, C] -> [B, 10, crop_h, crop_w, C].

  The four corner crops and the centre crop (centre offsets rounded as torchvision rounds them),
  then the same five of the left-right mirrored image.
  """
  _, h, w, _ = images.shape
  ch, cw = crop_hw
  if ch > h or cw > w:
    raise ValueError(f"ten-crop of {crop_hw} does not fit images of {(h, w)}")
  top, left = int(round((h - ch) / 2.0)), int(round((w - cw) / 2.0))
  offsets = ((0, 0), (0, w - cw), (h - ch, 0), (h - ch, w - cw), (top, left))
  crops = [images[:, y:y + ch, x:x + cw] for y, x in offsets]
  crops += [c[:, :, ::-1] for c in crops]
  return jnp.stack(crops, axis=1)
