"""LCHP's mask-based pseudo-box generator (Sun & Zhu, Algorithm 1), batched and jit-able.

Algorithm 1, as a step calls it::

  box_r = attention_box_xyxy(features(I_r), delta, image_hw)       # steps 1-4
  I_m   = erase_box(I_r, box_r)                                     # step 5
  box_m = attention_box_xyxy(features(I_m), delta, image_hw)       # step 6
  box   = merge_boxes_xyxy(box_r, box_m, image_hw)                  # step 7

or in one call with :func:`pseudo_box_xyxy` given a ``features_fn``. LCHP chooses delta on
box-annotated images from :func:`pseudo_boxes_per_delta`'s boxes
(:func:`wsol_jax.methods.common.select_on_held_out_boxes`). Boxes are absolute pixel xyxy
of the image (pixel ``i`` spans ``[i, i+1)``), float32, ``[B, 4]``, with a ``found`` flag ``[B]``
that is False where no pixel passed the threshold.
"""

from __future__ import annotations

from typing import Callable, NamedTuple, Sequence

import jax
import jax.numpy as jnp

NORMALIZATIONS = ("minmax", "max")


class AttentionBoxes(NamedTuple):
  """Boxes ``[B, 4]`` (absolute xyxy, float32) and ``found`` ``[B]`` (bool)."""
  boxes_xyxy: jax.Array
  found: jax.Array


def attention_map(features_nhwc: jax.Array) -> jax.Array:
  """Channel mean of a feature map: [B, h, w, C] -> [B, h, w] float32 (Algorithm 1, step 2)."""
  return jnp.mean(features_nhwc.astype(jnp.float32), axis=-1)


def normalize_attention(attention: jax.Array, mode: str = "minmax") -> jax.Array:
  """Per-image normalisation of [B, h, w] maps to [0, 1].

  ``minmax``: ``(a - min) / (max - min)``; ``max``: ``a / max`` (negative values clip to 0). A map
  with no spread (constant, or ``max <= 0`` for ``max``) becomes all zeros, so nothing is foreground.
  """
  if mode not in NORMALIZATIONS:
    raise ValueError(f"attention normalization {mode!r} is not one of {NORMALIZATIONS}")
  hi = jnp.max(attention, axis=(1, 2), keepdims=True)
  if mode == "minmax":
    lo = jnp.min(attention, axis=(1, 2), keepdims=True)
  else:
    lo = jnp.zeros_like(hi)
    attention = jnp.maximum(attention, 0.0)
  spread = hi - lo
  ok = spread > 0
  return jnp.where(ok, (attention - lo) / jnp.where(ok, spread, 1.0), 0.0)


def foreground_box_xyxy(mask: jax.Array) -> AttentionBoxes:
  """Smallest rectangle holding every True pixel of [B, H, W] masks, in that grid's pixels.

  A box spans whole pixels: columns ``x0 .. x1 - 1`` and rows ``y0 .. y1 - 1``. Empty masks give a
  zero box and ``found=False``.
  """
  height, width = mask.shape[1], mask.shape[2]
  rows = jnp.any(mask, axis=2)  # [B, H]
  cols = jnp.any(mask, axis=1)  # [B, W]
  y0 = jnp.argmax(rows, axis=1)
  y1 = height - jnp.argmax(rows[:, ::-1], axis=1)
  x0 = jnp.argmax(cols, axis=1)
  x1 = width - jnp.argmax(cols[:, ::-1], axis=1)
  found = jnp.any(rows, axis=1)
  boxes = jnp.stack([x0, y0, x1, y1], axis=-1).astype(jnp.float32)
  return AttentionBoxes(jnp.where(found[:, None], boxes, 0.0), found)


def attention_box_xyxy(features_nhwc: jax.Array, delta: float, image_hw: tuple[int, int], *,
                       normalize: str = "minmax", upsample: bool = True) -> AttentionBoxes:
  """Algorithm 1, steps 2-4: the discriminative region of one feature map, in image pixels.

  Args:
    features_nhwc: [B, h, w, C] feature map of the classification CNN.
    delta: foreground threshold on the normalised attention (strictly greater passes).
    image_hw: (H, W) of the image the features came from; boxes are returned in its pixels.
    normalize: ``minmax`` or ``max`` (see :func:`normalize_attention`).
    upsample: resize the normalised attention bilinearly to ``image_hw`` and threshold it there
      (as CAM methods do); otherwise threshold on the feature grid and scale the box up.
  """
  # Normalising first is the same as after the (affine-commuting) bilinear resize, minus the
  # rounding noise a resize adds to a constant map.
  attention = normalize_attention(attention_map(features_nhwc), normalize)
  height, width = int(image_hw[0]), int(image_hw[1])
  if upsample:
    attention = jax.image.resize(attention, (attention.shape[0], height, width), "bilinear")
    return foreground_box_xyxy(attention > delta)
  found = foreground_box_xyxy(attention > delta)
  grid_h, grid_w = attention.shape[1], attention.shape[2]
  scale = jnp.asarray([width / grid_w, height / grid_h, width / grid_w, height / grid_h],
                      jnp.float32)
  return AttentionBoxes(found.boxes_xyxy * scale, found.found)


