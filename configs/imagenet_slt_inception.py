"""SLT-Net with InceptionV3 on ImageNet, the paper's setting: ``configs/slt.py:imagenet_inception`` (described there)."""

from configs import slt


def get_config():
  return slt.get_config("imagenet_inception")
