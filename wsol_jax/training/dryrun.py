"""``--mode=dryrun``: every part of a recipe for a few steps, timed, before a day of GPU time.

``dryrun(config, workdir, steps=2)`` runs the config as it is (its backbones, input sizes, dataset
and weights) through what a real run does, in order, with the training loop's own pieces
(:mod:`wsol_jax.training.loop`):

1. the loop's start-up checks on ``workdir`` (``loop.setup``); then every program the recipe runs
   -- each stage's train step, the evaluation's predict (ten-crop where configured) -- compiled on
   the first train and eval batches (an eval split smaller than ``eval.batch_size`` is padded to
   it, as evaluation pads its last batch) and its memory read from XLA's analysis
   (:mod:`wsol_jax.training.memory`) BEFORE anything runs or is initialised. One over the limit
   (the device's ``bytes_limit``; on a CPU the host's available memory plus what the process holds;
   ``memory_limit_gb`` / ``--dryrun_memory_limit_gb`` sets a smaller one) stops the dryrun with one
   line naming the part, its peak, the limit and the setting to lower (:class:`MemoryLimitError`).
   ``steps=0`` (``--dryrun_steps=0``) stops here: the memory check only. Then the first state (or
   the warm start);
2. every stage of the method (SLT-Net: localization, classifier; LCHP: init, refine; CAM: train),
   entered as the loop enters it at its real first step: ``steps`` train steps, then the epoch-end
   hooks (threshold / delta selection, figures) as after the stage's last epoch;
3. a checkpoint saved, restored into the loop's resume target and compared with what was saved;
4. ``steps`` batches of the real evaluator (ten-crop where configured) on the restored state, and
   the method's figures (``--mode=visualize``);
5. ``--mode=export`` of the checkpoint and ``--mode=predict`` of 2 test images from the exported file.

Everything it writes is under ``workdir/dryrun/`` (emptied first): ``workdir/checkpoints`` is never
created or read for resuming, so a later ``--mode=train`` in the same workdir starts from scratch.

It prints one table (per stage: compile seconds, seconds per step, input seconds per batch,
images/s, the compiled program's memory and the peak memory measured so far; the same for the
hooks, ``hooks[stage]`` the method's on_epoch_end and ``refresh[stage]`` its refresh_extras, and for
the eval step) and the projected wall time of the whole recipe on this machine: each stage's real
step count (from the dataset size, the batch and the epochs, as the loop counts them) x its step
time, the loop's evaluations x eval batches x the eval time per batch, the hooks' time x epochs, the
refreshes' time x refreshes, the checkpoints' time x saves, and the compilations once. The measured
peak is the device's ``peak_bytes_in_use`` where the backend reports it (GPU/TPU), else the
process's peak resident memory so far (CPU); the table says which.

The first problem stops it with one line naming the part (``stage 'localization': train step``,
``checkpoint``, ``eval``, ...): :class:`DryrunError` (:class:`MemoryLimitError`), or the loop's own
one-line errors.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import os
import shutil
import time
from typing import Any, Callable, Iterator

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from wsol_jax import io_utils
from wsol_jax.training import checkpoints as ckpt_lib
from wsol_jax.training import evaluator as evaluate
from wsol_jax.training import loop
from wsol_jax.training import memory as memory_lib
from wsol_jax.training import method as base
from wsol_jax.training import metric_writers
from wsol_jax.training import parallel

DRYRUN_DIR = "dryrun"  # under the workdir; all a dryrun writes
PREDICT_IMAGES = 2
# The compile phases JAX reports (jax.monitoring): tracing, lowering to MLIR, XLA compilation.
_COMPILE_EVENTS = ("/jax/core/compile/jaxpr_trace_duration",
                   "/jax/core/compile/jaxpr_to_mlir_module_duration",
                   "/jax/core/compile/backend_compile_duration")


class DryrunError(RuntimeError):
  """A part of the dryrun failed; the message names the part, the error type and its message."""


class MemoryLimitError(DryrunError):
  """A compiled program needs more memory than the limit; the message names the setting to lower."""


# ----------------------------------------------------------------------------------------------
# Measuring.


class Stopwatch:
  """Wall seconds of a ``with`` block and the part of them JAX spent compiling (tracing, lowering,
  XLA: the union of the intervals ``jax.monitoring`` reports, so nested traces count once)."""

  def __enter__(self) -> "Stopwatch":
    self._spans: list[tuple[float, float]] = []
    self.wall = 0.0
    jax.monitoring.register_event_duration_secs_listener(self._record)
    self._start = time.perf_counter()
    return self

  def _record(self, event: str, duration: float, **_) -> None:
    if event in _COMPILE_EVENTS:
      end = time.perf_counter()
      self._spans.append((end - duration, end))

  def __exit__(self, *exc) -> None:
    self.wall = time.perf_counter() - self._start
    jax.monitoring.unregister_event_duration_listener(self._record)

  @property
  def compile_s(self) -> float:
    total, reach = 0.0, -math.inf
    for lo, hi in sorted(self._spans):
      lo = max(lo, reach)
      if hi > lo:
        total += hi - lo
      reach = max(reach, hi)
    return total

  @property
  def run_s(self) -> float:
    """Wall seconds less the compile seconds."""
    return max(0.0, self.wall - self.compile_s)


@dataclasses.dataclass
class Row:
  """One line of the table: ``seconds`` per ``unit`` (step, batch, epoch) and the images in it."""
  part: str
  compile_s: float
  seconds: float
  unit: str
  images: int = 0
  data_s: float = float("nan")  # input pipeline seconds per batch
  loss: float = float("nan")
  peak_bytes: int = 0
  memory: str = ""
  program_bytes: int = 0  # XLA's memory analysis of the compiled program (0: none)


@dataclasses.dataclass
class Program:
  """A compiled program of the recipe: the function the dryrun calls, the global batch rows it was
  compiled for, its memory (None where the backend reports none) and its compile seconds."""
  fn: Callable
  rows: int
  memory: memory_lib.ProgramMemory | None
  compile_s: float

  @property
  def peak_bytes(self) -> int:
    return self.memory.peak if self.memory else 0


def _done(row: Row) -> Row:
  """Prints ``row`` as it finishes (a dryrun of a paper config takes minutes on a CPU)."""
  print(f"dryrun: {row.part}: compiled in {row.compile_s:.1f} s, {row.seconds:.3f} s/{row.unit}",
        flush=True)
  return row


@contextlib.contextmanager
def _part(name: str) -> Iterator[None]:
  """Names ``name`` in any error of the block: the loop's one-line errors keep their type,
  anything else becomes a :class:`DryrunError`."""
  try:
    yield
  except Exception as e:  # pylint: disable=broad-except
    message = f"dryrun {name}: " + " ".join(str(e).split())
    if isinstance(e, (ValueError, FileNotFoundError, loop.NonFiniteError, MemoryLimitError)):
      try:
        raise type(e)(message) from e
      except TypeError:  # an error type built otherwise
        pass
    raise DryrunError(f"dryrun {name}: {type(e).__name__}: "
                      + " ".join(str(e).split())) from e


# ----------------------------------------------------------------------------------------------
# The dryrun.


def dryrun(config: ml_collections.ConfigDict, workdir: str, steps: int = 2, title: str = "",
           memory_limit_gb: float = 0.0) -> dict[str, Any]:
  """Runs ``config``'s recipe ``steps`` steps a stage (module doc) with everything it writes under
  ``workdir/dryrun``; prints the table and the projection; returns ``{'programs': {part:
  Program}, 'rows': [Row], 'projection': [(what, seconds)], 'total_s': float}``. ``steps=0``: the
  memory check only (every program compiled and checked, nothing run; no rows, no projection).
  ``memory_limit_gb`` > 0: the memory limit in GiB instead of the device's."""
  if steps < 0:
    raise ValueError(f"--dryrun_steps={steps}: must be >= 0 (0: the memory check only)")
  limit = _memory_limit(memory_limit_gb)
  run = loop.setup(config, workdir)  # the checks of a real run in this workdir
  dry = dataclasses.replace(run, workdir=os.path.join(workdir, DRYRUN_DIR))
  if dry.is_main:
    shutil.rmtree(dry.workdir, ignore_errors=True)
    os.makedirs(dry.workdir)
    loop.write_run_files(dry)
  method, runner = run.method, run.runner
  stages, spans = method.stages(), base.stage_spans(method.stages())
  if not any(stage.num_steps for stage in stages):
    raise ValueError(f"config.train: every stage of {method.name!r} has 0 steps "
                     f"{[(s.name, s.num_steps) for s in stages]}")
  rows: list[Row] = []
  ckpts = ckpt_lib.Checkpoints(dry.checkpoint_dir, keep=1)
  writer = metric_writers.MetricWriter(dry.workdir, enabled=dry.is_main)
  try:
    with _part("data"):
      # The first train and eval batches, read in this process (no data workers to start): the
      # programs compile on their shapes, and the loop's own loaders give the same batches.
      sample_batch = next(iter(loop.train_loader(config, worker_count=0)))
      hook_batch = evaluate.first_batch(config, worker_count=0)
    _, train_rng = loop.root_keys(config)
    programs = _compile_programs(dry, sample_batch, hook_batch, train_rng, limit)
    if steps == 0:
      if run.is_main:
        print(_memory_report(programs, limit, title or config.method), flush=True)
      return {"programs": programs, "rows": [], "projection": [], "total_s": 0.0}
    with _part("data"):
      loader = loop.train_loader(config)
      train_iter = iter(loader)
    with _part("initial state"):
      state = runner.place_state(loop.fresh_state(run, sample_batch))
    trained = (0, 0)  # (stage index, global step) of the last trained stage
    for index, stage in enumerate(stages):
      if stage.num_steps == 0:  # as the loop: never entered
        print(f"stage {stage.name!r}: 0 steps in this config, skipped", flush=True)
        continue
      start, _ = spans[index]
      with _part(f"stage {stage.name!r}: entering it"):
        if index > 0:
          state = loop.enter_stage(dry, state, stage)
          state = runner.compile_state_fn(
              lambda s, at=start: s.replace(step=jnp.full_like(s.step, at)))(state)
      with _part(f"stage {stage.name!r}: train step"):
        state, row = _train_steps(dry, stage, programs[f"train[{stage.name}]"], state,
                                  train_iter, train_rng, steps, ckpts)
        rows.append(_done(row))
      with _part(f"stage {stage.name!r}: hooks"):
        state, hook_rows = _hooks(dry, stage, state, writer, hook_batch, start + steps)
        rows.extend(_done(row) for row in hook_rows)
      trained = (index, start + steps)
    with _part("checkpoint"):
      state, row = _checkpoint_round_trip(dry, ckpts, state, *trained, loader, train_iter,
                                          sample_batch)
      rows.append(_done(row))
    with _part("eval"):
      rows.append(_done(_evaluate(dry, programs["eval"], state, steps)))
    with _part("figures"):
      with Stopwatch() as watch:
        method.write_figures(runner.single_copy(state), hook_batch,
                             os.path.join(dry.workdir, "figures"), "dryrun")
      rows.append(_done(Row("figures (--mode=visualize)", watch.compile_s, watch.run_s, "call")))
    with _part("export and predict"):
      rows += [_done(r) for r in _export_and_predict(dry, trained[1], hook_batch)]
  finally:
    ckpts.close()
    writer.close()
  projection = _projection(dry, rows)
  total = sum(seconds for _, seconds in projection)
  if run.is_main:
    print(_report(dry, rows, projection, total, steps, title, limit), flush=True)
    print(f"dryrun files: {dry.workdir} (nothing written to {run.checkpoint_dir})", flush=True)
  return {"programs": programs, "rows": rows, "projection": projection, "total_s": total}


