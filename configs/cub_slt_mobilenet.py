"""SLT-Net on CUB (any class subset, e.g. cub25) from ImageNet MobileNetV1-0.75: the CPU recipe.

    python -m wsol_jax.main --config=configs/cub_slt_mobilenet.py --workdir=/tmp/cub_slt \\
        --config.data.manual_dir=../shared/data/cub25 \\
        --config.model.pretrained=../shared/weights/mobilenet_7_5_224_tf.h5

Backbone, input (184 -> 160), optimizer and the 4-epoch schedule are configs/cub_cam_mobilenet.py's
(reasons there), so the localizer differs from that CAM only by SLT-Net's modules:

* SMT (Eq. 8) alpha 0.4 (the paper's CUB value); K = -1: the paper's 30 of 200 classes scaled to
  the class count (4 of cub25's 25); top-K ACAM with the same K (Eq. 9).
* VST (Eq. 10-13) beta 10 on min-max normalised top-K ACAMs (normalised after g', over the image's
  cells), canvas multiple 16 (the network stride).
* Regressor: MobileNet-0.75 (block 12 at stride 1) + GAP + FC 512 + ReLU + FC 4 (PSOL's VGG-GAP
  head, the paper's "two FC layers"), its outputs and smooth L1 in feature cells (Eq. 3-4), its FCs
  at lr 1e-3 (see below).
* Pseudo-box threshold: 0.2 at the start, then re-chosen 4 times per epoch on 5 box-annotated
  training images per class (slt.pseudo_threshold_images_per_class, ..._per_epoch;
  docs/ALGORITHMS.md).
* Classifier: the full MobileNet-0.75 (stride 32, pooled 768-d features) + a new FC, trained 4
  epochs after the localization branch; ten-crop at test (184 -> 10 x 160), as the paper.
The paper's full setting (VGG16, 256 -> 224, lr 2e-4) is configs/cub_slt.py.
"""

from configs import cub_cam_mobilenet
from wsol_jax.methods.slt import config as slt_config


def get_config():
  config = cub_cam_mobilenet.get_config()
  config.method = "slt"
  config.slt = slt_config.default_config()
  config.slt.smt_k = -1  # the paper's 30/200 of the class count
  # alpha 0.4, beta 10, canvas multiple 16 (the network stride), regressor FC 512: the defaults.
  # The regressor's FCs at the base lr, not x10: its outputs are feature cells (Eq. 3-4) and one
  # SGD step moves them by ~lr * ||hidden||^2 ~ 215 * lr cells (measured on cub25 with these
  # weights): 0.2 cells at 1e-3, 2 cells at 1e-2 (which oscillates under momentum 0.9).
  config.train.lr_mults = {"backbone": 1.0, "head": 10.0, "regressor_head": 1.0}
  config.slt.classifier.backbone = "mobilenet_v1_075"
  config.slt.classifier.backbone_kwargs = {"output": "features"}
  config.slt.classifier.ten_crop = True
  config.data.eval_ten_crop_images = True
  config.slt.stage_train.classifier.num_epochs = 4.0
  return config
