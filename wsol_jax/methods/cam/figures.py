"""CAM's figure: each image with the GT box (red) and the CAM box (green), beside the CAM heat map."""

from __future__ import annotations

import os

from wsol_jax import drawing


def draw(data, out_dir: str, tag: str) -> list[str]:
  """``out_dir/cam_<tag>.png`` from host arrays ``data``: ``image`` uint8 [N, H, W, 3], ``bboxes``
  [N, M, 4] with ``bboxes_valid`` [N, M], ``scoremap`` [N, H, W] and ``cam_box`` [N, 4] (abs xyxy
  px); one row per image, [image + boxes | heat map + boxes]."""
  drawn = [[(data["bboxes"][i][data["bboxes_valid"][i].astype(bool)], drawing.RED),
            (data["cam_box"][i], drawing.GREEN)] for i in range(len(data["image"]))]
  figure = drawing.method_grid(data["image"], data["scoremap"], drawn)
  return [str(drawing.save_png(os.path.join(out_dir, f"cam_{tag}.png"), figure))]