def _memory_limit(limit_gb: float) -> tuple[int, str] | None:
  """``(bytes, what)`` the programs may use: ``limit_gb`` GiB when > 0, else the device's
  (:func:`wsol_jax.training.memory.memory_limit`; None: unknown, nothing is checked)."""
  if limit_gb < 0:
    raise ValueError(f"--dryrun_memory_limit_gb={limit_gb}: must be >= 0 (0: the device's)")
  if limit_gb > 0:
    return int(limit_gb * memory_lib.GIB), "--dryrun_memory_limit_gb"
  return memory_lib.memory_limit()


def _compile_programs(run: loop.Run, sample_batch, eval_batch, train_rng,
                      limit: tuple[int, str] | None) -> dict[str, Program]:
  """``{'train[<stage>]': Program, 'eval': Program}``: every stage's train step and the
  evaluation's predict, compiled in the order they run on the shapes of the placed state (none is
  initialised yet: the first check comes before the networks' initialisation), and each checked
  against ``limit`` as soon as it is compiled (:func:`_compile`). The steps reuse these
  compilations (pmap: compiles again, for the placed arrays)."""
  method, runner = run.method, run.runner
  config = run.config
  with _part("initial state"):
    stage_state = runner.placed_abstract(loop.abstract_state(run, sample_batch, 0))
  programs = {}
  for index, stage in enumerate(method.stages()):
    if stage.num_steps == 0:
      continue
    with _part(f"stage {stage.name!r}: train step"):
      if index > 0:  # as the loop enters it (eval_shape keeps the placement)
        stage_state = jax.eval_shape(loop.compile_stage_entry(run, stage), stage_state)
      programs[f"train[{stage.name}]"] = _compile(
          f"train[{stage.name}]", loop.compile_train_step(run, stage),
          (stage_state, runner.shard_batch(sample_batch), train_rng), sample_batch,
          f"config.train.batch_size={config.train.batch_size}", limit)
  with _part("eval"):
    programs["eval"] = _compile(
        "eval", evaluate.compile_predict(method, runner),
        (stage_state, runner.shard_batch(eval_batch)), eval_batch,
        f"config.eval.batch_size={config.eval.batch_size}", limit)
  return programs


