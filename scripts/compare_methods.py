"""CAM, SLT-Net, LCHP and the baselines (HaS, ACoL, SPG, ADL, CutMix) trained from the same ImageNet
weights on the same data, over seeds: one table.

  python scripts/compare_methods.py --manual_dir ../shared/data/cub25 \\
      --weights ../shared/weights/mobilenet_7_5_224_tf.h5 [--seeds 0 1 2] [--methods cam slt lchp] \\
      [--workdir W] --out FILE.json [--set KEY=VALUE ...] [--figure FILE.png]

Each method runs its CPU recipe (configs/cub_<method>_mobilenet.py) with
``data.manual_dir=--manual_dir``, ``model.pretrained=--weights`` and ``seed``, and only the final
evaluation, in ``W/<method>/seed<s>`` (W defaults to FILE without ``.json`` + ``_runs``). A
finished run (its ``results.json``) is reused, an unfinished one resumes; a run that fails stops
the script with its error (never a missing row). A finished run whose ``results.json`` predates
``centre_spread`` is evaluated again from its last checkpoint. ``W/jax_cache`` keeps the compiled
steps, so the seeds after the first (and a restarted call) do not compile them again.

Rows: ``cam`` (the CAM localizer), ``has``, ``acol``, ``spg``, ``adl``, ``cutmix`` (each
baseline's localizer and its map, scored as CAM's), ``slt_localizer`` (SLT-Net's localizer: top-K ACAM), ``slt``
(the system: classifier + regressor), ``lchp_pseudo`` (Algorithm 1's boxes from the EMA
classifier), ``lchp_i`` and ``lchp_r`` (LCHP's regressor after init and after refine; both with
LCHP's classifier). Columns: Top-1 CLS, Top-1 LOC, GT-known LOC, MaxBoxAcc, MaxBoxAccV2 (%, the
test split). A box row has no score-map threshold to sweep, so its MaxBoxAcc is its box accuracy
at IoU 50 (= GT-known) and its MaxBoxAccV2 the mean of its accuracies at IoU 30, 50 and 70, which
is what wsolevaluation's definitions give for a single box. Every box row also gets
``centre_spread`` from its evaluation: sqrt(var of the predicted box centres / var of the GT box
centres) over the test images (x and y variances summed; 1 = boxes move with the objects, 0 = one
box for all).

Each cell is the per-seed list, its mean and its spread (the sample standard deviation over seeds;
0 for one seed). ``--out``: ``{row: {metric: [value per seed]}}`` (metrics ``top1_cls``,
``top1_loc``, ``gt_known_loc``, ``MaxBoxAcc``, ``MaxBoxAccV2``, ``centre_spread``), plus
``"_meta"`` (seeds, methods, paths, minutes per run). ``--figure``: one PNG, a row per method
(the first seed's runs) over the same 8 test images: the heat map each method localizes from, the
GT box red, the method's box green (LCHP: Algorithm 1's attention map and pseudo-box, yellow).
"""

from __future__ import annotations

import functools
import sys

import numpy as np
import script_lib

from wsol_jax import io_utils
from wsol_jax import runtime

# The baselines: the CAM recipe with one piece changed (wsol_jax.methods.common.CAMLocalizerMethod).
BASELINES = ("has", "acol", "spg", "adl", "cutmix")
METHODS = ("cam", "slt", "lchp") + BASELINES
METRICS = ("top1_cls", "top1_loc", "gt_known_loc", "MaxBoxAcc", "MaxBoxAccV2")
LABELS = {"top1_cls": "Top-1 CLS", "top1_loc": "Top-1 LOC", "gt_known_loc": "GT-known LOC",
          "MaxBoxAcc": "MaxBoxAcc", "MaxBoxAccV2": "MaxBoxAccV2",
          "centre_spread": "centre spread"}
# row -> (method, results-key prefix, whether the row is a box and so has a centre_spread).
ROWS = {"cam": ("cam", "", False),
        **{name: (name, "", False) for name in BASELINES},
        "slt_localizer": ("slt", "localizer/", False),
        "slt": ("slt", "", True),
        "lchp_pseudo": ("lchp", "pseudo_label/", True),
        "lchp_i": ("lchp", "lchp_i/", True),
        "lchp_r": ("lchp", "", True)}


