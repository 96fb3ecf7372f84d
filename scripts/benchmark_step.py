"""Train-step speed: compile time, steps/s, images/s and peak memory, printed as a table.

  python scripts/benchmark_step.py                      # every row
  python scripts/benchmark_step.py --rows=cam_small_vgg --steps=20
  python scripts/benchmark_step.py --list
  python scripts/benchmark_step.py --vs_torch --rows=cam_cub_mobilenet,cam_vgg16

``--vs_torch`` times each CAM row against its PyTorch twin (``scripts/torch_twins.py``: the same
layers, padding, BatchNorm, loss and SGD; eager, channels_last, as many threads as JAX has cores),
in alternating blocks of ``--steps`` steps in one process, so that other load on the machine falls
on both alike; it prints the median step of each, their ratio, and CPU (user/system) seconds and
minor page faults per step.

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
import os
import resource
import sys
import time
from typing import Any, Callable

from absl import logging
import jax
import numpy as np
import script_lib

from wsol_jax import config_defaults
from wsol_jax import io_utils
from wsol_jax import runtime
from wsol_jax.training import memory
from wsol_jax.training import parallel
from wsol_jax.training import method as base



@dataclasses.dataclass(frozen=True)
class Row:
  """One benchmarked step: ``key`` (for --rows), ``label`` (the table), images per step, and
  ``build(batch_size=0) -> (jitted step_fn, state, batch, rng)`` (``batch_size``: --batch_size,
  0 for the row's own; SLT-Net's parts keep theirs); ``config`` and ``num_classes`` for a row made
  from a config file (what ``--vs_torch`` builds the PyTorch twin from)."""
  key: str
  label: str
  images: int
  build: Callable[..., tuple]
  config: Any = None
  num_classes: int = 0


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

  def build(batch_size: int = 0):
    batch_size = batch_size or config.train.batch_size
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

  return Row(key, label + (f" [{stage}]" if stage else ""), config.train.batch_size, build,
             config if stage is None else None, num_classes)


CONFIGS = script_lib.CONFIGS
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
    def build(batch_size: int = 0):
      del batch_size  # the parts keep the config's batch
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


def measure(row: Row, steps: int, batch_size: int = 0) -> dict:
  step, state, batch, rng = row.build(batch_size)
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
  peak, where = memory.peak_memory()
  label = row.label if f"b{images}" in row.label else f"{row.label} b{images}"
  return {"key": row.key, "row": label, "compile_s": compile_s,
          "steps_per_s": steps / elapsed, "images_per_s": steps * images / elapsed, "peak_gib": peak / 2**30, "memory": where}


def format_table(results: list[dict]) -> str:
  header = ("step", "compile s", "steps/s", "images/s", "peak GiB", "memory")
  rows = [(r["row"], f"{r['compile_s']:.1f}", f"{r['steps_per_s']:.3f}",
           f"{r['images_per_s']:.1f}", f"{r['peak_gib']:.2f}", r["memory"]) for r in results]
  return io_utils.format_table(header, rows)


# ----------------------------------------------------------------------------------------------
# --vs_torch: JAX against the PyTorch twin, in alternating blocks of one process.


def load_torch_twins():
  """scripts/torch_twins.py (it imports torch lazily)."""
  import torch_twins  # pylint: disable=import-outside-toplevel
  return torch_twins


def _usage() -> np.ndarray:
  """[wall s, user CPU s, system CPU s, minor page faults] of this process so far."""
  r = resource.getrusage(resource.RUSAGE_SELF)
  return np.array([time.perf_counter(), r.ru_utime, r.ru_stime, r.ru_minflt], np.float64)


def timed_block(step: Callable[[], Any], steps: int) -> tuple[list[float], np.ndarray]:
  """Runs ``step()`` (which must block until its work is done) ``steps`` times -> (each step's
  wall seconds, [wall, user, system, faults] totals of the block)."""
  walls, start = [], _usage()
  for _ in range(steps):
    t = time.perf_counter()
    step()
    walls.append(time.perf_counter() - t)
  return walls, _usage() - start


def jax_and_torch_steps(row: Row, batch_size: int = 0) -> dict:
  """The row's compiled JAX step and its PyTorch twin's, as argument-less callables on one random
  batch (the same images and labels), plus what was learned building them."""
  if row.config is None or row.config.method != "cam":
    raise ValueError(f"--vs_torch: row {row.key!r} has no PyTorch twin (CAM config rows only)")
  twins = load_torch_twins()
  torch = twins.torch_module()
  torch.set_num_threads(len(os.sched_getaffinity(0)))
  step, state, batch, rng = row.build(batch_size)
  images = int(batch["image"].shape[0])
  start = time.perf_counter()
  compiled = step.lower(state, batch, rng).compile()
  compile_s = time.perf_counter() - start
  jax_params = sum(x.size for x in jax.tree.leaves(state.params))
  before = jax.tree.leaves(state)
  jax_state = {"state": state}

  def jax_step():
    jax_state["state"], metrics = compiled(jax_state["state"], batch, rng)
    jax.block_until_ready((jax_state["state"], metrics))
    return float(metrics["loss"])

  jax_loss = jax_step()  # warm-up
  donated = sum(x.is_deleted() for x in before) / len(before)
  host = random_batch(images, row.config.data.image_size, row.num_classes)
  model = twins.localizer_twin(row.config, row.num_classes)
  torch_step = twins.make_train_step(model, twins.sgd_twin(model, row.config.train))
  x, y = torch.from_numpy(host["image"]), torch.from_numpy(host["label"]).long()
  start = time.perf_counter()
  torch_loss = torch_step(x, y)  # warm-up (the first step allocates)
  torch_first_s = time.perf_counter() - start
  return {"images": images, "compile_s": compile_s, "torch_first_s": torch_first_s,
          "jax": jax_step, "torch": lambda: torch_step(x, y), "donated": donated,
          "params": (jax_params, twins.parameter_count(model)), "losses": (jax_loss, torch_loss)}


def measure_vs_torch(row: Row, steps: int, blocks: int, batch_size: int = 0) -> list[dict]:
  """``blocks`` blocks of ``steps`` steps, JAX then torch, alternating -> one result per
  framework: median/min step s, and CPU user/system s and minor faults per step."""
  built = jax_and_torch_steps(row, batch_size)
  walls = {"jax": [], "torch": []}
  usage = {"jax": np.zeros(4), "torch": np.zeros(4)}
  for _ in range(blocks):
    for name in ("jax", "torch"):
      block_walls, block_usage = timed_block(built[name], steps)
      walls[name] += block_walls
      usage[name] += block_usage
  label = row.label if f"b{built['images']}" in row.label else f"{row.label} b{built['images']}"
  out = []
  for name in ("jax", "torch"):
    n = len(walls[name])
    out.append({"key": row.key, "row": label, "framework": name,
                "median_s": float(np.median(walls[name])), "min_s": float(np.min(walls[name])),
                "user_s": usage[name][1] / n, "sys_s": usage[name][2] / n,
                "faults_k": usage[name][3] / n / 1e3, "images": built["images"],
                "first_s": built["compile_s"] if name == "jax" else built["torch_first_s"],
                "params": built["params"][0 if name == "jax" else 1],
                "donated": built["donated"] if name == "jax" else None})
  return out


def format_vs_torch(results: list[dict]) -> str:
  """Per row: both frameworks' step times and CPU use, then their ratio (JAX / torch)."""
  header = ("step", "framework", "params", "first s", "median s", "min s", "CPU s", "user s",
            "sys s", "faults k", "images/s")
  rows = []
  for r in results:
    rows.append((r["row"], r["framework"], f"{r['params']:,}", f"{r['first_s']:.1f}",
                 f"{r['median_s']:.3f}", f"{r['min_s']:.3f}", f"{r['user_s'] + r['sys_s']:.2f}",
                 f"{r['user_s']:.2f}", f"{r['sys_s']:.2f}", f"{r['faults_k']:.0f}",
                 f"{r['images'] / r['median_s']:.1f}"))
    if r["framework"] == "torch":
      jax_r = next(j for j in results if j["key"] == r["key"] and j["framework"] == "jax")
      ratio = lambda f: f"{f(jax_r) / f(r):.2f}x"
      rows.append(("", "jax/torch", "", "", ratio(lambda z: z["median_s"]),
                   ratio(lambda z: z["min_s"]), ratio(lambda z: z["user_s"] + z["sys_s"]),
                   ratio(lambda z: z["user_s"]), ratio(lambda z: z["sys_s"]), "", ""))
  return io_utils.format_table(header, rows)


