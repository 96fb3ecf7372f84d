"""Images/s of the box evaluator's backends (and of wsolevaluation's BoxEvaluator, if given).

  python scripts/benchmark_eval.py [--num_images 100] [--intervals 0.01 0.001]
      [--wsolevaluation PATH/TO/wsolevaluation]

Writes synthetic CAM-like score maps (a few Gaussian blobs, some on the GT boxes, on noise, at 7x7,
14x14 or 28x28 and upsampled bicubically to 224 as CAMs are) with wsolevaluation-format metadata
to a temporary folder, then times ``wsol_jax.localization.evaluate_cams.evaluate`` end to end (loading
included) for each backend and interval. Both backends produce MaxBoxAcc *and* MaxBoxAccV2 in one
pass; wsolevaluation needs one BoxEvaluator pass per metric (``multi_contour_eval`` off / on),
timed separately and summed. numba's first compilation is done before timing.

``--wsolevaluation`` points at a checkout of clovaai/wsolevaluation; it needs torch. Its code
predates NumPy 1.24 (``np.float``) and imports munch and torchvision at module level: missing
aliases and modules are filled in for the run (they are not used by BoxEvaluator).
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
import types

import cv2
import numpy as np
import script_lib

from wsol_jax import io_utils
from wsol_jax.localization import evaluate_cams


def write_synthetic(root: str, num_images: int, seed: int) -> tuple[str, str]:
  """Score maps and metadata in wsolevaluation's layout -> (scoremap_root, metadata_root)."""
  rng = np.random.default_rng(seed)
  scoremap_root = os.path.join(root, "scoremaps")
  metadata_root = os.path.join(root, "metadata")
  os.makedirs(metadata_root, exist_ok=True)
  ids, sizes, locs = [], [], []
  for i in range(num_images):
    image_id = f"val/{i % 10}/{i}.jpeg"
    w, h = int(rng.integers(200, 600)), int(rng.integers(200, 600))
    ids.append(image_id)
    sizes.append(f"{image_id},{w},{h}")
    low = int(rng.choice([7, 14, 28]))
    yy, xx = np.mgrid[0:low, 0:low].astype(np.float64)
    cam = rng.normal(0, rng.uniform(0.05, 0.3), (low, low))
    for _ in range(int(rng.integers(1, 4))):
      bw, bh = rng.uniform(0.2, 0.9) * w, rng.uniform(0.2, 0.9) * h
      x0, y0 = rng.uniform(0, w - bw), rng.uniform(0, h - bh)
      locs.append(f"{image_id},{int(x0)},{int(y0)},{int(x0 + bw)},{int(y0 + bh)}")
      cx = (x0 + bw * rng.uniform(0.3, 0.7)) / w * low  # a blob on the object, or on a part of it
      cy = (y0 + bh * rng.uniform(0.3, 0.7)) / h * low
      sx, sy = rng.uniform(0.3, 1) * bw / w * low / 3, rng.uniform(0.3, 1) * bh / h * low / 3
      cam += rng.uniform(0.5, 3) * np.exp(-(xx - cx) ** 2 / (2 * sx ** 2)
                                          - (yy - cy) ** 2 / (2 * sy ** 2))
    for _ in range(int(rng.integers(0, 3))):  # distractors
      cx, cy, s = rng.uniform(0, low), rng.uniform(0, low), rng.uniform(0.5, low / 4)
      cam += rng.uniform(0.2, 1.5) * np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / (2 * s ** 2))
    cam = cv2.resize(np.maximum(cam, 0), (224, 224), interpolation=cv2.INTER_CUBIC)
    cam = (cam - cam.min()) / (cam.max() - cam.min())
    path = os.path.join(scoremap_root, image_id + ".npy")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    np.save(path, cam)
  for name, lines in (("image_ids", ids), ("image_sizes", sizes), ("localization", locs),
                      ("class_labels", [f"{i},0" for i in ids])):
    with open(os.path.join(metadata_root, f"{name}.txt"), "w") as f:
      f.write("\n".join(lines) + "\n")
  return scoremap_root, metadata_root


