"""Score maps on the host exactly as wsolevaluation handles them (NumPy + OpenCV, no JAX import).

The reference half of :mod:`wsol_jax.localization.scoremaps` (which re-exports everything here): min-max
normalisation, bicubic upsampling of raw CAMs, the uint8 quantisation, the threshold levels and the
contour boxes of ``compute_bboxes_from_scoremaps``. Kept free of JAX so that the box evaluator
(``python -m wsol_jax.localization.evaluate_cams``) starts fast.
"""

from __future__ import annotations

import sys

import cv2
import numpy as np

# OpenCV 3 returned (image, contours, hierarchy); 2.x and >= 4 return (contours, hierarchy).
_CONTOURS_INDEX = 1 if cv2.__version__.split(".")[0] == "3" else 0


# ----------------------------------------------------------------------------------------------
# Normalisation and upsampling.


def minmax_normalize(maps):
  """Per map over the last two axes to [0, 1]: ``(m - min) / (max - min)``; NumPy or jnp.

  A constant map, or one holding a NaN, becomes zeros (wsolevaluation's ``normalize_scoremap``).
  """
  jax = sys.modules.get("jax")  # not imported here: see the module docstring
  if jax is not None and isinstance(maps, jax.Array):
    jnp = jax.numpy
    lo = jnp.min(maps, axis=(-2, -1), keepdims=True)
    hi = jnp.max(maps, axis=(-2, -1), keepdims=True)
    ok = (hi > lo) & ~jnp.isnan(hi) & ~jnp.isnan(lo)
    return jnp.where(ok, (maps - lo) / jnp.where(ok, hi - lo, 1), 0).astype(maps.dtype)
  maps = np.asarray(maps)
  lo = maps.min(axis=(-2, -1), keepdims=True)
  hi = maps.max(axis=(-2, -1), keepdims=True)
  ok = (hi > lo) & ~np.isnan(hi) & ~np.isnan(lo)
  with np.errstate(invalid="ignore", divide="ignore"):
    # Same operation order as wsolevaluation (subtract min, then divide by the new max).
    shifted = maps - lo
    return np.where(ok, shifted / np.where(ok, hi - lo, 1), 0).astype(maps.dtype)


def upsample_scoremaps_reference(cams, size_hw=(224, 224)) -> np.ndarray:
  """Host path, exactly wsolevaluation: raw CAMs [..., h, w] -> float64 score maps [..., H, W].

  Each raw CAM is cast to float64, resized with ``cv2.resize(..., INTER_CUBIC)`` (Keys cubic,
  a = -0.75, half-pixel centres, replicated border) and *then* min-max normalised.
  """
  cams = np.asarray(cams, dtype=np.float64)
  lead = cams.shape[:-2]
  flat = cams.reshape((-1,) + cams.shape[-2:])
  out = np.empty((flat.shape[0],) + tuple(size_hw), np.float64)
  for i, cam in enumerate(flat):
    out[i] = cv2.resize(cam, (size_hw[1], size_hw[0]), interpolation=cv2.INTER_CUBIC)
  return minmax_normalize(out).reshape(lead + tuple(size_hw))


def opencv_cubic_matrix(size_in: int, size_out: int) -> np.ndarray:
  """[size_out, size_in] float64 matrix of ``cv2.resize(..., INTER_CUBIC)`` along one axis.

  OpenCV's bicubic: source coordinate ``(i + 0.5) * size_in / size_out - 0.5``, Keys kernel with
  a = -0.75 on the 4 nearest samples, indices clamped to the edge (replicated border), no
  antialiasing. ``M_y @ cam @ M_x.T`` equals OpenCV to 1e-15 for integer upscaling factors (1e-6
  otherwise: OpenCV rounds its coefficients).
  """
  a = -0.75
  src = (np.arange(size_out) + 0.5) * (size_in / size_out) - 0.5
  base = np.floor(src).astype(np.int64)
  t = src - base
  dist = np.stack([1 + t, t, 1 - t, 2 - t], axis=1)  # [size_out, 4] distances to the 4 taps
  near = ((a + 2) * dist - (a + 3)) * dist * dist + 1
  far = ((a * dist - 5 * a) * dist + 8 * a) * dist - 4 * a
  weights = np.where(dist <= 1, near, far)
  taps = np.clip(base[:, None] + np.arange(-1, 3)[None, :], 0, size_in - 1)
  matrix = np.zeros((size_out, size_in))
  np.add.at(matrix, (np.repeat(np.arange(size_out), 4), taps.reshape(-1)), weights.reshape(-1))
  return matrix


# ----------------------------------------------------------------------------------------------
# Threshold -> box, exactly wsolevaluation.


