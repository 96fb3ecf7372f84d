"""SLT-Net with MobileNetV1 (width 1.0, Keras ImageNet weights) on CUB-200-2011: a CPU/Colab-
friendly variant of configs/cub_slt.py with the paper's CUB training settings unchanged.

Localizer and regressor: ``mobilenet_v1`` with block 12 at stride 1 (a 14x14 map at 224, the
stride 16 of CAM-VGG16, so the VST canvas multiple stays 16); classifier: the full MobileNet
(pooled features) with a new 200-way FC.
"""

import pathlib

from wsol_jax import config_defaults

common = config_defaults.load_config_module(pathlib.Path(__file__).with_name("common.py"))


def get_config():
  config = common.slt_paper_config("cub")
  config.model.backbone = "mobilenet_v1"
  config.model.backbone_kwargs = {"width": 1.0, "last_stride": 1}
  config.model.pretrained = "imagenet"  # keras:mobilenet_v1_100
  config.slt.classifier.backbone = "mobilenet_v1"
  config.slt.classifier.backbone_kwargs = {"width": 1.0, "output": "pre_logits"}
  return config
