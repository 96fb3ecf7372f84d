"""LCHP's ablation on synthetic_wsol: pseudo-label baseline vs LCHP-I vs LCHP-R over seeds, and the
tau sweep of the paper's Table 4.

  python scripts/ablate_lchp.py --out /tmp/ablate_lchp.json [--seeds 0 1 2] [--taus 0 0.5 0.7 0.9]
      [--config configs/synthetic_lchp.py] [--set lchp.delta=0.6 ...] [--workdir DIR]

For every seed: the init stage alone (``lchp.run_refine=False``) gives the pseudo-label baseline
(Algorithm 1 boxes from the EMA classifier) and LCHP-I (the regressor); the refine stage started
from that run (``lchp.init_from``) at the config's tau gives LCHP-R. Every number is the test
split's GT-known LOC (%). On the first seed, the tau sweep refines the same LCHP-I run once per
tau and reports, as Table 4 does, how many of LCHP-I's training-set boxes pass tau (``kept``), their
GT-known on the training images (``train_gt_known``; GT boxes are used for this count only) and
LCHP-R's test GT-known.

Writes ``--out`` = ``{"pseudo_label": [...], "lchp_i": [...], "lchp_r": [...] (one value per seed),
"tau_sweep": [{"tau", "kept", "kept_frac", "train_gt_known", "test_gt_known",
"lchp_r_centre_std_px"}, ...],
"constant_box_check" (does LCHP-I look at the image: its GT-known on the training images beside
that of its mean box used for every image, and the spread of its box centres beside the GT's),
"seeds", "runtime_s", "figure"}`` and prints the tables. Runs already finished in ``--workdir``
are reused, and ``--workdir``/jax_cache keeps the compiled steps for the next runs. The Fig.
2-style PNG of the first seed's LCHP-R run is in its workdir (``figures/``).
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

GT_KNOWN = "gt_known_loc"


def make_config(args, seed: int, **fields):
  config = config_defaults.load_config_file(args.config)
  config_defaults.apply_overrides(config, dict(config_defaults.parse_override(s) for s in args.set))
  config_defaults.apply_overrides(config, {"seed": seed, "train.progress_bar": False, **fields})
  return config


def run(config, workdir: str) -> dict:
  """Train (or resume) in ``workdir``; a finished run's results.json is reused."""
  from wsol_jax.training import loop as train  # pylint: disable=import-outside-toplevel
  start = time.time()
  print(f"--- {workdir}", flush=True)
  results = train.results_or_train(config, workdir)
  print(f"--- {workdir}: {time.time() - start:.0f} s, GT-known {results[GT_KNOWN]:.2f}", flush=True)
  return results


def refine_from(args, seed: int, init_dir: str, tau: float) -> tuple[dict, object, str]:
  """LCHP-R at ``tau``: the refine stage alone, started from the finished init-only run ->
  (results, config, workdir)."""
  config = make_config(args, seed, **{"lchp.init_from": os.path.abspath(init_dir),
                                      "lchp.tau": tau})
  workdir = os.path.join(os.path.dirname(init_dir), f"tau{tau:g}")
  return run(config, workdir), config, workdir


def train_set_quality(config, workdir: str) -> dict[str, np.ndarray]:
  """LCHP-I's boxes on the training images (resized, no augmentation): confidence and GT-known."""
  from wsol_jax.training import evaluator as evaluate, loop as train  # pylint: disable=import-outside-toplevel
  run_, state, _ = train.load_checkpoint(config, workdir)
  quality = run_.runner.compile_predict(run_.method.pseudo_label_quality)
  rows = {"confidence": [], "gt_known": [], "has_gt": [], "boxes": [], "bboxes": [],
          "bboxes_valid": []}
  for batch in evaluate.eval_loader(config, split=config.data.train_split):
    out = dict(quality(state, run_.runner.shard_batch(batch)))
    out.update(bboxes=batch["bboxes"], bboxes_valid=batch["bboxes_valid"])
    valid = np.asarray(batch["valid"], bool)
    for key in rows:
      rows[key].append(np.asarray(out[key])[valid])
  rows = {k: np.concatenate(v) for k, v in rows.items()}
  rows["image_hw"] = (config.data.image_size, config.data.image_size)
  return rows


def constant_box_check(quality) -> dict[str, float]:
  """Does LCHP-I look at the image? Its mean box used for every training image, scored like its
  own boxes, and the spread of its box centres against the GT centres' (pixels, std over images)."""
  import jax.numpy as jnp  # pylint: disable=import-outside-toplevel
  from wsol_jax.localization import boxes as box_lib  # pylint: disable=import-outside-toplevel
  boxes = quality["boxes"]
  constant = np.broadcast_to(boxes.mean(axis=0), boxes.shape)
  hits, has_gt = box_lib.gt_known_hits(jnp.asarray(constant), quality["bboxes"],
                                       quality["bboxes_valid"], quality["image_hw"])
  centre = lambda b: np.stack([(b[..., 0] + b[..., 2]) / 2, (b[..., 1] + b[..., 3]) / 2], -1)
  gt_first = quality["bboxes"][quality["bboxes_valid"][:, 0], 0]
  return {"lchp_i_train_gt_known": float(100.0 * quality["gt_known"].sum()
                                         / max(quality["has_gt"].sum(), 1)),
          "mean_box_train_gt_known": float(100.0 * np.asarray(hits).sum()
                                           / max(float(np.asarray(has_gt).sum()), 1)),
          "lchp_i_centre_std_px": float(centre(boxes).std(axis=0).mean()),
          "gt_centre_std_px": float(centre(gt_first).std(axis=0).mean())}


