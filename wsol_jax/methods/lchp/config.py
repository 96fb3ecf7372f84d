"""LCHP's config section ``config.lchp``: the knobs with the paper's CUB settings (Sun & Zhu,
Sec. 4.3; the full recipes are ``lchp_paper_config`` in configs/common.py), and their checks."""

from __future__ import annotations

import ml_collections

from wsol_jax.methods import common
from wsol_jax.methods.lchp import attention_boxes

ATTENTION_SOURCES = ("features", "attention")
FILLS = ("mean", "black")
STRONG_FILLS = FILLS + ("reflect",)  # S may also mirror the image instead of padding
COORD_REDUCTIONS = ("sum", "mean")
TEACHERS = ("current", "init")
REFINE_IMAGES = ("plain", "augmented")
REFINE_BN = ("frozen", "train")
REGRESSOR_BIAS_INITS = ("mean_pseudo_box", "zero")


def default_config() -> ml_collections.ConfigDict:
  """``config.lchp`` with the paper's CUB settings (see docs/ALGORITHMS.md, "LCHP")."""
  c = ml_collections.ConfigDict()
  # The init stage trains with config.train (its length: config.train.num_epochs / num_steps); the
  # refine stage with config.train's fields replaced by these (the regressor alone, constant lr).
  c.stage_train = ml_collections.ConfigDict({"refine": ml_collections.ConfigDict({
      "num_epochs": 40.0, "num_steps": -1, "lr": 2e-3, "schedule": "constant",
      "lr_mults": ml_collections.ConfigDict({"regressor": 1.0}),
      "schedule_overrides": ml_collections.ConfigDict()})})
  c.run_refine = True  # False: stop after the init stage (LCHP-I only)
  # A workdir whose last checkpoint finished an init stage: skip the init stage and refine that
  # LCHP-I (e.g. with another tau); the loop restores it. Its model and data config must match.
  c.init_from = ""
  c.alpha = 20.0  # Eq. 3
  c.ema_decay = 0.9  # beta of Eq. 7
  # Algorithm 1. delta: the threshold of the first init epoch, and of every epoch with
  # delta_images_per_class = 0 (the paper's fixed delta: 0.7 CUB / ImageNet, 0.8 Tiny, Table 3).
  c.delta = 0.7
  # > 0: after every init epoch delta becomes the candidate whose Algorithm-1 boxes (theta2) hit
  # the GT boxes most often (IoU >= 0.5) on this many box-annotated TRAINING images per class (as
  # SLT-Net's pseudo-box threshold; see LCHP.select_delta), for a backbone or resolution the
  # paper's delta was not chosen for. Needs boxes on the train split.
  c.delta_images_per_class = 0
  c.delta_per_epoch = 1  # how many times per init epoch it is re-chosen (evenly; last at the end)
  c.delta_candidates = (0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9)
  c.attention_source = "features"  # 'features' (backbone map) | 'attention' (the 32 BAP maps)
  c.attention_normalize = "minmax"  # 'minmax' | 'max'
  c.attention_upsample = True  # threshold at image resolution (else on the feature grid)
  c.erase_fill = "mean"  # 'mean': zero of the normalised input tensor | 'black': pixel value 0
  # Classifier head (BAP) and regressor.
  c.num_attention = 32
  c.bap_feature_scale = 100.0
  c.regressor = ml_collections.ConfigDict({
      "backbone": "", "backbone_kwargs": ml_collections.ConfigDict(),  # '' -> config.model's
      "hidden_units": 512, "pooling": "avg", "output": "sigmoid"})
  # The regressor's last bias at the start: 'mean_pseudo_box' (its output starts at the mean
  # Algorithm-1 box of the first training batch, so the first steps learn each image's offset
  # from it instead of all moving the same way; see docs/ALGORITHMS.md) | 'zero' (Flax's default:
  # every box starts at the centre point).
  c.regressor_bias_init = "mean_pseudo_box"
  c.coord_reduction = "sum"  # 'sum': ||.||^2 over the 4 coordinates (Eq. 2, 5) | 'mean'
  # Refinement.
  c.tau = 0.9
  # y = Loc(I_r) from 'init': the fixed LCHP-I regressor (Sec. 3.2: "the initialized localization
  # network"; one fixed set of kept boxes, Table 4) | 'current': the regressor being refined.
  c.refine_teacher = "init"
  # I_r in refine: 'augmented' (the paper's "general augmentation is used to generate I_r": the
  # init stage's random crop + flip) | 'plain' (the un-augmented training image, resized as at
  # evaluation; needs data.train_plain_images). cub25, 3 seeds: LCHP-R GT-known 57.08 ±4.39
  # augmented against 57.98 ±5.18 plain, within the seeds' spread (docs/RESULTS.md).
  c.refine_images = "augmented"
  # The regressor's BatchNorm in refine: 'frozen' (inference mode on LCHP-I's running statistics,
  # not updated by the strongly augmented images) | 'train' (batch statistics of S(I_r), updated).
  c.refine_bn = "frozen"
  c.strong_scale = (0.8, 1.2)
  c.strong_crop_pad = 0.25
  c.strong_crop_pad_prob = 0.5
  c.strong_hflip_prob = 0.5
  c.strong_vflip_prob = 0.5
  # What S shows outside the image: 'reflect' (the image mirrored at its edges: S shows no border,
  # so no border can tell the regressor the zoom, as none does at test) | 'black' (imgaug's
  # default cval 0) | 'mean' (the backbone's zero). The paper does not say; docs/ALGORITHMS.md.
  c.strong_fill = "reflect"
  return c


def check_config(c: ml_collections.ConfigDict) -> None:
  """One-line errors for bad ``config.lchp`` values."""
  common.check_choice("lchp", "attention_source", c.attention_source, ATTENTION_SOURCES)
  common.check_choice("lchp", "attention_normalize", c.attention_normalize,
                      attention_boxes.NORMALIZATIONS)
  common.check_choice("lchp", "erase_fill", c.erase_fill, FILLS)
  common.check_choice("lchp", "strong_fill", c.strong_fill, STRONG_FILLS)
  common.check_choice("lchp", "coord_reduction", c.coord_reduction, COORD_REDUCTIONS)
  common.check_choice("lchp", "refine_teacher", c.refine_teacher, TEACHERS)
  common.check_choice("lchp", "refine_images", c.refine_images, REFINE_IMAGES)
  common.check_choice("lchp", "refine_bn", c.refine_bn, REFINE_BN)
  common.check_choice("lchp", "regressor_bias_init", c.regressor_bias_init, REGRESSOR_BIAS_INITS)
  if not 0.0 <= c.ema_decay <= 1.0:
    raise ValueError(f"config.lchp.ema_decay must be in [0, 1], got {c.ema_decay}")
  for delta in (c.delta, *c.delta_candidates):
    if not 0.0 <= delta < 1.0:
      raise ValueError(f"config.lchp.delta and delta_candidates must be in [0, 1), got {delta}")
  if c.delta_images_per_class > 0 and not c.delta_candidates:
    raise ValueError("config.lchp.delta_images_per_class > 0 needs config.lchp.delta_candidates")