def make_config(method: str, args, seed: int):
  """``method``'s CPU recipe on ``--manual_dir`` from ``--weights`` at ``seed``, then ``--set``."""
  # Only the final evaluation (the table's) runs: the recipes' per-epoch ones cost SLT-Net's and
  # LCHP's runs minutes each and change nothing they train.
  return script_lib.load_config(
      script_lib.CONFIGS / f"cub_{method}_mobilenet.py",
      {"data.manual_dir": args.manual_dir, "model.pretrained": args.weights, "seed": seed,
       "train.progress_bar": False, "train.eval_every_epochs": 0.0},
      script_lib.set_overrides(args))


def row_metrics(results: dict, prefix: str, is_box: bool) -> dict[str, float]:
  """The table's metrics of one prediction group of a run's results (see the docstring)."""
  get = lambda key: results[prefix + key]
  out = {k: float(get(k)) for k in ("top1_cls", "top1_loc", "gt_known_loc")}
  if is_box:
    out["MaxBoxAcc"] = float(get("gt_known_loc@50"))
    out["MaxBoxAccV2"] = float(np.mean([get(f"gt_known_loc@{t}") for t in (30, 50, 70)]))
    out["centre_spread"] = float(get("centre_spread"))
  else:  # a score map (CAM / ACAM)
    out["MaxBoxAcc"], out["MaxBoxAccV2"] = float(get("MaxBoxAcc")), float(get("MaxBoxAccV2"))
  return out


def run_results(config, workdir: str) -> dict[str, float]:
  """The finished run's results (trained now, resumed or reused), evaluated again from its last
  checkpoint if they predate ``centre_spread``."""
  from wsol_jax.training import loop  # pylint: disable=import-outside-toplevel
  results = loop.results_or_train(config, workdir)  # raises if the run fails
  prefixes = [p for (m, p, is_box) in ROWS.values() if m == config.method and is_box]
  if any(p + "centre_spread" not in results for p in prefixes):
    results = loop.evaluate_checkpoint(config, workdir)
  return results


def figure_row(config, workdir: str, method: str, images: np.ndarray,
               gt_boxes: np.ndarray) -> list[np.ndarray]:
  """``method``'s finished run on ``images`` (uint8 [N, H, W, 3]; ``gt_boxes`` [N, 4] xyxy px, red):
  the heat map it localizes from and its box (green). CAM: the top-1 class's CAM and the CAM box;
  SLT-Net: the top-K ACAM and the regressor's box; LCHP: the attention map of Algorithm 1 (EMA
  classifier), its pseudo-box (yellow) and LCHP-R's box. -> one tile per image."""
  from wsol_jax import drawing, inference  # pylint: disable=import-outside-toplevel
  from wsol_jax.localization import scoremaps  # pylint: disable=import-outside-toplevel
  records = inference.load(workdir).predict(list(images), return_maps=True)
  pseudo = [[] for _ in images]
  if method == "lchp":  # its inference has no map: draw what its pseudo-labels come from
    from wsol_jax.methods.lchp import attention_boxes  # pylint: disable=import-outside-toplevel
    from wsol_jax.models import heads  # pylint: disable=import-outside-toplevel
    from wsol_jax.training import loop  # pylint: disable=import-outside-toplevel
    run, state, _ = loop.load_checkpoint(config, workdir)
    lchp, x = run.method, heads.model_input(images)
    features = lchp.classifier().apply(state.ema_params, x, train=False)
    maps = np.asarray(attention_boxes.attention_map(features[lchp.lchp.attention_source]))
    for r, m in zip(records, maps):
      r["scoremap"] = m
    pseudo = [[(b, drawing.YELLOW)] for b in
              np.asarray(lchp.state_pseudo_boxes(state, x).boxes_xyxy)]
  tiles = []
  for r, gt, more in zip(records, gt_boxes, pseudo):
    score = r.get("scoremap")
    if score is not None:
      score = scoremaps.upsample_scoremaps_reference(score[None], images.shape[1:3])[0]
    drawn = [(gt, drawing.RED)] + more + [(np.asarray(r["box_xyxy"]), drawing.GREEN)]
    tiles.append(drawing.box_tile(r["image"], drawn, score))
  return tiles


