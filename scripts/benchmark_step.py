"""Train-step speed: compile time, steps/s, images/s and peak memory, printed as a table.

  python scripts/benchmark_step.py                      # every row
  python scripts/benchmark_step.py --rows=cam_small_vgg --steps=20
  python scripts/benchmark_step.py --list

A row is a :class:`Row` whose ``build()`` returns ``(step_fn, state, batch, rng)`` with ``step_fn``
jitted (``parallel.Runner.compile_step``); :func:`config_row` makes one from a config file (any
registered method, its first stage by default), so other methods and backbones are one
``ROWS.append(...)`` away. Steps run on every
local device (jit over a data-parallel mesh) with random uint8 images. Peak memory is the device's
``peak_bytes_in_use`` where the backend reports it (GPU/TPU), else the process's peak RSS so far
(CPU: a row after a bigger one shows the bigger one's peak; run rows one by one to separate them).
"""

from __future__ import annotations

import dataclasses
import importlib.util
import pathlib
import resource
import sys
import time
from typing import Callable

from absl import app
from absl import flags
from absl import logging
import jax
import numpy as np

from wsol_jax import config_defaults
from wsol_jax.training import parallel
from wsol_jax.training import method as base


_ROWS = flags.DEFINE_list("rows", None, "Rows to run (default: all); see --list.")
_STEPS = flags.DEFINE_integer("steps", 5, "Timed steps per row (after one warm-up step).")
_LIST = flags.DEFINE_bool("list", False, "List the rows and exit.")
_BATCH = flags.DEFINE_integer("batch_size", 0, "Global batch of the config rows (0: each config's "
                              "own); e.g. a small one to try paper-scale rows on a CPU.")


@dataclasses.dataclass(frozen=True)
class Row:
  """One benchmarked step: ``key`` (for --rows), ``label`` (the table), images per step, and
  ``build() -> (jitted step_fn, state, batch, rng)``."""
  key: str
  label: str
  images: int
  build: Callable[[], tuple]


def random_batch(batch_size: int, image_size: int, num_classes: int, max_boxes: int = 1) -> dict:
  rng = np.random.default_rng(0)
  boxes = np.tile(np.array([[0.25, 0.25, 0.75, 0.75]], np.float32) * image_size,
                  (batch_size, max_boxes, 1))
  return {"image": rng.integers(0, 256, (batch_size, image_size, image_size, 3), dtype=np.uint8),
          "label": rng.integers(0, num_classes, (batch_size,), dtype=np.int32),
          "bboxes": boxes, "bboxes_valid": np.ones((batch_size, max_boxes), bool),
          "valid": np.ones((batch_size,), bool)}


def config_row(key: str, config_file: str, num_classes: int, stage: str | None = None,
               **overrides) -> Row:
  """A row timing the train step of ``config_file``'s method (``stage``, default the first) at its
  global batch size and ``data.image_size``. ``overrides``: 'section.field' -> value (no weights
  are loaded: ``model.pretrained`` is cleared)."""
  config = config_defaults.load_config_file(CONFIGS / config_file)
  config.model.pretrained = ""
  for path, value in overrides.items():
    section, field = path.split(".")
    config[section][field] = value
  label = f"{config.method} {config.model.backbone} {config.data.image_size}px {config.model.dtype}"

  def build():
    batch_size = _BATCH.value or config.train.batch_size
    config.train.batch_size = batch_size
    runner = parallel.JitRunner()
    info = base.RunInfo(num_classes=num_classes, steps_per_epoch=100, train_size=100 * batch_size)
    method = base.get_method(config.method)(config, info)
    stage_name = stage or method.stages()[0].name
    batch = random_batch(batch_size, config.data.image_size, num_classes, config.data.max_boxes)
    if config.data.get("train_plain_images", False):
      batch.update(image_plain=batch["image"].copy(), bboxes_plain=batch["bboxes"].copy())
    state = method.init_state(jax.random.key(0), batch)
    if stage_name != method.stages()[0].name:
      state = method.enter_stage(state, stage_name)
    state = runner.place_state(state)
    step = runner.compile_step(lambda s, b, r, axis_name: method.train_step(
        s, b, r, stage=stage_name, axis_name=axis_name))
    return step, state, runner.shard_batch(batch), jax.random.key(1)

  return Row(key, label + (f" [{stage}]" if stage else ""), config.train.batch_size, build)


