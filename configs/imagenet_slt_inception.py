"""SLT-Net with InceptionV3 on ImageNet (ILSVRC2012 localization): the paper's setting (Sec. 4.1).

As configs/imagenet_slt.py (2 epochs, alpha 0.2, K 100, beta 10 on the raw CAMs of all classes,
lr 2e-4, batch 16) with every network on InceptionV3 at 299 px: 320 -> random 299 crop (eval: 299).
Localizer (the paper's ImageNet pseudo-box localizer): InceptionV3 cut after Mixed_6e + the CAM
head; regressor: the same Mixed_6e map + GAP + FC-ReLU-FC; classifier: torchvision's ImageNet
InceptionV3 as it is ("we directly use the pre-trained weights provided by PyTorch": its own
1000-way fc, no classifier training).

Prepare the data first: ``python -m wsol_jax.data.prepare --dataset=imagenet_loc --manual_dir=DIR``
(see wsol_jax/data/imagenet_loc.py for the files), and raise ``data.max_boxes`` to the built
dataset's ``info.metadata["max_boxes"]`` if it is larger.
"""

import pathlib

from wsol_jax import config_defaults

common = config_defaults.load_config_module(pathlib.Path(__file__).with_name("common.py"))


def get_config():
  return common.slt_paper_config("imagenet_loc", backbone="inception_v3")
