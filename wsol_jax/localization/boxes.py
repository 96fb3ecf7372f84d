"""Boxes: formats, IoU and how a box follows its image under geometric transforms.

Every function names the format it takes and returns:

* ``xyxy``   -- (x0, y0, x1, y1), corners.
* ``cxcywh`` -- (cx, cy, w, h), centre and size.

Coordinates are *absolute* pixels of a given image unless the name says ``normalized`` (fractions of
width and height, in [0, 1]). Boxes are arrays ``[..., 4]``; every function works on NumPy arrays and,
inside ``jax.jit``, on ``jax.Array``s (the array module is picked from the input).

IoU is the WSOL evaluation protocol's (:func:`metric_iou_xyxy`; Choe et al., CVPR 2020,
clovaai/wsolevaluation): boxes are integer pixel indices, both corners inclusive, so width and
height get ``+1``; :func:`gt_known_hits` counts with it the boxes that hit a GT box (the methods'
pseudo-box bookkeeping).
"""

from __future__ import annotations

import sys

import numpy as np


def _xp(*arrays):
  """The array module for ``arrays``: jax.numpy if any is a jax Array (or tracer), else NumPy.

  JAX is not imported here: if it has not been imported, no input can be a jax Array, and
  NumPy-only users (the box evaluator) skip its import time.
  """
  jax = sys.modules.get("jax")
  if jax is not None and any(isinstance(a, jax.Array) for a in arrays):
    return jax.numpy
  return np


def _split(boxes):
  return boxes[..., 0], boxes[..., 1], boxes[..., 2], boxes[..., 3]


# ----------------------------------------------------------------------------------------------
# Format conversions.


def xyxy_to_cxcywh(boxes_xyxy):
  """[..., 4] (x0, y0, x1, y1) -> [..., 4] (cx, cy, w, h)."""
  xp = _xp(boxes_xyxy)
  x0, y0, x1, y1 = _split(boxes_xyxy)
  return xp.stack([(x0 + x1) / 2, (y0 + y1) / 2, x1 - x0, y1 - y0], axis=-1)


def normalize_xyxy(boxes_xyxy, width, height):
  """Absolute pixel xyxy of a ``width`` x ``height`` image -> normalised [0, 1] xyxy."""
  xp = _xp(boxes_xyxy, width, height)
  scale = xp.stack(xp.broadcast_arrays(
      xp.asarray(width, dtype=boxes_xyxy.dtype), xp.asarray(height, dtype=boxes_xyxy.dtype),
      xp.asarray(width, dtype=boxes_xyxy.dtype), xp.asarray(height, dtype=boxes_xyxy.dtype)), axis=-1)
  return boxes_xyxy / scale


def denormalize_xyxy(boxes_normalized_xyxy, width, height):
  """Normalised [0, 1] xyxy -> absolute pixel xyxy of a ``width`` x ``height`` image."""
  xp = _xp(boxes_normalized_xyxy, width, height)
  dtype = boxes_normalized_xyxy.dtype
  scale = xp.stack(xp.broadcast_arrays(
      xp.asarray(width, dtype=dtype), xp.asarray(height, dtype=dtype),
      xp.asarray(width, dtype=dtype), xp.asarray(height, dtype=dtype)), axis=-1)
  return boxes_normalized_xyxy * scale


# ----------------------------------------------------------------------------------------------
# Validity, clipping.


def area_xyxy(boxes_xyxy):
  """[..., 4] -> [...] continuous area; 0 for degenerate boxes (x1 <= x0 or y1 <= y0)."""
  xp = _xp(boxes_xyxy)
  x0, y0, x1, y1 = _split(boxes_xyxy)
  return xp.maximum(x1 - x0, 0) * xp.maximum(y1 - y0, 0)


def is_degenerate_xyxy(boxes_xyxy, min_size=0.0):
  """[..., 4] -> [...] bool: True where width or height is <= ``min_size`` (or any coord is NaN)."""
  x0, y0, x1, y1 = _split(boxes_xyxy)
  ok = (x1 - x0 > min_size) & (y1 - y0 > min_size)
  return ~ok


