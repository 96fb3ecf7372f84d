"""Host oracles for the score-map tests."""

from __future__ import annotations

import numpy as np

from wsol_jax.localization import scoremap_levels


def largest_component_boxes_fast(scoremaps_uint8: np.ndarray) -> np.ndarray:
  """[H, W] uint8 -> [255, 4] int64 inclusive pixel extents (x0, y0, x1, y1).

  The largest 8-connected component of ``q > level`` for every level (most pixels; ties: first in
  raster order), -1 rows where the level is empty: the host twin of
  :func:`wsol_jax.localization.scoremaps.largest_component_box_xyxy` (a test oracle).
  """
  from wsol_jax.localization import component_tree  # numba: imported only when used
  hi, lo, st = component_tree.component_nodes(np.ascontiguousarray(scoremaps_uint8), True)
  out = np.full((scoremap_levels.NUM_LEVELS, 4), -1, np.int64)
  best = np.full(scoremap_levels.NUM_LEVELS, -1, np.int64)
  first = np.zeros(scoremap_levels.NUM_LEVELS, np.int64)
  for i in range(len(hi)):
    for level in range(lo[i], hi[i]):
      if st[i, 0] > best[level] or (st[i, 0] == best[level] and st[i, 5] < first[level]):
        best[level], first[level] = st[i, 0], st[i, 5]
        out[level] = st[i, 1:5]
  return out
