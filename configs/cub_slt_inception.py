"""SLT-Net with InceptionV3 on CUB-200-2011: the paper's InceptionV3 setting (Guo et al., Sec. 4.1,
4.4).

As configs/cub_slt.py (SGD momentum 0.9, weight decay 5e-4, lr 2e-4, batch 16, 4 epochs, alpha 0.4,
K 30, beta 10 on the raw CAMs of all classes) with the regressor and the classifier on InceptionV3
at 299 px, while the pseudo-boxes still come from CAM-VGG16 at 224 px: the paper's localizer for
CUB whatever the other networks' backbone ("the localizer with VGG16 to generate pseudo boxes for
the CUB dataset", Sec. 4.4). Images are resized to 320 and randomly cropped to 299 (eval: resized
to 299); the localizer reads that crop resized to 224 on device. Regressor: InceptionV3's Mixed_6e
map + GAP + FC-ReLU-FC, its boxes in Mixed_6e cells (17 x 17 at 299); classifier: the full
InceptionV3 (pooled Mixed_7c) with a new 200-way FC, fine-tuned. Weights: 'imagenet', i.e.
torchvision's VGG16 for the localizer and torchvision's InceptionV3 (Google's weights) for the
other two.

Prepare CUB first: ``python -m wsol_jax.data.prepare --dataset=cub --manual_dir=DIR``; with local
weight files set ``--config.model.pretrained=VGG16_PATH`` and
``--config.slt.regressor.pretrained=INCEPTION_PATH
--config.slt.classifier.pretrained=INCEPTION_PATH``.
"""

import pathlib

from wsol_jax import config_defaults

common = config_defaults.load_config_module(pathlib.Path(__file__).with_name("common.py"))


def get_config():
  return common.slt_paper_config("cub", backbone="inception_v3")
