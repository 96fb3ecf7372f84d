"""LCHP figures in the style of the paper's Fig. 2: each image with the pseudo-label baseline's box
(yellow), LCHP-I's (green), LCHP-R's (blue) and the ground truth (red)."""

from __future__ import annotations

from typing import Mapping, Sequence

import jax
import numpy as np

from wsol_jax.localization import boxes as box_lib
from wsol_jax.training import parallel
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


def predicted_boxes_xyxy(method, state, batch) -> dict[str, np.ndarray]:
  """The method's eval groups on one host batch as Fig. 2 groups -> {group: [B, 4] absolute}.

  ``lchp`` is LCHP-R when the state also holds the init-stage regressor (``lchp_i``), else LCHP-I.
  """
  preds = jax.jit(method.predict)(state, parallel.numeric_batch(batch))
  height, width = np.asarray(batch["image"]).shape[1:3]
  to_abs = lambda b: np.asarray(box_lib.denormalize_xyxy(np.asarray(b, np.float32), width, height))
  out = {"pseudo_label": to_abs(preds["pseudo_label"]["boxes"])}
  if "lchp_i" in preds:
    out["lchp_i"] = to_abs(preds["lchp_i"]["boxes"])
    out["lchp_r"] = to_abs(preds["lchp"]["boxes"])
  else:
    out["lchp_i"] = to_abs(preds["lchp"]["boxes"])
  return out


def save_fig2(method, state, batch, path, num_images: int = 8,
              groups: Sequence[str] | None = None):
  """Predict on the first ``num_images`` of ``batch`` and write the Fig. 2 grid as PNG at ``path``."""
  batch = {k: np.asarray(v)[:num_images] for k, v in batch.items()}
  boxes = predicted_boxes_xyxy(method, state, batch)
  if groups is not None:
    boxes = {g: b for g, b in boxes.items() if g in groups}
  figure = fig2_grid(batch["image"], batch["bboxes"], batch["bboxes_valid"], boxes)
  return visualize.save_png(path, figure)