def _compile(part: str, fn, args: tuple, host_batch, setting: str,
             limit: tuple[int, str] | None) -> Program:
  """``fn`` (jitted / pmapped) lowered on ``args`` and compiled, its memory printed and checked:
  over ``limit``, a :class:`MemoryLimitError` naming ``setting`` (what to lower)."""
  with Stopwatch() as watch:
    compiled = fn.lower(*args).compile()
  need = memory_lib.program_memory(compiled)
  rows = len(host_batch["label"]) * jax.process_count()
  program = Program(fn, rows, need, watch.compile_s)
  size = memory_lib.format_bytes
  where = f" of the {size(limit[0])} limit ({limit[1]})" if limit else ""
  print(f"dryrun: {part}: compiled in {watch.compile_s:.1f} s at batch {rows}; needs "
        + (f"{size(need.peak)} ({need.describe()}){where}" if need else
           "memory not reported by this backend"), flush=True)
  if need and limit and need.peak > limit[0]:
    raise MemoryLimitError(f"needs {size(need.peak)} at batch {rows} ({need.describe()}), over "
                           f"the {size(limit[0])} limit ({limit[1]}): lower {setting}")
  return program


def _train_steps(run: loop.Run, stage: base.Stage, program: Program, state, train_iter, train_rng,
                 steps: int, ckpts) -> tuple[Any, Row]:
  """``steps`` steps of ``stage``'s compiled step (``program``) as the loop takes them, each
  awaited; the step time is that of the steps after the first (which holds any compilation left,
  e.g. pmap's for a later stage)."""
  step_fn = program.fn
  start = int(parallel.host_value(run.runner.single_copy(state).step))
  step_s, data_s, losses = [], [], []
  with Stopwatch() as watch:
    for i in range(steps):
      t0 = time.perf_counter()
      batch = run.runner.shard_batch(next(train_iter))
      t1 = time.perf_counter()
      state, metrics = step_fn(state, batch, train_rng)
      host = loop.fetch_checked(run.runner, start + i + 1, metrics, stage.name, ckpts)
      step_s.append(time.perf_counter() - t1)
      data_s.append(t1 - t0)
      losses.append(host.get("loss", float("nan")))
  later = slice(1, None) if steps > 1 else slice(None)
  seconds = float(np.mean(step_s[later])) if steps > 1 else max(0.0, step_s[0] - watch.compile_s)
  peak, where = memory_lib.peak_memory()
  return state, Row(f"train[{stage.name}]", program.compile_s + watch.compile_s, seconds, "step",
                    images=program.rows, data_s=float(np.mean(data_s[later])),
                    loss=float(np.mean(losses)), peak_bytes=peak, memory=where,
                    program_bytes=program.peak_bytes)


