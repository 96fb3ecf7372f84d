"""Orbax checkpoints of a run: the train state, the grain iterator state and a JSON record.

``<workdir>/checkpoints/<step>/`` holds three items:

* ``state``     -- the :class:`~wsol_jax.training.train_state.TrainState` (``StandardSave``);
* ``data_iter`` -- the train iterator's position, one JSON file per process (grain's orbax handler,
  so each host resumes its own shard);
* ``meta``      -- JSON: the config fingerprint, the full config, the stage name and where it began.

Orbax writes each step into a temporary directory and renames it when complete, so a save killed
half-way leaves no step directory that :meth:`Checkpoints.latest_step` would return; leftovers are
removed when a run next opens the directory for writing.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
from typing import Any, Mapping, Sequence

import grain
import ml_collections
import orbax.checkpoint as ocp
from orbax.checkpoint import checkpoint_managers as cm

STATE, DATA_ITER, META = "state", "data_iter", "meta"
# Beside checkpoints/ in a workdir: the dataset's class names by label (written by the loop), so
# that inference on the workdir needs no dataset.
CLASS_NAMES_FILE = "class_names.json"

# Fields that decide what a checkpoint holds and means; a workdir holding checkpoints whose
# fingerprint over these differs is refused (eval frequency, lr, logging may change on resume).
FINGERPRINT_FIELDS = ("seed", "method", "data", "model", "train.batch_size", "train.optimizer")
# Inside those, what does not change the trained model may differ: paths (moving a dataset), reader
# throughput knobs, how evaluation reads data (evaluating a checkpoint on another split), and where
# the starting weights came from (a checkpoint holds trained ones).
# (data.worker_count stays in: a saved grain iterator resumes only with the same worker count.)
FINGERPRINT_IGNORED_KEYS = ("data_dir", "manual_dir", "worker_buffer_size", "read_threads",
                            "prefetch_examples", "eval_split", "eval_mode", "pretrained",
                            "pretrained_allow_random")


def config_fingerprint(config: ml_collections.ConfigDict) -> str:
  """A short hash of what defines a run's model and data (:data:`FINGERPRINT_FIELDS` and the
  method's section, less :data:`FINGERPRINT_IGNORED_KEYS`)."""
  full = json.loads(config.to_json_best_effort())
  picked = {}
  method_section = full.get("method")
  for field in FINGERPRINT_FIELDS + (method_section,):
    node = full
    for part in field.split("."):
      node = node.get(part) if isinstance(node, dict) else None
    picked[field] = _drop_keys(node, FINGERPRINT_IGNORED_KEYS)
  blob = json.dumps(picked, sort_keys=True, default=str)
  return hashlib.sha256(blob.encode()).hexdigest()[:16]


def _drop_keys(node, ignored):
  if isinstance(node, dict):
    return {k: _drop_keys(v, ignored) for k, v in node.items() if k not in ignored}
  return node


def config_json(config: ml_collections.ConfigDict) -> dict:
  return json.loads(config.to_json_best_effort())


# What orbax's CheckpointManager logs (absl, WARNING) on every read-only open: nothing to act on.
_READ_ONLY_NOTICE = "Given directory is read only=%s"


def _is_not_read_only_notice(record: logging.LogRecord) -> bool:
  return record.msg != _READ_ONLY_NOTICE


@contextlib.contextmanager
def _without_read_only_notice():
  """Drops exactly orbax's read-only notice from the absl logger; every other record shows."""
  logger = logging.getLogger("absl")
  logger.addFilter(_is_not_read_only_notice)
  try:
    yield
  finally:
    logger.removeFilter(_is_not_read_only_notice)


