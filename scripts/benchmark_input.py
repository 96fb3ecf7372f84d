r"""Input pipeline throughput: train images/s (decode + augment + batch) vs raw JPEG decoding.

  python scripts/benchmark_input.py [--num_images=400] [--source_size=320] [--workers=0,1,2]

Writes a temporary CUB-layout folder of JPEGs (synthetic_wsol renderings at ``source_size`` px),
builds it with the real ``cub`` builder (array_record holding the original JPEG bytes), then times
the train loader at ``--image_size`` (resize to ``--resize_size``, random crop, flip) for each
worker count, after a warm-up that includes starting the workers. The reference is single-thread
OpenCV JPEG decoding of the same files (what ``tfds.data_source`` decodes with). Prints a table.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import time

import cv2
import numpy as np
from PIL import Image
import script_lib

from wsol_jax import io_utils
from wsol_jax.data import pipeline
from wsol_jax.data import synthetic_render


def write_cub_layout(root: str, num: int, size: int) -> list[str]:
  """A CUB_200_2011-style folder of synthetic JPEGs; returns the JPEG paths."""
  spec = synthetic_render.RenderSpec(image_size=size)
  cub = os.path.join(root, "CUB_200_2011")
  lines = {k: [] for k in ("images", "labels", "split", "boxes")}
  paths = []
  for i in range(1, num + 1):
    ex = synthetic_render.render_example(spec, synthetic_render.example_rng(0, "train", i))
    folder = f"{ex['label'] + 1:03d}.class_{ex['label']}"
    rel = f"{folder}/img_{i:05d}.jpg"
    path = os.path.join(cub, "images", rel)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    Image.fromarray(ex["image"]).save(path, quality=90)
    paths.append(path)
    x0, y0, x1, y1 = ex["bbox_xyxy"].tolist()
    lines["images"].append(f"{i} {rel}")
    lines["labels"].append(f"{i} {ex['label'] + 1}")
    lines["split"].append(f"{i} {int(i % 10 != 0)}")
    lines["boxes"].append(f"{i} {x0} {y0} {x1 - x0} {y1 - y0}")
  for key, name in [("images", "images.txt"), ("labels", "image_class_labels.txt"),
                    ("split", "train_test_split.txt"), ("boxes", "bounding_boxes.txt")]:
    with open(os.path.join(cub, name), "w") as f:
      f.write("\n".join(lines[key]) + "\n")
  with open(os.path.join(cub, "classes.txt"), "w") as f:
    f.write("".join(f"{c + 1} {c + 1:03d}.class_{c}\n" for c in range(spec.num_classes)))
  return paths


def decode_rate(paths: list[str]) -> float:
  """Single-thread OpenCV decodes per second (bytes already in memory)."""
  blobs = [np.frombuffer(open(p, "rb").read(), np.uint8) for p in paths]
  start = time.perf_counter()
  for blob in blobs:
    cv2.cvtColor(cv2.imdecode(blob, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
  return len(blobs) / (time.perf_counter() - start)


def loader_rate(cfg, workers: int, batch_size: int, batches: int) -> tuple[float, float]:
  """(images/s over ``batches`` timed batches, seconds to the first batch)."""
  start = time.perf_counter()
  it = iter(pipeline.make_train_loader(cfg, batch_size, seed=0, shard_index=0, shard_count=1,
                                       worker_count=workers))
  next(it)
  first = time.perf_counter() - start
  for _ in range(3):  # Warm-up: fill the prefetch buffers.
    next(it)
  start = time.perf_counter()
  for _ in range(batches):
    batch = next(it)
  elapsed = time.perf_counter() - start
  assert batch["image"].shape[1] == cfg.image_size
  if hasattr(it, "close"):
    it.close()
  return batches * batch_size / elapsed, first


def main(argv=None) -> int:
  parser = script_lib.parser(__doc__)
  parser.add_argument("--num_images", type=int, default=400, help="images in the temporary dataset")
  parser.add_argument("--source_size", type=int, default=320, help="side of the stored JPEGs")
  parser.add_argument("--image_size", type=int, default=224, help="model input side")
  parser.add_argument("--resize_size", type=int, default=256,
                      help="resize side before the random crop")
  parser.add_argument("--batch_size", type=int, default=32)
  parser.add_argument("--batches", type=int, default=25, help="timed batches per setting")
  script_lib.add_list_flag(parser, "workers", [0, 1, 2], "worker counts to time", item_type=int)
  parser.add_argument("--read_threads", type=int, default=4,
                      help="data.read_threads (per process)")
  parser.add_argument("--work_dir", default="",
                      help="keep the temporary data here ('' = a temp dir, removed at the end)")
  args = parser.parse_args(argv)
  work = args.work_dir or tempfile.mkdtemp(prefix="wsol_bench_")
  try:
    t = time.perf_counter()
    paths = write_cub_layout(os.path.join(work, "manual"), args.num_images, args.source_size)
    print(f"wrote {len(paths)} JPEGs ({args.source_size} px) in {time.perf_counter() - t:.1f}s")
    cfg = pipeline.default_data_config()
    cfg.update(name="cub", data_dir=os.path.join(work, "tfds"), manual_dir=os.path.join(
        work, "manual"), image_size=args.image_size, resize_size=args.resize_size,
               read_threads=args.read_threads, train_augment="random_crop")
    t = time.perf_counter()
    pipeline.ensure_prepared(cfg)
    print(f"built cub-layout array_record in {time.perf_counter() - t:.1f}s")

    rows = [("raw JPEG decode (OpenCV, 1 thread)", f"{decode_rate(paths):.0f}", "")]
    for w in args.workers:
      rate, first = loader_rate(cfg, w, args.batch_size, args.batches)
      rows.append((f"train loader, {w} worker(s), {args.read_threads} read threads",
                   f"{rate:.0f}", f"{first:.1f}"))
    print(f"\n{os.cpu_count()} CPU cores; {args.source_size} px JPEG -> resize "
          f"{args.resize_size} -> random crop {args.image_size} + flip, batch {args.batch_size}\n")
    print(io_utils.format_table(("setting", "images/s", "first batch (s)"), rows))
  finally:
    if not args.work_dir:
      shutil.rmtree(work, ignore_errors=True)
  return 0


if __name__ == "__main__":
  sys.exit(main())
