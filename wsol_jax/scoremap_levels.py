"""Best box IoU of a score map at every binarisation level, for the MaxBoxAcc evaluator (host).

The protocol binarises ``q = uint8(255 * scoremap)`` as ``q > level`` with ``level = int(t * max(q))``,
so whatever the threshold grid, an image has at most 255 distinct binarisations (levels 0..254).
For each level and each image this module gives

* ``v1``: the IoU (max over the image's GT boxes) of the largest region's box -- MaxBoxAcc;
* ``v2``: the best IoU over every region's box -- MaxBoxAccV2;

with the protocol's boxes (integer, ``x1 = min(x + w, W - 1)``) and IoU
(:func:`wsol_jax.boxes.metric_iou_xyxy`); a level with no foreground scores the box ``[0, 0, 0, 0]``.

Two backends:

* ``reference``: OpenCV contours per needed level (:func:`wsol_jax.cam.contour_boxes_at_level`),
  identical to wsolevaluation; the largest region is the contour of largest ``cv2.contourArea``.
* ``fast``: one component tree per image (union-find over pixels in descending ``q``, 8-connected,
  carrying each component's pixel count and box) gives the components of all 255 levels in one
  pass; a second tree over ascending ``q`` (4-connected background) gives the holes, whose border
  contours OpenCV's ``RETR_TREE`` also returns (box = hole box grown by one pixel). Region boxes are
  therefore exactly OpenCV's; only the *largest* region differs in definition: most pixels here,
  largest polygon area there (docs/ALGORITHMS.md). Compiled with numba.
"""

from __future__ import annotations

import concurrent.futures
import os

import numba
import numpy as np

from wsol_jax import boxes as box_lib
from wsol_jax import cam as cam_lib

NUM_LEVELS = 255  # levels 0..254; ``q > 255`` is never true
BACKENDS = ("reference", "fast")