CONFIGS = pathlib.Path(__file__).resolve().parents[1] / "configs"
ROWS: list[Row] = [
    config_row("cam_small_vgg", "synthetic_cam.py", num_classes=12),
    config_row("cam_vgg16", "cub_cam.py", num_classes=200),
    config_row("cam_vgg16_bf16", "cub_cam.py", num_classes=200, **{"model.dtype": "bfloat16"}),
]


# SLT-Net: the joint localization step beside the sum of its parts, so the cost of what joins them
# (colour jitter, g and g', CAMs of all classes, top-K ACAM, on-device pseudo-boxes) shows as
# "joint - parts". Parts: the localizer's forward+backward at the image size and at the VST canvas
# size, and the regressor's forward+backward (gradients only, no optimizer update).
def slt_rows(key: str, config_file: str, num_classes: int) -> list[Row]:
  import optax  # pylint: disable=import-outside-toplevel
  # pylint: disable=import-outside-toplevel
  from wsol_jax.methods import common
  from wsol_jax.methods.slt import losses, vst as transforms
  config = config_defaults.load_config_file(CONFIGS / config_file)
  config.model.pretrained = ""
  size, batch_size = config.data.image_size, config.train.batch_size
  canvas = transforms.vst_canvas_hw((size, size), config.slt.jitter.scale_max,
                                    config.slt.canvas_multiple)[0]
  info = base.RunInfo(num_classes=num_classes, steps_per_epoch=100, train_size=100 * batch_size)
  tag = f"{config.model.backbone} {size}px b{batch_size}"

  def part(net: str, image_size: int):
    def build():
      runner = parallel.JitRunner()
      method = base.get_method("slt")(config, info)
      batch = random_batch(batch_size, image_size, num_classes)
      state = runner.place_state(method.init_state(jax.random.key(0), batch))
      model = method.localizer() if net == "localizer" else method.regressor()

      def step(s, b, r, axis_name):
        del r, axis_name
        images = b["image"].astype(jax.numpy.float32) / 255.0

        def loss_fn(params):
          variables = {"params": params, "batch_stats": s.batch_stats[net]}
          out, _ = model.apply(variables, images, train=True, mutable=["batch_stats"])
          if net == "localizer":
            return common.cross_entropy(out["logits"], b["label"]).mean()
          return losses.smooth_l1_loss(out, jax.numpy.full_like(out, 0.5)).mean()

        loss, grads = jax.value_and_grad(loss_fn)(s.params[net])
        return s, {"loss": loss, "grad_norm": optax.global_norm(grads)}

      return runner.compile_step(step), state, runner.shard_batch(batch), jax.random.key(1)
    return build

  return [config_row(f"{key}_joint", config_file, num_classes),
          Row(f"{key}_part_localizer", f"  part: localizer fwd+bwd {tag}", batch_size,
              part("localizer", size)),
          Row(f"{key}_part_localizer_canvas", f"  part: localizer fwd+bwd {canvas}px canvas",
              batch_size, part("localizer", canvas)),
          Row(f"{key}_part_regressor", f"  part: regressor fwd+bwd {tag}", batch_size,
              part("regressor", size))]


def sum_of_parts(results: list[dict]) -> list[dict]:
  """A derived row per SLT joint step whose three parts were measured: their summed step time."""
  out = []
  for joint in [r for r in results if r["key"].endswith("_joint")]:
    prefix = joint["key"][:-len("joint")]
    parts = [r for r in results if r["key"].startswith(prefix + "part_")]
    if len(parts) == 3:
      seconds = sum(1.0 / r["steps_per_s"] for r in parts)
      out.append({"key": prefix + "parts_sum", "row": "  sum of the 3 parts",
                  "compile_s": sum(r["compile_s"] for r in parts), "steps_per_s": 1.0 / seconds,
                  "images_per_s": joint["images_per_s"] / joint["steps_per_s"] / seconds,
                  "peak_gib": max(r["peak_gib"] for r in parts), "memory": parts[0]["memory"]})
  return out


