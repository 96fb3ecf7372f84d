r"""Contact sheet of a dataset: examples with their boxes, as stored and after train augmentation.

  python scripts/show_data.py --out=docs/synthetic_wsol.png        # the README figure
  python scripts/show_data.py --dataset=cub --data_dir=DIR --out=cub.png

For ``synthetic_wsol`` (``--layout=groups``, its default) rows are groups and columns classes, so
the shared bodies (rows) and the small discriminative parts (columns) are visible at a glance.
Each example appears twice: as stored, and as the train pipeline delivers it (``data.*`` config
fields: crop, resize, flip), with the boxes moved along. Green: the object box; yellow: the
synthetic part box (stored view only). Other datasets: ``--layout=grid``.
"""

from __future__ import annotations

import io
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
from matplotlib import patches  # pylint: disable=g-import-not-at-top
import numpy as np  # pylint: disable=g-import-not-at-top
from PIL import Image  # pylint: disable=g-import-not-at-top
import script_lib  # pylint: disable=g-import-not-at-top

from wsol_jax import io_utils  # pylint: disable=g-import-not-at-top
from wsol_jax.data import pipeline  # pylint: disable=g-import-not-at-top
from wsol_jax.data import synthetic_render  # pylint: disable=g-import-not-at-top
from wsol_jax.data import transforms  # pylint: disable=g-import-not-at-top

_GREEN, _YELLOW = "#33ff33", "#ffd21f"


def _flags():
  parser = script_lib.parser(__doc__)
  parser.add_argument("--dataset", default="synthetic_wsol", help="dataset name")
  parser.add_argument("--data_dir", default="", help="TFDS data dir ('' = default)")
  parser.add_argument("--builder_config", default="", help="builder config ('' = default)")
  parser.add_argument("--split", default="train", help="split to show")
  parser.add_argument("--out", default="contact_sheet.png", help="output PNG")
  parser.add_argument("--layout", default="", choices=["", "groups", "grid"],
                      help="'groups' (synthetic_wsol: rows = groups, columns = classes) or "
                           "'grid'; '' picks by dataset")
  parser.add_argument("--per_class", type=int, default=2, help="groups layout: examples per class")
  parser.add_argument("--num", type=int, default=16, help="grid layout: number of examples")
  parser.add_argument("--train_augment", default="", help="override data.train_augment")
  parser.add_argument("--image_size", type=int, default=0,
                      help="override data.image_size (and resize_size = image_size * 8 / 7)")
  parser.add_argument("--seed", type=int, default=0, help="augmentation seed")
  return parser


def _data_config(args):
  cfg = pipeline.default_data_config()
  cfg.name, cfg.data_dir, cfg.builder_config = args.dataset, args.data_dir, args.builder_config
  if args.image_size:
    cfg.image_size = args.image_size
    cfg.resize_size = args.image_size * 8 // 7
  elif cfg.name != "synthetic_wsol":
    cfg.image_size, cfg.resize_size = 224, 256
  if args.train_augment:
    cfg.train_augment = args.train_augment
  return cfg


def _pick(source, num_classes: int, per_class: int, limit: int = 5000) -> dict[int, list[int]]:
  """Indices of the first ``per_class`` examples of every class."""
  picked: dict[int, list[int]] = {c: [] for c in range(num_classes)}
  for i in range(min(len(source), limit)):
    label = int(source[i]["label"])
    if len(picked[label]) < per_class:
      picked[label].append(i)
    if all(len(v) == per_class for v in picked.values()):
      break
  return picked


def _show(ax, image, boxes, colours, title=None):
  h, w = image.shape[:2]
  ax.imshow(image, extent=(0, w, h, 0), interpolation="nearest")
  for box, colour in zip(boxes, colours):
    x0, y0, x1, y1 = (float(v) for v in box)
    ax.add_patch(patches.Rectangle((x0, y0), x1 - x0, y1 - y0, fill=False, edgecolor=colour,
                                   linewidth=1.6 if colour == _GREEN else 1.0))
  ax.set_xticks([])
  ax.set_yticks([])
  if title:
    ax.set_title(title, fontsize=8)


