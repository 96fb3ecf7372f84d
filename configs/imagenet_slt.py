"""SLT-Net with VGG16 on ImageNet (ILSVRC2012 localization), the paper's setting: ``configs/slt.py:imagenet`` (described there)."""

from configs import slt


def get_config():
  return slt.get_config("imagenet")
