"""The one training loop: any registered method, any number of devices and hosts, resumable.

``train_and_evaluate(config, workdir)`` reads top-down as a run goes:

1. refuse a workdir holding another config's checkpoints, and a missing dataset, before writing;
2. build the method (``config.method``) with the dataset's class count and steps per epoch;
3. restore the latest checkpoint (state, grain iterator position, stage), or initialise (or
   warm-start from another run's finished stage, when the method names one);
4. for each stage: compile the method's step (jit over a mesh, or pmap), run it with a progress
   bar, log metrics, stop on a non-finite metric without saving, run the method's hooks, evaluate and
   checkpoint periodically;
5. evaluate the final state and write ``results.json`` (the same as ``--mode=eval`` later).

``--mode=dryrun`` (:mod:`wsol_jax.training.dryrun`) runs the same pieces: :func:`fresh_state`,
:func:`enter_stage`, :func:`compile_train_step`, :class:`Cadence`, :func:`run_hooks`,
:func:`save_checkpoint` and :func:`restore_target`.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import math
import os
from typing import Any, NamedTuple

import jax
from jax.experimental import multihost_utils
import jax.numpy as jnp
import ml_collections
import numpy as np
import tqdm

from wsol_jax import config_defaults
from wsol_jax import io_utils
from wsol_jax.training import checkpoints as ckpt_lib
from wsol_jax.training import evaluator as evaluate
from wsol_jax.training import metric_writers
from wsol_jax.training import parallel
from wsol_jax.training import preflight
from wsol_jax.training import train_state as ts
from wsol_jax.data import pipeline
from wsol_jax.training import method as base



@dataclasses.dataclass
class Run:
  """What both training and evaluation set up from a config (before any state exists)."""
  config: ml_collections.ConfigDict
  workdir: str
  method: base.Method
  runner: parallel.Runner
  fingerprint: str
  is_main: bool

  @property
  def checkpoint_dir(self) -> str:
    return os.path.join(self.workdir, "checkpoints")


def setup(config: ml_collections.ConfigDict, workdir: str) -> Run:
  """Checks (other config's workdir, dataset, batch sizes) and builds the method; writes nothing."""
  method_cls = base.get_method(config.method)
  runner = parallel.make_runner(config.parallelism)
  parallel.check_batch_size(config.train.batch_size, "config.train.batch_size")
  parallel.check_batch_size(config.eval.batch_size, "config.eval.batch_size")
  fingerprint = ckpt_lib.config_fingerprint(config)
  ckpt_dir = os.path.join(workdir, "checkpoints")
  if _exists_on_process_0(ckpt_dir):
    ckpt_lib.Checkpoints(ckpt_dir, read_only=True).check_compatible(fingerprint)
  pipeline.ensure_prepared(config.data)  # FileNotFoundError naming the prepare command
  train_size = pipeline.num_examples(config.data)
  num_classes = config.model.num_classes or pipeline.num_classes(config.data)
  info = base.RunInfo(num_classes=int(num_classes),
                      steps_per_epoch=ts.steps_per_epoch(train_size, config.train.batch_size),
                      train_size=train_size)
  method = preflight.checked_method(config, method_cls, info)  # packages, data, weights
  return Run(config=config, workdir=workdir, method=method, runner=runner,
             fingerprint=fingerprint, is_main=jax.process_index() == 0)


def _exists_on_process_0(path: str) -> bool:
  """Whether ``path`` exists, as process 0 sees it: every process must make the same orbax calls
  (they synchronise), even while process 0 is creating the directory."""
  exists = os.path.isdir(path)
  if jax.process_count() > 1:
    exists = bool(multihost_utils.broadcast_one_to_all(np.int32(exists)))
  return exists


def train_loader(config, worker_count: int | None = None) -> Any:
  """This process's infinite, shuffled train loader (grain IterDataset); ``worker_count``: instead
  of ``config.data.worker_count`` (0: in this process, e.g. one batch at once)."""
  return pipeline.make_train_loader(config.data, config.train.batch_size // jax.process_count(),
                                    seed=config.seed, worker_count=worker_count)


def root_keys(config) -> tuple[jax.Array, jax.Array]:
  """(init key, train key) from ``config.seed``."""
  init_rng, train_rng = jax.random.split(jax.random.key(config.seed))
  return init_rng, train_rng


def abstract_state(run: Run, sample_batch, stage_index: int | None):
  """Shapes/dtypes of the state as checkpointed in stage ``stage_index`` (no computation); None:
  ``init_state``'s (what a warm start restores)."""
  stages = run.method.stages()
  init_rng, _ = root_keys(run.config)
  # A warm-started run enters its first stage too; otherwise init_state is the first stage's.
  first = 0 if run.method.warm_start() is not None else 1
  entered = [] if stage_index is None else stages[first:stage_index + 1]

  def build(rng):
    state = run.method.init_state(rng, sample_batch)
    for stage in entered:
      if stage.num_steps:  # as the loop: an empty stage is skipped, never entered
        state = run.method.enter_stage(state, stage.name)
    return state

  return jax.eval_shape(build, init_rng)


def warm_start_state(run: Run, sample_batch):
  """The state a warm-started run (``method.warm_start()``) begins with: the other workdir's latest
  checkpoint that ended the named stage (a run keeps the end of every stage), entered into this
  run's first stage with the step reset to 0 (one copy, as restored: the caller places it)."""
  warm = run.method.warm_start()
  directory = os.path.join(warm.workdir, "checkpoints")
  what = f"a run that finished its {warm.after_stage!r} stage"
  if not _exists_on_process_0(directory):
    raise FileNotFoundError(f"warm start from {warm.workdir!r}: it has no checkpoints/ (give the "
                            f"workdir of {what})")
  ckpts = ckpt_lib.Checkpoints(directory, read_only=True)
  try:
    step = ckpts.last_step_ending(warm.after_stage)
    if step is None:
      article = "an" if warm.after_stage[:1] in "aeiou" else "a"
      raise ValueError(f"warm start: no checkpoint in {directory} (steps {ckpts.all_steps()}) is "
                       f"the end of {article} {warm.after_stage} stage")
    state, _ = ckpts.restore(step, restore_target(run, sample_batch, None))
  finally:
    ckpts.close()
  return run.method.enter_stage(state, run.method.stages()[0].name).replace(
      step=jnp.zeros((), jnp.int32))


def restore_target(run: Run, sample_batch, stage_index: int | None):
  """What ``Checkpoints.restore`` fills: :func:`abstract_state` with the runner's shardings."""
  return run.runner.abstract_state(abstract_state(run, sample_batch, stage_index))


def fresh_state(run: Run, sample_batch):
  """The state a run without checkpoints begins with: ``init_state``, or the warm start's
  (:func:`warm_start_state`); one copy, not yet placed."""
  if run.method.warm_start() is None:
    return run.method.init_state(root_keys(run.config)[0], sample_batch)
  return warm_start_state(run, sample_batch)


def enter_stage(run: Run, state, stage: base.Stage):
  """The placed ``state`` of the previous stage -> the first state of ``stage`` (compiled)."""
  return compile_stage_entry(run, stage)(state)


def compile_stage_entry(run: Run, stage: base.Stage):
  """:func:`enter_stage`'s compiled function (``jax.eval_shape`` of it keeps the placement)."""
  return run.runner.compile_state_fn(functools.partial(run.method.enter_stage, stage=stage.name))


def compile_train_step(run: Run, stage: base.Stage):
  """``stage``'s train step, compiled by the run's runner: ``(state, batch, rng) -> (state,
  metrics)``, donating the state."""
  return run.runner.compile_step(functools.partial(run.method.train_step, stage=stage.name))


class Events(NamedTuple):
  """What the loop does after a step."""
  log: bool
  epoch_end: bool  # the method's on_epoch_end (figures, per-epoch scalars)
  eval: bool
  checkpoint: bool
  refresh: bool  # the method's refresh_extras (e.g. a threshold re-chosen on held-out boxes)


@dataclasses.dataclass(frozen=True)
class Cadence:
  """When the loop logs, runs the hooks, evaluates and checkpoints (in global steps)."""
  steps_per_epoch: int
  total_steps: int
  log_every: int
  eval_every: int  # 0: only the final evaluation
  ckpt_every: int  # 0: only at the end of each stage
  refreshes_per_epoch: int = 1  # Method.extras_per_epoch

  @classmethod
  def of(cls, run: Run) -> "Cadence":
    train_cfg, spe = run.config.train, run.method.info.steps_per_epoch
    return cls(steps_per_epoch=spe, total_steps=run.method.total_steps(),
               log_every=max(1, int(train_cfg.log_every_steps)),
               eval_every=ts.duration_steps(train_cfg, "eval_every", spe),
               ckpt_every=ts.duration_steps(train_cfg, "checkpoint_every", spe),
               refreshes_per_epoch=run.method.extras_per_epoch())

  @functools.cached_property
  def refresh_points(self) -> frozenset[int]:
    """Steps into an epoch (1..steps_per_epoch) after which ``refresh_extras`` runs: the epoch
    cut into ``refreshes_per_epoch`` near-equal parts (at most one per step), the last its end."""
    spe, times = self.steps_per_epoch, min(self.refreshes_per_epoch, self.steps_per_epoch)
    return frozenset(max(1, round(k * spe / times)) for k in range(1, times + 1))

  def events(self, step: int, start: int, end: int) -> Events:
    """What to do after global ``step`` of a stage spanning ``[start, end)``."""
    into_epoch = (step - start) % self.steps_per_epoch or self.steps_per_epoch
    return Events(
        log=step % self.log_every == 0 or step == end,
        epoch_end=into_epoch == self.steps_per_epoch,
        eval=self.eval_every > 0 and step % self.eval_every == 0 and step != self.total_steps,
        checkpoint=(self.ckpt_every > 0 and step % self.ckpt_every == 0) or step == end,
        refresh=into_epoch in self.refresh_points)


def hook_context(run: Run, writer, hook_batch, stage: base.Stage, epoch: int, step: int
                 ) -> base.HookContext:
  return base.HookContext(workdir=run.workdir, writer=writer, sample_batch=hook_batch,
                          is_main_process=run.is_main, stage=stage.name, epoch=epoch, step=step,
                          figure_batch=base.figure_batch(run.config, hook_batch))


def run_hooks(run: Run, state, ctx: base.HookContext, *, epoch_end: bool, refresh: bool
              ) -> tuple[Any, dict[str, float]]:
  """The method's ``on_epoch_end`` (if ``epoch_end``) then ``refresh_extras`` (if ``refresh``) on
  the placed ``state``; returns the state with the new extras written in and the scalars to log
  (``<key>: value``)."""
  method, runner = run.method, run.runner
  extra = dict(method.on_epoch_end(runner.single_copy(state), ctx)) if epoch_end else {}
  new_extras = method.refresh_extras(runner.single_copy(state), ctx) if refresh else {}
  if new_extras:
    state = runner.compile_state_fn(
        lambda s, e=new_extras: s.replace(extras={**s.extras, **e}))(state)
    extra.update({k: float(np.asarray(v)) for k, v in new_extras.items() if np.size(v) == 1})
  return state, extra


_all_finite = jax.jit(ts.all_finite)


def save_checkpoint(run: Run, ckpts, state, stage_index: int, step: int, data_iter) -> None:
  """Starts saving the placed ``state`` at ``step`` (stage ``stage_index``) with the iterator's
  position, after checking it finite (:class:`NonFiniteError` otherwise, nothing saved)."""
  if not bool(parallel.host_value(_all_finite(state))):
    _check_finite(step, run.method.stages()[stage_index].name, {"params": float("nan")}, ckpts)
  ckpts.save(step, run.runner.checkpointable(state), checkpoint_meta(run, stage_index, step),
             data_iter=data_iter)


def checkpoint_meta(run: Run, stage_index: int, step: int) -> dict:
  stages = run.method.stages()
  start, end = base.stage_spans(stages)[stage_index]
  return {"fingerprint": run.fingerprint, "method": run.config.method, "step": int(step),
          "stage": stages[stage_index].name, "stage_index": stage_index,
          "stage_start_step": start, "stage_step": int(step) - start,
          "stage_num_steps": end - start,
          "steps_per_epoch": run.method.info.steps_per_epoch,
          "config": ckpt_lib.config_json(run.config)}


class NonFiniteError(FloatingPointError):
  """A training metric became NaN or infinite; the run stopped without saving that state."""


def _check_finite(step: int, stage: str, metrics: dict[str, float], ckpts) -> None:
  bad = {k: v for k, v in metrics.items() if not math.isfinite(v)}
  if bad:
    ckpts.wait()
    last = ckpts.latest_step()
    kept = f"the last good checkpoint is step {last} in {ckpts.directory}" if last is not None \
        else "no checkpoint was saved yet"
    raise NonFiniteError(f"non-finite training metrics at step {step} (stage {stage!r}): "
                         f"{metric_writers.format_scalars(bad)}; stopped without saving; {kept}")


def results_or_train(config: ml_collections.ConfigDict, workdir: str) -> dict[str, float]:
  """``workdir/results.json`` of a finished run, else :func:`train_and_evaluate` (for scripts that
  run many configs and are restarted: finished runs are reused, unfinished ones resume)."""
  done = os.path.join(workdir, "results.json")
  if os.path.isfile(done):
    with open(done, encoding="utf-8") as f:
      return json.load(f)
  return train_and_evaluate(config, workdir)


def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str) -> dict[str, float]:
  """Trains ``config.method`` in ``workdir`` (resuming from its checkpoints); returns the final
  evaluation results (also written to ``workdir/results.json``)."""
  run = setup(config, workdir)
  method, runner, train_cfg = run.method, run.runner, config.train
  steps_per_epoch = method.info.steps_per_epoch
  stages = method.stages()
  spans = base.stage_spans(stages)
  total_steps = spans[-1][1]

  ckpts = ckpt_lib.Checkpoints(run.checkpoint_dir, keep=train_cfg.keep_checkpoints,
                               preserve_steps=[end for _, end in spans])
  writer = metric_writers.MetricWriter(workdir, enabled=run.is_main)
  if run.is_main:
    write_run_files(run)

  loader = train_loader(config)
  train_iter = iter(loader)
  sample_batch = pipeline.first_batch(loader)  # a separate iterator: the data order is untouched
  _, train_rng = root_keys(config)

  latest = ckpts.latest_step()
  if latest is None:
    stage_index = 0
    state = fresh_state(run, sample_batch)
    if method.warm_start() is not None:
      writer.write_text(f"warm start from the end of stage {method.warm_start().after_stage!r} "
                        f"in {method.warm_start().workdir}")
    writer.write_text(f"{method.name}: {len(stages)} stage(s) "
                      f"{[(s.name, s.num_steps) for s in stages]}, {steps_per_epoch} steps/epoch, "
                      f"{jax.device_count()} device(s), {config.parallelism}")
  else:
    stage_index = int(ckpts.read_meta(latest)["stage_index"])
    state, _ = ckpts.restore(latest, restore_target(run, sample_batch, stage_index),
                             data_iter=train_iter)
    writer.write_text(f"resumed from step {latest} (stage {stages[stage_index].name!r}) "
                      f"in {ckpts.directory}")
  state = runner.place_state(state)
  step = int(parallel.host_value(runner.single_copy(state).step))

  cadence = Cadence.of(run)
  predict_fn = evaluate.compile_predict(method, runner)
  hook_batch = None

  pbar = tqdm.tqdm(total=total_steps, initial=step, unit="step", dynamic_ncols=True,
                   disable=not (run.is_main and train_cfg.progress_bar), desc="train")
  try:
    for index in range(stage_index, len(stages)):
      stage = stages[index]
      start, end = spans[index]
      if stage.num_steps == 0:  # e.g. a stage switched off by its config
        continue
      if index > stage_index:  # the state is still the previous stage's
        state = enter_stage(run, state, stage)
      if step >= end:
        continue
      pbar.set_description(f"train[{stage.name}]")
      step_fn = compile_train_step(run, stage)
      window: list[dict[str, float]] = []
      pending = None
      while step < end:
        batch = runner.shard_batch(next(train_iter))
        state, metrics = step_fn(state, batch, train_rng)
        if pending is not None:  # checked one step late so the host never stalls the device
          window.append(fetch_checked(runner, *pending, stage.name, ckpts))
        step += 1
        pending = (step, metrics)
        pbar.update(1)
        events = cadence.events(step, start, end)
        at_log, at_eval, at_ckpt = events.log, events.eval, events.checkpoint
        if any(events):
          window.append(fetch_checked(runner, *pending, stage.name, ckpts))
          pending = None
        if at_log and window:
          scalars = {f"train/{k}": float(np.mean([w[k] for w in window])) for k in window[0]}
          scalars["train/epoch"] = step / steps_per_epoch
          writer.write_scalars(step, scalars)
          pbar.set_postfix(loss=f"{scalars.get('train/loss', float('nan')):.4f}")
          window = []
        if events.epoch_end or events.refresh:
          if hook_batch is None:
            hook_batch = evaluate.first_batch(config)
          ctx = hook_context(run, writer, hook_batch, stage, (step - start) // steps_per_epoch,
                             step)
          state, extra = run_hooks(run, state, ctx, epoch_end=events.epoch_end,
                                   refresh=events.refresh)
          if extra:
            writer.write_scalars(step, {f"{stage.name}/{k}": v for k, v in extra.items()})
        if at_eval:
          results = evaluate.evaluate(method, runner, state, config, predict_fn=predict_fn,
                                      desc=f"eval@{step}", show_progress=run.is_main)
          writer.write_scalars(step, {f"eval/{k}": v for k, v in results.items()},
                               stdout_keys=evaluate.headline_keys(results, "eval/"))
        if at_ckpt:
          save_checkpoint(run, ckpts, state, index, step, train_iter)
    pbar.close()
    ckpts.wait()
    results = evaluate.evaluate(method, runner, state, config, predict_fn=predict_fn,
                                desc="eval", show_progress=run.is_main)
    results["step"] = step
    writer.write_scalars(step, {f"eval/{k}": v for k, v in results.items() if k != "step"},
                         stdout_keys=evaluate.headline_keys(results, "eval/"))
    if run.is_main:
      evaluate.write_results(workdir, results)
      writer.write_text(evaluate.results_table(results, method.primary_eval_group))
    return results
  finally:
    pbar.close()
    pipeline.close_iterator(train_iter)  # its workers and their shared memory
    ckpts.close()
    writer.close()