def _views(example, train_tf, rng):
  """(stored image, stored boxes + colours), (augmented image, its boxes + colours)."""
  boxes = list(np.asarray(example["bboxes"]).reshape(-1, 4))
  colours = [_GREEN] * len(boxes)
  if "part_bboxes" in example:
    boxes += list(np.asarray(example["part_bboxes"]).reshape(-1, 4))
    colours += [_YELLOW] * (len(boxes) - len(colours))
  row = train_tf.random_map(example, rng)
  aug_boxes = row["bboxes"][row["bboxes_valid"]]
  return (example["image"], boxes, colours), (row["image"], aug_boxes, [_GREEN] * len(aug_boxes))


def main(argv=None) -> int:
  args = _flags().parse_args(argv)
  cfg = _data_config(args)
  builder = pipeline.ensure_prepared(cfg)
  source = builder.as_data_source(args.split)
  names = builder.info.features["label"].names
  if builder.info.metadata and builder.info.metadata.get("descriptions"):  # tiny_imagenet: words.
    names = [d.split(",")[0] or n for n, d in zip(names, builder.info.metadata["descriptions"])]
  train_tf = transforms.TrainTransform(pipeline.transform_spec(cfg))
  rng = np.random.default_rng(args.seed)
  layout = args.layout or ("groups" if cfg.name == "synthetic_wsol" else "grid")

  if layout == "groups":
    spec = builder.builder_config.render_spec()
    groups, parts, per = spec.num_groups, spec.classes_per_group, args.per_class
    picked = _pick(source, len(names), per)
    block = 2 * per  # Columns per class: (stored, train view) x examples.
    ratios = []
    for p in range(parts):
      ratios += [1.0] * block + ([0.3] if p < parts - 1 else [])
    fig = plt.figure(figsize=(1.25 * sum(ratios), 1.4 * groups + 0.9))
    grid = fig.add_gridspec(groups, len(ratios), width_ratios=ratios, wspace=0.06, hspace=0.08,
                            left=0.04, right=0.995, top=0.86, bottom=0.01)
    for g in range(groups):
      for p in range(parts):
        for k, index in enumerate(picked[g * parts + p]):
          stored, augmented = _views(source[index], train_tf, rng)
          col = p * (block + 1) + 2 * k
          first = g == 0
          _show(fig.add_subplot(grid[g, col]), *stored, title="stored" if first else None)
          _show(fig.add_subplot(grid[g, col + 1]), *augmented,
                title="train view" if first else None)
          if p == 0 and k == 0:
            fig.axes[-2].set_ylabel(synthetic_render.GROUP_NAMES[g], fontsize=9)
    for p in range(parts):  # Class headers, centred over their blocks.
      left = fig.axes[2 * per * p].get_position().x0
      right = fig.axes[2 * per * p + block - 1].get_position().x1
      fig.text((left + right) / 2, 0.905, f"part: {synthetic_render.PART_NAMES[p]}",
               ha="center", fontsize=10, weight="bold")
    fig.suptitle(
        f"synthetic_wsol/{builder.builder_config.name} ({spec.image_size} px): rows = groups "
        "(shared body shape + texture), columns = classes (only the small part differs). "
        "Green: object box; yellow: part box.", fontsize=9, y=0.985)
  else:
    n = args.num
    cols = 8
    rows = int(np.ceil(2 * n / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(1.6 * cols, 1.75 * rows + 0.5), squeeze=False)
    for ax in axes.flat:
      ax.axis("off")
    for i in range(min(n, len(source))):
      ex = source[i]
      stored, augmented = _views(ex, train_tf, rng)
      a, b = axes.flat[2 * i], axes.flat[2 * i + 1]
      a.axis("on")
      b.axis("on")
      _show(a, *stored, title=names[int(ex["label"])][:22])
      _show(b, *augmented, title="train view")
    fig.suptitle(f"{cfg.name}/{args.split}: stored | train view ({cfg.train_augment}, "
                 f"{cfg.image_size} px), green: boxes", fontsize=9)
    fig.tight_layout(rect=(0, 0, 1, 0.96))
  buf = io.BytesIO()
  fig.savefig(buf, format="png", dpi=110)
  # A 256-colour palette keeps the figure ~4x smaller with no visible change (repo-friendly).
  sheet = Image.open(buf).convert("RGB").quantize(colors=256, dither=Image.Dither.NONE)
  io_utils.atomic_write(args.out, lambda f: sheet.save(f, format="PNG", optimize=True), "wb")
  print(f"wrote {args.out}")
  return 0


if __name__ == "__main__":
  sys.exit(main())