def level_ious(scoremaps_uint8: np.ndarray, gt_boxes: np.ndarray, gt_valid: np.ndarray,
               backend: str = "reference", levels_needed: np.ndarray | None = None):
  """Per-level IoUs of a batch.

  Args:
    scoremaps_uint8: [B, H, W] uint8 quantised score maps (:func:`wsol_jax.cam.scoremap_to_uint8`).
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
  batch = q_batch.shape[0]
  v1 = np.full((batch, NUM_LEVELS), np.nan)
  v2 = np.full((batch, NUM_LEVELS), np.nan)
  for b in range(batch):
    q = q_batch[b]
    gt = gt_boxes[b][gt_valid[b]]
    if levels_needed is None:
      levels = np.arange(NUM_LEVELS)
    else:
      levels = np.unique(levels_needed[b])
    all_boxes, starts, largest = [], [], []
    total = 0
    for level in levels.tolist():
      boxes, i = cam_lib.contour_boxes_at_level(q, level)
      starts.append(total)
      largest.append(total + i)
      all_boxes.append(boxes)
      total += len(boxes)
    stacked = np.concatenate(all_boxes, axis=0)
    best_per_box = _best_iou_over_gt(stacked, gt)
    v1[b, levels] = best_per_box[largest]
    v2[b, levels] = np.maximum.reduceat(best_per_box, starts)
  return v1, v2


def _best_iou_over_gt(pred_boxes, gt):
  """[N, 4] x [M, 4] protocol boxes -> [N] max IoU over GT (0 without GT)."""
  if len(gt) == 0:
    return np.zeros(len(pred_boxes))
  return box_lib.pairwise_metric_iou_xyxy(pred_boxes, gt).max(axis=1)


# ----------------------------------------------------------------------------------------------
# Fast backend (numba; compiled on first use, cached in __pycache__).


def _fast_level_ious(q_batch, gt_boxes, gt_valid):
  """Chunks of the batch in threads (the kernel releases the GIL), one per CPU."""
  workers = min(len(q_batch), os.cpu_count() or 1)
  if workers <= 1:
    return _level_ious_batch(q_batch, gt_boxes, gt_valid)
  chunks = np.array_split(np.arange(len(q_batch)), workers)
  with concurrent.futures.ThreadPoolExecutor(workers) as pool:
    parts = list(pool.map(lambda i: _level_ious_batch(q_batch[i], gt_boxes[i], gt_valid[i]),
                          chunks))
  return (np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts]))

_njit = numba.njit(cache=True, nogil=True)


@_njit
def _find(parent, p):
  root = p
  while parent[root] != root:
    root = parent[root]
  while parent[p] != root:  # path compression
    nxt = parent[p]
    parent[p] = root
    p = nxt
  return root


@_njit
def _component_nodes(values, eight):
  """Union-find over pixels in descending ``values`` (1..255; 0 is never added).

  State ``s`` = all pixels with value >= s added. A node is a component as it stands from the end
  of state ``hi`` down to (not including) state ``lo``, where it next changes (0 = never).
  Returns per node: hi, lo, pixel count, x0, y0, x1, y1 (inclusive pixel extent), first raster
  index.
  """
  height, width = values.shape
  n = height * width
  flat = values.reshape(n)
  hist = np.zeros(257, np.int64)
  for p in range(n):
    hist[flat[p]] += 1
  start = np.zeros(257, np.int64)  # pixels of value v at order[start[v]:start[v + 1]]
  for v in range(256):
    start[v + 1] = start[v] + hist[v]
  fill = start.copy()
  order = np.empty(n, np.int32)
  for p in range(n):
    order[fill[flat[p]]] = p
    fill[flat[p]] += 1

  parent = np.full(n, -1, np.int32)  # -1: not added yet
  # Component statistics, valid at roots only: a pixel that joins a neighbour's component on
  # arrival never gets its own (this and the touched-roots list keep the memory traffic low).
  count = np.empty(n, np.int32)
  bx0 = np.empty(n, np.int32)
  by0 = np.empty(n, np.int32)
  bx1 = np.empty(n, np.int32)
  by1 = np.empty(n, np.int32)
  first = np.empty(n, np.int32)
  open_node = np.full(n, -1, np.int32)
  touched_at = np.zeros(n, np.int32)  # the last state at which a root was listed as touched
  touched = np.empty(n, np.int32)
  node_hi = np.empty(n, np.int64)
  node_lo = np.zeros(n, np.int64)
  node_stats = np.empty((n, 6), np.int64)
  num_nodes = 0
  if eight:
    dys = np.array([-1, -1, -1, 0, 0, 1, 1, 1])
    dxs = np.array([-1, 0, 1, -1, 1, -1, 0, 1])
  else:
    dys = np.array([-1, 0, 0, 1])
    dxs = np.array([0, -1, 1, 0])

  for v in range(255, 0, -1):
    num_touched = 0
    for i in range(start[v], start[v + 1]):
      p = order[i]
      y = p // width
      x = p - y * width
      rp = -1  # p's root once p is in a component
      for k in range(len(dys)):
        ny = y + dys[k]
        nx = x + dxs[k]
        if ny < 0 or ny >= height or nx < 0 or nx >= width:
          continue
        q = ny * width + nx
        if parent[q] < 0:
          continue
        rq = _find(parent, q)
        if rq == rp:
          continue
        if open_node[rq] >= 0:  # this component changes at this state: close its node
          node_lo[open_node[rq]] = v
          open_node[rq] = -1
        if rp < 0:  # p joins its first neighbour's component
          parent[p] = rq
          count[rq] += 1
          bx0[rq] = min(bx0[rq], x)
          by0[rq] = min(by0[rq], y)
          bx1[rq] = max(bx1[rq], x)
          by1[rq] = max(by1[rq], y)
          first[rq] = min(first[rq], p)
          rp = rq
          continue
        big, small = (rq, rp) if count[rq] >= count[rp] else (rp, rq)
        parent[small] = big
        count[big] += count[small]
        bx0[big] = min(bx0[big], bx0[small])
        by0[big] = min(by0[big], by0[small])
        bx1[big] = max(bx1[big], bx1[small])
        by1[big] = max(by1[big], by1[small])
        first[big] = min(first[big], first[small])
        rp = big
      if rp < 0:  # no added neighbour: a new component
        parent[p] = p
        count[p] = 1
        bx0[p] = x
        bx1[p] = x
        by0[p] = y
        by1[p] = y
        first[p] = p
        rp = p
      if touched_at[rp] != v:
        touched_at[rp] = v
        touched[num_touched] = rp
        num_touched += 1
    for i in range(num_touched):
      r = _find(parent, touched[i])
      if open_node[r] < 0:
        node_hi[num_nodes] = v
        node_lo[num_nodes] = 0
        node_stats[num_nodes, 0] = count[r]
        node_stats[num_nodes, 1] = bx0[r]
        node_stats[num_nodes, 2] = by0[r]
        node_stats[num_nodes, 3] = bx1[r]
        node_stats[num_nodes, 4] = by1[r]
        node_stats[num_nodes, 5] = first[r]
        open_node[r] = num_nodes
        num_nodes += 1
  return node_hi[:num_nodes], node_lo[:num_nodes], node_stats[:num_nodes]


@_njit
def _box_best_iou(x0, y0, x1, y1, gt, valid):
  best = 0.0
  area = (x1 - x0 + 1) * (y1 - y0 + 1)
  for m in range(gt.shape[0]):
    if not valid[m]:
      continue
    iw = min(x1, gt[m, 2]) - max(x0, gt[m, 0]) + 1
    ih = min(y1, gt[m, 3]) - max(y0, gt[m, 1]) + 1
    inter = max(iw, 0) * max(ih, 0)
    union = area + (gt[m, 2] - gt[m, 0] + 1) * (gt[m, 3] - gt[m, 1] + 1) - inter
    iou = inter / union if union > 0 else 0.0
    if iou > best:
      best = iou
  return best


@_njit
def _level_ious_one(q, gt, valid, v1, v2):
  height, width = q.shape
  # Foreground at level L = {q > L} = state L + 1 of the descending tree.
  hi, lo, st = _component_nodes(q, True)
  best_count = np.full(255, -1, np.int64)
  best_first = np.zeros(255, np.int64)
  for j in range(255):
    v2[j] = -1.0
  for i in range(len(hi)):
    iou = _box_best_iou(st[i, 1], st[i, 2], min(st[i, 3] + 1, width - 1), min(st[i, 4] + 1, height - 1),
                   gt, valid)
    for level in range(lo[i], hi[i]):
      c = st[i, 0]
      if c > best_count[level] or (c == best_count[level] and st[i, 5] < best_first[level]):
        best_count[level] = c
        best_first[level] = st[i, 5]
        v1[level] = iou
      if iou > v2[level]:
        v2[level] = iou
  # Holes at level L = bounded 4-connected components of {q <= L} = {255 - q >= 255 - L}.
  hi, lo, st = _component_nodes(255 - q, False)
  for i in range(len(hi)):
    if st[i, 1] == 0 or st[i, 2] == 0 or st[i, 3] == width - 1 or st[i, 4] == height - 1:
      continue  # touches the image border: outside, not a hole
    iou = _box_best_iou(st[i, 1] - 1, st[i, 2] - 1, min(st[i, 3] + 2, width - 1),
                   min(st[i, 4] + 2, height - 1), gt, valid)
    for s in range(lo[i] + 1, hi[i] + 1):
      level = 255 - s
      if iou > v2[level]:
        v2[level] = iou
  empty = _box_best_iou(0, 0, 0, 0, gt, valid)
  for j in range(255):
    if best_count[j] < 0:
      v1[j] = empty
      v2[j] = empty


@_njit
def _level_ious_batch(q_batch, gt_boxes, gt_valid):
  batch = q_batch.shape[0]
  v1 = np.zeros((batch, 255))
  v2 = np.zeros((batch, 255))
  for b in range(batch):
    _level_ious_one(q_batch[b], gt_boxes[b], gt_valid[b], v1[b], v2[b])
  return v1, v2


def largest_component_boxes_fast(scoremaps_uint8: np.ndarray) -> np.ndarray:
  """[H, W] uint8 -> [255, 4] int64 inclusive pixel extents (x0, y0, x1, y1) of the largest
  8-connected component of ``q > level`` for every level (most pixels; ties: first in raster order),
  -1 rows where the level is empty. For tests against :func:`wsol_jax.cam.largest_component_box_xyxy`.
  """
  hi, lo, st = _component_nodes(np.ascontiguousarray(scoremaps_uint8), True)
  out = np.full((NUM_LEVELS, 4), -1, np.int64)
  best = np.full(NUM_LEVELS, -1, np.int64)
  first = np.zeros(NUM_LEVELS, np.int64)
  for i in range(len(hi)):
    for level in range(lo[i], hi[i]):
      if st[i, 0] > best[level] or (st[i, 0] == best[level] and st[i, 5] < first[level]):
        best[level], first[level] = st[i, 0], st[i, 5]
        out[level] = st[i, 1:5]
  return out
