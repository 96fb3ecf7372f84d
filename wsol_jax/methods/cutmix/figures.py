"""CutMix's figure: each image with the GT box (red) and the CAM box (green), beside the CAM heat
map (evaluation images: nothing mixed)."""

from __future__ import annotations

import os

from wsol_jax.methods import common


def draw(data, out_dir: str, tag: str) -> list[str]:
  """``out_dir/cutmix_<tag>.png`` (:func:`wsol_jax.methods.common.draw_map_figure`)."""
  return [common.draw_map_figure(data, os.path.join(out_dir, f"cutmix_{tag}.png"))]
