"""MaxBoxAcc / MaxBoxAccV2 of saved score maps: a faster drop-in for wsolevaluation's BoxEvaluator.

  python -m wsol_jax.localization.evaluate_cams --scoremap_root DIR --metadata_root DIR \
      [--cam_curve_interval 0.01] [--iou_threshold_list 30 50 70] [--backend reference|fast] \
      [--output results.json]

Inputs are in wsolevaluation's formats:

* ``<scoremap_root>/<image_id>.npy``: a 224 x 224 float array in [0, 1] per image; the image id
  keeps its slashes and extension (``val/a.jpg`` -> ``val/a.jpg.npy``, what wsolevaluation writes
  and reads); ``val/a.npy`` (extension dropped, as its README puts it) is accepted too.
* ``<metadata_root>/image_ids.txt`` (``path``), ``image_sizes.txt`` (``path,w,h``) and
  ``localization.txt`` (``path,x0,y0,x1,y1``, one line per box, several per image allowed).
  ``class_labels.txt`` is not needed for box scores.

GT boxes are rescaled to 224 x 224 as ``int(x * 224 / w)``; both MaxBoxAcc (largest region,
IoU 50) and MaxBoxAccV2 (all regions, mean over the IoU list) come out of one pass.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np
from tqdm import tqdm

from wsol_jax import io_utils
from wsol_jax.localization import boxes as box_lib
from wsol_jax.localization import metrics as metrics_lib
from wsol_jax.localization import scoremap_levels

EVAL_SIZE = 224  # wsolevaluation's _RESIZE_LENGTH


# ----------------------------------------------------------------------------------------------
# Metadata.


def _read_lines(path: str):
  """(line number, text) of the non-blank lines of a metadata file."""
  if not os.path.isfile(path):
    raise FileNotFoundError(f"metadata file not found: {path}")
  with open(path, encoding="utf-8") as f:
    return [(i, line.rstrip("\r\n")) for i, line in enumerate(f, 1) if line.strip()]


def _fields(path: str, lineno: int, line: str, expected: str, count: int):
  parts = line.split(",")
  if len(parts) != count:
    raise ValueError(f"{path}:{lineno}: expected '{expected}', got {line!r}")
  return parts


def read_metadata(metadata_root: str):
  """-> (image_ids, {id: (w, h)}, {id: [[x0, y0, x1, y1], ...]}) from wsolevaluation metadata."""
  ids_path = os.path.join(metadata_root, "image_ids.txt")
  sizes_path = os.path.join(metadata_root, "image_sizes.txt")
  loc_path = os.path.join(metadata_root, "localization.txt")
  image_ids = [line for _, line in _read_lines(ids_path)]
  if not image_ids:
    raise ValueError(f"{ids_path} lists no image")

  sizes = {}
  for lineno, line in _read_lines(sizes_path):
    image_id, w, h = _fields(sizes_path, lineno, line, "<image_id>,<width>,<height>", 3)
    try:
      w, h = int(w), int(h)
    except ValueError:
      raise ValueError(f"{sizes_path}:{lineno}: width and height must be integers, got {line!r}")
    if w <= 0 or h <= 0:
      raise ValueError(f"{sizes_path}:{lineno}: width and height must be positive, got {line!r}")
    sizes[image_id] = (w, h)

  boxes = {}
  for lineno, line in _read_lines(loc_path):
    image_id, *coords = _fields(loc_path, lineno, line, "<image_id>,<x0>,<y0>,<x1>,<y1>", 5)
    try:
      x0, y0, x1, y1 = (float(c) for c in coords)
    except ValueError:
      raise ValueError(f"{loc_path}:{lineno}: box coordinates must be numbers, got {line!r}")
    if min(x0, y0, x1, y1) < 0 or x1 < x0 or y1 < y0:
      raise ValueError(f"{loc_path}:{lineno}: not an x0,y0,x1,y1 box with x0 <= x1, y0 <= y1, "
                       f"all >= 0: {line!r}")
    boxes.setdefault(image_id, []).append([x0, y0, x1, y1])

  for image_id in image_ids:
    if image_id not in sizes:
      raise ValueError(f"image id {image_id!r} has no line in {sizes_path}")
    if image_id not in boxes:
      raise ValueError(f"image id {image_id!r} has no box in {loc_path}")
  return image_ids, sizes, boxes


def gt_boxes_at_eval_size(boxes_xyxy, size_wh) -> np.ndarray:
  """Original-image boxes [N, 4] -> int64 boxes at 224 x 224 (``int(x * 224 / w)``)."""
  w, h = size_wh
  return box_lib.resize_xyxy_for_metric(np.asarray(boxes_xyxy, np.float64), w, h, EVAL_SIZE,
                                        EVAL_SIZE).astype(np.int64)


# ----------------------------------------------------------------------------------------------
# Score maps.


def scoremap_path(scoremap_root: str, image_id: str) -> str:
  """``<root>/<image_id>.npy`` if present, else ``<root>/<image_id minus extension>.npy``."""
  path = os.path.join(scoremap_root, image_id + ".npy")
  if os.path.isfile(path):
    return path
  alt = os.path.join(scoremap_root, os.path.splitext(image_id)[0] + ".npy")
  if os.path.isfile(alt):
    return alt
  raise FileNotFoundError(f"score map for {image_id!r} not found: {path}")


def load_scoremap(path: str) -> np.ndarray:
  """A checked [224, 224] float64 score map in [0, 1]."""
  try:
    scoremap = np.load(path, allow_pickle=False)
  except (OSError, ValueError) as e:
    raise ValueError(f"cannot read score map {path}: {e}") from None
  if scoremap.shape != (EVAL_SIZE, EVAL_SIZE):
    raise ValueError(f"score map {path} has shape {scoremap.shape}, expected "
                     f"({EVAL_SIZE}, {EVAL_SIZE})")
  if not (np.issubdtype(scoremap.dtype, np.floating) or np.issubdtype(scoremap.dtype, np.integer)
          or scoremap.dtype == bool):
    raise ValueError(f"score map {path} has dtype {scoremap.dtype}, expected floats")
  scoremap = scoremap.astype(np.float64)
  if np.isnan(scoremap).any():
    raise ValueError(f"score map {path} holds NaN")
  if scoremap.min() < 0 or scoremap.max() > 1:
    raise ValueError(f"score map {path} is outside [0, 1]: min {scoremap.min()}, "
                     f"max {scoremap.max()}")
  return scoremap


# ----------------------------------------------------------------------------------------------
# Evaluation.


def evaluate(scoremap_root: str, metadata_root: str, cam_curve_interval: float = 0.01,
             iou_threshold_list=(30, 50, 70), backend: str = "reference", batch_size: int = 64,
             progress: bool = True) -> dict:
  """Score every image of ``metadata_root`` -> the result dict (also what ``--output`` holds)."""
  start = time.perf_counter()
  image_ids, sizes, boxes = read_metadata(metadata_root)
  metrics = metrics_lib.ScoremapMetrics(cam_curve_interval=cam_curve_interval,
                                        iou_thresholds=iou_threshold_list, backend=backend)
  max_boxes = max(len(boxes[i]) for i in image_ids)
  bar = tqdm(total=len(image_ids), desc=f"evaluate_cams ({backend})", unit="img",
             disable=not progress)
  for first in range(0, len(image_ids), batch_size):
    ids = image_ids[first:first + batch_size]
    maps = np.stack([load_scoremap(scoremap_path(scoremap_root, i)) for i in ids])
    gt = np.zeros((len(ids), max_boxes, 4), np.int64)
    gt_valid = np.zeros((len(ids), max_boxes), bool)
    for b, image_id in enumerate(ids):
      resized = gt_boxes_at_eval_size(boxes[image_id], sizes[image_id])
      gt[b, :len(resized)] = resized
      gt_valid[b, :len(resized)] = True
    metrics.update(maps, gt, gt_valid)
    bar.update(len(ids))
  bar.close()
  flat = metrics.compute()
  ious = [str(t) for t in metrics.iou_thresholds]
  return {
      "MaxBoxAcc": flat["MaxBoxAcc"],
      "MaxBoxAccV2": flat["MaxBoxAccV2"],
      "MaxBoxAcc_per_iou": {t: flat[f"MaxBoxAcc@{t}"] for t in ious},
      "MaxBoxAccV2_per_iou": {t: flat[f"MaxBoxAccV2@{t}"] for t in ious},
      "best_thresholds": {
          "MaxBoxAcc": flat["MaxBoxAcc_threshold"],
          "MaxBoxAcc_per_iou": {t: flat[f"MaxBoxAcc@{t}_threshold"] for t in ious},
          "MaxBoxAccV2_per_iou": {t: flat[f"MaxBoxAccV2@{t}_threshold"] for t in ious},
      },
      "num_images": flat["num_images"],
      "backend": backend,
      "cam_curve_interval": cam_curve_interval,
      "iou_threshold_list": list(metrics.iou_thresholds),
      "seconds": time.perf_counter() - start,
  }


def format_table(result: dict) -> str:
  best = result["best_thresholds"]
  rows = [("MaxBoxAcc (IoU 50)", result["MaxBoxAcc"], best["MaxBoxAcc"])]
  rows += [(f"  MaxBoxAcc @ IoU {t}", v, best["MaxBoxAcc_per_iou"][t])
           for t, v in result["MaxBoxAcc_per_iou"].items()]
  rows.append(("MaxBoxAccV2 (mean)", result["MaxBoxAccV2"], None))
  rows += [(f"  MaxBoxAccV2 @ IoU {t}", v, best["MaxBoxAccV2_per_iou"][t])
           for t, v in result["MaxBoxAccV2_per_iou"].items()]
  lines = [f"{'metric':<24} {'percent':>8}  best threshold", "-" * 48]
  lines += [f"{name:<24} {value:>8.2f}  {'' if thr is None else f'{thr:.3f}'}"
            for name, value, thr in rows]
  lines.append(f"{result['num_images']} images, backend {result['backend']}, interval "
               f"{result['cam_curve_interval']}, {result['seconds']:.1f} s")
  return "\n".join(lines)


def main(argv=None) -> int:
  parser = argparse.ArgumentParser(
      prog="python -m wsol_jax.localization.evaluate_cams",
      description="MaxBoxAcc and MaxBoxAccV2 of saved score maps (wsolevaluation formats).")
  parser.add_argument("--scoremap_root", required=True,
                      help="folder of <image_id>.npy score maps (224x224 floats in [0, 1])")
  parser.add_argument("--metadata_root", required=True,
                      help="folder with image_ids.txt, image_sizes.txt, localization.txt")
  parser.add_argument("--cam_curve_interval", type=float, default=0.01,
                      help="threshold grid step: np.arange(0, 1, interval) (default 0.01)")
  parser.add_argument("--iou_threshold_list", type=int, nargs="+", default=[30, 50, 70],
                      help="IoU thresholds in percent for MaxBoxAccV2 (default 30 50 70)")
  parser.add_argument("--backend", choices=scoremap_levels.BACKENDS, default="reference",
                      help="reference: OpenCV contours, equal to wsolevaluation; fast: component "
                           "tree (largest region by pixel count)")
  parser.add_argument("--batch_size", type=int, default=64, help="score maps per batch")
  parser.add_argument("--output", help="write the results as JSON to this file")
  parser.add_argument("--no_progress", action="store_true", help="no progress bar")
  args = parser.parse_args(argv)
  try:
    result = evaluate(args.scoremap_root, args.metadata_root, args.cam_curve_interval,
                      args.iou_threshold_list, args.backend, args.batch_size,
                      progress=not args.no_progress)
    if args.output:
      io_utils.atomic_write_json(args.output, result)
  except (ValueError, FileNotFoundError) as e:
    print(f"evaluate_cams: error: {e}", file=sys.stderr)
    return 2
  print(format_table(result))
  if args.output:
    print(f"wrote {args.output}")
  return 0


if __name__ == "__main__":
  sys.exit(main())
