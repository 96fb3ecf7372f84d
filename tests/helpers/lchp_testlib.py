"""A tiny LCHP for the LCHP tests: configs/synthetic_lchp.py shrunk to a 2-stage small VGG on 32 px
images (batch 8), fake batches with one box an image, and the same on the real loop."""

from __future__ import annotations

import numpy as np

from repo_paths import CONFIGS_DIR
from wsol_jax import config_defaults
from wsol_jax.training import method as base

INFO = base.RunInfo(num_classes=3, steps_per_epoch=2, train_size=16)


def load_config(name: str):
  """configs/<name>.py."""
  return config_defaults.load_config_file(CONFIGS_DIR / f"{name}.py")


def tiny_config():
  """synthetic_lchp.py shrunk to a 2-stage net on 32 px images, batch 8."""
  config = load_config("synthetic_lchp")
  config.model.backbone_kwargs = {"widths": (8, 16), "convs_per_stage": 1}
  config.lchp.num_attention = 4
  config.lchp.regressor.hidden_units = 8
  config.train.num_steps = 2
  config.lchp.stage_train.refine.num_steps = 2
  config.train.batch_size = 8
  return config


def fake_batch(seed: int = 0, batch: int = 8, size: int = 32):
  """A seeded random batch, every image with the one box [4, 6, 20, 28] (and its plain copy)."""
  rng = np.random.default_rng(seed)
  boxes = np.zeros((batch, 2, 4), np.float32)
  boxes[:, 0] = [4, 6, 20, 28]
  valid = np.zeros((batch, 2), bool)
  valid[:, 0] = True
  image = rng.integers(0, 256, (batch, size, size, 3), dtype=np.uint8)
  return {"image": image, "label": rng.integers(0, 3, (batch,), dtype=np.int32), "bboxes": boxes,
          "bboxes_valid": valid, "valid": np.ones((batch,), bool),
          "image_plain": image.copy(), "bboxes_plain": boxes.copy()}


def loop_config(data_dir):
  """The tiny LCHP on a 32 px synthetic_wsol (32 train / 16 test images) in ``data_dir``: 4 init and
  4 refine steps, a checkpoint every 2."""
  config = tiny_config()
  config.data.data_dir = str(data_dir)
  config.data.synthetic.image_size = 32
  config.data.synthetic.num_train = 32
  config.data.synthetic.num_test = 16
  config.data.image_size = 32
  config.data.resize_size = 36
  config.train.num_steps = 4
  config.lchp.stage_train.refine.num_steps = 4
  config.eval.figure_images = 2
  config.train.batch_size = 8  # 4 steps per epoch
  config.train.checkpoint_every_steps = 2
  config.train.log_every_steps = 2
  config.train.progress_bar = False
  config.eval.batch_size = 8
  return config