def clip_xyxy(boxes_xyxy, width, height):
  """Clip absolute xyxy boxes to the image ``[0, width] x [0, height]``."""
  xp = _xp(boxes_xyxy)
  x0, y0, x1, y1 = _split(boxes_xyxy)
  return xp.stack([xp.clip(x0, 0, width), xp.clip(y0, 0, height),
                   xp.clip(x1, 0, width), xp.clip(y1, 0, height)], axis=-1)


# ----------------------------------------------------------------------------------------------
# IoU.


def metric_iou_xyxy(boxes_a_xyxy, boxes_b_xyxy):
  """IoU of the WSOL protocol for broadcastable [..., 4] integer-pixel xyxy boxes -> [...].

  Both corners are inclusive pixel indices, so a box covers ``(x1 - x0 + 1) * (y1 - y0 + 1)`` pixels
  (wsolevaluation's ``calculate_multiple_iou``). Inputs are used as given (cast them to integers with
  :func:`to_metric_int_xyxy` first for the protocol's truncation).
  """
  xp = _xp(boxes_a_xyxy, boxes_b_xyxy)
  ax0, ay0, ax1, ay1 = _split(boxes_a_xyxy)
  bx0, by0, bx1, by1 = _split(boxes_b_xyxy)
  inter_w = xp.maximum(xp.minimum(ax1, bx1) - xp.maximum(ax0, bx0) + 1, 0)
  inter_h = xp.maximum(xp.minimum(ay1, by1) - xp.maximum(ay0, by0) + 1, 0)
  inter = inter_w * inter_h
  area_a = (ax1 - ax0 + 1) * (ay1 - ay0 + 1)
  area_b = (bx1 - bx0 + 1) * (by1 - by0 + 1)
  union = area_a + area_b - inter
  return xp.where(union > 0, inter / xp.where(union > 0, union, 1), 0).astype(
      np.float64 if xp is np else xp.float32)


def pairwise_metric_iou_xyxy(boxes_a_xyxy, boxes_b_xyxy):
  """Many-to-many protocol IoU: [..., N, 4] x [..., M, 4] -> [..., N, M]."""
  return metric_iou_xyxy(boxes_a_xyxy[..., :, None, :], boxes_b_xyxy[..., None, :, :])


def gt_known_hits(boxes_xyxy, gt_boxes_xyxy, gt_valid, image_hw):
  """GT-known hits of the protocol: protocol IoU (:func:`metric_iou_xyxy`, the prediction made an
  integer box inside the image) >= 0.5 with any valid GT box.

  [B, 4] abs xyxy, [B, M, 4] GT, [B, M] valid mask, (height, width) -> (hit [B], has_gt [B]) as
  float32, for counting (an image without a GT box never hits).
  """
  xp = _xp(boxes_xyxy, gt_boxes_xyxy, gt_valid)
  height, width = image_hw
  pred = to_metric_pred_xyxy(boxes_xyxy, width, height)
  gt = to_metric_int_xyxy(gt_boxes_xyxy)
  iou = xp.where(gt_valid, metric_iou_xyxy(pred[:, None, :], gt), 0.0)
  has_gt = xp.any(gt_valid, axis=-1)
  return (((xp.max(iou, -1) >= 0.5) & has_gt).astype(xp.float32), has_gt.astype(xp.float32))


def to_metric_int_xyxy(boxes_xyxy):
  """Truncate float pixel boxes to integers the way the protocol does (Python ``int()``)."""
  xp = _xp(boxes_xyxy)
  return xp.trunc(boxes_xyxy).astype(xp.int32)