def write_run_files(run: Run) -> None:
  """``run.workdir``'s ``config.json`` and ``class_names.json`` (what inference on it reads)."""
  io_utils.atomic_write_text(os.path.join(run.workdir, config_defaults.SAVED_CONFIG_FILE),
                             run.config.to_json_best_effort(indent=2))
  write_class_names(run.config, run.workdir)


def write_class_names(config: ml_collections.ConfigDict, workdir: str) -> str:
  """``workdir/class_names.json``: the dataset's class names by label, so that inference on a
  workdir (:mod:`wsol_jax.inference`) needs no dataset; written atomically; returns its path."""
  names = pipeline.class_names(config.data)
  if config.model.num_classes and int(config.model.num_classes) != len(names):
    names = [str(i) for i in range(int(config.model.num_classes))]  # a model head of its own
  return str(io_utils.atomic_write_json(os.path.join(workdir, ckpt_lib.CLASS_NAMES_FILE), names,
                                        indent=0))


def fetch_checked(runner, step, metrics, stage, ckpts) -> dict[str, float]:
  host = runner.metrics_to_host(metrics)
  _check_finite(step, stage, host, ckpts)
  return host


def load_checkpoint(config: ml_collections.ConfigDict, workdir: str, step: int | None = None
                    ) -> tuple[Run, Any, int]:
  """``(run, placed state, step)`` of the latest (or ``step``'s) checkpoint in ``workdir``, after the
  same checks as training (config fingerprint, dataset); for evaluation and figures."""
  run = setup(config, workdir)
  if not _exists_on_process_0(run.checkpoint_dir):
    raise FileNotFoundError(f"no checkpoints in {workdir} (train first, or check --workdir)")
  ckpts = ckpt_lib.Checkpoints(run.checkpoint_dir, read_only=True)
  try:
    step = ckpts.resolve_step(step)
    stage_index = int(ckpts.read_meta(step)["stage_index"])
    sample_batch = pipeline.first_batch(train_loader(config))
    state, _ = ckpts.restore(step, restore_target(run, sample_batch, stage_index))
  finally:
    ckpts.close()
  return run, run.runner.place_state(state), step


