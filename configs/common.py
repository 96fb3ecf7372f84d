"""The papers' recipes, shared by the files in configs/ (the methods keep only their knobs); config
files import it (``from configs import common``).

* :func:`paper_base_config`: the real-data base (resize + random crop, ImageNet weights);
* :func:`paper_sgd`: the optimiser every paper here used (SGD, momentum 0.9, PyTorch's L2 weight
  decay) with its batch, lr, lr groups and schedule;
* :func:`slt_paper_config` (SLT-Net, Guo et al., CVPR 2021, Sec. 4.1) and
  :func:`lchp_paper_config` (LCHP, Sun & Zhu, Sec. 4.3).
"""

from __future__ import annotations

import ml_collections

from wsol_jax import config_defaults
from wsol_jax.methods.lchp import config as lchp_config
from wsol_jax.methods.slt import config as slt_config


def paper_base_config(method: str, dataset: str, image_size: int, resize_size: int,
                      backbone: str, backbone_kwargs=None) -> ml_collections.ConfigDict:
  """The base of the papers' real-data settings: images resized to ``resize_size`` then randomly
  cropped to ``image_size``, an ImageNet pretrained ``backbone``, 4 data workers. The rest of the
  papers' common recipe is the base config's defaults: horizontal flip, evaluation images resized
  to ``image_size``, a checkpoint every epoch."""
  config = config_defaults.get_base_config()
  config.method = method
  config.data.name = dataset
  config.data.image_size = image_size
  config.data.resize_size = resize_size
  config.data.worker_count = 4
  config.model.backbone = backbone
  config.model.backbone_kwargs = dict(backbone_kwargs or {})
  config.model.pretrained = "imagenet"
  return config


def paper_sgd(config: ml_collections.ConfigDict, *, batch_size: int, lr: float, lr_mults: dict,
              weight_decay: float, nesterov: bool = False, schedule: str = "constant",
              **schedule_fields) -> ml_collections.ConfigDict:
  """The papers' optimiser in ``config.train``: SGD with momentum 0.9 and L2 weight decay added to
  the gradient (PyTorch's ``SGD(weight_decay=...)``), global ``batch_size``, base ``lr`` scaled per
  parameter group by ``lr_mults``, and ``schedule`` with its fields (``decay_factor``,
  ``decay_boundaries_epochs``, ``decay_every_epochs``, ``schedule_overrides``, ...)."""
  train = config.train
  train.optimizer = "sgd"
  train.momentum = 0.9
  train.nesterov = nesterov
  train.weight_decay = weight_decay
  train.weight_decay_mode = "l2"
  train.batch_size = batch_size
  train.lr = lr
  train.lr_mults = lr_mults
  train.schedule = schedule
  for key, value in schedule_fields.items():
    if key not in train:
      raise ValueError(f"paper_sgd: {key!r} is not a config.train field")
    train[key] = value
  return config


# SLT-Net's backbones: (input size, resize before the random crop) (Sec. 4.1).
_SLT_SIZES = {"vgg16": (224, 256), "inception_v3": (299, 320)}
# The localizer's backbone options and its map's stride (VST's canvas multiple). The paper cuts
# InceptionV3 "according to previous unified classification-localization methods" (Sec. 4.1):
# SPG's and ACoL's code, and wsolevaluation's InceptionCam after them, also run Mixed_6a at stride 1
# (large_feature_map: a 35x35 map at 299 px instead of 17x17). CAM-VGG16 keeps pool4 (14x14 at 224),
# as in that code.
_SLT_LOCALIZER_KWARGS = {"vgg16": {}, "inception_v3": {"large_feature_map": True}}
_SLT_STRIDES = {"vgg16": 16, "inception_v3": 8}
# The localizer that makes the pseudo-boxes, per dataset, whatever the regressor's and classifier's
# backbone (Sec. 4.2, after Table 6).
SLT_LOCALIZERS = {"cub": "vgg16", "imagenet_loc": "inception_v3"}


