"""A tiny SLT-Net for the SLT-Net tests: a 2-stage small VGG (stride 2) on 16 px images, 6 classes,
batch 16, and random batches with one box an image."""

from __future__ import annotations

import numpy as np

from wsol_jax import config_defaults
from wsol_jax.methods.slt import config as slt_config
from wsol_jax.training import method as base

BATCH, SIZE, CLASSES = 16, 16, 6
INFO = base.RunInfo(num_classes=CLASSES, steps_per_epoch=4, train_size=64)


def tiny_config(**slt_overrides):
  """The tiny SLT-Net; ``slt_overrides`` set ``config.slt`` fields, ``__`` separating levels."""
  config = config_defaults.get_base_config()
  config.method = "slt"
  config.model.backbone_kwargs = {"widths": (4, 8), "convs_per_stage": 1}  # stride 2
  config.model.head_channels = 8
  config.data.image_size, config.data.resize_size = SIZE, 18
  config.train.batch_size = BATCH
  config.train.num_steps = 8
  config.train.lr = 0.1
  config.slt = slt_config.default_config()
  config.slt.smt_k, config.slt.smt_alpha = 2, 0.4
  config.slt.canvas_multiple = 2
  config.slt.regressor.hidden_units = 8
  config.slt.stage_train.classifier.num_steps = 4
  for key, value in slt_overrides.items():  # 'jitter__hue' -> config.slt.jitter.hue
    *parents, leaf = key.split("__")
    node = config.slt
    for p in parents:
      node = node[p]
    node[leaf] = value
  return config


def batches(n, seed=0):
  """``n`` seeded random batches, every image with the one box [2, 3, 12, 14]."""
  rng = np.random.default_rng(seed)
  out = []
  for _ in range(n):
    boxes = np.zeros((BATCH, 2, 4), np.float32)
    boxes[:, 0] = [2, 3, 12, 14]
    out.append({"image": rng.integers(0, 256, (BATCH, SIZE, SIZE, 3), dtype=np.uint8),
                "label": rng.integers(0, CLASSES, (BATCH,), dtype=np.int32),
                "bboxes": boxes, "bboxes_valid": np.array([[True, False]] * BATCH),
                "valid": np.ones(BATCH, bool), "image_id": np.array([b"x"] * BATCH)})
  return out
