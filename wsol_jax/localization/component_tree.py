"""Component trees of uint8 maps, compiled with numba: the fast backend of the box evaluator.

One union-find pass over the pixels in descending value gives the components of every
binarisation ``q > level`` (levels 0..254) with their pixel counts and boxes;
:func:`level_ious_batch` turns them into the per-level IoUs of :mod:`wsol_jax.localization.scoremap_levels`.
Kernels compile on first use and are cached in ``__pycache__``.
"""

from __future__ import annotations

import numba
import numpy as np

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
def component_nodes(values, eight):
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
  """Protocol IoU (+1 pixel) of one box with its best valid GT box; 0 without any."""
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
  """Fills v1 / v2 [255] for one uint8 map q [H, W] (see wsol_jax.localization.scoremap_levels.level_ious)."""
  height, width = q.shape
  # Foreground at level L = {q > L} = state L + 1 of the descending tree.
  hi, lo, st = component_nodes(q, True)
  best_count = np.full(255, -1, np.int64)
  best_first = np.zeros(255, np.int64)
  for j in range(255):
    v2[j] = -1.0
  for i in range(len(hi)):
    # A region's protocol box: x1 = min(x + w, W - 1) with x + w = last column + 1.
    iou = _box_best_iou(st[i, 1], st[i, 2], min(st[i, 3] + 1, width - 1),
                        min(st[i, 4] + 1, height - 1), gt, valid)
    for level in range(lo[i], hi[i]):
      c = st[i, 0]
      if c > best_count[level] or (c == best_count[level] and st[i, 5] < best_first[level]):
        best_count[level] = c
        best_first[level] = st[i, 5]
        v1[level] = iou
      if iou > v2[level]:
        v2[level] = iou
  # Holes at level L = bounded 4-connected components of {q <= L} = {255 - q >= 255 - L}.
  hi, lo, st = component_nodes(255 - q, False)
  for i in range(len(hi)):
    if st[i, 1] == 0 or st[i, 2] == 0 or st[i, 3] == width - 1 or st[i, 4] == height - 1:
      continue  # touches the image border: outside, not a hole
    # The hole's border contour runs through the pixels around it: its box grown by one pixel.
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
def level_ious_batch(q_batch, gt_boxes, gt_valid):
  """[B, H, W] uint8, [B, M, 4] int64, [B, M] bool -> (v1, v2), each [B, 255] float64."""
  batch = q_batch.shape[0]
  v1 = np.zeros((batch, 255))
  v2 = np.zeros((batch, 255))
  for b in range(batch):
    _level_ious_one(q_batch[b], gt_boxes[b], gt_valid[b], v1[b], v2[b])
  return v1, v2
