"""Evaluation over a method's ``predict``: classification and WSOL localization metrics.

``predict(state, batch)`` returns ``{group: {key: array}}``; each group is scored on its own with
the keys it has (:class:`GroupScorer`):

* ``logits`` [B, C] -> Top-1/5 CLS (and the classes of Top-1/5 LOC);
* ``cam_gt`` [B, h, w], the raw CAM of the true class -> upsampled to the evaluation image size and
  min-max normalised exactly as wsolevaluation (:func:`wsol_jax.localization.scoremaps.upsample_scoremaps_reference`),
  then :class:`wsol_jax.localization.metrics.ScoremapMetrics`: GT-known, Top-1/5 LOC at
  ``config.eval.cam_threshold``, MaxBoxAcc and MaxBoxAccV2 over the threshold grid. (Top-k LOC needs
  no other class's map: a correct class's map is the true class's.)
* ``boxes`` [B, 4] normalised xyxy (a regressor's class-agnostic box) ->
  :class:`wsol_jax.localization.metrics.BoxMetrics`: GT-known, Top-1/5 LOC with the group's logits.

The evaluation image size is the batch's (``config.data.image_size``; GT boxes are in its frame).
The method's ``primary_eval_group`` is reported as ``top1_cls`` etc.; other groups as
``<group>/top1_cls``. Padded rows of the last batch (``valid`` False) are masked out.
"""

from __future__ import annotations

import os
from typing import Callable, Mapping

import jax
import numpy as np
import tqdm
from jax.experimental import multihost_utils

from wsol_jax import io_utils
from wsol_jax.localization import boxes as box_lib
from wsol_jax.localization import scoremaps as cam_lib
from wsol_jax.localization import metrics as metrics_lib
from wsol_jax.training import parallel
from wsol_jax.data import pipeline

# The results table: (key, label), in the order the papers report them.
TABLE_COLUMNS = (("top1_cls", "Top-1 CLS"), ("top5_cls", "Top-5 CLS"), ("top1_loc", "Top-1 LOC"),
                 ("top5_loc", "Top-5 LOC"), ("gt_known_loc", "GT-known LOC"),
                 ("MaxBoxAcc", "MaxBoxAcc"), ("MaxBoxAccV2", "MaxBoxAccV2"))
TOP_K = 5


class GroupScorer:
  """Accumulates one prediction group's metrics over batches (see module doc)."""

  def __init__(self, eval_cfg):
    self.eval_cfg = eval_cfg
    self.scoremaps = None  # metrics.ScoremapMetrics, for 'cam_gt'
    self.boxes = None  # metrics.BoxMetrics, for 'boxes'
    self.cls = None  # Top-1/5 counts, for a group with logits only

  def update(self, preds: Mapping[str, np.ndarray], batch: Mapping[str, np.ndarray]) -> None:
    valid = np.asarray(batch["valid"], bool)
    labels = np.asarray(batch["label"])
    topk = None
    if "logits" in preds:
      logits = np.asarray(preds["logits"])
      topk = np.argsort(-logits, axis=-1, kind="stable")[:, :min(TOP_K, logits.shape[-1])]
    height, width = np.asarray(batch["image"]).shape[-3:-1]
    common = dict(gt_valid=batch["bboxes_valid"], labels=labels if topk is not None else None,
                  topk_classes=topk, valid=valid)
    if "cam_gt" in preds:
      if self.scoremaps is None:
        self.scoremaps = metrics_lib.ScoremapMetrics(
            cam_curve_interval=self.eval_cfg.cam_curve_interval,
            iou_thresholds=tuple(self.eval_cfg.iou_thresholds),
            cam_threshold=self.eval_cfg.cam_threshold, backend=self.eval_cfg.backend)
      maps = cam_lib.upsample_scoremaps_reference(preds["cam_gt"], (height, width))
      self.scoremaps.update(maps, batch["bboxes"], **common)
    if "boxes" in preds:
      if self.boxes is None:
        self.boxes = metrics_lib.BoxMetrics(iou_thresholds=tuple(self.eval_cfg.iou_thresholds))
      pred = box_lib.denormalize_xyxy(np.asarray(preds["boxes"], np.float64), width, height)
      self.boxes.update(pred, batch["bboxes"], (height, width), **common)
    if topk is not None and "cam_gt" not in preds and "boxes" not in preds:
      counts = self.cls or {"num": 0, "top1": 0, "top5": 0}
      counts["num"] += int(valid.sum())
      counts["top1"] += int((metrics_lib.topk_correct(topk, labels, 1) & valid).sum())
      counts["top5"] += int((metrics_lib.topk_correct(topk, labels, topk.shape[1]) & valid).sum())
      self.cls = counts

  def result(self) -> dict[str, float]:
    out: dict[str, float] = {}
    if self.cls and self.cls["num"]:
      out.update(top1_cls=self.cls["top1"] * 100.0 / self.cls["num"],
                 top5_cls=self.cls["top5"] * 100.0 / self.cls["num"])
    for acc in (self.scoremaps, self.boxes):
      if acc is not None:
        out.update({k: float(v) for k, v in acc.compute().items()})
    return out


