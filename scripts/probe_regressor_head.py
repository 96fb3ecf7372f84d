"""Which box-regressor head can follow the object, on frozen ImageNet features: a table.

  python scripts/probe_regressor_head.py --manual_dir ../shared/data/cub25 \\
      --weights ../shared/weights/mobilenet_7_5_224_tf.h5 [--epochs 8] \\
      [--rows avg:2e-3 avg:2e-4 flatten:2e-3 flatten:2e-4 flatten:2e-5]

The backbone is the CPU recipes' (configs/cub_lchp_mobilenet.py: MobileNetV1-0.75, block 12 at
stride 1, 184 -> 160), frozen; its feature maps of the un-augmented train and test images are
computed once. Each row trains a head ``pooling -> FC hidden -> ReLU -> FC 4 -> sigmoid`` (the
regressor's, models/regressor.py; its last bias at the mean training box) on the training images'
GT boxes with SGD momentum 0.9, batch 32 and LCHP's loss (20 x the squared error summed over the
normalised coordinates), then scores the test images: centre spread
(:func:`wsol_jax.localization.metrics.centre_spread`) and GT-known (protocol IoU >= 0.5). The last
row is the constant mean training box. The GT boxes are the best targets a regressor could get, so
this bounds what pooling allows; it is evidence for the default ``pooling`` (docs/ALGORITHMS.md).
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
import script_lib

from wsol_jax import io_utils
from wsol_jax import runtime
from wsol_jax.data import pipeline
from wsol_jax.localization import boxes as box_lib
from wsol_jax.localization import metrics
from wsol_jax.methods import common
from wsol_jax.methods.lchp import losses
from wsol_jax.models import heads
from wsol_jax.models import regressor as regressor_lib

CONFIG = script_lib.CONFIGS / "cub_lchp_mobilenet.py"


class _Identity(nn.Module):
  """A "backbone" for precomputed features: BoxRegressor's head alone."""

  @nn.compact
  def __call__(self, x, train: bool = False):
    del train
    return x


def split_features(config, feature_fn, split: str):
  """(features [N, h, w, C], GT boxes [N, 4] normalised xyxy) of the images of ``split`` with a box."""
  feats, boxes = [], []
  for batch in pipeline.make_eval_loader(config.data, config.eval.batch_size, split=split):
    keep = np.asarray(batch["valid"], bool) & np.asarray(batch["bboxes_valid"])[:, 0]
    size = np.asarray(batch["image"]).shape[1]
    feats.append(np.asarray(feature_fn(heads.model_input(batch["image"])))[keep])
    boxes.append(np.asarray(box_lib.normalize_xyxy(np.asarray(batch["bboxes"])[keep, 0], size,
                                                   size)))
  return np.concatenate(feats), np.concatenate(boxes), size


def gt_known(pred_normalized, gt_normalized, size: int) -> float:
  """% of images whose box hits the GT box (protocol IoU >= 0.5); both [N, 4] normalised xyxy."""
  to_px = lambda b: np.asarray(box_lib.denormalize_xyxy(b, size, size))
  hit, _ = box_lib.gt_known_hits(to_px(pred_normalized), to_px(gt_normalized)[:, None],
                                 np.ones((len(gt_normalized), 1), bool), (size, size))
  return 100.0 * float(np.mean(hit))


def train_head(pooling: str, lr: float, epochs: int, hidden: int, train_feats, train_boxes,
               seed: int = 0, alpha: float = 20.0):
  """The head trained on (features, normalised GT boxes) with LCHP's ``alpha`` x Eq. 2 -> its
  predict function."""
  head = regressor_lib.BoxRegressor(backbone=_Identity(), hidden_units=hidden, pooling=pooling,
                                    output="sigmoid")
  params = head.init(jax.random.key(seed), train_feats[:1])["params"]
  params["fc2"]["bias"] = regressor_lib.output_bias_for_box(train_boxes.mean(0), "sigmoid")
  tx = optax.sgd(lr, momentum=0.9)
  opt_state = tx.init(params)

  @jax.jit
  def step(params, opt_state, feats, boxes):
    loss_fn = lambda p: alpha * jnp.mean(losses.box_sq_error(head.apply({"params": p}, feats),
                                                             boxes))
    grads = jax.grad(loss_fn)(params)
    updates, opt_state = tx.update(grads, opt_state, params)
    return optax.apply_updates(params, updates), opt_state

  rng = np.random.default_rng(seed)
  for _ in range(epochs):
    order = rng.permutation(len(train_feats))
    for i in range(0, len(order) - 31, 32):
      idx = order[i:i + 32]
      params, opt_state = step(params, opt_state, train_feats[idx], train_boxes[idx])
  return lambda feats: np.asarray(head.apply({"params": params}, feats))


def main(argv=None) -> int:
  parser = script_lib.parser(__doc__)
  script_lib.add_data_flags(parser)
  parser.add_argument("--epochs", type=int, default=8)
  script_lib.add_list_flag(parser, "rows", ["avg:2e-3", "avg:2e-4", "flatten:2e-3", "flatten:2e-4",
                                            "flatten:2e-5"], "heads as pooling:lr")
  args = parser.parse_args(argv)
  runtime.configure_jax()
  config = script_lib.load_config(CONFIG, {"data.manual_dir": args.manual_dir,
                                           "model.pretrained": args.weights})
  model = common.build_regressor(config, config.lchp.regressor)
  sample = next(iter(pipeline.make_eval_loader(config.data, 1, split="train")))["image"]
  variables = common.init_variables(config, model, config.model.backbone, jax.random.key(0),
                                    heads.model_input(sample))
  feature_fn = jax.jit(lambda x: model.apply(
      variables, x, train=False, method=lambda m, x, train: m.backbone(x, train=train)))
  train_feats, train_boxes, _ = split_features(config, feature_fn, "train")
  test_feats, test_boxes, size = split_features(config, feature_fn, "test")
  print(f"features {train_feats.shape[1:]}: {len(train_feats)} train / {len(test_feats)} test "
        f"images, {args.epochs} epochs")
  rows = []
  for row in args.rows:
    pooling, lr = row.split(":")
    predict = train_head(pooling, float(lr), args.epochs, config.lchp.regressor.hidden_units,
                         train_feats, train_boxes, alpha=config.lchp.alpha)
    pred = predict(test_feats)
    rows.append([f"{pooling} lr {lr}", f"{metrics.centre_spread(pred, test_boxes):.2f}",
                 f"{gt_known(pred, test_boxes, size):.1f}"])
    print(f"{rows[-1][0]}: centre spread {rows[-1][1]}, GT-known {rows[-1][2]}", flush=True)
  mean_box = np.broadcast_to(train_boxes.mean(0), test_boxes.shape)
  rows.append(["mean training box", f"{0.0:.2f}", f"{gt_known(mean_box, test_boxes, size):.1f}"])
  print(io_utils.format_table(["head", "centre spread", "GT-known"], rows))
  return 0


if __name__ == "__main__":
  runtime.restart_with_huge_page_malloc()
  raise SystemExit(main())
