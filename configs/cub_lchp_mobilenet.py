"""LCHP with a MobileNetV1-BAP classifier and a MobileNetV1 regressor on CUB-200-2011 (width 1.0,
Keras ImageNet weights): a CPU/Colab-friendly variant of configs/cub_lchp.py, whose settings it
keeps (epochs, lr, delta, tau, 512 -> 448).

BAP reads the last MobileNet map with block 12 at stride 1 (28x28 at 448, Mixed_6e's stride 16).
"""

import pathlib

from wsol_jax import config_defaults


def get_config():
  config = config_defaults.load_config_file(pathlib.Path(__file__).with_name("cub_lchp.py"))
  config.model.backbone = "mobilenet_v1"
  config.model.backbone_kwargs = {"width": 1.0, "last_stride": 1}
  config.model.pretrained = "imagenet"  # keras:mobilenet_v1_100
  return config