def erase_box(images_nhwc: jax.Array, boxes_xyxy: jax.Array, value: float = 0.0) -> jax.Array:
  """Algorithm 1, step 5: set the pixels whose centres lie inside each box to ``value``.

  Args:
    images_nhwc: [B, H, W, C] images (the model's input tensor).
    boxes_xyxy: [B, 4] absolute xyxy boxes in those images' pixels.
    value: what erased pixels become (0 = the paper's "value of zero"). A zero box (nothing found)
      erases nothing.
  """
  height, width = images_nhwc.shape[1], images_nhwc.shape[2]
  ys = jnp.arange(height, dtype=jnp.float32) + 0.5
  xs = jnp.arange(width, dtype=jnp.float32) + 0.5
  x0, y0, x1, y1 = (boxes_xyxy[:, i, None] for i in range(4))
  inside_y = (ys[None] >= y0) & (ys[None] < y1)  # [B, H]
  inside_x = (xs[None] >= x0) & (xs[None] < x1)  # [B, W]
  inside = inside_y[:, :, None] & inside_x[:, None, :]
  return jnp.where(inside[..., None], jnp.asarray(value, images_nhwc.dtype), images_nhwc)


def merge_boxes_xyxy(first: AttentionBoxes, second: AttentionBoxes,
                     image_hw: tuple[int, int]) -> jax.Array:
  """Algorithm 1, step 7: the smallest box holding both regions -> [B, 4] absolute xyxy.

  A region that was not found does not take part; where neither was found the box is the whole
  image (no evidence either way, and a whole-image box is what a regressor can least be misled by).
  """
  height, width = float(image_hw[0]), float(image_hw[1])
  big = jnp.asarray([jnp.inf, jnp.inf, -jnp.inf, -jnp.inf], jnp.float32)

  def lo_hi(b: AttentionBoxes):
    return jnp.where(b.found[:, None], b.boxes_xyxy, big)

  a, b = lo_hi(first), lo_hi(second)
  merged = jnp.concatenate([jnp.minimum(a[:, :2], b[:, :2]), jnp.maximum(a[:, 2:], b[:, 2:])], -1)
  whole = jnp.asarray([0.0, 0.0, width, height], jnp.float32)
  any_found = first.found | second.found
  return jnp.where(any_found[:, None], merged, whole)


class PseudoBoxes(NamedTuple):
  """The outputs of Algorithm 1 for a batch."""
  boxes_xyxy: jax.Array  # [B, 4] merged pseudo-box, absolute xyxy
  first: AttentionBoxes  # L_r, from the raw image
  second: AttentionBoxes  # L_m, from the masked image
  masked_images: jax.Array  # [B, H, W, C] I_m


def pseudo_box_xyxy(features_fn: Callable[[jax.Array], jax.Array], images_nhwc: jax.Array,
                    delta: float, *, normalize: str = "minmax", upsample: bool = True,
                    erase_value: float = 0.0) -> PseudoBoxes:
  """Algorithm 1 end to end: two forward passes of ``features_fn`` ([B,H,W,C] -> [B,h,w,C']).

  ``I_m`` is ``I_r`` with ``L_r`` erased (``I_r`` itself where ``L_r`` was not found).
  Wrap in ``jax.lax.stop_gradient`` at the call site if ``features_fn`` closes over trained params.
  """
  return _from_raw_features(features_fn, features_fn(images_nhwc), images_nhwc, delta,
                            normalize=normalize, upsample=upsample, erase_value=erase_value)


def _from_raw_features(features_fn, raw_features, images_nhwc, delta, *, normalize, upsample,
                       erase_value) -> PseudoBoxes:
  """Algorithm 1 given the raw image's features already computed (steps 2-7)."""
  image_hw = images_nhwc.shape[1:3]
  kw = dict(normalize=normalize, upsample=upsample)
  first = attention_box_xyxy(raw_features, delta, image_hw, **kw)
  masked = erase_box(images_nhwc, first.boxes_xyxy, erase_value)
  second = attention_box_xyxy(features_fn(masked), delta, image_hw, **kw)
  return PseudoBoxes(merge_boxes_xyxy(first, second, image_hw), first, second, masked)


def pseudo_boxes_per_delta(features_fn: Callable[[jax.Array], jax.Array], images_nhwc: jax.Array,
                           deltas: Sequence[float], *, normalize: str = "minmax",
                           upsample: bool = True, erase_value: float = 0.0) -> jax.Array:
  """Algorithm 1's merged pseudo-box of every image at every ``delta`` -> [D, B, 4] abs xyxy.

  The same as :func:`pseudo_box_xyxy` once per delta, with the raw image's forward pass shared:
  1 + D forward passes instead of 2 D.
  """
  raw_features = features_fn(images_nhwc)
  return jnp.stack([
      _from_raw_features(features_fn, raw_features, images_nhwc, delta, normalize=normalize,
                         upsample=upsample, erase_value=erase_value).boxes_xyxy
      for delta in deltas])