def evaluate_checkpoint(config: ml_collections.ConfigDict, workdir: str,
                        step: int | None = None) -> dict[str, float]:
  """Evaluates the latest (or ``step``'s) checkpoint in ``workdir``; writes ``results.json``."""
  run, state, step = load_checkpoint(config, workdir, step)
  results = evaluate.evaluate(run.method, run.runner, state, config, desc=f"eval@{step}",
                              show_progress=run.is_main)
  results["step"] = step
  if run.is_main:
    evaluate.write_results(workdir, results)
    print(evaluate.results_table(results, run.method.primary_eval_group), flush=True)
  return results
def visualize_checkpoint(config: ml_collections.ConfigDict, workdir: str,
                         step: int | None = None) -> list[str]:
  """``--mode=visualize``: the method's figures (``method.write_figures``) of the latest (or
  ``step``'s) checkpoint in ``workdir``, on the first eval batch, into ``workdir/figures``;
  returns the PNG paths written."""
  run, state, step = load_checkpoint(config, workdir, step)
  paths = []
  if run.is_main:
    paths = run.method.write_figures(run.runner.single_copy(state), evaluate.first_batch(config),
                                     os.path.join(workdir, "figures"), f"step{step}")
    for path in paths:
      print(f"wrote {path}", flush=True)
  return paths
