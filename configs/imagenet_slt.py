"""SLT-Net with VGG16 on ImageNet (ILSVRC2012 localization): the paper's setting (Sec. 4.1).

As configs/cub_slt.py but 2 epochs, alpha 0.2, K 100 (beta 10, lr 2e-4, batch 16, 256 -> 224).
The classifier is torchvision's ImageNet VGG16 as it is ("we directly use the pre-trained weights
provided by PyTorch"): its own fc8, no classifier training. Every value is in
``slt_paper_config`` in configs/common.py.

Prepare the data first: ``python -m wsol_jax.data.prepare --dataset=imagenet_loc --manual_dir=DIR``.
"""

import pathlib

from wsol_jax import config_defaults

common = config_defaults.load_config_module(pathlib.Path(__file__).with_name("common.py"))


def get_config():
  return common.slt_paper_config("imagenet_loc")
