"""SLT-Net with InceptionV3 on CUB-200-2011, the paper's setting: ``configs/slt.py:cub_inception`` (described there)."""

from configs import slt


def get_config():
  return slt.get_config("cub_inception")
