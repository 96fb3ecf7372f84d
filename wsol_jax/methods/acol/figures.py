"""ACoL's figure: each image with the GT box (red) and the fused map's box (green), beside the
fused map (the max of both branches' normalised maps of the GT class)."""

from __future__ import annotations

import os

from wsol_jax.methods import common


def draw(data, out_dir: str, tag: str) -> list[str]:
  """``out_dir/acol_<tag>.png`` (:func:`wsol_jax.methods.common.draw_map_figure`)."""
  return [common.draw_map_figure(data, os.path.join(out_dir, f"acol_{tag}.png"))]
