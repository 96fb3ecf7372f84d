"""ACoL on CUB-200-2011 (or a class subset such as cub25) from ImageNet MobileNetV1-0.75: the CPU
recipe of configs/cub_cam_mobilenet.py (same backbone, input, optimizer and 4 epochs, so that
scripts/compare_methods.py compares like with like) with ACoL's section at wsolevaluation's
defaults (wsol_jax/methods/acol/config.py: erase threshold 0.7) but for the branches' width.

    python -m wsol_jax.main --config=configs/cub_acol_mobilenet.py --workdir=/tmp/cub_acol \\
        --config.data.manual_dir=../shared/data/cub25 \\
        --config.model.pretrained=../shared/weights/mobilenet_7_5_224_tf.h5

Branches without their 3x3 convs (``acol.channels = 0``): each branch is a 1x1 classifier on the
backbone's map, as this recipe's CAM head is GAP + FC without CAM-VGG16's extra 3x3/1024 conv (the
reason is the same: two 3x3/1024 convs on MobileNet's 768 channels cost ~1.65 GMAC per 160 px image,
both branches ~13x the backbone's ~0.25). The paper configs (configs/baselines.py) keep 1024.
"""

from configs import cub_cam_mobilenet
from wsol_jax.methods.acol import config as acol_config


def get_config():
  config = cub_cam_mobilenet.cpu_base("acol")
  config.acol = acol_config.default_config()
  config.acol.channels = 0
  return config
