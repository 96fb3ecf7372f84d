"""LCHP on Tiny-ImageNet (200 classes, 64 x 64 images) with InceptionV3-BAP, the paper's settings.

40 init epochs, 40 refine epochs at lr 2e-3, delta 0.8 (the paper's Tiny-ImageNet value), tau 0.9;
the rest is ``lchp_paper_config`` in configs/common.py (the paper uses the same 512 -> 448 general
augmentation on all three datasets, so the 64 px images are upsampled).

Prepare the data first: ``python -m wsol_jax.data.prepare --dataset=tiny_imagenet --manual_dir=DIR``.
"""

import pathlib

from wsol_jax import config_defaults

common = config_defaults.load_config_module(pathlib.Path(__file__).with_name("common.py"))


def get_config():
  config = common.lchp_paper_config("tiny_imagenet")
  config.train.num_epochs = 40.0  # the init stage (LCHP-I)
  config.lchp.stage_train.refine.num_epochs = 40.0  # LCHP-R
  config.lchp.stage_train.refine.lr = 2e-3
  config.lchp.delta = 0.8
  config.lchp.tau = 0.9
  config.train.eval_every_epochs = 10.0
  return config