def _hooks(run: loop.Run, stage: base.Stage, state, writer, hook_batch, step: int
           ) -> tuple[Any, list[Row]]:
  """The loop's hooks as after ``stage``'s last epoch (figures included), timed apart:
  ``hooks[stage]`` (on_epoch_end) and ``refresh[stage]`` (refresh_extras)."""
  epochs = -(-stage.num_steps // run.method.info.steps_per_epoch)
  ctx = loop.hook_context(run, writer, hook_batch, stage, epochs, step)
  rows = []
  for part, unit, refresh in (("hooks", "epoch", False), ("refresh", "refresh", True)):
    with Stopwatch() as watch:
      state, extra = loop.run_hooks(run, state, ctx, epoch_end=not refresh, refresh=refresh)
      jax.block_until_ready(state)
    if extra:
      writer.write_scalars(step, {f"{stage.name}/{k}": v for k, v in extra.items()})
    peak, where = memory_lib.peak_memory()
    rows.append(Row(f"{part}[{stage.name}]", watch.compile_s, watch.run_s, unit,
                    peak_bytes=peak, memory=where))
  return state, rows


def _checkpoint_round_trip(run: loop.Run, ckpts, state, stage_index: int, step: int, loader,
                           train_iter, sample_batch) -> tuple[Any, Row]:
  """Saves as the loop saves, restores into the loop's resume target (into a fresh iterator of
  ``loader``) and checks every array came back equal; returns the restored, placed state."""
  with Stopwatch() as watch:
    loop.save_checkpoint(run, ckpts, state, stage_index, step, train_iter)
    ckpts.wait()
  restored, meta = ckpts.restore(step, loop.restore_target(run, sample_batch, stage_index),
                                 data_iter=iter(loader))
  if meta.get("stage_index") != stage_index or meta.get("fingerprint") != run.fingerprint:
    raise ValueError(f"{ckpts.directory} step {step}: meta {meta.get('stage_index')}, "
                     f"{meta.get('fingerprint')} != {stage_index}, {run.fingerprint}")
  saved = jax.tree_util.tree_flatten_with_path(jax.device_get(run.runner.checkpointable(state)))
  back = jax.tree_util.tree_flatten_with_path(jax.device_get(restored))
  if saved[1] != back[1]:
    raise ValueError(f"{ckpts.directory} step {step}: the restored state's structure differs "
                     "from the saved one")
  for (path, a), (_, b) in zip(saved[0], back[0]):
    if np.shape(a) != np.shape(b) or np.asarray(a).dtype != np.asarray(b).dtype or not (
        np.array_equal(a, b, equal_nan=np.asarray(a).dtype.kind == "f")):
      raise ValueError(f"{ckpts.directory} step {step}: the restored "
                       f"{jax.tree_util.keystr(path)} differs from the saved one")
  return run.runner.place_state(restored), Row("checkpoint save", watch.compile_s, watch.run_s,
                                               "save")


def _evaluate(run: loop.Run, program: Program, state, steps: int) -> Row:
  """``steps`` batches of the real evaluator with the compiled predict (``program``); seconds per
  batch with the scoring on the host."""
  loader = evaluate.eval_loader(run.config)
  num = evaluate.num_batches(run.config, loader, steps)
  with Stopwatch() as watch:
    evaluate.evaluate(run.method, run.runner, state, run.config, predict_fn=program.fn,
                      loader=loader, desc="dryrun eval", show_progress=run.is_main,
                      max_batches=num)
  peak, where = memory_lib.peak_memory()
  return Row("eval", program.compile_s + watch.compile_s, watch.run_s / num, "batch",
             images=program.rows, peak_bytes=peak, memory=where,
             program_bytes=program.peak_bytes)


def _export_and_predict(run: loop.Run, step: int, hook_batch) -> list[Row]:
  """``--mode=export`` of the dryrun's checkpoint, then ``--mode=predict`` of the first
  :data:`PREDICT_IMAGES` eval images (as PNG files) from the exported file."""
  from wsol_jax import drawing  # pylint: disable=import-outside-toplevel
  from wsol_jax import inference  # pylint: disable=import-outside-toplevel
  with Stopwatch() as watch:
    path = inference.load(run.workdir, step, config=run.config).export(
        os.path.join(run.workdir, "model" + inference.EXPORT_SUFFIX))
  rows = [Row("export", watch.compile_s, watch.run_s, "call")]
  valid = np.flatnonzero(np.asarray(hook_batch["valid"]))[:PREDICT_IMAGES]
  paths = [str(drawing.save_png(os.path.join(run.workdir, "images", f"test_{i}.png"),
                                np.asarray(hook_batch["image"][i]))) for i in valid]
  with Stopwatch() as watch:
    summary = inference.predict_files(inference.load(path), paths,
                                       os.path.join(run.workdir, "predict"), show_progress=False)
  if summary["num_failed"]:
    raise ValueError("{}: {}".format(*summary["failed"][0]))
  rows.append(Row(f"predict ({len(paths)} image{'s' if len(paths) != 1 else ''})", watch.compile_s, watch.run_s, "call",
                  images=len(paths)))
  return rows


# ----------------------------------------------------------------------------------------------
# The projection and the report.


def _projection(run: loop.Run, rows: list[Row]) -> list[tuple[str, float]]:
  """``(what, seconds)`` of the whole recipe: every stage's steps, the loop's evaluations, hooks
  and checkpoints (counted with the loop's :class:`~wsol_jax.training.loop.Cadence`), and the
  compilations once."""
  by_part = {row.part: row for row in rows}
  cadence = loop.Cadence.of(run)
  stages = run.method.stages()
  evals = 1  # the final one
  out = []
  for stage, (start, end) in zip(stages, base.stage_spans(stages)):
    if stage.num_steps == 0:
      continue
    epochs = refreshes = ckpts = 0
    for step in range(start + 1, end + 1):
      events = cadence.events(step, start, end)
      epochs, refreshes = epochs + events.epoch_end, refreshes + events.refresh
      evals, ckpts = evals + events.eval, ckpts + events.checkpoint
    train, hooks = by_part[f"train[{stage.name}]"], by_part[f"hooks[{stage.name}]"]
    refresh = by_part[f"refresh[{stage.name}]"]
    per_step = max(train.seconds, train.data_s)  # the loop loads a batch while a step runs
    out.append((f"train[{stage.name}]: {stage.num_steps} steps x {per_step:.3g} s",
                stage.num_steps * per_step))
    out.append((f"hooks[{stage.name}]: {epochs} epochs x {hooks.seconds:.3g} s",
                epochs * hooks.seconds))
    out.append((f"refresh[{stage.name}]: {refreshes} x {refresh.seconds:.3g} s",
                refreshes * refresh.seconds))
    save = by_part["checkpoint save"].seconds
    out.append((f"checkpoints[{stage.name}]: {ckpts} saves x {save:.3g} s", ckpts * save))
  eval_row = by_part["eval"]
  batches = evaluate.num_batches(run.config, evaluate.eval_loader(run.config))
  out.append((f"eval: {evals} evaluations x {batches} batches x {eval_row.seconds:.3g} s",
              evals * batches * eval_row.seconds))
  timed = ("train", "hooks", "refresh", "checkpoint save", "eval")
  trained = [r for r in rows if r.part.split("[")[0] in timed]
  out.append(("compilation (once)", sum(r.compile_s for r in trained)))
  return out


def _memory_report(programs: dict[str, Program], limit: tuple[int, str] | None,
                   title: str) -> str:
  """``--dryrun_steps=0``'s table: each program's batch, compile seconds and memory."""
  size = memory_lib.format_bytes
  table = io_utils.format_table(
      ("program", "batch", "compile s", "needs", "XLA's memory analysis"),
      [(part, str(p.rows), f"{p.compile_s:.1f}", size(p.memory.peak) if p.memory else "-",
        p.memory.describe() if p.memory else "not reported by this backend")
       for part, p in programs.items()])
  where = f"{size(limit[0])} ({limit[1]})" if limit else "unknown"
  return "\n".join([f"dryrun of {title}: memory check only (--dryrun_steps=0), limit {where}",
                    table])


def _duration(seconds: float) -> str:
  seconds = int(round(seconds))
  days, rest = divmod(seconds, 86400)
  text = f"{rest // 3600}h{rest % 3600 // 60:02d}m{rest % 60:02d}s"
  return f"{days}d {text}" if days else text


def _report(run: loop.Run, rows: list[Row], projection, total: float, steps: int,
            title: str, limit: tuple[int, str] | None) -> str:
  memory = next((r.memory for r in rows if r.memory), "")
  what = ("device peak_bytes_in_use" if memory == "device"
          else "host RSS: the process's peak so far")
  fmt = lambda x, spec: "-" if x != x else format(x, spec)  # NaN: not measured
  gib = lambda n: f"{n / memory_lib.GIB:.2f}" if n else "-"
  table = io_utils.format_table(
      ("part", "compile s", "s/unit", "unit", "input s/batch", "images/s", "loss",
       "program GiB", f"peak GiB ({memory})"),
      [(r.part, f"{r.compile_s:.1f}", f"{r.seconds:.3f}", r.unit, fmt(r.data_s, ".3f"),
        f"{r.images / r.seconds:.1f}" if r.images and r.seconds > 0 else "-",
        fmt(r.loss, ".4f"), gib(r.program_bytes), gib(r.peak_bytes))
       for r in rows])
  device = f"{jax.device_count()} x {jax.devices()[0].device_kind}"
  info = run.method.info
  limit_text = f"{memory_lib.format_bytes(limit[0])} ({limit[1]})" if limit else "unknown"
  lines = [f"dryrun of {title or run.config.method} ({run.config.method}, {device}, "
           f"{run.config.parallelism}): {steps} step(s) a stage; peak memory: {what}",
           "program GiB: the compiled step's memory (XLA: arguments + outputs - donated + "
           f"temporaries), checked before it ran against the limit {limit_text}",
           table, "",
           f"projected wall time of the whole recipe on this machine ({info.train_size} train "
           f"images, batch {run.config.train.batch_size}, {info.steps_per_epoch} steps/epoch):"]
  width = max(len(w) for w, _ in projection)
  lines += [f"  {w.ljust(width)}  {_duration(s):>12}" for w, s in projection]
  lines.append(f"  {'total'.ljust(width)}  {_duration(total):>12}")
  return "\n".join(lines)
