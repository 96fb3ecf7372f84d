"""LCHP with InceptionV3-BAP on ImageNet-1k, the paper's setting: ``configs/lchp.py:imagenet`` (described there)."""

from configs import lchp


def get_config():
  return lchp.get_config("imagenet")
