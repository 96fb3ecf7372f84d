"""What the scripts share: one flag library (argparse) with the flags several scripts take, config
files with ``--set KEY=VALUE`` overrides, and the seed x variant runner with its per-seed summary.

Scripts run as ``python scripts/x.py`` (so scripts/ is on ``sys.path``) and ``import script_lib``;
tests load them with ``backbone_helpers.load_script``, which puts scripts/ on ``sys.path`` too.

* Flags: :func:`parser` (the script's docstring as its description), :func:`add_seed_run_flags`
  (``--out --seeds --workdir --set`` of the scripts that run seeds), :func:`add_set_flag`,
  :func:`add_config_flag`, :func:`add_data_flags` (``--manual_dir --weights``),
  :func:`add_step_flags` (``--steps --batch_size`` of the step benchmarks), and two kinds that absl
  had: :func:`add_list_flag` (``--rows=a,b`` or ``--rows a b``) and :func:`add_bool_flag`
  (``--isolate``, ``--noisolate``, ``--isolate=false``).
* Configs: :func:`load_config` (a config file, then layers of ``{'a.b': value}`` overrides) and
  :func:`set_overrides` (``--set``'s as such a layer).
* Runs: :class:`SeedRunner` trains each (variant, seed) in ``W/<variant>/seed<s>``, reusing a
  finished run's ``results.json`` and resuming an unfinished one, with ``W/jax_cache`` as JAX's
  compilation cache; :func:`summarize` gives a metric's per-seed values, mean, sample standard
  deviation and range.

Tables and atomic file writes: :mod:`wsol_jax.io_utils` (``format_table``, ``atomic_write_json``).
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import os
import pathlib
import time
from typing import Any, Callable, Iterable, Sequence

from wsol_jax import config_defaults
from wsol_jax import runtime

CONFIGS = pathlib.Path(__file__).resolve().parents[1] / "configs"

# ----------------------------------------------------------------------------------------------
# Flags


def parser(doc: str) -> argparse.ArgumentParser:
  """The script's parser, described by its docstring's first paragraph."""
  return argparse.ArgumentParser(description=doc.split("\n\n")[0])


def _checked_override(text: str) -> str:
  try:
    config_defaults.parse_override(text)
  except ValueError as e:
    raise argparse.ArgumentTypeError(str(e)) from e
  return text


def add_set_flag(p: argparse.ArgumentParser, example: str) -> None:
  """``--set KEY=VALUE`` (repeated; ``args.set``, the texts as given): config overrides for every
  run, checked as they are parsed. :func:`set_overrides` turns them into a layer."""
  p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                 type=_checked_override,
                 help=f"config override applied to every run, e.g. {example}")


def set_overrides(args) -> dict[str, Any]:
  """``args.set`` as ``{'a.b': value}`` (values are Python literals where they parse as one)."""
  return dict(config_defaults.parse_override(text) for text in args.set)


def add_seed_run_flags(p: argparse.ArgumentParser, *, out_help: str, runs_suffix: str,
                       set_example: str) -> None:
  """``--out`` (required), ``--seeds`` (0 1 2), ``--workdir`` (default: ``--out`` without its
  extension + ``runs_suffix``; :func:`runs_dir`) and ``--set``."""
  p.add_argument("--out", required=True, help=out_help)
  p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
  p.add_argument("--workdir", default="",
                 help="runs live in WORKDIR/<variant>/seed<s>, compiled steps in WORKDIR/jax_cache "
                      f"(default: --out without its extension + '{runs_suffix}')")
  p.set_defaults(runs_suffix=runs_suffix)
  add_set_flag(p, set_example)


def runs_dir(args) -> str:
  """``--workdir``, or its default (:func:`add_seed_run_flags`)."""
  return args.workdir or os.path.splitext(args.out)[0] + args.runs_suffix


def add_config_flag(p: argparse.ArgumentParser, default_file: str) -> None:
  """``--config``: a config file (default: ``configs/<default_file>``)."""
  p.add_argument("--config", default=str(CONFIGS / default_file),
                 help=f"config file (default: configs/{default_file})")


def add_data_flags(p: argparse.ArgumentParser) -> None:
  """``--manual_dir`` and ``--weights`` (both required) of the CPU recipes on CUB."""
  p.add_argument("--manual_dir", required=True, help="the CUB archive's folder (e.g. cub25)")
  p.add_argument("--weights", required=True, help="the ImageNet MobileNet .h5 file")


def add_step_flags(p: argparse.ArgumentParser, batch_help: str) -> None:
  """``--steps`` (timed steps after one warm-up) and ``--batch_size`` (0: the rows' own)."""
  p.add_argument("--steps", type=int, default=5,
                 help="timed steps per row (after one warm-up step)")
  p.add_argument("--batch_size", type=int, default=0, help=batch_help)


class _ListAction(argparse.Action):
  """Joins the items of every value (each a list: ``type`` splits at commas) into one list."""

  def __call__(self, parser, namespace, values, option_string=None):
    setattr(namespace, self.dest, [item for value in values for item in value])


def add_list_flag(p: argparse.ArgumentParser, name: str, default, help_text: str,
                  item_type: Callable[[str], Any] = str) -> None:
  """``--name`` as a list (as absl's list flags): comma-separated (``--name=a,b``),
  space-separated (``--name a b``) or both; each item converted by ``item_type``."""
  p.add_argument(f"--{name}", nargs="+", default=default, help=help_text, action=_ListAction,
                 type=lambda text: [item_type(x.strip()) for x in text.split(",") if x.strip()])


def _parse_bool(text: str) -> bool:
  value = {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False}.get(
      text.lower())
  if value is None:
    raise argparse.ArgumentTypeError(f"not a boolean: {text!r}")
  return value


def add_bool_flag(p: argparse.ArgumentParser, name: str, default: bool, help_text: str) -> None:
  """``--name`` / ``--noname`` / ``--name=true|false``."""
  p.add_argument(f"--{name}", nargs="?", const=True, default=default, type=_parse_bool,
                 help=f"{help_text} (--no{name}: off)")
  p.add_argument(f"--no{name}", dest=name, action="store_false", help=argparse.SUPPRESS)


def require_paths(*paths) -> None:
  """FileNotFoundError naming the first of ``paths`` that does not exist."""
  for path in paths:
    if not os.path.exists(path):
      raise FileNotFoundError(f"{path} does not exist")


# ----------------------------------------------------------------------------------------------
# Configs


def load_config(path, *layers: dict):
  """The config file ``path`` (:func:`wsol_jax.config_defaults.load_config_file`) with each layer
  of ``{'a.b': value}`` overrides applied in turn (a later layer wins; an unknown field is a
  ValueError naming it)."""
  config = config_defaults.load_config_file(path)
  for layer in layers:
    config_defaults.apply_overrides(config, dict(layer))
  return config


# ----------------------------------------------------------------------------------------------
# Seed x variant runs


@dataclasses.dataclass(frozen=True)
class Run:
  """One finished (variant, seed) run: its config, folder, results and the seconds this call spent
  on it (training, resuming or reading the results)."""
  name: str
  seed: int
  workdir: str
  config: Any
  results: dict
  seconds: float


class SeedRunner:
  """Trains ``wsol_jax`` configs, one per (variant, seed), in ``<workdir>/<variant>/seed<s>``.

  A run whose ``results.json`` exists is reused, an unfinished one resumes from its checkpoints
  (:func:`wsol_jax.training.loop.results_or_train`, or ``results_fn(config, workdir)``); a run
  that fails raises its error. ``<workdir>/jax_cache`` is JAX's compilation cache (set up here, so
  make the runner before anything starts JAX's backend): runs of the same shapes compile once.
  ``describe(results)``: a few words printed after each run."""

  def __init__(self, workdir: str, results_fn: Callable[[Any, str], dict] | None = None,
               describe: Callable[[dict], str] | None = None):
    self.workdir = workdir
    self.results_fn = results_fn
    self.describe = describe
    runtime.configure_jax(compilation_cache_dir=os.path.join(workdir, "jax_cache"))

  def run_dir(self, name: str, seed: int) -> str:
    return os.path.join(self.workdir, name, f"seed{seed}")

  def run(self, name: str, seed: int, config) -> Run:
    from wsol_jax.training import loop  # pylint: disable=import-outside-toplevel
    workdir = self.run_dir(name, seed)
    print(f"--- {name} seed {seed}: {workdir}", flush=True)
    start = time.time()
    results = (self.results_fn or loop.results_or_train)(config, workdir)
    run = Run(name, seed, workdir, config, results, time.time() - start)
    done = f"--- {name} seed {seed}: {run.seconds:.0f} s"
    print(done + (f", {self.describe(results)}" if self.describe else ""), flush=True)
    return run

  def run_all(self, variants: Iterable[tuple[str, Callable[[int], Any]]],
              seeds: Sequence[int]) -> dict[str, list[Run]]:
    """``variants``: (name, ``config_for(seed)``) pairs -> {name: [its Run per seed]}, the
    variants one after the other, each over ``seeds`` in order."""
    return {name: [self.run(name, seed, config_for(seed)) for seed in seeds]
            for name, config_for in variants}


@dataclasses.dataclass(frozen=True)
class Summary:
  """A metric over seeds: the values (seed order), their mean, sample standard deviation (0 for
  one seed) and range (max - min). No values: mean and range are NaN, std 0."""
  values: tuple[float, ...]
  mean: float
  std: float
  range: float


def summarize(values: Iterable[float]) -> Summary:
  values = tuple(float(v) for v in values)
  n = len(values)
  if not n:
    return Summary(values, math.nan, 0.0, math.nan)
  mean = sum(values) / n
  std = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1)) if n > 1 else 0.0
  return Summary(values, mean, std, max(values) - min(values))
