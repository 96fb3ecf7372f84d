"""Photos in, predictions out: a folder or glob of images -> ``predictions.jsonl`` and overlays
(``--mode=predict``)."""

from __future__ import annotations

import glob
import json
import os
import time
from typing import Any, Sequence

import numpy as np

from wsol_jax import drawing
from wsol_jax import io_utils
from wsol_jax.inference import model as model_lib

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm",
                  ".pgm")


def find_images(pattern: str) -> list[str]:
  """A directory (its image files, recursively, sorted) or a glob (every match, sorted; files of
  any suffix, so a broken file named .jpg is reported rather than missed)."""
  if os.path.isdir(pattern):
    found = []
    for root, _, files in os.walk(pattern):
      found += [os.path.join(root, f) for f in files if f.lower().endswith(IMAGE_SUFFIXES)]
    return sorted(found)
  if os.path.isfile(pattern):
    return [pattern]
  return sorted(p for p in glob.glob(pattern, recursive=True) if os.path.isfile(p))


def overlay(rec: dict[str, Any], max_side: int = 384) -> np.ndarray:
  """The photo with the method's box (blue), the map's box (green, when it differs) and the label,
  and beside it (when the method has a map) the same over the heat map: uint8 [H', W', 3], each
  panel's longest side <= ``max_side``."""
  image = rec["image"]
  height, width = image.shape[:2]
  scale = min(1.0, max_side / max(height, width))
  size = (max(1, round(height * scale)), max(1, round(width * scale)))
  boxes = []
  if "map_box_xyxy" in rec and rec["map_box_xyxy"] != rec["box_xyxy"]:
    boxes.append((np.asarray(rec["map_box_xyxy"], np.float32), drawing.GREEN))
  boxes.append((np.asarray(rec["box_xyxy"], np.float32), drawing.BLUE))
  panels = [drawing.caption(drawing.box_tile(image, boxes, None, size_hw=size, width=3),
                            f"{rec['class_name']} {rec['probability']:.2f}")]
  if rec.get("scoremap") is not None:
    panels.append(drawing.box_tile(image, boxes, rec["scoremap"], size_hw=size, width=3))
  return drawing.grid([panels], pad=2)


def predict_files(model: model_lib.Model, paths: Sequence[str], out_dir: str, *, show_progress=True,
                  write_overlays: bool = True) -> dict[str, Any]:
  """Predicts every path into ``out_dir/predictions.jsonl`` (one line per path, in order; errors
  as ``{"path", "error"}``) and ``out_dir/overlays/<name>.png``; returns a summary dict
  (``num_images``, ``num_failed``, ``failed`` [(path, error)], ``seconds``, ``images_per_s``)."""
  import tqdm  # pylint: disable=import-outside-toplevel
  os.makedirs(out_dir, exist_ok=True)
  jsonl = os.path.join(out_dir, "predictions.jsonl")
  overlay_dir = os.path.join(out_dir, "overlays")
  names = _overlay_names(paths)
  failed = []
  bar = tqdm.tqdm(total=len(paths), desc="predict", unit="img", dynamic_ncols=True,
                  disable=not show_progress)
  start = time.perf_counter()

  def write_lines(f):
    for lo in range(0, len(paths), model.batch_size):
      chunk = list(paths[lo:lo + model.batch_size])
      for i, rec in enumerate(model.predict(chunk, return_maps=write_overlays)):
        if "error" in rec:
          failed.append((rec["path"], rec["error"]))
          bar.write(f"skipped {rec['path']}: {rec['error']}")
        elif write_overlays:
          drawing.save_png(os.path.join(overlay_dir, names[lo + i] + ".png"), overlay(rec),
                           compress_level=1)  # encoding at the default level took 4/5 of the time
        f.write(json.dumps({k: v for k, v in rec.items() if k not in ("image", "scoremap")})
                + "\n")
      bar.update(len(chunk))

  io_utils.atomic_write(jsonl, write_lines)
  bar.close()
  seconds = time.perf_counter() - start
  return {"num_images": len(paths), "num_failed": len(failed), "failed": failed,
          "predictions": jsonl, "seconds": seconds,
          "images_per_s": (len(paths) - len(failed)) / seconds if seconds > 0 else 0.0}


def _overlay_names(paths: Sequence[str]) -> list[str]:
  """``<stem>`` of each path, made unique (``<stem>_2``, ...) when stems repeat."""
  seen: dict[str, int] = {}
  out = []
  for p in paths:
    stem = os.path.splitext(os.path.basename(p))[0] or "image"
    seen[stem] = seen.get(stem, 0) + 1
    out.append(stem if seen[stem] == 1 else f"{stem}_{seen[stem]}")
  return out
