"""CAM with MobileNetV1 (width 1.0, Keras ImageNet weights) on CUB-200-2011: a CPU/Colab-friendly
variant of configs/cub_cam.py (same data, schedule and evaluation).

Backbone ``mobilenet_v1`` with block 12 at stride 1, so the CAM map is 14x14 at 224 like
CAM-VGG16's, then the same CAM head (conv 3x3/1024 + ReLU, GAP, FC). wsolevaluation tuned its tiny
lr for VGG16; MobileNet gets 1e-3 (head x10), the rate that fine-tunes it well in the Tiny-ImageNet
demo (configs/tiny_imagenet_cam_mobilenet.py) -- not tuned on CUB.
"""

import pathlib

from wsol_jax import config_defaults


def get_config():
  config = config_defaults.load_config_file(pathlib.Path(__file__).with_name("cub_cam.py"))
  config.model.backbone = "mobilenet_v1"
  config.model.backbone_kwargs = {"width": 1.0, "last_stride": 1}
  config.model.pretrained = "imagenet"  # keras:mobilenet_v1_100
  config.train.lr = 1e-3
  return config