def slt_paper_config(dataset: str, backbone: str = "vgg16") -> ml_collections.ConfigDict:
  """SLT-Net's setting (Sec. 4.1, 4.2) for ``dataset`` 'cub' or 'imagenet_loc' (full config):
  regressor and classifier on ``backbone`` ('vgg16' or 'inception_v3'), the pseudo-box localizer on
  the paper's choice for the dataset (:data:`SLT_LOCALIZERS`: CAM-VGG16 for CUB, InceptionV3 cut
  after Mixed_6e with Mixed_6a at stride 1 + CAM head for ImageNet).

  Every network reads the same training crop at its own input size (VGG16 224, InceptionV3 299):
  the data pipeline crops at the largest of them (resize 256 -> 224, or 320 -> 299 when any network
  is InceptionV3) and each network resizes it on device (``slt.<network>.image_size``).
  Localization branch: SGD momentum 0.9, weight decay 5e-4, lr 2e-4 (new layers x10), batch 16,
  flip; CUB: 4 epochs, alpha 0.4, K 30; ImageNet: 2 epochs, alpha 0.2, K 100; beta 10 on the
  min-max normalised top-K ACAM (Eq. 11-13; docs/ALGORITHMS.md). Regressor: the backbone's map
  (VGG16 conv5_3, InceptionV3 Mixed_6e) + GAP + FC 512 + ReLU + FC 4, linear outputs in its own
  feature cells (Eq. 3-4).
  Classifier: the full network (CUB: a new 200-way FC, fine-tuned; ImageNet: torchvision's as it
  is). All from ImageNet weights ('imagenet': each backbone its own torchvision file). Test:
  ten-crop classification, single-image localization.
  """
  if dataset not in SLT_LOCALIZERS:
    raise ValueError(f"SLT-Net paper settings exist for 'cub' and 'imagenet_loc', not {dataset!r}")
  if backbone not in _SLT_SIZES:
    raise ValueError(f"SLT-Net paper backbones are {tuple(_SLT_SIZES)}, not {backbone!r}")
  localizer = SLT_LOCALIZERS[dataset]
  # One crop for all: the largest network's size (with its resize); smaller ones downsample it.
  crop_size, resize_size = max(_SLT_SIZES[localizer], _SLT_SIZES[backbone])
  config = paper_base_config("slt", dataset, crop_size, resize_size, localizer,
                             _SLT_LOCALIZER_KWARGS[localizer])
  config.model.head_channels = 1024
  # lr 2e-4 (Sec. 4.1). The new CAM head at x10, the CAM-VGG16 convention the paper builds on: at
  # x1 the CAM head of the cub25 CPU recipe learnt too little in its 4 epochs (docs/RESULTS.md,
  # "The new layers' lr"). The regressor's FCs at the paper's lr (regressor_head x1): their
  # outputs are feature cells, and a step moves them by ~lr * ||hidden||^2 cells, which at x10
  # oscillated under momentum 0.9 on cub25 (configs/cub_slt_mobilenet.py).
  paper_sgd(config, batch_size=16, lr=2e-4,
            lr_mults={"backbone": 1.0, "head": 10.0, "regressor_head": 1.0}, weight_decay=5e-4)
  config.train.eval_every_epochs = 1.0
  config.eval.batch_size = 64

  config.slt = slt_config.default_config()
  # The pseudo-box threshold (the paper gives none; it scores its localizer "at the optimal
  # threshold", Sec. 4.2) is chosen on held-out boxes: 5 box-annotated TRAINING images per class,
  # evenly spaced over the train split (1,000 on CUB; 5,000 on ImageNet, among those with a box in
  # LOC_train_solution.csv). They play the part of wsolevaluation's train-fullsup split, a few fully
  # supervised images set aside to choose thresholds (5 per class on CUB), never the test split;
  # their boxes reach no gradient. 0 images per class: the fixed pseudo_box_threshold (0.2).
  # Re-chosen 4 times per epoch, from the first quarter-epoch on: epoch 1 is a quarter of CUB's
  # recipe and half of ImageNet's (measured on cub25: docs/RESULTS.md).
  config.slt.pseudo_threshold_images_per_class = 5
  config.slt.pseudo_threshold_per_epoch = 4
  config.slt.classifier.ten_crop = True  # "ten crop augmentations to get final classification"
  config.data.eval_ten_crop_images = True  # ... of the original resized to 256 (320)
  # L_VST (Eq. 11-13) with config.slt's defaults: the localization map (top-K ACAM), min-max
  # normalised after g'. From ImageNet VGG16 on cub25, one epoch, the raw maps of all classes
  # shrank and the localizer fell below CAM; this form rose above it (docs/RESULTS.md, "The paper
  # regime on real birds"). A min-max normalised map cannot shrink away.
  config.slt.canvas_multiple = _SLT_STRIDES[localizer]
  config.slt.localizer.image_size = _SLT_SIZES[localizer][0]
  config.slt.regressor.backbone = backbone
  config.slt.regressor.image_size = _SLT_SIZES[backbone][0]
  config.slt.classifier.backbone = backbone
  config.slt.classifier.image_size = _SLT_SIZES[backbone][0]
  classifier_train = config.slt.stage_train.classifier
  if dataset == "cub":
    config.train.num_epochs = 4.0
    config.train.log_every_steps = 50
    config.eval.cam_curve_interval = 0.001
    # K 30, alpha 0.4: config.slt's defaults are the paper's CUB values.
    # Pooled features (VGG16: fc7) and a new 200-way FC, fine-tuned (the paper gives no schedule).
    config.slt.classifier.backbone_kwargs = {"output": "pre_logits"}
    classifier_train.num_epochs = 30.0
    classifier_train.lr = 1e-3
    classifier_train.schedule = "step"
    classifier_train.decay_boundaries_epochs = (20.0,)
  else:
    config.data.max_boxes = 16  # ImageNet images may hold several boxes
    config.train.num_epochs = 2.0
    config.train.log_every_steps = 200
    config.eval.cam_curve_interval = 0.01
    config.slt.smt_k, config.slt.smt_alpha = 100, 0.2
    # "We directly use the pre-trained weights provided by PyTorch": the network with its own
    # 1000-way classifier.
    config.slt.classifier.backbone_kwargs = {"output": "logits", "num_classes": 1000}
    config.slt.classifier.head = "none"
    classifier_train.num_epochs = 0.0
  return config


