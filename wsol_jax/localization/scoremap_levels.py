"""Best box IoU of a score map at every binarisation level, for the MaxBoxAcc evaluator (host).

The protocol binarises ``q = uint8(255 * scoremap)`` as ``q > level`` with
``level = int(t * max(q))``, so whatever the threshold grid, an image has at most 255 distinct
binarisations (levels 0..254).
For each level and each image this module gives

* ``v1``: the IoU (max over the image's GT boxes) of the largest region's box -- MaxBoxAcc;
* ``v2``: the best IoU over every region's box -- MaxBoxAccV2;

with the protocol's boxes (integer, ``x1 = min(x + w, W - 1)``) and IoU
(:func:`wsol_jax.localization.boxes.metric_iou_xyxy`); a level with no foreground scores the box
``[0, 0, 0, 0]``.

Two backends:

* ``reference``: OpenCV contours per needed level
  (:func:`wsol_jax.localization.scoremap_reference.contour_boxes_at_level`),
  identical to wsolevaluation; the largest region is the contour of largest ``cv2.contourArea``.
* ``fast``: one component tree per image (union-find over pixels in descending ``q``, 8-connected,
  carrying each component's pixel count and box) gives the components of all 255 levels in one
  pass; a second tree over ascending ``q`` (4-connected background) gives the holes, whose border
  contours OpenCV's ``RETR_TREE`` also returns (box = hole box grown by one pixel). Region boxes are
  therefore exactly OpenCV's; only the *largest* region differs in definition: most pixels here,
  largest polygon area there (docs/ALGORITHMS.md). Kernels: :mod:`wsol_jax.localization.component_tree`.
"""

from __future__ import annotations

import concurrent.futures
import os

import numpy as np

from wsol_jax.localization import boxes as box_lib
from wsol_jax.localization import scoremap_reference

NUM_LEVELS = 255  # levels 0..254; ``q > 255`` is never true
BACKENDS = ("reference", "fast")


def level_ious(scoremaps_uint8: np.ndarray, gt_boxes: np.ndarray, gt_valid: np.ndarray,
               backend: str = "reference", levels_needed: np.ndarray | None = None):
  """Per-level IoUs of a batch.

  Args:
    scoremaps_uint8: [B, H, W] uint8 quantised score maps
      (:func:`wsol_jax.localization.scoremap_reference.scoremap_to_uint8`).
    gt_boxes: [B, M, 4] integer protocol xyxy GT boxes at the same size.
    gt_valid: [B, M] bool; rows that are False are ignored.
    backend: 'reference' or 'fast'.
    levels_needed: optional [B, T] int levels; the reference backend computes only these (the fast
      one computes all levels at the same cost).

  Returns:
    ``(v1, v2)``, each [B, 255] float64; for 'reference' only the needed levels are filled
    (others NaN).
  """
  if backend not in BACKENDS:
    raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")
  scoremaps_uint8 = np.ascontiguousarray(scoremaps_uint8, dtype=np.uint8)
  gt_boxes = np.ascontiguousarray(gt_boxes, dtype=np.int64)
  gt_valid = np.ascontiguousarray(gt_valid, dtype=bool)
  if backend == "fast":
    return _fast_level_ious(scoremaps_uint8, gt_boxes, gt_valid)
  return _reference_level_ious(scoremaps_uint8, gt_boxes, gt_valid, levels_needed)


# ----------------------------------------------------------------------------------------------
# Reference backend.


def _reference_level_ious(q_batch, gt_boxes, gt_valid, levels_needed):
  v1 = np.full((len(q_batch), NUM_LEVELS), np.nan)
  v2 = np.full((len(q_batch), NUM_LEVELS), np.nan)

  def one_image(b):
    gt = gt_boxes[b][gt_valid[b]]
    levels = np.arange(NUM_LEVELS) if levels_needed is None else np.unique(levels_needed[b])
    all_boxes, starts, largest = [], [], []
    total = 0
    for level in levels.tolist():
      boxes, i = scoremap_reference.contour_boxes_at_level(q_batch[b], level)
      starts.append(total)
      largest.append(total + i)
      all_boxes.append(boxes)
      total += len(boxes)
    best_per_box = _best_iou_over_gt(np.concatenate(all_boxes, axis=0), gt)
    v1[b, levels] = best_per_box[largest]
    v2[b, levels] = np.maximum.reduceat(best_per_box, starts)

  _in_threads(lambda images: [one_image(b) for b in images], len(q_batch))  # OpenCV frees the GIL
  return v1, v2


def _best_iou_over_gt(pred_boxes, gt):
  """[N, 4] x [M, 4] protocol boxes -> [N] max IoU over GT (0 without GT)."""
  if len(gt) == 0:
    return np.zeros(len(pred_boxes))
  return box_lib.pairwise_metric_iou_xyxy(pred_boxes, gt).max(axis=1)


# ----------------------------------------------------------------------------------------------
# Fast backend (wsol_jax.localization.component_tree, numba).


def _fast_level_ious(q_batch, gt_boxes, gt_valid):
  from wsol_jax.localization import component_tree  # numba: imported (and compiled) only when used
  v1 = np.empty((len(q_batch), NUM_LEVELS))
  v2 = np.empty((len(q_batch), NUM_LEVELS))

  def chunk(images):  # the kernel releases the GIL
    v1[images], v2[images] = component_tree.level_ious_batch(q_batch[images], gt_boxes[images],
                                                             gt_valid[images])

  _in_threads(chunk, len(q_batch))
  return v1, v2


def _in_threads(fn, num_items: int) -> None:
  """fn(index array) over contiguous chunks of range(num_items), one thread per CPU."""
  workers = max(1, min(num_items, os.cpu_count() or 1))
  chunks = np.array_split(np.arange(num_items), workers)
  if workers == 1:
    fn(chunks[0])
    return
  with concurrent.futures.ThreadPoolExecutor(workers) as pool:
    list(pool.map(fn, chunks))  # list(): re-raises a worker's exception here
