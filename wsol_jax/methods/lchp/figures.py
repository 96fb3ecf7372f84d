"""LCHP figures in the style of the paper's Fig. 2: each image with the pseudo-label baseline's box
(yellow), LCHP-I's (green), LCHP-R's (blue) and the ground truth (red)."""

from __future__ import annotations

import os
from typing import Mapping

import numpy as np

from wsol_jax import drawing as visualize

# (group, caption, colour, colour name) in drawing order; the ground truth is drawn last, on top.
FIG2_GROUPS = (("pseudo_label", "pseudo label", visualize.YELLOW, "yellow"),
               ("lchp_i", "LCHP-I", visualize.GREEN, "green"),
               ("lchp_r", "LCHP-R", visualize.BLUE, "blue"))


def fig2_grid(images, gt_boxes_xyxy, gt_valid, boxes_by_group: Mapping[str, np.ndarray],
              columns: int = 4, tile_hw: tuple[int, int] = (160, 160)) -> np.ndarray:
  """A grid of Fig. 2 tiles -> uint8 [H, W, 3].

  images: uint8 [N, H, W, 3]; gt_boxes_xyxy [N, M, 4] absolute with gt_valid [N, M];
  boxes_by_group: ``pseudo_label`` / ``lchp_i`` / ``lchp_r`` -> [N, 4] absolute xyxy (any subset).
  """
  images = np.asarray(images)
  tiles = []
  for n, image in enumerate(images):
    drawn = [(np.asarray(boxes_by_group[g])[n], colour) for g, _, colour, _ in FIG2_GROUPS
             if g in boxes_by_group]
    gt = np.asarray(gt_boxes_xyxy)[n][np.asarray(gt_valid)[n].astype(bool)]
    drawn.append((gt, visualize.RED))
    tiles.append(visualize.box_tile(image, drawn, size_hw=tile_hw))
  rows = [tiles[i:i + columns] for i in range(0, len(tiles), columns)]
  blank = np.full_like(tiles[0], 255)
  rows[-1] = rows[-1] + [blank] * (columns - len(rows[-1]))
  legend = ", ".join(f"{caption} {name}" for g, caption, _, name in FIG2_GROUPS
                     if g in boxes_by_group) + ", GT red"
  return visualize.grid(rows, col_labels=[legend] + [""] * (columns - 1))


def draw(data, out_dir: str, tag: str) -> list[str]:
  """``out_dir/lchp_<tag>.png``: the Fig. 2 grid (:func:`fig2_grid`) of host arrays ``data``
  (``image``, ``bboxes``, ``bboxes_valid`` and the boxes of :data:`FIG2_GROUPS` it holds)."""
  boxes = {g: data[g] for g, *_ in FIG2_GROUPS if g in data}
  figure = fig2_grid(data["image"], data["bboxes"], data["bboxes_valid"], boxes)
  return [str(visualize.save_png(os.path.join(out_dir, f"lchp_{tag}.png"), figure))]
