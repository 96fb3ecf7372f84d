"""Box regressor: a backbone, then two fully connected layers with ReLU -> 4 normalised coordinates.

SLT-Net (Sec. 3.1) trains it from its localizer's pseudo-boxes; LCHP trains one from its own. The
head follows PSOL (Zhang et al., CVPR 2020), whose framework SLT-Net adopts: global average pooling,
``Dense(hidden) -> ReLU -> Dense(4)`` and a sigmoid, so every output is a fraction of the image.
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp

_POOLINGS = ("avg", "flatten")
_OUTPUTS = ("sigmoid", "relu", "linear")


class BoxRegressor(nn.Module):
  """``images [B, H, W, 3] float -> boxes [B, 4]`` normalised (x0, y0, x1, y1).

  Attributes:
    backbone: a Linen module ``backbone(x, train) -> features [B, h, w, C]``.
    hidden_units: width of the first fully connected layer (PSOL: 512).
    pooling: ``avg`` (global average pooling, any input size) or ``flatten`` (keeps the layout of the
      feature map; needs a fixed input size).
    output: ``sigmoid`` (coordinates in (0, 1)), ``relu`` (the paper's wording taken literally: ReLU
      after both layers) or ``linear``.
    dtype: compute dtype of the head (parameters stay float32).
  """

  backbone: nn.Module
  hidden_units: int = 512
  pooling: str = "avg"
  output: str = "sigmoid"
  dtype: jnp.dtype = jnp.float32

  @nn.compact
  def __call__(self, images, train: bool = False):
    if self.pooling not in _POOLINGS:
      raise ValueError(f"regressor pooling must be one of {_POOLINGS}, got {self.pooling!r}")
    if self.output not in _OUTPUTS:
      raise ValueError(f"regressor output must be one of {_OUTPUTS}, got {self.output!r}")
    features = self.backbone(images, train=train)
    if self.pooling == "avg":
      pooled = jnp.mean(features, axis=(1, 2))
    else:
      pooled = features.reshape(features.shape[0], -1)
    hidden = nn.relu(nn.Dense(self.hidden_units, dtype=self.dtype, name="fc1")(pooled))
    raw = nn.Dense(4, dtype=self.dtype, name="fc2")(hidden).astype(jnp.float32)
    if self.output == "sigmoid":
      return nn.sigmoid(raw)
    if self.output == "relu":
      return nn.relu(raw)
    return raw


def output_bias_for_box(mean_box_normalized_xyxy, output: str, eps: float = 0.02):
  """The ``fc2`` bias [4] under which a regressor whose ``fc2`` weights are zero would output
  ``mean_box_normalized_xyxy`` [4]: its logit for ``sigmoid`` (the box clipped to
  ``[eps, 1 - eps]``, so a mean box on the image border stays in the sigmoid's live range), the box
  itself for ``relu`` and ``linear``."""
  box = jnp.asarray(mean_box_normalized_xyxy, jnp.float32)
  if output == "sigmoid":
    return jax.scipy.special.logit(jnp.clip(box, eps, 1.0 - eps))
  return box


def ordered_box_xyxy(boxes_normalized_xyxy):
  """Swap corners where a regressed box came out with x0 > x1 or y0 > y1: [..., 4] -> [..., 4]."""
  x0, y0, x1, y1 = (boxes_normalized_xyxy[..., i] for i in range(4))
  return jnp.stack([jnp.minimum(x0, x1), jnp.minimum(y0, y1), jnp.maximum(x0, x1),
                    jnp.maximum(y0, y1)], axis=-1)


def normalized_xyxy(raw, output: str, cells_hw: tuple[int, int] | None = None):
  """A regressor's raw outputs [B, 4] -> normalised xyxy [B, 4] (as they are, for a loss).

  A 'sigmoid' head, or any head without ``cells_hw``, outputs fractions of the image. With
  ``cells_hw`` (h, w), a 'linear' / 'relu' head outputs boxes in cells of its backbone's feature
  map (SLT-Net's Eq. 3-4: x / m with m the stride), divided here by the map's size."""
  if output == "sigmoid" or cells_hw is None:
    return raw
  h, w = cells_hw
  return raw / jnp.asarray([w, h, w, h], raw.dtype)


def decoded_boxes_xyxy(raw, output: str, cells_hw: tuple[int, int] | None = None):
  """A regressor's raw outputs [B, 4] -> the boxes it predicts: normalised xyxy (:func:`normalized_xyxy`),
  corners in order, clipped to the image (a linear output may leave it)."""
  return jnp.clip(ordered_box_xyxy(normalized_xyxy(raw, output, cells_hw)), 0.0, 1.0)