def resize_xyxy_for_metric(boxes_xyxy, image_width, image_height, target_width=224,
                           target_height=224):
  """Rescale original-image GT boxes to the evaluation size as wsolevaluation does -> int32.

  ``int(x * target_width / image_width)`` per coordinate (its ``resize_bbox``); multiply before
  dividing, in float64 for NumPy input, so the truncation matches Python's to the pixel.
  """
  xp = _xp(boxes_xyxy)
  if xp is np:
    boxes_xyxy = np.asarray(boxes_xyxy, dtype=np.float64)
  x0, y0, x1, y1 = _split(boxes_xyxy)
  return to_metric_int_xyxy(xp.stack([
      x0 * target_width / image_width, y0 * target_height / image_height,
      x1 * target_width / image_width, y1 * target_height / image_height], axis=-1))


def to_metric_pred_xyxy(boxes_xyxy, width, height):
  """Predicted pixel-edge boxes -> the protocol's integer boxes inside a ``width`` x ``height`` map.

  Truncates, then clips every coordinate to ``[0, width - 1]`` / ``[0, height - 1]``. For a box
  ``[x, y, x + w, y + h]`` around a pixel region this is wsolevaluation's
  ``x1 = min(x + w, W - 1)``; regressed boxes are scored the same way.
  """
  xp = _xp(boxes_xyxy)
  x0, y0, x1, y1 = _split(to_metric_int_xyxy(boxes_xyxy))
  return xp.stack([xp.clip(x0, 0, width - 1), xp.clip(y0, 0, height - 1),
                   xp.clip(x1, 0, width - 1), xp.clip(y1, 0, height - 1)], axis=-1)


# ----------------------------------------------------------------------------------------------
# Box transforms that follow an image transform. All take and return absolute xyxy.


def resize_xyxy(boxes_xyxy, in_size_hw, out_size_hw):
  """The image went from ``in_size_hw`` = (H, W) to ``out_size_hw`` by resizing (per-axis scale).

  Computes ``x * out_w / in_w`` (multiply first): truncating the result with
  :func:`to_metric_int_xyxy` then equals wsolevaluation's ``int(x * 224 / W)`` exactly, also in
  float32 (``x * (224 / W)`` would be off by one pixel at some integer results, e.g. x = W = 107).
  """
  xp = _xp(boxes_xyxy)
  (in_h, in_w), (out_h, out_w) = in_size_hw, out_size_hw
  x0, y0, x1, y1 = _split(boxes_xyxy)
  return xp.stack([x0 * out_w / in_w, y0 * out_h / in_h, x1 * out_w / in_w, y1 * out_h / in_h],
                  axis=-1)


def scale_xyxy(boxes_xyxy, scale_x, scale_y):
  """The image was scaled about its origin by ``scale_x`` and ``scale_y`` (may be per-example)."""
  xp = _xp(boxes_xyxy, scale_x, scale_y)
  x0, y0, x1, y1 = _split(boxes_xyxy)
  return xp.stack([x0 * scale_x, y0 * scale_y, x1 * scale_x, y1 * scale_y], axis=-1)


def translate_xyxy(boxes_xyxy, dx, dy):
  """The image content moved by (dx, dy) pixels (e.g. padding on the left/top by dx/dy)."""
  xp = _xp(boxes_xyxy, dx, dy)
  x0, y0, x1, y1 = _split(boxes_xyxy)
  return xp.stack([x0 + dx, y0 + dy, x1 + dx, y1 + dy], axis=-1)


def crop_xyxy(boxes_xyxy, top, left, crop_height, crop_width):
  """The image was cropped to rows [top, top+crop_height) and columns [left, left+crop_width).

  Boxes move into the crop's frame and are clipped to it; a box that falls outside becomes
  degenerate (check with :func:`is_degenerate_xyxy`).
  """
  return clip_xyxy(translate_xyxy(boxes_xyxy, -left, -top), crop_width, crop_height)


def hflip_xyxy(boxes_xyxy, width):
  """The image of ``width`` pixels was flipped left-right: x -> width - x."""
  xp = _xp(boxes_xyxy)
  x0, y0, x1, y1 = _split(boxes_xyxy)
  return xp.stack([width - x1, y0, width - x0, y1], axis=-1)
