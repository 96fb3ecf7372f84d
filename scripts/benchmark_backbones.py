"""Backbone train-step speed at the papers' resolutions: compile time, images/s, peak memory.

    python scripts/benchmark_backbones.py                       # every backbone, f32 and bf16
    python scripts/benchmark_backbones.py --batch_size=8 --steps=3 --backbones=mobilenet_v1_100
    (--batch_size and --steps as in benchmark_step.py; batch 8 when unset)

One row per backbone and compute dtype: a forward + backward pass in training mode (batch norm
statistics updated) and a plain SGD update of the float32 parameters, jitted, on random images:
VGG16 224, InceptionV3 299 (Mixed_6e cut), ResNet50 224, DenseNet161 224, MobileNetV1 224 -- the
feature maps the WSOL heads read. :func:`backbone_rows` returns them as rows of
``scripts/benchmark_step.py`` (``ROWS += backbone_rows()`` there adds them to its table).
"""

from __future__ import annotations

import functools
import json
import pathlib
import subprocess
import sys
import tempfile

import benchmark_step
import jax
import jax.numpy as jnp
import numpy as np
import script_lib

from wsol_jax import io_utils
from wsol_jax import runtime
from wsol_jax.models import get_backbone

# (backbone, the papers' input size, options): the maps the CAM / BAP heads read.
PAPER_BACKBONES = (
    ("vgg16", 224, {}),
    ("inception_v3", 299, {}),
    ("resnet50", 224, {}),
    ("densenet161", 224, {}),
    ("mobilenet_v1_100", 224, {}),
)


def _build(name: str, size: int, kwargs: dict, dtype: str, row_batch: int, batch_size: int = 0):
  """(jitted step, state, batch, rng) in benchmark_step's Row convention (``batch_size``, else
  ``row_batch``)."""
  batch_size = batch_size or row_batch
  model = get_backbone(name, dtype=dtype, **kwargs)
  images = jnp.asarray(np.random.default_rng(0).uniform(0, 1, (batch_size, size, size, 3)),
                       jnp.float32)
  variables = jax.jit(lambda x: model.init(jax.random.key(0), x, train=False))(images)
  state = (variables["params"], variables.get("batch_stats", {}))

  def step(state, batch, rng):
    params, stats = state

    def loss_fn(p):
      out, new = model.apply({"params": p, "batch_stats": stats}, batch["image"], train=True,
                             mutable=["batch_stats"], rngs={"dropout": rng})
      return jnp.mean(jnp.square(out.astype(jnp.float32))), new.get("batch_stats", stats)

    (loss, new_stats), grads = jax.value_and_grad(loss_fn, has_aux=True)(params)
    params = jax.tree.map(lambda p, g: p - 1e-3 * g, params, grads)
    return (params, new_stats), {"loss": loss}

  return jax.jit(step, donate_argnums=0), state, {"image": images}, jax.random.key(1)


def backbone_rows(batch_size: int = 8, dtypes=("float32", "bfloat16"), names=None) -> list:
  """benchmark_step.Row per (backbone, dtype) at the papers' resolutions (batch ``batch_size``)."""
  rows = []
  for name, size, kwargs in PAPER_BACKBONES:
    if names and name not in names:
      continue
    for dtype in dtypes:
      rows.append(benchmark_step.Row(
          f"backbone_{name}_{dtype}", f"{name} {size}px b{batch_size} {dtype} fwd+bwd",
          batch_size, functools.partial(_build, name, size, kwargs, dtype, batch_size)))
  return rows


def _measure_isolated(row, steps: int, batch_size: int) -> dict:
  """Measure ``row`` in a fresh process, so its peak memory (host RSS on CPU) is its own."""
  name, dtype = row.key[len("backbone_"):].rsplit("_", 1)
  with tempfile.TemporaryDirectory() as tmp:
    out = pathlib.Path(tmp) / "row.json"
    subprocess.run([sys.executable, __file__, f"--backbones={name}", f"--dtypes={dtype}",
                    f"--batch_size={batch_size}", f"--steps={steps}", "--noisolate",
                    f"--json_out={out}"], check=True)
    return json.loads(out.read_text())[0]


def main(argv=None) -> int:
  parser = script_lib.parser(__doc__)
  script_lib.add_list_flag(parser, "backbones", None, "backbones to run (default: all)")
  script_lib.add_list_flag(parser, "dtypes", ["float32", "bfloat16"], "compute dtypes")
  script_lib.add_step_flags(parser, "batch size of every row (0: 8)")
  script_lib.add_bool_flag(parser, "isolate", True,
                           "run each row in its own process (its own peak memory)")
  parser.add_argument("--json_out", default=None, help="also write the results as JSON")
  args = parser.parse_args(argv)
  batch_size = args.batch_size or 8
  rows = backbone_rows(batch_size, tuple(args.dtypes), args.backbones)
  if not rows:
    raise ValueError(f"no backbone in {args.backbones}; known: "
                     f"{[name for name, _, _ in PAPER_BACKBONES]}")
  results = []
  for row in rows:
    results.append(_measure_isolated(row, args.steps, batch_size) if args.isolate
                   else benchmark_step.measure(row, args.steps))
    print(benchmark_step.format_table(results[-1:]).splitlines()[-1], flush=True)
  if args.json_out:
    io_utils.atomic_write_json(args.json_out, results)
  if args.isolate:
    print(f"\n{jax.devices()[0].device_kind} ({jax.default_backend()}), {args.steps} timed "
          "steps after a warm-up, one process per row")
    print(benchmark_step.format_table(results))
  return 0


if __name__ == "__main__":
  runtime.restart_with_huge_page_malloc()
  sys.exit(main())
