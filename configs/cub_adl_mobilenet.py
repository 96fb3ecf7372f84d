"""ADL on CUB-200-2011 (or a class subset such as cub25) from ImageNet MobileNetV1-0.75: the CPU
recipe of configs/cub_cam_mobilenet.py (same backbone, input, optimizer and 4 epochs; see its
docstring) with an Attention-based Dropout Layer in the backbone, so the two compare like for like.

    python -m wsol_jax.main --config=configs/cub_adl_mobilenet.py --workdir=/tmp/cub_adl \\
        --config.data.manual_dir=../shared/data/cub25 \\
        --config.model.pretrained=../shared/weights/mobilenet_7_5_224_tf.h5

Where ADL sits (config.adl.positions left empty: wsol_jax/methods/adl/positions.py): after
conv_pw_11, the last block of the 512-channel stage (384 at width 0.75), and after conv_pw_13, the
last block of the 1024-channel stage (768), whose output is the CAM head's feature map; with
last_stride=1 both are at H/16 (10 x 10 at 160 px). That is the rule of wsolevaluation's VGG16
(after conv4_3 and conv5_3) and InceptionV3 (after Mixed_5d and Mixed_6e): the ends of the last two
stages. drop_rate 0.75 and threshold (gamma) 0.9: wsolevaluation's defaults (config.py).
"""

from configs import cub_cam_mobilenet
from wsol_jax.methods.adl import config as adl_config


def get_config():
  config = cub_cam_mobilenet.cpu_base("adl")
  config.adl = adl_config.default_config()
  return config
