"""LCHP's strong augmentation S, applied to an image and its box together (pure jnp, batched).

The paper uses imgaug with three parts, in this order:

* scale: content scaled about the image centre by 80-120 %, independently per axis, image size kept;
* translation: with probability 0.5, each side cropped or padded by up to 25 % of the side length
  (drawn per side, as imgaug's ``CropAndPad(percent=(-0.25, 0.25))``), then resized back to the
  original size;
* flips: left-right and top-bottom, each with probability 0.5.

Each part is axis-aligned, so the whole of S per example is ``out = a * in + b`` on each axis, in
continuous pixel-edge coordinates (pixel ``i`` spans ``[i, i+1)``). Images are resampled bilinearly
through that map (:func:`resample_affine`) and boxes are moved through the same map
(:func:`affine_xyxy`), so a box follows its image exactly. The same resampler crops a box out of an
image and resizes it (:func:`crop_resize_xyxy`), which LCHP's confidence needs.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from wsol_jax.localization import boxes as box_lib


class AxisAffine(NamedTuple):
  """Per-example map ``out = a * in + b`` on each axis; every field is [B] float32."""
  a_x: jax.Array
  b_x: jax.Array
  a_y: jax.Array
  b_y: jax.Array


class StrongAugmentParams(NamedTuple):
  """Random draws of S for a batch; every field is [B]."""
  scale_x: jax.Array  # content scale about the centre
  scale_y: jax.Array
  pad_left: jax.Array  # fraction of the width added (> 0, padding) or removed (< 0, cropping)
  pad_right: jax.Array
  pad_top: jax.Array  # fraction of the height
  pad_bottom: jax.Array
  hflip: jax.Array  # bool
  vflip: jax.Array  # bool


def sample_strong_params(key: jax.Array, batch_size: int, *,
                         scale_range: tuple[float, float] = (0.8, 1.2),
                         crop_pad_fraction: float = 0.25, crop_pad_prob: float = 0.5,
                         hflip_prob: float = 0.5, vflip_prob: float = 0.5) -> StrongAugmentParams:
  """Draw per-example parameters of S from ``key`` (the paper's ranges are the defaults)."""
  if not 0.0 <= crop_pad_fraction < 0.5:
    raise ValueError(f"crop_pad_fraction must be in [0, 0.5), got {crop_pad_fraction}")
  if not 0.0 < scale_range[0] <= scale_range[1]:
    raise ValueError(f"scale_range must be 0 < low <= high, got {tuple(scale_range)}")
  k_scale, k_pad, k_use, k_h, k_v = jax.random.split(key, 5)
  scale = jax.random.uniform(k_scale, (2, batch_size), minval=scale_range[0],
                             maxval=scale_range[1])
  pad = jax.random.uniform(k_pad, (4, batch_size), minval=-crop_pad_fraction,
                           maxval=crop_pad_fraction)
  pad = pad * jax.random.bernoulli(k_use, crop_pad_prob, (batch_size,))
  return StrongAugmentParams(
      scale_x=scale[0], scale_y=scale[1], pad_left=pad[0], pad_right=pad[1], pad_top=pad[2],
      pad_bottom=pad[3], hflip=jax.random.bernoulli(k_h, hflip_prob, (batch_size,)),
      vflip=jax.random.bernoulli(k_v, vflip_prob, (batch_size,)))


def _axis_map(size: int, scale, pad_lo, pad_hi, flip):
  """(a, b) of scale-about-centre, then crop/pad + resize back to ``size``, then flip."""
  centre = size / 2.0
  a = scale
  b = centre * (1.0 - scale)
  lo, hi = pad_lo * size, pad_hi * size
  resize = size / (size + lo + hi)
  a, b = a * resize, (b + lo) * resize
  return jnp.where(flip, -a, a), jnp.where(flip, size - b, b)


def strong_affine(params: StrongAugmentParams, image_hw: tuple[int, int]) -> AxisAffine:
  """The per-example axis maps of S for images of size ``image_hw`` = (H, W)."""
  height, width = image_hw
  a_x, b_x = _axis_map(width, params.scale_x, params.pad_left, params.pad_right, params.hflip)
  a_y, b_y = _axis_map(height, params.scale_y, params.pad_top, params.pad_bottom, params.vflip)
  return AxisAffine(a_x, b_x, a_y, b_y)


def _interp_matrix(out_size: int, in_size: int, a, b, reflect: bool = False):
  """[B, out, in] bilinear weights: output pixel ``u`` samples input position ``(u+.5-b)/a - .5``.

  Triangle-kernel weights give bilinear interpolation inside the image and fade to zero over the
  last half pixel outside it, so out-of-image samples take the fill value.
  """
  centres = (jnp.arange(out_size, dtype=jnp.float32)[None, :] + 0.5 - b[:, None]) / a[:, None]
  src = centres - 0.5  # in input pixel-index coordinates
  if reflect:  # mirror about the image edges (numpy 'symmetric'), then stay inside
    period = 2.0 * in_size
    p = jnp.mod(src + 0.5, period)
    p = jnp.where(p > in_size, period - p, p)
    src = jnp.clip(p - 0.5, 0.0, in_size - 1.0)
  idx = jnp.arange(in_size, dtype=jnp.float32)
  return jnp.maximum(0.0, 1.0 - jnp.abs(idx[None, None, :] - src[:, :, None]))


def resample_affine(images_nhwc: jax.Array, affine: AxisAffine,
                    out_hw: tuple[int, int] | None = None, fill=0.0) -> jax.Array:
  """Bilinear warp of [B, H, W, C] images through per-example axis maps -> [B, H', W', C].

  Output pixels whose source falls outside the image take ``fill`` (a value or [C] colour);
  ``fill=None`` samples the image mirrored at its edges instead (numpy's 'symmetric' padding).
  Downscaling does not anti-alias (scales here stay within 0.5-2x).
  """
  height, width = images_nhwc.shape[1:3]
  out_h, out_w = out_hw if out_hw is not None else (height, width)
  reflect = fill is None
  wy = _interp_matrix(out_h, height, affine.a_y, affine.b_y, reflect)
  wx = _interp_matrix(out_w, width, affine.a_x, affine.b_x, reflect)
  x = images_nhwc.astype(jnp.float32)
  out = jnp.einsum("bph,bhwc->bpwc", wy, x)
  out = jnp.einsum("bqw,bpwc->bpqc", wx, out)
  if reflect:  # every output pixel samples the image: nothing to fill
    return out
  coverage = wy.sum(-1)[:, :, None] * wx.sum(-1)[:, None, :]
  return out + fill * (1.0 - coverage)[..., None]


def affine_xyxy(boxes_xyxy: jax.Array, affine: AxisAffine) -> jax.Array:
  """Move [B, 4] absolute xyxy boxes through per-example axis maps (corners re-ordered on flips)."""
  moved = box_lib.translate_xyxy(box_lib.scale_xyxy(boxes_xyxy, affine.a_x, affine.a_y),
                                 affine.b_x, affine.b_y)
  x0, y0, x1, y1 = (moved[:, i] for i in range(4))
  return jnp.stack([jnp.minimum(x0, x1), jnp.minimum(y0, y1), jnp.maximum(x0, x1),
                    jnp.maximum(y0, y1)], axis=-1)


def strong_augment(images_nhwc: jax.Array, boxes_xyxy: jax.Array, params: StrongAugmentParams,
                   *, fill=0.0) -> tuple[jax.Array, jax.Array]:
  """S applied to images [B, H, W, C] and their boxes [B, 4] (absolute xyxy) together.

  Returns the augmented images (same size, float32) and the boxes moved with them, clipped to the
  image; a box pushed wholly outside comes back degenerate (see ``boxes.is_degenerate_xyxy``).
  """
  height, width = images_nhwc.shape[1:3]
  affine = strong_affine(params, (height, width))
  out_images = resample_affine(images_nhwc, affine, fill=fill)
  out_boxes = box_lib.clip_xyxy(affine_xyxy(boxes_xyxy, affine), width, height)
  return out_images, out_boxes


def crop_resize_xyxy(images_nhwc: jax.Array, boxes_xyxy: jax.Array, out_hw: tuple[int, int],
                     min_size: float = 1.0) -> jax.Array:
  """Crop each image at its box ([B, 4] absolute xyxy) and resize the crop to ``out_hw`` (bilinear).

  Boxes narrower or shorter than ``min_size`` pixels are widened to it about their centre, so a
  degenerate box still yields a (tiny) crop instead of a division by zero.
  """
  out_h, out_w = out_hw
  cx, cy, w, h = (box_lib.xyxy_to_cxcywh(boxes_xyxy)[:, i] for i in range(4))
  w, h = jnp.maximum(w, min_size), jnp.maximum(h, min_size)
  a_x, a_y = out_w / w, out_h / h
  affine = AxisAffine(a_x, -(cx - w / 2) * a_x, a_y, -(cy - h / 2) * a_y)
  return resample_affine(images_nhwc, affine, out_hw)
