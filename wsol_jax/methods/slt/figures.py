"""SLT-Net's figures (the paper's Fig. 5 and 6): image, localization map, GT (red), localizer
(green) and regressor (blue) boxes; and the same images after every localization epoch."""

from __future__ import annotations

import glob
import os

import numpy as np

from wsol_jax import drawing
from wsol_jax import io_utils


def figure_boxes(data, i):
  """The (boxes, colour) list drawn on image ``i`` of ``data``: GT red, localizer green, regressor
  blue."""
  gt = data["bboxes"][i][data["bboxes_valid"][i].astype(bool)]
  drawn = [(gt, drawing.RED), (data["localizer_box"][i], drawing.GREEN)]
  if "regressor_box" in data:
    drawn.append((data["regressor_box"][i], drawing.BLUE))
  return drawn


def draw(data, out_dir: str, tag: str) -> list[str]:
  """``out_dir/slt_<tag>.png`` from host arrays ``data`` (``image`` uint8 [N, H, W, 3], ``bboxes``
  [N, M, 4] with ``bboxes_valid``, ``scoremap`` [N, H, W], ``localizer_box`` and optionally
  ``regressor_box`` [N, 4] abs xyxy px): one row per image, [image + boxes | heat map + boxes];
  and, when the training hook saved per-epoch data in ``out_dir``, ``out_dir/slt_epochs.png``."""
  n = len(data["image"])
  fig = drawing.method_grid(data["image"], data["scoremap"], [figure_boxes(data, i) for i in range(n)])
  paths = [str(drawing.save_png(os.path.join(out_dir, f"slt_{tag}.png"), fig))]
  epochs = write_epochs_figure(out_dir)
  return paths + ([epochs] if epochs else [])


def save_epoch_data(data, fig_dir: str, epoch: int) -> None:
  """``fig_dir/epoch_<epoch>.npz`` (atomic), then the across-epochs figure redrawn."""
  io_utils.atomic_write(os.path.join(fig_dir, f"epoch_{epoch:03d}.npz"),
                        lambda f: np.savez_compressed(f, **data), mode="wb")
  write_epochs_figure(fig_dir)


def epochs_grid(images, score_maps_by_epoch, boxes_by_colour_by_epoch, epoch_labels,
                tile_hw=(128, 128)) -> np.ndarray:
  """The same images (rows) across epochs (columns): heat map and boxes per epoch.

  ``score_maps_by_epoch[e][n]`` and ``boxes_by_colour_by_epoch[e][n]`` belong to image ``n`` after
  epoch ``epoch_labels[e]``.
  """
  rows = []
  for n, image in enumerate(images):
    rows.append([drawing.box_tile(image, boxes_by_colour_by_epoch[e][n], score_maps_by_epoch[e][n],
                                  tile_hw) for e in range(len(epoch_labels))])
  return drawing.grid(rows, col_labels=[str(e) for e in epoch_labels])


def write_epochs_figure(fig_dir: str) -> str | None:
  """``fig_dir/slt_epochs.png`` from every ``epoch_*.npz`` there: images (rows) x epochs."""
  paths = sorted(glob.glob(os.path.join(fig_dir, "epoch_*.npz")))
  if not paths:
    return None
  epochs = [dict(np.load(p)) for p in paths]
  labels = [f"epoch {int(os.path.basename(p)[6:9])}" for p in paths]
  first = epochs[0]
  n = len(first["image"])
  fig = epochs_grid(first["image"], [e["scoremap"] for e in epochs],
                    [[figure_boxes(e, i) for i in range(n)] for e in epochs], labels)
  return str(drawing.save_png(os.path.join(fig_dir, "slt_epochs.png"), fig))
