"""SPG (Zhang et al., ECCV 2018, as wsolevaluation builds it) on CUB-200-2011 (or cub25) from
ImageNet MobileNetV1-0.75: configs/cub_cam_mobilenet.py's CPU recipe (backbone with block 12 at
stride 1, 184 -> random 160 crop + flip, SGD 1e-3 with the new layers at x10, cosine, batch 32, 4
epochs) with the method swapped and ``config.spg`` at wsolevaluation's defaults.

    python -m wsol_jax.main --config=configs/cub_spg_mobilenet.py --workdir=/tmp/cub_spg \\
        --config.data.manual_dir=../shared/data/cub25 \\
        --config.model.pretrained=../shared/weights/mobilenet_7_5_224_tf.h5

Where SPG taps this MobileNet (wsol_jax/methods/spg/network.py ``layout_for``), by ResNetSpg's rule
(B1 and B2 on the first and last block of layer3, the last stage before layer4 widens the map at
the same stride): SPG-B1 reads ``conv_pw_6`` and SPG-B2 ``conv_pw_11`` (blocks 6-11: 384 channels
at H/16, 10 x 10 at 160), SPG-A's 1x1 classifier and SPG-C read the backbone's output
``conv_pw_13`` (768 channels, H/16 with ``last_stride=1``). SPG-B is 384 wide (its input's
channels), SPG-C 512 (wsolevaluation's). The SPG head replaces the CAM head (``head_channels`` is
not read); it costs ~0.9 GMAC per 160 image, several times the backbone.
"""

from configs import cub_cam_mobilenet
from wsol_jax.methods.spg import config as spg_config


def get_config():
  config = cub_cam_mobilenet.cpu_base("spg")
  config.spg = spg_config.default_config()
  return config
