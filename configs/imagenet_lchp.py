"""LCHP on ImageNet-1k (ILSVRC2012 localisation) with InceptionV3-BAP, the paper's settings.

10 init epochs, 5 refine epochs at lr 2e-4, delta 0.7, tau 0.9; the rest is
``lchp_paper_config`` in configs/common.py. ImageNet images may hold several GT boxes; a prediction
counts as located when it overlaps any of them (IoU >= 0.5).

Prepare the data first: ``python -m wsol_jax.data.prepare --dataset=imagenet_loc --manual_dir=DIR``.
"""

import pathlib

from wsol_jax import config_defaults

common = config_defaults.load_config_module(pathlib.Path(__file__).with_name("common.py"))


def get_config():
  config = common.lchp_paper_config("imagenet_loc")
  config.train.num_epochs = 10.0  # the init stage (LCHP-I)
  config.lchp.stage_train.refine.num_epochs = 5.0  # LCHP-R
  config.lchp.stage_train.refine.lr = 2e-4
  config.lchp.delta = 0.7
  config.lchp.tau = 0.9
  config.data.max_boxes = 16
  config.train.log_every_steps = 200
  config.train.eval_every_epochs = 5.0
  return config
