"""SLT-Net with VGG16 on ImageNet (ILSVRC2012 localization): the paper's setting (Sec. 4.1, 4.4).

As configs/cub_slt.py but 2 epochs, alpha 0.2, K 100 (beta 10 on the raw CAMs of all 1000 classes,
lr 2e-4, batch 16). Regressor and classifier on VGG16 at 224 px; the pseudo-boxes come from the
paper's ImageNet localizer, InceptionV3 cut after Mixed_6e + the CAM head at 299 px ("the localizer
with InceptionV3 to generate pseudo boxes for the ILSVRC2012 dataset", Sec. 4.4). Images are
resized to 320 and randomly cropped to 299 (eval: resized to 299); the VGG16 networks read them
resized to 224 on device. The classifier is torchvision's ImageNet VGG16 as it is ("we directly use
the pre-trained weights provided by PyTorch"): its own fc8, no classifier training. Weights:
'imagenet', i.e. torchvision's InceptionV3 for the localizer and torchvision's VGG16 for the other
two. Every value is in ``slt_paper_config`` in configs/common.py.

Prepare the data first: ``python -m wsol_jax.data.prepare --dataset=imagenet_loc --manual_dir=DIR``;
with local weight files set ``--config.model.pretrained=INCEPTION_PATH`` and
``--config.slt.regressor.pretrained=VGG16_PATH
--config.slt.classifier.pretrained=VGG16_PATH``.
"""

import pathlib

from wsol_jax import config_defaults

common = config_defaults.load_config_module(pathlib.Path(__file__).with_name("common.py"))


def get_config():
  return common.slt_paper_config("imagenet_loc")
