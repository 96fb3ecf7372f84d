"""LCHP with a MobileNetV1-BAP classifier and a MobileNetV1 regressor on CUB-200-2011 (width 1.0,
Keras ImageNet weights): a CPU/Colab-friendly variant of configs/cub_lchp.py, whose settings it
keeps (epochs, lr, delta, tau, 512 -> 448).

BAP reads the last MobileNet map with block 12 at stride 1 (28x28 at 448, Mixed_6e's stride 16).
"""

import importlib.util
import pathlib


def _sibling_config(name: str):
  """``get_config()`` of configs/<name>.py (config files are loaded by path, not as a package)."""
  path = pathlib.Path(__file__).with_name(f"{name}.py")
  spec = importlib.util.spec_from_file_location(name, path)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module.get_config()


def get_config():
  config = _sibling_config("cub_lchp")
  config.model.backbone = "mobilenet_v1"
  config.model.backbone_kwargs = {"width": 1.0, "last_stride": 1}
  config.model.pretrained = "imagenet"  # keras:mobilenet_v1_100
  return config