def write_figure(args, runner: script_lib.SeedRunner, seed: int, path: str,
                 num_images: int = 8) -> str:
  """``path``: one row per method of ``args.methods`` (seed ``seed``, its run in ``runner``), the
  same ``num_images`` test images (evenly spaced over the test split) in every row."""
  from wsol_jax import drawing  # pylint: disable=import-outside-toplevel
  from wsol_jax.data import pipeline  # pylint: disable=import-outside-toplevel
  rows, labels = [], []
  for method in args.methods:
    config = make_config(method, args, seed)
    if not rows:
      batch = next(iter(pipeline.make_eval_loader(config.data, num_images,
                                                  num_records=num_images)))
      images, gt_boxes = np.asarray(batch["image"]), np.asarray(batch["bboxes"])[:, 0]
    rows.append(figure_row(config, runner.run_dir(method, seed), method, images, gt_boxes))
    labels.append(method)
  drawing.save_png(path, drawing.grid(rows, row_labels=labels))
  return path


def collect(runs: dict[str, list[script_lib.Run]]) -> dict[str, dict[str, list[float]]]:
  """{method: [its Run per seed]} -> {row: {metric: [per seed]}}."""
  table = {}
  for row, (method, prefix, is_box) in ROWS.items():
    if method not in runs:
      continue
    cells = {}
    for run in runs[method]:
      for k, v in row_metrics(run.results, prefix, is_box).items():
        cells.setdefault(k, []).append(v)
    table[row] = cells
  return table


def format_table(table: dict[str, dict[str, list[float]]]) -> str:
  """Each cell: the mean, ±the sample standard deviation, [the per-seed values]."""
  columns = list(METRICS) + ["centre_spread"]

  def cell(values):
    if not values:
      return "-"
    s = script_lib.summarize(values)
    return f"{s.mean:.2f} ±{s.std:.2f} [" + ", ".join(f"{x:.2f}" for x in s.values) + "]"

  return io_utils.format_table(["row"] + [LABELS[c] for c in columns],
                               [[row] + [cell(cells.get(c, [])) for c in columns]
                                for row, cells in table.items()])


def main(argv=None) -> int:
  parser = script_lib.parser(__doc__)
  script_lib.add_data_flags(parser)
  script_lib.add_seed_run_flags(parser, out_help="the JSON file written at the end",
                                runs_suffix="_runs", set_example="train.num_epochs=1")
  parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=METHODS)
  parser.add_argument("--figure", default="",
                      help="also draw this PNG: the same 8 test images for every method (the "
                           "first seed's runs): heat map, GT box red, the method's box green")
  args = parser.parse_args(argv)
  runner = script_lib.SeedRunner(script_lib.runs_dir(args), results_fn=run_results)
  script_lib.require_paths(args.manual_dir, args.weights)
  runs = runner.run_all([(m, functools.partial(make_config, m, args)) for m in args.methods],
                        args.seeds)

  table = collect(runs)
  out = dict(table)
  out["_meta"] = {"seeds": list(args.seeds), "methods": list(args.methods),
                  "manual_dir": args.manual_dir, "weights": args.weights,
                  "overrides": list(args.set),
                  "minutes_this_call": {f"{r.name}/seed{r.seed}": r.seconds / 60
                                        for method_runs in runs.values() for r in method_runs},
                  "spread": "sample standard deviation over seeds"}
  io_utils.atomic_write_json(args.out, out)
  print(f"\ntest split, {len(args.seeds)} seed(s): mean ±spread [per seed]\n"
        + format_table(table), flush=True)
  print(f"wrote {args.out}", flush=True)
  if args.figure:
    print(f"wrote {write_figure(args, runner, args.seeds[0], args.figure)}", flush=True)
  return 0


if __name__ == "__main__":
  runtime.restart_with_huge_page_malloc()
  sys.exit(main())
