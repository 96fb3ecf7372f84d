"""Command line: ``python -m wsol_jax.main --config=configs/X.py --workdir=DIR [--mode=...]``.

Modes: ``train`` (resumes from DIR's checkpoints, evaluates at the end), ``eval`` (the latest
checkpoint, or ``--step``), ``visualize`` (PNG figures of a checkpoint, the method's ``write_figures``);
:data:`MODES` maps each to its function. Any config field can
be overridden, e.g. ``--config.train.lr=0.001``. Multi-host: ``--distributed`` calls
``jax.distributed.initialize`` (arguments from the flags, else from the environment: TPU pods,
SLURM, ...). Bad input (unknown config key, missing dataset, another config's workdir) stops with
a one-line error and changes nothing.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from typing import Callable

from absl import app
from absl import flags
from absl import logging
from ml_collections import config_flags

from wsol_jax import config_defaults

_CONFIG = config_flags.DEFINE_config_file("config", None, "Config file (configs/*.py).",
                                          lock_config=True)
_WORKDIR = flags.DEFINE_string("workdir", None, "Directory of checkpoints, metrics and results.")
_MODE = flags.DEFINE_string("mode", "train", "train | eval | visualize.")
_STEP = flags.DEFINE_integer("step", None,
                             "eval / visualize: the checkpoint step (default: the latest).")
_DISTRIBUTED = flags.DEFINE_bool("distributed", False, "Call jax.distributed.initialize().")
_COORDINATOR = flags.DEFINE_string("coordinator_address", None, "host:port of process 0.")
_NUM_PROCESSES = flags.DEFINE_integer("num_processes", None, "Processes in the run.")
_PROCESS_ID = flags.DEFINE_integer("process_id", None, "This process's index.")
flags.mark_flags_as_required(["config", "workdir"])


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


# mode -> fn(config, workdir, step); a new mode is one entry here.
MODES: dict[str, Callable] = {"train": _train, "eval": _eval, "visualize": _visualize}


def hide_gpus_from_tensorflow() -> None:
  """If TensorFlow is installed (TFDS may import it), keep it off the accelerators JAX uses."""
  if importlib.util.find_spec("tensorflow") is None:
    return
  try:
    import tensorflow as tf  # pylint: disable=import-outside-toplevel
    tf.config.set_visible_devices([], "GPU")
    tf.config.set_visible_devices([], "TPU")
  except (ImportError, RuntimeError, ValueError):
    pass


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
  if not flags.FLAGS["verbosity"].present:
    logging.set_verbosity(logging.WARNING)  # orbax logs every save at INFO
  hide_gpus_from_tensorflow()
  import jax  # pylint: disable=import-outside-toplevel
  # Same threefry algorithm, far faster to compile on CPU; parameters are replicated, so random
  # numbers never need generating shard by shard.
  jax.config.update("jax_threefry_partitionable", False)
  if _DISTRIBUTED.value:
    jax.distributed.initialize(coordinator_address=_COORDINATOR.value,
                               num_processes=_NUM_PROCESSES.value, process_id=_PROCESS_ID.value)
  from wsol_jax.training import loop as train  # pylint: disable=import-outside-toplevel
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
    MODES[_MODE.value](config, _WORKDIR.value, _STEP.value)
  except (ValueError, FileNotFoundError, train.NonFiniteError) as e:
    if os.environ.get("WSOL_TRACEBACK"):  # developers: the full traceback
      raise
    message = " ".join(str(e).split())
    print(f"error: {type(e).__name__}: {message}", file=sys.stderr)
    return 1
  return 0


def parse_flags(argv):
  """absl flag parsing with one-line errors (a bad --config override raises deep inside)."""
  try:
    return flags.FLAGS(argv)
  except Exception as e:  # pylint: disable=broad-except
    message = config_defaults.describe_bad_override(argv) or " ".join(str(e).split())
    print(f"error: {message}", file=sys.stderr)
    sys.exit(2)


if __name__ == "__main__":
  app.run(lambda argv: sys.exit(main(argv)), flags_parser=parse_flags)
