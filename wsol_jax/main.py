"""Command line: ``python -m wsol_jax.main --config=configs/X.py --workdir=DIR [--mode=...]``.

Without ``--config`` a trained ``DIR`` is enough: every mode reads ``DIR/config.json``, the config
the run was trained with (``--config=`` also takes a saved ``config.json`` or a ``.wsol`` file);
see :mod:`wsol_jax.cli_config`.

Modes: ``train`` (resumes from DIR's checkpoints, evaluates at the end), ``eval`` (the latest
checkpoint, or ``--step``), ``visualize`` (PNG figures of a checkpoint, the method's ``write_figures``),
``predict`` (``--images=PHOTO_DIR_OR_GLOB [--out OUT]``: a class and a box for each photo, into
``OUT/predictions.jsonl`` and ``OUT/overlays/``; the exit status is the number of images that could
not be read, at most 100), ``export`` (``--out model.wsol``: one self-contained file that
:func:`wsol_jax.inference.load` reads; see :mod:`wsol_jax.inference`), ``dryrun``
(``--dryrun_steps=N``: every stage, hook, checkpoint, eval, export and predict of the recipe for a
few steps under ``DIR/dryrun``, with step times, memory and the projected wall time; a step that
would not fit in memory, or in ``--dryrun_memory_limit_gb``, stops it before it runs; see
:mod:`wsol_jax.training.dryrun`);
:data:`MODES` maps each to its function. Any config field can
be overridden, e.g. ``--config.train.lr=0.001``. Multi-host: ``--distributed`` calls
``jax.distributed.initialize`` (arguments from the flags, else from the environment: TPU pods,
SLURM, ...). Bad input (unknown config key, missing dataset, another config's workdir) stops with
a one-line error and changes nothing.
"""

from __future__ import annotations

import os
import sys
from typing import Callable

from absl import app
from absl import flags
from absl import logging
from ml_collections import config_flags

from wsol_jax import cli_config
from wsol_jax import config_defaults
from wsol_jax import runtime

_CONFIG = cli_config.define_config_flag(
    "config", "Config file (configs/*.py[:variant]), or a run's saved config.json or .wsol file "
    "(default: WORKDIR/config.json, the config a trained workdir was trained with).")
_WORKDIR = flags.DEFINE_string("workdir", None, "Directory of checkpoints, metrics and results.")
_MODE = flags.DEFINE_string("mode", "train",
                            "train | eval | visualize | predict | export | dryrun.")
_STEP = flags.DEFINE_integer("step", None,
                             "eval / visualize / predict / export: the checkpoint step (default: "
                             "the latest).")
_IMAGES = flags.DEFINE_string("images", None, "predict: a photo, a folder of photos (recursive) "
                              "or a glob ('dir/*.jpg').")
_OUT = flags.DEFINE_string("out", None, "predict: the output folder (default WORKDIR/predict); "
                           "export: the file to write (default WORKDIR/model.wsol).")
_OVERLAYS = flags.DEFINE_bool("overlays", True, "predict: also write OUT/overlays/<name>.png.")
_EXPORT_DTYPE = flags.DEFINE_enum("export_dtype", "float32", ["float32", "float16"],
                                  "export: the stored parameters' dtype (float16: half the size).")
_BATCH = flags.DEFINE_integer("batch_size", None,
                              "predict: images per batch (default config.eval.batch_size).")
_DRYRUN_STEPS = flags.DEFINE_integer("dryrun_steps", 2, "dryrun: train steps per stage and eval "
                                     "batches (0: compile every step and check its memory only).")
_DRYRUN_MEMORY = flags.DEFINE_float("dryrun_memory_limit_gb", 0.0,
                                    "dryrun: stop when a compiled step needs more than this many "
                                    "GiB (0: the device's memory; a CPU's: the host's available).")
_DISTRIBUTED = flags.DEFINE_bool("distributed", False, "Call jax.distributed.initialize().")
_COORDINATOR = flags.DEFINE_string("coordinator_address", None, "host:port of process 0.")
_NUM_PROCESSES = flags.DEFINE_integer("num_processes", None, "Processes in the run.")
_PROCESS_ID = flags.DEFINE_integer("process_id", None, "This process's index.")
flags.mark_flags_as_required(["config", "workdir"])


class CommandLineError(ValueError):
  """A flag that names nothing usable (e.g. --images matching no file): one line, exit status 2."""


def _train(config, workdir, step):
  del step
  from wsol_jax.training import loop as train  # pylint: disable=import-outside-toplevel
  return train.train_and_evaluate(config, workdir)


def _eval(config, workdir, step):
  from wsol_jax.training import loop as train  # pylint: disable=import-outside-toplevel
  return train.evaluate_checkpoint(config, workdir, step)


def _visualize(config, workdir, step):
  from wsol_jax.training import loop  # pylint: disable=import-outside-toplevel
  return loop.visualize_checkpoint(config, workdir, step)