def table(rows, columns) -> str:
  widths = [max(len(str(c)), *(len(str(r[i])) for r in rows)) for i, c in enumerate(columns)]
  fmt = lambda r: " | ".join(str(v).rjust(w) for v, w in zip(r, widths))
  return "\n".join([fmt(columns), "-+-".join("-" * w for w in widths)] + [fmt(r) for r in rows])


def main(argv=None) -> int:
  parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  parser.add_argument("--out", required=True, help="JSON file for the results")
  parser.add_argument("--config", default=os.path.join(os.path.dirname(__file__), "..", "configs",
                                                       "synthetic_lchp.py"))
  parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
  parser.add_argument("--taus", type=float, nargs="+", default=[0.0, 0.5, 0.7, 0.9])
  parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                      help="config override applied to every run, e.g. lchp.delta=0.6")
  parser.add_argument("--workdir", default=None, help="runs live here (default: <out>.runs)")
  args = parser.parse_args(argv)
  workdir = args.workdir or os.path.splitext(args.out)[0] + ".runs"
  runtime.configure_jax(compilation_cache_dir=os.path.join(workdir, "jax_cache"))
  os.makedirs(workdir, exist_ok=True)
  start = time.time()

  main_tau = float(make_config(args, args.seeds[0]).lchp.tau)
  out = {"pseudo_label": [], "lchp_i": [], "lchp_r": [], "seeds": list(args.seeds),
         "tau": main_tau, "config": os.path.relpath(args.config), "overrides": list(args.set)}
  for seed in args.seeds:
    init_dir = os.path.join(workdir, f"seed{seed}", "init")
    init = run(make_config(args, seed, **{"lchp.run_refine": False}), init_dir)
    refined, _, _ = refine_from(args, seed, init_dir, main_tau)
    out["pseudo_label"].append(init[f"pseudo_label/{GT_KNOWN}"])
    out["lchp_i"].append(init[GT_KNOWN])
    out["lchp_r"].append(refined[GT_KNOWN])

  seed = args.seeds[0]
  init_dir = os.path.join(workdir, f"seed{seed}", "init")
  quality = train_set_quality(make_config(args, seed, **{"lchp.run_refine": False}), init_dir)
  sweep = []
  for tau in args.taus:
    kept = quality["confidence"] > tau
    with_gt = kept & (quality["has_gt"] > 0)
    refined, refined_config, refined_dir = refine_from(args, seed, init_dir, tau)
    refined_check = constant_box_check(train_set_quality(refined_config, refined_dir))
    sweep.append({"tau": tau, "kept": int(kept.sum()), "kept_frac": float(kept.mean()),
                  "train_gt_known": float(100.0 * quality["gt_known"][with_gt].sum()
                                          / max(with_gt.sum(), 1)),
                  "test_gt_known": refined[GT_KNOWN],
                  "lchp_r_centre_std_px": refined_check["lchp_i_centre_std_px"]})
  out["tau_sweep"] = sweep
  out["constant_box_check"] = constant_box_check(quality)
  out["train_size"] = int(len(quality["confidence"]))
  out["figure"] = os.path.join(workdir, f"seed{seed}", f"tau{main_tau:g}", "figures")
  out["runtime_s"] = time.time() - start

  tmp = args.out + ".tmp"
  with open(tmp, "w", encoding="utf-8") as f:
    json.dump(out, f, indent=2)
  os.replace(tmp, args.out)

  fmt = lambda v: f"{v:.2f}"
  rows = [[name] + [fmt(v) for v in out[key]] + [fmt(np.mean(out[key])), fmt(np.std(out[key]))]
          for key, name in (("pseudo_label", "pseudo label"), ("lchp_i", "LCHP-I"),
                            ("lchp_r", f"LCHP-R (tau {main_tau:g})"))]
  print(f"\ntest GT-known LOC (%), {os.path.relpath(args.config)}")
  print(table(rows, ["method"] + [f"seed {s}" for s in args.seeds] + ["mean", "std"]))
  print(f"\ntau sweep, seed {seed} ({out['train_size']} training images)")
  print(table([[f"{r['tau']:g}", r["kept"], fmt(r["train_gt_known"]), fmt(r["test_gt_known"]),
                f"{r['lchp_r_centre_std_px']:.1f}"] for r in sweep],
              ["tau", "kept (LCHP-I, train)", "train GT-known of kept", "test GT-known (LCHP-R)",
               "LCHP-R box-centre std px"]))
  check = out["constant_box_check"]
  print(f"\nLCHP-I on the training images, seed {seed}: GT-known "
        f"{check['lchp_i_train_gt_known']:.2f}; its mean box for every image "
        f"{check['mean_box_train_gt_known']:.2f}; box-centre std "
        f"{check['lchp_i_centre_std_px']:.1f} px (GT {check['gt_centre_std_px']:.1f} px)")
  print(f"\n{out['runtime_s'] / 60:.1f} min; wrote {args.out}")
  return 0


if __name__ == "__main__":
  sys.exit(main())
