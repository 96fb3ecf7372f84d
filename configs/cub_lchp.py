"""LCHP with InceptionV3-BAP on CUB-200-2011, the paper's setting: ``configs/lchp.py:cub`` (described there)."""

from configs import lchp


def get_config():
  return lchp.get_config("cub")
