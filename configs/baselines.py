"""The WSOL baselines of wsolevaluation (Choe et al., CVPR 2020) on CUB-200-2011: CAM, HaS, ACoL,
SPG, ADL and CutMix on VGG16, InceptionV3 and ResNet50, one variant each, ``<method>_<backbone>``:

  python -m wsol_jax.main --config=configs/baselines.py:has_resnet50 --workdir=DIR \\
      --config.data.manual_dir=CUB_200_2011_DIR

The recipe is configs/cub_cam.py's (wsolevaluation's CUB training: images resized to 256, random
224 crop + flip, SGD with Nesterov momentum 0.9, batch 32, 50 epochs, x0.1 every 15, the new layers
at x10, lr 1.268e-5; evaluation at 224, CAM thresholds every 0.001) with the method and the
backbone swapped; each method's own section (``config.<method>``) is at wsolevaluation's defaults
(its config.py), sources in ``wsol_jax/methods/<method>/config.py``. The backbones as
wsolevaluation builds them (its wsol/{vgg,inception,resnet}.py):

* ``vgg16``: conv5_3 without pool5 (14x14 at 224) + conv 3x3/1024 + ReLU + GAP + FC.
* ``inception_v3``: cut after Mixed_6e, Mixed_6a at stride 1 (``large_feature_map``: 25x25 at 224,
  as SPG's and ACoL's code and configs/slt.py), + conv 3x3/1024 + ReLU + GAP + FC (wsolevaluation's
  InceptionCam has two such convs before a 1x1 classifier; one here, as CAM-VGG16).
* ``resnet50``: layer4 at stride 1 (14x14 at 224) + GAP + FC, no extra conv; layer4 learns at the
  new layers' rate, as wsolevaluation's main.py groups it (``_FEATURE_PARAM_LAYER_PATTERNS``).

The lr: wsolevaluation chose each method's lr (and its own knobs) per backbone on CUB's
train-fullsup images (5 box-annotated training images per class); those values are published only
in a spreadsheet not reachable here. Every variant starts from the one sourced value, CAM-VGG16's
1.268e-5; choose another with ``--config.train.lr`` on held-out boxes, never on the test split
(docs/ALGORITHMS.md, "The baselines").
"""

from __future__ import annotations

import importlib

from configs import cub_cam

METHODS = ("cam", "has", "acol", "spg", "adl", "cutmix")
# backbone -> (its backbone kwargs, the CAM head's extra conv channels; 0: GAP + FC directly).
BACKBONES = {"vgg16": ({}, 1024),
             "inception_v3": ({"large_feature_map": True}, 1024),
             "resnet50": ({}, 0)}
VARIANTS = tuple(f"{m}_{b}" for m in METHODS for b in BACKBONES)


def get_config(variant: str = "cam_vgg16"):
  method, _, backbone = variant.partition("_")
  if method not in METHODS or backbone not in BACKBONES:
    raise ValueError(f"configs/baselines.py: unknown variant {variant!r}; known: "
                     f"{', '.join(VARIANTS)}")
  config = cub_cam.get_config()
  config.method = method
  config.model.backbone = backbone
  config.model.backbone_kwargs, config.model.head_channels = BACKBONES[backbone]
  config[method] = importlib.import_module(f"wsol_jax.methods.{method}.config").default_config()
  if method == "acol":  # as wsolevaluation's VggAcol / ResNetAcol build them
    config.acol.pre_branch_pools = backbone == "vgg16"
    config.acol.branch_init = "he_normal" if backbone == "resnet50" else "xavier_uniform"
  return config
