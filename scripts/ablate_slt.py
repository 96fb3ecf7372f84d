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
metric of every run. Runs live in ``--workdir``/<variant>/seed<s> (default: ``<out>.runs``); those
already finished there are reused and unfinished ones resume (delete it to start over);
``--workdir``/jax_cache keeps the compiled steps for the next runs.
"""

from __future__ import annotations

import functools
import os
import sys

import numpy as np
import script_lib

from wsol_jax import io_utils
from wsol_jax import runtime

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
  """``base_path``'s localizer alone (no regressor, no classifier, final checkpoint only) at
  ``seed``, then ``overrides`` ((key, value) pairs: --set), then ``variant``'s switches."""
  return script_lib.load_config(
      base_path,
      {"seed": seed, "slt.regressor.enabled": False, "slt.classifier.enabled": False,
       "train.progress_bar": False, "train.checkpoint_every_epochs": 0.0},  # only the final one
      dict(overrides), VARIANTS[variant])


def table(details: dict) -> str:
  """{variant: [run rows]} -> the per-seed scores, their mean and range, and the other metrics'
  means."""
  rows = []
  for variant, runs in details.items():
    score = script_lib.summarize(r[SCORE] for r in runs)
    mean = lambda key: f"{np.mean([r[key] for r in runs]):.1f}"
    rows.append([variant, ", ".join(f"{s:5.1f}" for s in score.values), f"{score.mean:.1f}",
                 f"{score.range:.1f}", mean("gt_known_loc"), mean("MaxBoxAccV2"), mean("top1_cls")])
  return io_utils.format_table(["variant", "GT-known (MaxBoxAcc) per seed", "mean", "spread",
                                "GT-known@thr", "MaxBoxAccV2", "Top-1 CLS"], rows)


def main(argv=None) -> int:
  parser = script_lib.parser(__doc__)
  script_lib.add_seed_run_flags(parser, out_help="JSON file: {variant: [GT-known %% per seed]}",
                                runs_suffix=".runs", set_example="slt.vst_weight=1.0")
  script_lib.add_config_flag(parser, "synthetic_slt.py")
  parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
  args = parser.parse_args(argv)
  overrides = script_lib.set_overrides(args)
  runner = script_lib.SeedRunner(script_lib.runs_dir(args), describe=lambda r: (
      f"GT-known (MaxBoxAcc) {r[SCORE]:.2f}  GT-known@thr {r['gt_known_loc']:.2f}"))
  runs = runner.run_all([(v, functools.partial(variant_config, args.config, v,
                                               overrides=overrides)) for v in args.variants],
                        args.seeds)
  details = {variant: [dict({k: float(run.results[k]) for k in (SCORE,) + ALSO}, seed=run.seed,
                            seconds=round(run.seconds, 1)) for run in variant_runs]
             for variant, variant_runs in runs.items()}
  print(table(details))
  if "cam" in details and "slt" in details:
    cam, slt = (script_lib.summarize(r[SCORE] for r in details[v]) for v in ("cam", "slt"))
    gain, bar = slt.mean - cam.mean, max(cam.range, slt.range)
    print(f"slt - cam = {gain:+.2f} points; larger seed spread = {bar:.2f}: "
          f"{'exceeds' if gain > bar else 'does NOT exceed'} the spread")
  io_utils.atomic_write_json(args.out, {variant: [r[SCORE] for r in rows]
                                        for variant, rows in details.items()})
  io_utils.atomic_write_json(os.path.splitext(args.out)[0] + ".details.json",
                             {"score": SCORE, "overrides": args.set, "runs": details})
  return 0


if __name__ == "__main__":
  runtime.restart_with_huge_page_malloc()
  sys.exit(main())