def lchp_method_and_optimizer(config: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
  """LCHP's method section and its paper's optimizer (Sec. 4.3) on any backbone: ``config.lchp``
  defaults (refine on the generally augmented I_r), SGD (momentum 0.9, L2 weight decay 1e-5),
  batch 32, lr 2e-3, the classifier's lr x0.9 after every epoch and the regressor's constant."""
  config.method = "lchp"
  config.lchp = lchp_config.default_config()
  return paper_sgd(config, batch_size=32, lr=2e-3,
                   lr_mults={"classifier": 1.0, "regressor": 1.0}, weight_decay=1e-5,
                   schedule="exponential", decay_factor=0.9, decay_every_epochs=1.0,
                   schedule_overrides={"regressor": "constant"})


def lchp_paper_config(dataset: str) -> ml_collections.ConfigDict:
  """LCHP's settings common to its three datasets (Sec. 4.3), for ``configs/*_lchp.py``.

  InceptionV3-BAP classifier (Mixed_6e cut, ImageNet weights) and an InceptionV3 regressor; SGD
  (momentum 0.9, L2 weight decay 1e-5), batch 32, lr 2e-3, the classifier's lr x0.9 after every
  epoch and the regressor's constant; images resized to 512 and randomly cropped to 448 + flip
  (evaluation: resized to 448). Dataset files set the epochs (``train.num_epochs``: the init stage;
  ``lchp.stage_train.refine.num_epochs``), delta and the refinement lr.
  """
  config = paper_base_config("lchp", dataset, 448, 512, "inception_v3",
                             {"output": "features"})  # Mixed_6e
  lchp_method_and_optimizer(config)
  config.train.log_every_steps = 50
  config.eval.batch_size = 32
  return config