def import_wsolevaluation(path: str):
  """wsolevaluation's ``evaluation`` module from a checkout, with its stale imports satisfied."""
  for alias, value in (("float", float), ("int", int)):
    if not hasattr(np, alias):
      setattr(np, alias, value)
  if "munch" not in sys.modules:
    try:
      import munch  # noqa: F401
    except ImportError:
      stub = types.ModuleType("munch")
      stub.Munch = type("Munch", (dict,), {"__getattr__": dict.__getitem__,
                                           "__setattr__": dict.__setitem__})
      sys.modules["munch"] = stub
  try:
    import torchvision  # noqa: F401
  except ImportError:
    stub = types.ModuleType("torchvision")
    stub.transforms = types.ModuleType("torchvision.transforms")
    sys.modules["torchvision"] = stub
    sys.modules["torchvision.transforms"] = stub.transforms
  sys.path.insert(0, os.path.abspath(path))
  import evaluation  # noqa: E402  (wsolevaluation's)
  return evaluation


def time_wsolevaluation(evaluation, scoremap_root, metadata_root, interval):
  """One BoxEvaluator pass per metric over np.load'ed maps.

  -> {"MaxBoxAcc": (seconds, value), "MaxBoxAccV2": (seconds, value)}.
  """
  metadata = evaluation.configure_metadata(metadata_root)
  image_ids = evaluation.get_image_ids(metadata)
  out = {}
  for name, multi in (("MaxBoxAcc", False), ("MaxBoxAccV2", True)):
    start = time.perf_counter()
    evaluator = evaluation.BoxEvaluator(
        metadata=metadata, dataset_name="CUB", split="test",
        cam_threshold_list=list(np.arange(0, 1, interval)), iou_threshold_list=[30, 50, 70],
        mask_root=None, multi_contour_eval=multi)
    for image_id in image_ids:
      scoremap = np.load(os.path.join(scoremap_root, image_id + ".npy")).astype(np.float64)
      evaluator.accumulate(scoremap, image_id)
    per_iou = evaluator.compute()
    out[name] = (time.perf_counter() - start, float(np.average(per_iou)) if multi else per_iou[1])
  return out


def main(argv=None) -> None:
  parser = script_lib.parser(__doc__)
  parser.add_argument("--num_images", type=int, default=100)
  parser.add_argument("--intervals", type=float, nargs="+", default=[0.01, 0.001])
  parser.add_argument("--backends", nargs="+", default=["reference", "fast"])
  parser.add_argument("--wsolevaluation", help="path to a clovaai/wsolevaluation checkout")
  parser.add_argument("--seed", type=int, default=0)
  args = parser.parse_args(argv)

  evaluation = import_wsolevaluation(args.wsolevaluation) if args.wsolevaluation else None
  rows = []  # (evaluator, interval, seconds, MaxBoxAcc, MaxBoxAccV2, speed-up or None)
  with tempfile.TemporaryDirectory() as tmp:
    scoremap_root, metadata_root = write_synthetic(tmp, args.num_images, args.seed)
    evaluate_cams.evaluate(scoremap_root, metadata_root, 0.5, backend="fast", batch_size=2,
                           progress=False)  # numba compilation / cache load, not timed
    for interval in args.intervals:
      base = None
      if evaluation is not None:
        passes = time_wsolevaluation(evaluation, scoremap_root, metadata_root, interval)
        (s1, v1), (s2, v2) = passes["MaxBoxAcc"], passes["MaxBoxAccV2"]
        base = s1 + s2
        rows += [("wsolevaluation, MaxBoxAcc pass", interval, s1, v1, None, None),
                 ("wsolevaluation, MaxBoxAccV2 pass", interval, s2, None, v2, None),
                 ("wsolevaluation, both passes", interval, base, v1, v2, 1.0)]
      for backend in args.backends:
        start = time.perf_counter()
        result = evaluate_cams.evaluate(scoremap_root, metadata_root, interval, backend=backend,
                                        progress=False)
        seconds = time.perf_counter() - start
        rows.append((f"wsol_jax {backend} (both)", interval, seconds, result["MaxBoxAcc"],
                     result["MaxBoxAccV2"], None if base is None else base / seconds))

  print(f"{args.num_images} synthetic 224x224 score maps, {os.cpu_count()} CPUs; speed-up: "
        "wsolevaluation's two passes / this row")
  score = lambda x: "-" if x is None else f"{x:.2f}"
  print(io_utils.format_table(
      ("evaluator", "interval", "seconds", "images/s", "speed-up", "MaxBoxAcc", "MaxBoxAccV2"),
      [(name, interval, f"{seconds:.2f}", f"{args.num_images / seconds:.1f}",
        "-" if speedup is None else f"{speedup:.1f}x", score(v1), score(v2))
       for name, interval, seconds, v1, v2, speedup in rows]))


if __name__ == "__main__":
  main()
