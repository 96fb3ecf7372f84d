"""LCHP on CUB-200-2011 with InceptionV3-BAP, the paper's settings (Sun & Zhu, Sec. 4.3).

40 init epochs (LCHP-I), 40 refine epochs (LCHP-R) at lr 2e-3, delta 0.7, tau 0.9; the rest is
``lchp_paper_config`` in configs/common.py (SGD m 0.9, wd 1e-5, batch 32, classifier lr x0.9 per
epoch, regressor lr constant, 512 -> random 448 crop + flip).

Prepare CUB first: ``python -m wsol_jax.data.prepare --dataset=cub --manual_dir=DIR``.
"""

import pathlib

from wsol_jax import config_defaults

common = config_defaults.load_config_module(pathlib.Path(__file__).with_name("common.py"))


def get_config():
  config = common.lchp_paper_config("cub")
  config.train.num_epochs = 40.0  # the init stage (LCHP-I)
  config.lchp.stage_train.refine.num_epochs = 40.0  # LCHP-R
  config.lchp.stage_train.refine.lr = 2e-3
  config.lchp.delta = 0.7
  config.lchp.tau = 0.9
  config.train.eval_every_epochs = 10.0
  return config