def scoremap_to_uint8(scoremaps) -> np.ndarray:
  """[..., H, W] score maps in [0, 1] -> uint8 ``(scoremap * 255).astype(uint8)`` (in float64)."""
  return (np.asarray(scoremaps, dtype=np.float64) * 255).astype(np.uint8)


def threshold_levels(max_uint8, thresholds) -> np.ndarray:
  """The integer levels ``int(t * max)`` that the protocol binarises at (foreground ``> level``)."""
  return (np.asarray(thresholds, dtype=np.float64) * float(max_uint8)).astype(np.int64)


def contour_boxes_at_level(scoremap_uint8: np.ndarray, level: int):
  """Boxes of the contours of ``scoremap_uint8 > level`` (OpenCV ``RETR_TREE`` order).

  Returns ``(boxes [n, 4] int64 protocol xyxy, index of the largest contour by cv2.contourArea)``;
  with no contour, ``([[0, 0, 0, 0]], 0)``. ``x1 = min(x + w, W - 1)``, ``y1 = min(y + h, H - 1)``.
  Hole borders are contours too (``RETR_TREE``), so they give boxes as well.
  """
  height, width = scoremap_uint8.shape
  _, binary = cv2.threshold(scoremap_uint8, level, 255, cv2.THRESH_BINARY)
  contours = cv2.findContours(binary, cv2.RETR_TREE, cv2.CHAIN_APPROX_SIMPLE)[_CONTOURS_INDEX]
  if not contours:
    return np.zeros((1, 4), np.int64), 0
  rects = np.array([cv2.boundingRect(c) for c in contours], np.int64)  # x, y, w, h
  boxes = rects.copy()
  boxes[:, 2] = np.minimum(rects[:, 0] + rects[:, 2], width - 1)
  boxes[:, 3] = np.minimum(rects[:, 1] + rects[:, 3], height - 1)
  return boxes, _largest_contour(contours, rects)


def _largest_contour(contours, rects) -> int:
  """Index of the contour of largest ``cv2.contourArea``, the first of equal areas (Python's max).

  A polygon through pixel centres has area <= (w - 1) * (h - 1) of its bounding rectangle, so
  contours are measured in decreasing order of that bound until no unmeasured one can reach the
  best area (noise contours are never measured).
  """
  if len(contours) == 1:
    return 0
  bounds = (rects[:, 2] - 1) * (rects[:, 3] - 1)
  best, best_area = -1, -1.0
  for i in np.argsort(-bounds, kind="stable").tolist():
    if bounds[i] < best_area:
      break
    area = cv2.contourArea(contours[i])
    if area > best_area or (area == best_area and i < best):
      best, best_area = i, area
  return best


def boxes_from_scoremap_reference(scoremap, thresholds, multi_contour: bool = False):
  """wsolevaluation's ``compute_bboxes_from_scoremaps`` for one [H, W] map in [0, 1].

  Returns a list, one entry per threshold, of int64 protocol boxes ``[n, 4]``: the largest contour
  only (``n = 1``, MaxBoxAcc) or every contour (MaxBoxAccV2). Thresholds that quantise to the same
  level are computed once.
  """
  q = scoremap_to_uint8(scoremap)
  levels = threshold_levels(q.max(), thresholds)
  cache = {}
  out = []
  for level in levels.tolist():
    if level not in cache:
      cache[level] = contour_boxes_at_level(q, level)
    boxes, largest = cache[level]
    out.append(boxes if multi_contour else boxes[largest:largest + 1])
  return out


def scoremap_boxes_at_threshold(cams, size_hw, thresholds) -> np.ndarray:
  """The box the evaluator scores for each raw map at a fixed threshold (GT-known, Top-1 LOC).

  cams [B, h, w] raw maps, ``size_hw`` the evaluation image size, ``thresholds`` a scalar or [B]
  -> int64 [B, 4] protocol xyxy in the ``size_hw`` frame: :func:`upsample_scoremaps_reference`
  then the largest contour of :func:`boxes_from_scoremap_reference` -- the steps, in the same
  float64 arithmetic, of the evaluator's ``cam_gt`` path with ``config.eval.backend='reference'``
  (its default). For inference on new images (:meth:`wsol_jax.training.method.Method.infer`).
  """
  maps = upsample_scoremaps_reference(cams, size_hw)
  thresholds = np.broadcast_to(np.asarray(thresholds, np.float64), maps.shape[:1])
  return np.stack([boxes_from_scoremap_reference(m, [float(t)])[0][0]
                   for m, t in zip(maps, thresholds)]).reshape(-1, 4).astype(np.int64)