def _predict(config, workdir, step) -> int:
  """--mode=predict; returns the number of images that could not be read."""
  from wsol_jax import inference  # pylint: disable=import-outside-toplevel
  if not _IMAGES.value:
    raise CommandLineError("--mode=predict needs --images=PHOTO_DIR_OR_GLOB")
  paths = inference.find_images(_IMAGES.value)
  if not paths:
    raise CommandLineError(f"no images at --images={_IMAGES.value!r} (give a photo, a folder of "
                           "photos or a glob such as 'photos/*.jpg')")
  exported = os.path.isfile(workdir)  # --workdir may name an exported .wsol file
  model = inference.load(workdir, step, config=None if exported else config,
                         batch_size=_BATCH.value)
  out = _OUT.value or os.path.join(os.path.dirname(workdir) if exported else workdir, "predict")
  summary = inference.predict_files(model, paths, out, show_progress=config.train.progress_bar,
                                    write_overlays=_OVERLAYS.value)
  done = summary["num_images"] - summary["num_failed"]
  print(f"predicted {done} of {summary['num_images']} images with step {model.step} "
        f"({summary['images_per_s']:.1f} images/s) -> {summary['predictions']}", flush=True)
  for path, error in summary["failed"]:
    print(f"failed: {path}: {error}", file=sys.stderr)
  return summary["num_failed"]


def _export(config, workdir, step):
  from wsol_jax import inference  # pylint: disable=import-outside-toplevel
  model = inference.load(workdir, step, config=config)
  path = model.export(_OUT.value or os.path.join(workdir, "model.wsol"), _EXPORT_DTYPE.value)
  print(f"wrote {path} (step {model.step}, {os.path.getsize(path) / 2**20:.1f} MiB)", flush=True)
  return path


def _dryrun(config, workdir, step):
  del step
  from wsol_jax.training import dryrun  # pylint: disable=import-outside-toplevel
  dryrun.dryrun(config, workdir, _DRYRUN_STEPS.value,
                title=config_flags.get_config_filename(flags.FLAGS["config"]),
                memory_limit_gb=_DRYRUN_MEMORY.value)


# mode -> fn(config, workdir, step); a new mode is one entry here. A mode returning an int sets
# the exit status (predict: the failed images).
MODES: dict[str, Callable] = {"train": _train, "eval": _eval, "visualize": _visualize,
                              "predict": _predict, "export": _export, "dryrun": _dryrun}


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
  if not flags.FLAGS["verbosity"].present:
    logging.set_verbosity(logging.WARNING)  # orbax logs every save at INFO
  runtime.configure_jax()
  import jax  # pylint: disable=import-outside-toplevel
  if _DISTRIBUTED.value:
    jax.distributed.initialize(coordinator_address=_COORDINATOR.value,
                               num_processes=_NUM_PROCESSES.value, process_id=_PROCESS_ID.value)
  from wsol_jax.training import loop as train  # pylint: disable=import-outside-toplevel
  from wsol_jax.training import dryrun  # pylint: disable=import-outside-toplevel
  if _MODE.value not in MODES:
    print(f"error: unknown --mode={_MODE.value}; known: {', '.join(sorted(MODES))}",
          file=sys.stderr)
    return 2
  try:
    config = _CONFIG.value
    getattr(config, "method")  # a config file that failed to load raises only when used
  except OSError as e:  # config_flags defers a config file that failed to load until here
    print(f"error: {' '.join(str(e).split())}", file=sys.stderr)
    return 2
  try:
    status = MODES[_MODE.value](config, _WORKDIR.value, _STEP.value)
  except CommandLineError as e:
    print(f"error: {e}", file=sys.stderr)
    return 2
  except (ValueError, FileNotFoundError, train.NonFiniteError, dryrun.DryrunError) as e:
    if os.environ.get("WSOL_TRACEBACK"):  # developers: the full traceback
      raise
    message = " ".join(str(e).split())
    print(f"error: {type(e).__name__}: {message}", file=sys.stderr)
    return 1
  return min(status, 100) if isinstance(status, int) and not isinstance(status, bool) else 0


def parse_flags(argv):
  """absl flag parsing with one-line errors (a bad --config override raises deep inside); no
  --config: the --workdir's saved config (:func:`cli_config.with_saved_config`)."""
  try:
    argv = cli_config.with_saved_config(argv)
    return flags.FLAGS(argv)
  except Exception as e:  # pylint: disable=broad-except
    message = config_defaults.describe_bad_override(argv) or " ".join(str(e).split())
    print(f"error: {message}", file=sys.stderr)
    sys.exit(2)


if __name__ == "__main__":
  runtime.restart_with_huge_page_malloc()
  app.run(lambda argv: sys.exit(main(argv)), flags_parser=parse_flags)
