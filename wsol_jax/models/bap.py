"""Bilinear attention pooling (BAP) classifier head, as in WS-DAN (Hu et al., 2019), for LCHP.

LCHP's classification CNN is InceptionV3-BAP: the Mixed_6e feature map ``F`` [B, h, w, C], a 1x1
convolution (+ batch norm + ReLU) to ``M = 32`` attention maps ``A`` [B, h, w, M], bilinear attention
pooling ``P[m, c] = mean_{h,w} A[..., m] * F[..., c]``, signed square root, L2 normalisation of the
flattened ``M * C`` vector, and a fully connected layer to the class logits.
"""

from __future__ import annotations

from typing import Any

import flax
import flax.linen as nn
import jax
import jax.numpy as jnp

from wsol_jax.models import heads


def signed_sqrt(x: jax.Array, eps: float = 1e-12) -> jax.Array:
  """``sign(x) * sqrt(|x| + eps)``; eps keeps the gradient finite at 0."""
  return jnp.sign(x) * jnp.sqrt(jnp.abs(x) + eps)


def l2_normalize(x: jax.Array, axis: int = -1, eps: float = 1e-12) -> jax.Array:
  """``x / max(||x||_2, eps)`` along ``axis``."""
  norm = jnp.sqrt(jnp.sum(jnp.square(x), axis=axis, keepdims=True))
  return x / jnp.maximum(norm, eps)


def bilinear_attention_pool(features_nhwc: jax.Array, attention_nhwm: jax.Array) -> jax.Array:
  """[B, h, w, C] features x [B, h, w, M] attention -> [B, M, C] spatial means of their products."""
  height, width = features_nhwc.shape[1:3]
  return jnp.einsum("bhwm,bhwc->bmc", attention_nhwm, features_nhwc) / (height * width)


class BAPHead(nn.Module):
  """Attention maps + BAP + signed sqrt + L2 norm + FC.

  ``feature_scale`` multiplies the unit-norm embedding before the FC layer (WS-DAN's implementation
  uses 100), so that logits can reach a useful range at ordinary learning rates.
  ``bn_axis_name``: the pmap axis the attention batch norm averages its statistics over.
  """
  num_classes: int
  num_attention: int = 32
  feature_scale: float = 100.0
  bn_axis_name: str | None = None
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, features_nhwc: jax.Array, train: bool) -> dict[str, jax.Array]:
    """Returns ``logits`` [B, K], ``attention`` [B, h, w, M] and ``embedding`` [B, M*C]."""
    attention = nn.Conv(self.num_attention, (1, 1), use_bias=False, dtype=self.dtype,
                        name="attention_conv")(features_nhwc)
    attention = nn.BatchNorm(use_running_average=not train, momentum=0.9, epsilon=1e-3,
                             axis_name=self.bn_axis_name, dtype=self.dtype,
                             name="attention_bn")(attention)
    attention = nn.relu(attention)
    pooled = bilinear_attention_pool(features_nhwc.astype(jnp.float32),
                                     attention.astype(jnp.float32))
    embedding = l2_normalize(signed_sqrt(pooled.reshape(pooled.shape[0], -1)))
    logits = nn.Dense(self.num_classes, dtype=self.dtype, name="fc")(
        embedding * self.feature_scale)
    return {"logits": logits.astype(jnp.float32), "attention": attention,
            "embedding": embedding}


class BAPClassifier(nn.Module):
  """A registered backbone followed by :class:`BAPHead`: ``(images [B,H,W,3] in [0,1], train)``.

  Returns the head's outputs plus ``features`` (the backbone's map): the two maps LCHP's
  Algorithm 1 may average. Parameters live under ``backbone`` and ``bap``.
  """
  backbone_name: str
  num_classes: int
  backbone_kwargs: Any = flax.core.FrozenDict()
  num_attention: int = 32
  feature_scale: float = 100.0
  bn_axis_name: str | None = None
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, images_nhwc: jax.Array, train: bool) -> dict[str, jax.Array]:
    backbone = heads.make_backbone(self.backbone_name, self.backbone_kwargs, dtype=self.dtype,
                                   bn_axis_name=self.bn_axis_name, module_name="backbone")
    features = backbone(images_nhwc, train=train)
    out = BAPHead(self.num_classes, self.num_attention, self.feature_scale, self.bn_axis_name,
                  self.dtype, name="bap")(features, train)
    return {**out, "features": features}
