"""SLT-Net's config section ``config.slt`` (the knobs, with the paper's CUB values) and the paper's
full settings (Sec. 4.1)."""

from __future__ import annotations

import ml_collections


def default_config() -> ml_collections.ConfigDict:
  """``config.slt`` with the paper's CUB values where it gives them (Sec. 4.1)."""
  c = ml_collections.ConfigDict()
  # Semantic tolerance (Sec. 3.3).
  c.smt_k = 30  # K of Eq. 8 (CUB 30, ImageNet 100); 1 with alpha 1 is plain cross-entropy
  c.smt_alpha = 0.4  # alpha of Eq. 8 (CUB 0.4, ImageNet 0.2)
  c.topk_acam = True  # localization map = top-K ACAM (Eq. 9); False: the true class's CAM
  c.acam_k = -1  # K of Eq. 9; -1: smt_k
  # Visual stimulus tolerance (Sec. 3.4).
  c.vst_weight = 10.0  # beta of Eq. 2; 0 drops L_VST and the second localizer pass
  # Which maps Eq. 13 compares: 'localization' (the map boxes come from: the top-K ACAM, or the
  # true class's CAM without topk_acam) | 'all' class maps (Eq. 11 literally) | 'acam' | 'gt'.
  c.vst_maps = "localization"
  # 'minmax': each map scaled to [0, 1] first | 'none': raw CAMs as Eq. 11-13 write them (from
  # scratch this collapses every CAM to zero on synthetic_wsol; see docs/ALGORITHMS.md).
  c.vst_normalize = "minmax"
  c.vst_stop_gradient = "none"  # 'none' | 'original' (M^o is a target) | 'transformed'
  c.smt_on_transformed = False  # also apply L_SMT to I^t (averaged with the original's)
  c.jitter = ml_collections.ConfigDict({
      "brightness": 0.4, "contrast": 0.4, "saturation": 0.4, "hue": 0.1,  # ColorJitter ranges
      "flip_prob": 0.5, "scale_min": 0.75, "scale_max": 1.25})
  c.canvas_multiple = 16  # the transformed image's canvas is rounded up to this (network stride)
  # Pseudo-box of the regressor.
  c.pseudo_box_threshold = 0.2  # on the min-max normalised map at the input size (CAM's 20 %)
  c.regressor = ml_collections.ConfigDict({
      "enabled": True, "weight": 1.0, "smooth_l1_beta": 1.0,
      "backbone": "", "backbone_kwargs": ml_collections.ConfigDict(),  # '' -> config.model's
      "hidden_units": 512, "pooling": "avg", "output": "sigmoid"})
  # The separate classifier (stage 2).
  c.classifier = ml_collections.ConfigDict({
      "enabled": True,
      "backbone": "", "backbone_kwargs": ml_collections.ConfigDict(),  # '' -> config.model's
      "head": "linear",  # 'linear': GAP (of a map) + dropout + FC; 'none': the backbone's logits
      "dropout_rate": 0.0,
      "ten_crop": True})  # test-time ten-crop from the eval image resized to data.resize_size
  # The localization stage trains with config.train; the classifier stage with config.train's
  # fields replaced by these (any config.train field; unset = inherited).
  c.stage_train = ml_collections.ConfigDict({
      "classifier": ml_collections.ConfigDict({"num_epochs": 4.0, "num_steps": -1})})
  return c


# The paper's backbones and their input sizes: (model input, resize before the random crop).
_PAPER_SIZES = {"vgg16": (224, 256), "inception_v3": (299, 320)}


def paper_config(dataset: str, backbone: str = "vgg16") -> ml_collections.ConfigDict:
  """The paper's setting (Sec. 4.1) for ``dataset`` 'cub' or 'imagenet_loc' (full config), with
  every network on ``backbone``: 'vgg16' (described below) or 'inception_v3' (320 -> random 299
  crop; localizer and regressor on the Mixed_6e map, classifier the full InceptionV3).

  Localization branch: SGD momentum 0.9, weight decay 5e-4, lr 2e-4 (new layers x10), batch 16,
  256 -> random 224 crop + flip; CUB: 4 epochs, alpha 0.4, K 30; ImageNet: 2 epochs, alpha 0.2,
  K 100; beta 10. Localizer CAM-VGG16; regressor VGG16 conv5_3 + GAP + FC 512 + ReLU + FC 4 +
  sigmoid (PSOL's VGG-GAP); classifier torchvision's VGG16 (CUB: new 200-way fc8, fine-tuned;
  ImageNet: used as it is). All from ImageNet weights.
  """
  from wsol_jax import config_defaults  # pylint: disable=import-outside-toplevel
  if dataset not in ("cub", "imagenet_loc"):
    raise ValueError(f"SLT-Net paper settings exist for 'cub' and 'imagenet_loc', not {dataset!r}")
  if backbone not in _PAPER_SIZES:
    raise ValueError(f"SLT-Net paper backbones are {tuple(_PAPER_SIZES)}, not {backbone!r}")
  config = config_defaults.paper_base_config("slt", dataset, *_PAPER_SIZES[backbone], backbone)
  config.model.head_channels = 1024

  config.train.batch_size = 16
  config.train.lr = 2e-4
  # New layers (CAM head, regressor FCs) at x10, the CAM-VGG16 convention the paper builds on.
  config.train.lr_mults = {"backbone": 1.0, "head": 10.0}
  config.train.nesterov = False
  config.train.weight_decay = 5e-4
  config.train.schedule = "constant"
  config.train.eval_every_epochs = 1.0
  config.eval.batch_size = 64

  config.slt = default_config()
  config.slt.vst_weight = 10.0
  config.slt.canvas_multiple = 16  # CAM-VGG16's stride
  config.slt.regressor.hidden_units = 512
  config.slt.classifier.backbone = backbone
  if dataset == "cub":
    config.train.num_epochs = 4.0
    config.train.log_every_steps = 50
    config.eval.cam_curve_interval = 0.001
    config.slt.smt_k, config.slt.smt_alpha = 30, 0.4
    # fc7 features and a new 200-way fc8, fine-tuned (the paper gives no schedule for it).
    config.slt.classifier.backbone_kwargs = {"output": "pre_logits"}
    config.slt.stage_train.classifier.num_epochs = 30.0
    config.slt.stage_train.classifier.lr = 1e-3
    config.slt.stage_train.classifier.schedule = "step"
    config.slt.stage_train.classifier.decay_boundaries_epochs = (20.0,)
  else:
    config.data.max_boxes = 16  # ImageNet images may hold several boxes
    config.train.num_epochs = 2.0
    config.train.log_every_steps = 200
    config.eval.cam_curve_interval = 0.01
    config.slt.smt_k, config.slt.smt_alpha = 100, 0.2
    # "We directly use the pre-trained weights provided by PyTorch": VGG16 with its own fc8.
    config.slt.classifier.backbone_kwargs = {"output": "logits", "num_classes": 1000}
    config.slt.classifier.head = "none"
    config.slt.stage_train.classifier.num_epochs = 0.0
  return config
