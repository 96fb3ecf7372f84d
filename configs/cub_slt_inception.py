"""SLT-Net with InceptionV3 on CUB-200-2011: the paper's InceptionV3 setting (Guo et al., Sec. 4.1).

As configs/cub_slt.py (SGD momentum 0.9, weight decay 5e-4, lr 2e-4, batch 16, 4 epochs, alpha 0.4,
K 30, beta 10) with every network on InceptionV3 and its input size: images resized to 320 and
randomly cropped to 299 (eval: resized to 299). Localizer: InceptionV3 cut after Mixed_6e ("remove
the last three blocks") + the CAM head (conv 3x3/1024 + ReLU, GAP, FC); regressor: the same
Mixed_6e map + GAP + FC-ReLU-FC; classifier: the full InceptionV3 (pooled Mixed_7c) with a new
200-way FC, fine-tuned. All from torchvision's ImageNet InceptionV3 (Google's weights).

Prepare CUB first: ``python -m wsol_jax.data.prepare --dataset=cub --manual_dir=DIR``; the weights
are fetched as ``torchvision:inception_v3`` (or set ``--config.model.pretrained=PATH``).
"""

import pathlib

from wsol_jax import config_defaults

common = config_defaults.load_config_module(pathlib.Path(__file__).with_name("common.py"))


def get_config():
  return common.slt_paper_config("cub", backbone="inception_v3")