def eval_loader(config, split: str | None = None, worker_count: int | None = None):
  """This process's padded, masked eval loader of ``split`` / ``config.eval.split`` (or, when both
  are empty, of the data's evaluation split: ``data.eval_split`` or the dataset's own);
  ``worker_count``: instead of ``config.data.worker_count`` (0: in this process)."""
  return pipeline.make_eval_loader(config.data, config.eval.batch_size // jax.process_count(),
                                   split=split or config.eval.split or None,
                                   worker_count=worker_count)


def first_batch(config, worker_count: int | None = None) -> dict[str, np.ndarray]:
  """A fixed eval batch (this process's first), e.g. for per-epoch figures; ``worker_count`` as
  :func:`eval_loader`'s (the same batch whatever the workers: the eval transforms are fixed)."""
  return next(iter(eval_loader(config, worker_count=worker_count)))


def compile_predict(method, runner) -> Callable:
  """The method's predict (on its eval parameters), compiled by ``runner``; returns NumPy arrays
  holding the global batch."""
  return runner.compile_predict(lambda state, batch: method.predict(method.params_for_eval(state),
                                                                     batch))


def _global_host_batch(batch: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
  numeric = parallel.numeric_batch(batch)
  if jax.process_count() == 1:
    return numeric
  return multihost_utils.process_allgather(numeric, tiled=True)


def num_batches(config, loader, max_batches: int | None = None) -> int:
  """Batches an evaluation reads: ``loader``'s, at most ``max_batches`` (default
  ``config.eval.max_batches``; <= 0: no limit)."""
  limit = config.eval.max_batches if max_batches is None else max_batches
  return min(limit, len(loader)) if limit > 0 else len(loader)


def evaluate(method, runner, state, config, *, predict_fn: Callable | None = None,
             loader=None, desc: str = "eval", show_progress: bool = True,
             max_batches: int | None = None) -> dict[str, float]:
  """Runs predict over the eval split and returns the metrics (percent), see module doc.
  ``max_batches``: read only that many batches (default ``config.eval.max_batches``)."""
  predict_fn = predict_fn or compile_predict(method, runner)
  loader = loader if loader is not None else eval_loader(config)
  eval_cfg = config.eval
  scorers: dict[str, GroupScorer] = {}
  limit = num_batches(config, loader, max_batches)
  bar = tqdm.tqdm(total=limit, desc=desc, unit="batch", leave=False,
                  dynamic_ncols=True, disable=not (show_progress and config.train.progress_bar))
  for i, batch in enumerate(loader):
    if i >= limit:
      break
    preds = predict_fn(state, runner.shard_batch(batch))
    host_batch = _global_host_batch(batch)
    for group, group_preds in preds.items():
      scorers.setdefault(group, GroupScorer(eval_cfg)).update(group_preds, host_batch)
    bar.update(1)
  bar.close()
  results: dict[str, float] = {}
  for group, scorer in scorers.items():
    prefix = "" if group == method.primary_eval_group else f"{group}/"
    results.update({f"{prefix}{k}": v for k, v in scorer.result().items()})
  return results


def write_results(workdir: str, results: Mapping[str, float]) -> str:
  """``workdir/results.json`` (sorted keys), written atomically; returns its path."""
  path = os.path.join(workdir, "results.json")
  io_utils.atomic_write_json(path, dict(results), indent=2, sort_keys=True)
  return path


def headline_keys(results: Mapping[str, float], prefix: str = "") -> list[str]:
  """The table's metrics among ``results`` (every group), with ``prefix`` prepended."""
  keys = []
  for k in results:
    base = k.rsplit("/", 1)[-1]
    if base in dict(TABLE_COLUMNS):
      keys.append(prefix + k)
  return keys


def results_table(results: Mapping[str, float], primary_group: str = "") -> str:
  """The results as a text table: one row per prediction group (the unprefixed metrics are
  ``primary_group``'s), the papers' columns."""
  groups = sorted({k.rsplit("/", 1)[0] if "/" in k else "" for k in results if k != "step"})
  cols = [(k, label) for k, label in TABLE_COLUMNS
          if any(f"{g + '/' if g else ''}{k}" in results for g in groups)]
  header = [""] + [label for _, label in cols]
  rows = []
  for g in groups:
    pre = f"{g}/" if g else ""
    rows.append([g or primary_group] + [
        f"{results[pre + k]:.2f}" if pre + k in results else "-" for k, _ in cols])
  step = results.get("step")
  title = f"results at step {int(step)}" if step is not None else "results"
  return "\n".join([title, io_utils.format_table(header, rows, first_column_left=False)])
