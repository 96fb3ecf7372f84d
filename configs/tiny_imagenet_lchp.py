"""LCHP with InceptionV3-BAP on Tiny-ImageNet, the paper's setting: ``configs/lchp.py:tiny_imagenet`` (described there)."""

from configs import lchp


def get_config():
  return lchp.get_config("tiny_imagenet")
