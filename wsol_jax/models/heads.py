"""Heads on a backbone's feature map, and the localizer (backbone + CAM head) as one module.

Every head returns a dict: ``logits`` [B, C] (float32), ``features`` [B, h, w, K] (the map CAMs are
made from) and ``cam_weights`` [K, C] (the FC kernel), so class activation maps for any class are
``features @ cam_weights[:, c]`` (:mod:`wsol_jax.localization.scoremaps`).
"""

from __future__ import annotations

from typing import Any, Mapping

import flax
import flax.linen as nn
import jax.numpy as jnp

from wsol_jax.models import blocks
from wsol_jax.models.registry import get_backbone


def model_input(images_uint8):
  """uint8 [B, H, W, 3] batch images -> float32 in [0, 1], what every model here takes."""
  return jnp.asarray(images_uint8).astype(jnp.float32) / 255.0


class CAMHead(nn.Module):
  """CAM head of Zhou et al. / wsolevaluation: conv 3x3 (``channels``) + ReLU, GAP, FC.

  ``channels = 0`` drops the extra convolution (GAP + FC directly on the backbone's map).
  """
  num_classes: int
  channels: int = 1024
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, features, train: bool = False) -> dict:
    del train
    x = features
    if self.channels:
      x = nn.relu(nn.Conv(self.channels, (3, 3), padding=1, dtype=self.dtype,
                          param_dtype=jnp.float32, name="conv")(x))
    fc = nn.Dense(self.num_classes, dtype=self.dtype, param_dtype=jnp.float32, name="fc")
    logits = fc(blocks.global_avg_pool(x).astype(self.dtype))
    return {"logits": logits.astype(jnp.float32), "features": x.astype(jnp.float32),
            "cam_weights": fc.variables["params"]["kernel"]}


def make_backbone(name: str, kwargs: Mapping[str, Any] | None = None, *, dtype: Any = None,
                  bn_axis_name: str | None = None, module_name: str | None = None) -> nn.Module:
  """The registered backbone ``name`` with ``kwargs``; ``dtype`` and ``bn_axis_name`` are passed on
  to backbones that have those fields (a backbone without BatchNorm has no ``bn_axis_name``).
  ``module_name`` names it inside a parent's ``nn.compact``."""
  kwargs = dict(kwargs or {})
  probe = get_backbone(name, parent=None, **kwargs)
  if dtype is not None and hasattr(probe, "dtype") and "dtype" not in kwargs:
    kwargs["dtype"] = dtype
  if bn_axis_name is not None and hasattr(probe, "bn_axis_name"):
    kwargs["bn_axis_name"] = bn_axis_name
  if module_name is not None:
    kwargs["name"] = module_name
  return type(probe)(**kwargs)


class Localizer(nn.Module):
  """Backbone + head: ``(images [B,H,W,3] float in [0,1], train) -> head dict`` (see module doc).

  Parameters live under ``backbone`` and ``head`` (the optimizer's lr groups).
  backbone_name / backbone_kwargs: a registered backbone and its options.
  head_channels: the CAM head's extra conv (:class:`CAMHead`).
  bn_axis_name: pmap axis for BatchNorm statistics (backbones that support it).
  """
  backbone_name: str
  num_classes: int
  backbone_kwargs: Any = flax.core.FrozenDict()
  head_channels: int = 1024
  dtype: Any = jnp.float32
  bn_axis_name: str | None = None

  @nn.compact
  def __call__(self, images, train: bool = False) -> dict:
    backbone = make_backbone(self.backbone_name, self.backbone_kwargs, dtype=self.dtype,
                             bn_axis_name=self.bn_axis_name, module_name="backbone")
    features = backbone(images, train=train)
    head = CAMHead(self.num_classes, self.head_channels, dtype=self.dtype, name="head")
    return head(features, train=train)