ROWS += slt_rows("slt_small_vgg", "synthetic_slt.py", num_classes=12)
ROWS += slt_rows("slt_vgg16", "cub_slt.py", num_classes=200)
# The CPU recipes that scripts/compare_methods.py runs on cub25 (25 classes).
ROWS += [config_row("cam_cub_mobilenet", "cub_cam_mobilenet.py", num_classes=25)]
ROWS += slt_rows("slt_cub_mobilenet", "cub_slt_mobilenet.py", num_classes=25)
ROWS += [config_row("lchp_cub_mobilenet_init", "cub_lchp_mobilenet.py", num_classes=25),
         config_row("lchp_cub_mobilenet_refine", "cub_lchp_mobilenet.py", num_classes=25,
                    stage="refine")]


def peak_memory_bytes() -> tuple[int, str]:
  """Peak bytes in use on device 0 where reported, else the process's peak resident memory."""
  stats = jax.local_devices()[0].memory_stats() or {}
  if "peak_bytes_in_use" in stats:
    return int(stats["peak_bytes_in_use"]), "device"
  rss_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
  return int(rss_kib) * 1024, "host RSS"


def measure(row: Row, steps: int) -> dict:
  step, state, batch, rng = row.build()
  images = batch["image"].shape[0]  # the row's own, or --batch_size
  start = time.perf_counter()
  compiled = step.lower(state, batch, rng).compile()
  compile_s = time.perf_counter() - start
  state, metrics = compiled(state, batch, rng)  # warm-up
  jax.block_until_ready((state, metrics))
  start = time.perf_counter()
  for _ in range(steps):
    state, metrics = compiled(state, batch, rng)
  jax.block_until_ready((state, metrics))
  elapsed = time.perf_counter() - start
  peak, where = peak_memory_bytes()
  label = row.label if f"b{images}" in row.label else f"{row.label} b{images}"
  return {"key": row.key, "row": label, "compile_s": compile_s,
          "steps_per_s": steps / elapsed, "images_per_s": steps * images / elapsed, "peak_gib": peak / 2**30, "memory": where}


def format_table(results: list[dict]) -> str:
  header = ("step", "compile s", "steps/s", "images/s", "peak GiB", "memory")
  rows = [(r["row"], f"{r['compile_s']:.1f}", f"{r['steps_per_s']:.3f}",
           f"{r['images_per_s']:.1f}", f"{r['peak_gib']:.2f}", r["memory"]) for r in results]
  widths = [max(len(str(x[i])) for x in [header] + rows) for i in range(len(header))]
  line = lambda xs: " | ".join(str(x).ljust(w) if i == 0 else str(x).rjust(w)
                               for i, (x, w) in enumerate(zip(xs, widths)))
  return "\n".join([line(header), "-+-".join("-" * w for w in widths)] + [line(r) for r in rows])


def main(argv):
  del argv
  if _LIST.value:
    print("\n".join(f"{row.key}: {row.label}" for row in ROWS))
    return 0
  chosen = ROWS
  if _ROWS.value:
    wanted = {name.strip() for name in _ROWS.value}
    chosen = [r for r in ROWS if r.key in wanted]
    if len(chosen) != len(wanted):
      print(f"error: no row matches {sorted(wanted)}; see --list", file=sys.stderr)
      return 2
  logging.set_verbosity(logging.WARNING)
  print(f"{jax.device_count()} x {jax.devices()[0].device_kind}, {_STEPS.value} timed steps")
  results = []
  for row in chosen:
    results.append(measure(row, _STEPS.value))
    print(format_table(results[-1:]).splitlines()[-1], flush=True)
  results += sum_of_parts(results)
  print()
  print(format_table(results))
  return 0


if __name__ == "__main__":
  app.run(lambda argv: sys.exit(main(argv)))
