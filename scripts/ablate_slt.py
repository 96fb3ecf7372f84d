"""SLT-Net's localizer ablation (the paper's Table 5) on synthetic_wsol, several seeds each.

  python scripts/ablate_slt.py --out /tmp/ablate_slt.json [--seeds 0 1 2] [--variants cam slt]
      [--config configs/synthetic_slt.py] [--set slt.vst_weight=1.0 ...] [--workdir DIR]

Variants (every other setting is the config's; all share its localizer schedule, which plays the
part of the paper's "new optimization" baseline):

  cam       cross-entropy (K = 1, alpha = 1), the true class's CAM, no VST
  smt       + L_SMT (the config's K, alpha), still the true class's CAM
  smt_acam  + top-K ACAM as the localization map
  vst       cross-entropy + L_VST only (the paper's fifth column)
  slt       L_SMT + top-K ACAM + L_VST: the full localizer

Only the localizer is trained (no regressor, no classifier: Table 5 scores the localizer alone).
The score is the localizer's GT-known LOC at the best CAM threshold (MaxBoxAcc, IoU 0.5) on the test
split; GT-known at the fixed ``config.eval.cam_threshold`` and MaxBoxAccV2 are printed beside it.
Writes ``--out`` as ``{variant: [GT-known % per seed]}`` and ``<out>.details.json`` with every
metric of every run. Runs already finished in ``--workdir`` are reused (delete it to start over);
``--workdir``/jax_cache keeps the compiled steps for the next runs.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

import numpy as np

from wsol_jax import config_defaults
from wsol_jax import runtime
from wsol_jax.training import loop as train

VARIANTS = {
    "cam": {"slt.smt_k": 1, "slt.smt_alpha": 1.0, "slt.topk_acam": False, "slt.vst_weight": 0.0},
    "smt": {"slt.topk_acam": False, "slt.vst_weight": 0.0},
    "smt_acam": {"slt.topk_acam": True, "slt.vst_weight": 0.0},
    "vst": {"slt.smt_k": 1, "slt.smt_alpha": 1.0, "slt.topk_acam": False},
    "slt": {"slt.topk_acam": True},
}
SCORE = "MaxBoxAcc"
ALSO = ("gt_known_loc", "MaxBoxAccV2", "top1_cls")


def variant_config(base_path: str, variant: str, seed: int, overrides):
  config = config_defaults.load_config_file(base_path)
  config.seed = seed
  config.slt.regressor.enabled = False
  config.slt.classifier.enabled = False
  config.train.progress_bar = False
  config.train.checkpoint_every_epochs = 0.0  # only the final checkpoint
  config_defaults.apply_overrides(config, dict(overrides))
  config_defaults.apply_overrides(config, VARIANTS[variant])
  return config


def spread(values) -> float:
  return float(np.max(values) - np.min(values)) if len(values) else float("nan")


def table(details: dict) -> str:
  lines = [f"{'variant':9s} | {'GT-known (MaxBoxAcc) per seed':32s} | {'mean':>6s} | "
           f"{'spread':>6s} | {'GT-known@thr':>12s} | {'MaxBoxAccV2':>11s} | {'Top-1 CLS':>9s}"]
  lines.append("-" * len(lines[0]))
  for variant, runs in details.items():
    scores = [r[SCORE] for r in runs]
    lines.append(
        f"{variant:9s} | {', '.join(f'{s:5.1f}' for s in scores):32s} | {np.mean(scores):6.1f} | "
        f"{spread(scores):6.1f} | {np.mean([r['gt_known_loc'] for r in runs]):12.1f} | "
        f"{np.mean([r['MaxBoxAccV2'] for r in runs]):11.1f} | "
        f"{np.mean([r['top1_cls'] for r in runs]):9.1f}")
  return "\n".join(lines)


def main(argv=None) -> int:
  parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  parser.add_argument("--out", required=True, help="JSON file: {variant: [GT-known %% per seed]}")
  parser.add_argument("--config", default=os.path.join(os.path.dirname(__file__), "..", "configs",
                                                       "synthetic_slt.py"))
  parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
  parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
  parser.add_argument("--set", dest="overrides", action="append", default=[],
                      help="config override for every run, e.g. slt.vst_weight=1.0")
  parser.add_argument("--workdir", default="", help="where runs go (default: <out>.runs/)")
  args = parser.parse_args(argv)
  overrides = [config_defaults.parse_override(o) for o in args.overrides]
  root = args.workdir or os.path.splitext(args.out)[0] + ".runs"
  runtime.configure_jax(compilation_cache_dir=os.path.join(root, "jax_cache"))
  details: dict[str, list[dict]] = {}
  for variant in args.variants:
    for seed in args.seeds:
      config = variant_config(args.config, variant, seed, overrides)
      start = time.time()
      results = train.results_or_train(config, os.path.join(root, f"{variant}_seed{seed}"))
      row = {k: float(results[k]) for k in (SCORE,) + ALSO}
      row.update(seed=seed, seconds=round(time.time() - start, 1))
      details.setdefault(variant, []).append(row)
      print(f"{variant} seed {seed}: GT-known (MaxBoxAcc) {row[SCORE]:.2f}  "
            f"GT-known@thr {row['gt_known_loc']:.2f}  ({row['seconds']:.0f} s)", flush=True)
  print(table(details))
  if "cam" in details and "slt" in details:
    cam, slt = [r[SCORE] for r in details["cam"]], [r[SCORE] for r in details["slt"]]
    gain, bar = np.mean(slt) - np.mean(cam), max(spread(cam), spread(slt))
    print(f"slt - cam = {gain:+.2f} points; larger seed spread = {bar:.2f}: "
          f"{'exceeds' if gain > bar else 'does NOT exceed'} the spread")
  out = {variant: [r[SCORE] for r in runs] for variant, runs in details.items()}
  os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
  with open(args.out, "w", encoding="utf-8") as f:
    json.dump(out, f, indent=2)
  with open(os.path.splitext(args.out)[0] + ".details.json", "w", encoding="utf-8") as f:
    json.dump({"score": SCORE, "overrides": args.overrides, "runs": details}, f, indent=2)
  return 0


if __name__ == "__main__":
  sys.exit(main())
