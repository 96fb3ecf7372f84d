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

from absl import app
from absl import flags
import cv2
import numpy as np
from PIL import Image

from wsol_jax.data import pipeline
from wsol_jax.data import synthetic_render

_NUM = flags.DEFINE_integer("num_images", 400, "Images in the temporary dataset.")
_SOURCE = flags.DEFINE_integer("source_size", 320, "Side of the stored JPEGs.")
_IMAGE = flags.DEFINE_integer("image_size", 224, "Model input side.")
_RESIZE = flags.DEFINE_integer("resize_size", 256, "Resize side before the random crop.")
_BATCH = flags.DEFINE_integer("batch_size", 32, "Batch size.")
_BATCHES = flags.DEFINE_integer("batches", 25, "Timed batches per setting.")
_WORKERS = flags.DEFINE_list("workers", ["0", "1", "2"], "Worker counts to time.")
_THREADS = flags.DEFINE_integer("read_threads", 4, "data.read_threads (per process).")
_KEEP = flags.DEFINE_string("work_dir", "", "Keep the temporary data here ('' = a temp dir).")


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


def loader_rate(cfg, workers: int) -> tuple[float, float]:
  """(images/s over the timed batches, seconds to the first batch)."""
  start = time.perf_counter()
  it = iter(pipeline.make_train_loader(cfg, _BATCH.value, seed=0, shard_index=0, shard_count=1,
                                       worker_count=workers))
  next(it)
  first = time.perf_counter() - start
  for _ in range(3):  # Warm-up: fill the prefetch buffers.
    next(it)
  start = time.perf_counter()
  for _ in range(_BATCHES.value):
    batch = next(it)
  elapsed = time.perf_counter() - start
  assert batch["image"].shape[1] == _IMAGE.value
  if hasattr(it, "close"):
    it.close()
  return _BATCHES.value * _BATCH.value / elapsed, first


def main(argv):
  del argv
  work = _KEEP.value or tempfile.mkdtemp(prefix="wsol_bench_")
  try:
    t = time.perf_counter()
    paths = write_cub_layout(os.path.join(work, "manual"), _NUM.value, _SOURCE.value)
    print(f"wrote {len(paths)} JPEGs ({_SOURCE.value} px) in {time.perf_counter() - t:.1f}s")
    cfg = pipeline.default_data_config()
    cfg.update(name="cub", data_dir=os.path.join(work, "tfds"), manual_dir=os.path.join(
        work, "manual"), image_size=_IMAGE.value, resize_size=_RESIZE.value,
               read_threads=_THREADS.value, train_augment="random_crop")
    t = time.perf_counter()
    pipeline.ensure_prepared(cfg)
    print(f"built cub-layout array_record in {time.perf_counter() - t:.1f}s")

    rows = [("raw JPEG decode (OpenCV, 1 thread)", decode_rate(paths), float("nan"))]
    for w in [int(v) for v in _WORKERS.value]:
      rate, first = loader_rate(cfg, w)
      rows.append((f"train loader, {w} worker(s), {_THREADS.value} read threads", rate, first))
    print(f"\n{os.cpu_count()} CPU cores; {_SOURCE.value} px JPEG -> resize {_RESIZE.value} -> "
          f"random crop {_IMAGE.value} + flip, batch {_BATCH.value}\n")
    print(f"| {'setting':<48s} | {'images/s':>9s} | {'first batch (s)':>15s} |")
    print(f"|{'-' * 50}|{'-' * 11}|{'-' * 17}|")
    for name, rate, first in rows:
      first_s = "" if np.isnan(first) else f"{first:.1f}"
      print(f"| {name:<48s} | {rate:>9.0f} | {first_s:>15s} |")
  finally:
    if not _KEEP.value:
      shutil.rmtree(work, ignore_errors=True)
  return 0


if __name__ == "__main__":
  sys.exit(app.run(main))
