"""HaS on CUB (any class subset, e.g. cub25) from ImageNet MobileNetV1-0.75: the CAM CPU recipe
(configs/cub_cam_mobilenet.py: backbone, 184 -> 160 input, optimizer, 4 epochs, reasons there)
with Hide-and-Seek's section ``config.has`` at wsolevaluation's defaults (patches of 4 px, each
hidden with probability 0.5; sources in wsol_jax/methods/has/config.py).

    python -m wsol_jax.main --config=configs/cub_has_mobilenet.py --workdir=/tmp/cub_has \\
        --config.data.manual_dir=../shared/data/cub25 \\
        --config.model.pretrained=../shared/weights/mobilenet_7_5_224_tf.h5
"""

from configs import cub_cam_mobilenet
from wsol_jax.methods.has import config as has_config


def get_config():
  config = cub_cam_mobilenet.cpu_base("has")
  config.has = has_config.default_config()
  return config