def main(argv=None) -> int:
  parser = script_lib.parser(__doc__)
  script_lib.add_list_flag(parser, "rows", None, "rows to run (default: all); see --list")
  script_lib.add_step_flags(parser, "global batch of the config rows (0: each config's own); e.g. "
                                    "a small one to try paper-scale rows on a CPU")
  script_lib.add_bool_flag(parser, "list", False, "list the rows and exit")
  script_lib.add_bool_flag(parser, "vs_torch", False, "time each row against its PyTorch twin "
                           "(CAM rows: scripts/torch_twins.py) in alternating blocks")
  parser.add_argument("--blocks", type=int, default=3, help="--vs_torch: timed blocks of --steps "
                      "steps per framework, alternating JAX, torch, JAX, ...")
  args = parser.parse_args(argv)
  runtime.configure_jax()  # before the backend starts: it may add XLA:CPU flags
  if args.list:
    print("\n".join(f"{row.key}: {row.label}" for row in ROWS))
    return 0
  chosen = ROWS
  if args.rows:
    wanted = args.rows
    chosen = [next(r for r in ROWS if r.key == name) for name in wanted
              if any(r.key == name for r in ROWS)]
    if len(chosen) != len(wanted):
      print(f"error: no row matches {sorted(wanted)}; see --list", file=sys.stderr)
      return 2
  logging.set_verbosity(logging.WARNING)
  print(f"{jax.device_count()} x {jax.devices()[0].device_kind}, jax {jax.__version__}, "
        f"XLA_FLAGS={os.environ.get('XLA_FLAGS', '')!r}")
  if args.vs_torch:
    return main_vs_torch(chosen, args)
  print(f"{args.steps} timed steps")
  results = []
  for row in chosen:
    results.append(measure(row, args.steps, args.batch_size))
    print(format_table(results[-1:]).splitlines()[-1], flush=True)
  results += sum_of_parts(results)
  print()
  print(format_table(results))
  return 0


def main_vs_torch(chosen: list[Row], args) -> int:
  twins = load_torch_twins()
  torch = twins.torch_module()
  print(f"torch {torch.__version__}, {len(os.sched_getaffinity(0))} threads each; "
        f"{args.blocks} alternating blocks of {args.steps} steps per framework; "
        "CPU s, user s, sys s and faults (minor page faults, thousands) are per step")
  results = []
  for row in chosen:
    results += measure_vs_torch(row, args.steps, args.blocks, args.batch_size)
    donated = results[-2]["donated"]
    if donated < 1:
      print(f"warning: {row.key}: only {donated:.0%} of the state's buffers were donated")
    print(format_vs_torch(results[-2:]), flush=True)
  print()
  print(format_vs_torch(results))
  return 0


if __name__ == "__main__":
  runtime.restart_with_huge_page_malloc()
  sys.exit(main())
