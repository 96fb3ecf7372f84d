"""SPG's figure: each image with the GT box (red) and the box of SPG-A's class map (green), beside
that map (the GT class's, upsampled and min-max normalised)."""

from __future__ import annotations

import os

from wsol_jax.methods import common


def draw(data, out_dir: str, tag: str) -> list[str]:
  """``out_dir/spg_<tag>.png`` (:func:`wsol_jax.methods.common.draw_map_figure`)."""
  return [common.draw_map_figure(data, os.path.join(out_dir, f"spg_{tag}.png"))]