class Checkpoints:
  """An orbax ``CheckpointManager`` over ``directory`` with the three items above.

  keep: how many of the latest steps to keep.
  preserve_steps: steps kept as well whatever ``keep`` says (the ends of a run's stages, so that
    another run can start from a finished stage: ``WarmStart``).
  read_only: open an existing directory without creating or cleaning anything (evaluation).
  """

  def __init__(self, directory: str, *, keep: int = 3, preserve_steps: Sequence[int] = (),
               read_only: bool = False):
    self.directory = os.path.abspath(directory)
    policy = None if read_only else cm.AnyPreservationPolicy(
        [cm.preservation_policy.LatestN(n=keep), cm.preservation_policy.CustomSteps(preserve_steps)])
    # Read-only: every option it implies set here, so that orbax has none to warn about changing.
    options = ocp.CheckpointManagerOptions(
        preservation_policy=policy, create=not read_only, read_only=read_only,
        save_interval_steps=0 if read_only else 1,
        cleanup_tmp_directories=not read_only, enable_async_checkpointing=not read_only)
    handlers = {STATE: ocp.StandardCheckpointHandler(), META: ocp.JsonCheckpointHandler(),
                DATA_ITER: grain.checkpoint.CheckpointHandler()}
    with _without_read_only_notice():
      self.manager = ocp.CheckpointManager(self.directory, options=options, item_handlers=handlers)

  def latest_step(self) -> int | None:
    return self.manager.latest_step()

  def all_steps(self) -> list[int]:
    return list(self.manager.all_steps())

  def resolve_step(self, step: int | None = None) -> int:
    """``step`` (default: the latest) after checking it is saved here; one-line errors otherwise."""
    steps = self.all_steps()
    if not steps:
      raise FileNotFoundError(f"no checkpoints in {self.directory}")
    step = steps[-1] if step is None else int(step)
    if step not in steps:
      raise ValueError(f"no checkpoint for step {step} in {self.directory}; have {steps}")
    return step

  def last_step_ending(self, stage: str) -> int | None:
    """The latest saved step that ended stage ``stage`` (by its meta), or None."""
    for step in reversed(self.all_steps()):
      meta = self.read_meta(step)
      if meta.get("stage") == stage and meta.get("stage_step") == meta.get("stage_num_steps", -1):
        return step
    return None

  def read_meta(self, step: int) -> dict:
    return self.manager.restore(step, args=ocp.args.Composite(**{META: ocp.args.JsonRestore()}))[META]

  def check_compatible(self, fingerprint: str) -> dict | None:
    """The latest checkpoint's meta, after checking it was written by a run of the same config."""
    step = self.latest_step()
    if step is None:
      return None
    meta = self.read_meta(step)
    if meta.get("fingerprint") != fingerprint:
      raise ValueError(
          f"{self.directory} holds checkpoints of another config (fingerprint "
          f"{meta.get('fingerprint')} != {fingerprint}; method={meta.get('config', {}).get('method')!r}"
          f"); use a new --workdir (nothing was changed)")
    return meta

  def save(self, step: int, state: Any, meta: Mapping[str, Any], data_iter=None) -> None:
    """Starts saving (asynchronously for the arrays); the state must already be checked finite."""
    items = {STATE: ocp.args.StandardSave(state), META: ocp.args.JsonSave(dict(meta))}
    if data_iter is not None:
      items[DATA_ITER] = grain.checkpoint.CheckpointSave(data_iter)
    self.manager.save(step, args=ocp.args.Composite(**items), force=True)

  def restore(self, step: int, abstract_state: Any, data_iter=None) -> tuple[Any, dict]:
    """Restores ``state`` into the structure/shardings of ``abstract_state`` (and the iterator in
    place when given and saved); returns ``(state, meta)``."""
    items = {STATE: ocp.args.StandardRestore(abstract_state), META: ocp.args.JsonRestore()}
    if data_iter is not None and self._has_item(step, DATA_ITER):
      items[DATA_ITER] = grain.checkpoint.CheckpointRestore(data_iter)
    try:
      restored = self.manager.restore(step, args=ocp.args.Composite(**items))
    except ValueError as e:  # orbax: a key missing or extra, or a shape that differs
      reason = str(e).splitlines()[0] if str(e) else type(e).__name__
      raise ValueError(
          f"{self.directory} step {step}: the saved state does not fit this version of wsol_jax "
          f"({reason}); it was written by another version: use that version, or train again "
          f"in a new --workdir (nothing was changed)") from e
    return restored[STATE], restored[META]

  def _has_item(self, step: int, name: str) -> bool:
    return os.path.isdir(os.path.join(self.directory, str(step), name))

  def wait(self) -> None:
    self.manager.wait_until_finished()

  def restore_saved_state(self, step: int) -> dict:
    """``state`` of ``step`` as it was saved (nested dicts of host arrays), without a target
    structure: what inference reads, needing no abstract state, dataset or pretrained file."""
    return self.manager.restore(step, args=ocp.args.Composite(
        **{STATE: ocp.args.StandardRestore()}))[STATE]

  def close(self) -> None:
    self.manager.wait_until_finished()
    self.manager.close()
