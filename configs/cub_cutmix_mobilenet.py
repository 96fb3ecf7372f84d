"""CutMix on CUB (any class subset, e.g. cub25) from ImageNet MobileNetV1-0.75: the CAM CPU recipe
(configs/cub_cam_mobilenet.py: backbone, 184 -> 160 input, optimizer, 4 epochs, reasons there)
with CutMix's section ``config.cutmix`` at wsolevaluation's defaults (every batch mixed, lam ~
Beta(1, 1); sources in wsol_jax/methods/cutmix/config.py).

    python -m wsol_jax.main --config=configs/cub_cutmix_mobilenet.py --workdir=/tmp/cub_cutmix \\
        --config.data.manual_dir=../shared/data/cub25 \\
        --config.model.pretrained=../shared/weights/mobilenet_7_5_224_tf.h5
"""

from configs import cub_cam_mobilenet
from wsol_jax.methods.cutmix import config as cutmix_config


def get_config():
  config = cub_cam_mobilenet.cpu_base("cutmix")
  config.cutmix = cutmix_config.default_config()
  return config
