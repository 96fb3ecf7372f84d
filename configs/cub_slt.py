"""SLT-Net with VGG16 on CUB-200-2011: the paper's setting (Guo et al., CVPR 2021, Sec. 4.1, 4.4).

Every network on VGG16 at 224 px: images resized to 256, random 224 crop + flip. Localization
branch (localizer + regressor, one step): SGD momentum 0.9, weight decay 5e-4, lr 2e-4 (new layers
x10), batch 16, 4 epochs; alpha 0.4, K 30, beta 10 on the raw CAMs of all 200 classes (Eq. 11-13).
Localizer CAM-VGG16 (the paper's pseudo-box localizer for CUB); regressor VGG16 conv5_3 + GAP +
FC 512-ReLU-FC 4, linear outputs in its feature cells (Eq. 3-4: x/16); classifier torchvision's
VGG16 with a new 200-way fc8, fine-tuned (schedule: our choice, see docs/ALGORITHMS.md). All start
from ImageNet weights. Test: ten-crop classification, single-image localization. Every value is in
``slt_paper_config`` in configs/common.py.

Prepare CUB first: ``python -m wsol_jax.data.prepare --dataset=cub --manual_dir=DIR``; the weights
are fetched as ``torchvision:vgg16`` (or set ``--config.model.pretrained=PATH``; see
wsol_jax/models/pretrained.py).
"""

import pathlib

from wsol_jax import config_defaults

common = config_defaults.load_config_module(pathlib.Path(__file__).with_name("common.py"))


def get_config():
  return common.slt_paper_config("cub")
