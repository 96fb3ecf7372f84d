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
"seeds", "runtime_s", "figure"}`` and prints the tables (std: the sample standard deviation over
seeds). Runs live in ``--workdir``/init/seed<s> and ``--workdir``/tau<tau>/seed<s> (default:
``<out>.runs``); those already finished there are reused and unfinished ones resume, and
``--workdir``/jax_cache keeps the compiled steps for the next runs. The Fig. 2-style PNG of the
first seed's LCHP-R run is in its workdir (``figures/``).
"""

from __future__ import annotations

import os
import sys
import time

import numpy as np
import script_lib

from wsol_jax import io_utils
from wsol_jax import runtime

GT_KNOWN = "gt_known_loc"


def make_config(args, seed: int, **fields):
  """``--config`` with ``--set``, then ``seed`` and ``fields`` ('a.b' -> value)."""
  return script_lib.load_config(args.config, script_lib.set_overrides(args),
                                {"seed": seed, "train.progress_bar": False, **fields})


def init_variant(args):
  """The init stage alone (pseudo-label baseline and LCHP-I): (name, config of a seed)."""
  return "init", lambda seed: make_config(args, seed, **{"lchp.run_refine": False})


def refine_variant(args, runner: script_lib.SeedRunner, tau: float):
  """LCHP-R at ``tau``: the refine stage alone, started from the seed's finished init-only run:
  (name, config of a seed)."""
  return f"tau{tau:g}", lambda seed: make_config(
      args, seed, **{"lchp.init_from": os.path.abspath(runner.run_dir("init", seed)),
                     "lchp.tau": tau})


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


def main(argv=None) -> int:
  parser = script_lib.parser(__doc__)
  script_lib.add_seed_run_flags(parser, out_help="JSON file for the results", runs_suffix=".runs",
                                set_example="lchp.delta=0.6")
  script_lib.add_config_flag(parser, "synthetic_lchp.py")
  parser.add_argument("--taus", type=float, nargs="+", default=[0.0, 0.5, 0.7, 0.9])
  args = parser.parse_args(argv)
  runner = script_lib.SeedRunner(script_lib.runs_dir(args),
                                 describe=lambda r: f"GT-known {r[GT_KNOWN]:.2f}")
  start = time.time()

  main_tau = float(make_config(args, args.seeds[0]).lchp.tau)
  runs = runner.run_all([init_variant(args), refine_variant(args, runner, main_tau)], args.seeds)
  inits, refined = runs["init"], runs[f"tau{main_tau:g}"]
  out = {"pseudo_label": [r.results[f"pseudo_label/{GT_KNOWN}"] for r in inits],
         "lchp_i": [r.results[GT_KNOWN] for r in inits],
         "lchp_r": [r.results[GT_KNOWN] for r in refined], "seeds": list(args.seeds),
         "tau": main_tau, "config": os.path.relpath(args.config), "overrides": list(args.set)}

  seed = args.seeds[0]
  quality = train_set_quality(inits[0].config, inits[0].workdir)
  sweep = []
  for tau in args.taus:
    kept = quality["confidence"] > tau
    with_gt = kept & (quality["has_gt"] > 0)
    name, config_for = refine_variant(args, runner, tau)
    refined_run = runner.run(name, seed, config_for(seed))
    refined_check = constant_box_check(train_set_quality(refined_run.config, refined_run.workdir))
    sweep.append({"tau": tau, "kept": int(kept.sum()), "kept_frac": float(kept.mean()),
                  "train_gt_known": float(100.0 * quality["gt_known"][with_gt].sum()
                                          / max(with_gt.sum(), 1)),
                  "test_gt_known": refined_run.results[GT_KNOWN],
                  "lchp_r_centre_std_px": refined_check["lchp_i_centre_std_px"]})
  out["tau_sweep"] = sweep
  out["constant_box_check"] = constant_box_check(quality)
  out["train_size"] = int(len(quality["confidence"]))
  out["figure"] = os.path.join(refined[0].workdir, "figures")
  out["runtime_s"] = time.time() - start
  io_utils.atomic_write_json(args.out, out)

  fmt = lambda v: f"{v:.2f}"
  rows = []
  for key, name in (("pseudo_label", "pseudo label"), ("lchp_i", "LCHP-I"),
                    ("lchp_r", f"LCHP-R (tau {main_tau:g})")):
    summary = script_lib.summarize(out[key])
    rows.append([name] + [fmt(v) for v in summary.values] + [fmt(summary.mean), fmt(summary.std)])
  print(f"\ntest GT-known LOC (%), {os.path.relpath(args.config)}")
  print(io_utils.format_table(["method"] + [f"seed {s}" for s in args.seeds] + ["mean", "std"],
                              rows, first_column_left=False))
  print(f"\ntau sweep, seed {seed} ({out['train_size']} training images)")
  print(io_utils.format_table(
      ["tau", "kept (LCHP-I, train)", "train GT-known of kept", "test GT-known (LCHP-R)",
       "LCHP-R box-centre std px"],
      [[f"{r['tau']:g}", r["kept"], fmt(r["train_gt_known"]), fmt(r["test_gt_known"]),
        f"{r['lchp_r_centre_std_px']:.1f}"] for r in sweep], first_column_left=False))
  check = out["constant_box_check"]
  print(f"\nLCHP-I on the training images, seed {seed}: GT-known "
        f"{check['lchp_i_train_gt_known']:.2f}; its mean box for every image "
        f"{check['mean_box_train_gt_known']:.2f}; box-centre std "
        f"{check['lchp_i_centre_std_px']:.1f} px (GT {check['gt_centre_std_px']:.1f} px)")
  print(f"\n{out['runtime_s'] / 60:.1f} min; wrote {args.out}")
  return 0


if __name__ == "__main__":
  runtime.restart_with_huge_page_malloc()
  sys.exit(main())
