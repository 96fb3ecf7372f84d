"""A training metric of finished runs, per epoch and over seeds: one table.

  python scripts/summarize_train_log.py --metric train/pseudo_box_iou50 \\
      --runs base=W/slt thr4=W2/slt [--out FILE.json]

Each ``--runs NAME=DIR`` names a variant whose seeds are ``DIR/seed*/metrics.jsonl`` (the layout of
``scripts/compare_methods.py`` and the ablation scripts). A run's value for an epoch is the mean of
the metric over the steps logged in it (epoch e: ``e - 1 < train/epoch <= e``: the loop logs
after the step, so an epoch's last step logs ``train/epoch = e``); ``all`` is the mean over every
logged step. The table shows each variant's per-seed values, their mean and the sample standard
deviation over seeds. The metric is a mean
over each logged step's batch (e.g. SLT-Net's ``train/pseudo_box_iou50``: the fraction of the
batch's pseudo-boxes with IoU >= 0.5 against the GT box), so it says how the training signal
evolved, not a test score.
"""

from __future__ import annotations

import glob
import json
import math
import os
import statistics

import script_lib

from wsol_jax import io_utils


def epoch_means(path: str, metric: str) -> dict[str, float]:
  """``metrics.jsonl`` at ``path`` -> ``{'1': mean in epoch 1, ..., 'all': mean of all}`` (epochs
  counted from 1) of the records that hold ``metric`` and ``train/epoch``."""
  by_epoch: dict[int, list[float]] = {}
  with open(path) as f:
    for line_number, line in enumerate(f, 1):
      try:
        record = json.loads(line)
      except json.JSONDecodeError as e:
        raise ValueError(f"{path}:{line_number}: not a JSON record ({e.msg})") from None
      if metric in record and "train/epoch" in record:
        by_epoch.setdefault(max(1, math.ceil(record["train/epoch"])), []).append(record[metric])
  if not by_epoch:
    raise ValueError(f"{path}: no record has {metric!r} with 'train/epoch'")
  out = {str(e): statistics.fmean(v) for e, v in sorted(by_epoch.items())}
  out["all"] = statistics.fmean(v for values in by_epoch.values() for v in values)
  return out


def variant_seeds(directory: str) -> dict[str, str]:
  """``{'seed0': DIR/seed0/metrics.jsonl, ...}`` of the seeds under ``directory`` that have one."""
  paths = sorted(glob.glob(os.path.join(directory, "seed*", "metrics.jsonl")))
  if not paths:
    raise ValueError(f"--runs: {directory} has no seed*/metrics.jsonl")
  return {os.path.basename(os.path.dirname(p)): p for p in paths}


def _parse_runs(items: list[str]) -> dict[str, str]:
  runs = {}
  for item in items:
    name, sep, directory = item.partition("=")
    if not sep or not name or not directory:
      raise ValueError(f"--runs {item!r}: expected NAME=DIR")
    runs[name] = directory
  return runs


def main(argv=None) -> None:
  p = script_lib.parser(__doc__)
  p.add_argument("--metric", required=True,
                 help="the metrics.jsonl key, e.g. train/pseudo_box_iou50")
  p.add_argument("--runs", nargs="+", required=True, help="NAME=DIR, DIR holding seed*/")
  p.add_argument("--scale", type=float, default=100.0, help="multiply values by this (100: %%)")
  p.add_argument("--out", default="", help="write {name: {seed: {epoch: value}}} as JSON here")
  args = p.parse_args(argv)
  values = {name: {seed: epoch_means(path, args.metric)
                   for seed, path in variant_seeds(directory).items()}
            for name, directory in _parse_runs(args.runs).items()}
  epochs = sorted({e for seeds in values.values() for run in seeds.values() for e in run},
                  key=lambda e: (e == "all", int(e) if e.isdigit() else 0))
  rows = []
  for name, seeds in values.items():
    for epoch in epochs:
      per_seed = [run[epoch] * args.scale for run in seeds.values() if epoch in run]
      summary = script_lib.summarize(per_seed)
      rows.append([name, epoch, " / ".join(f"{v:.1f}" for v in per_seed),
                   f"{summary.mean:.1f}", f"{summary.std:.1f}"])
  print(f"{args.metric} (x{args.scale:g}), mean over the logged steps of each epoch")
  print(io_utils.format_table(["variant", "epoch", "per seed", "mean", "std"], rows))
  if args.out:
    io_utils.atomic_write_json(args.out, values)


if __name__ == "__main__":
  main()
