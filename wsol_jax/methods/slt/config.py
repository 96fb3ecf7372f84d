"""SLT-Net's config section ``config.slt``: the knobs, with the paper's CUB values (the paper's full
settings, Sec. 4.1, are ``slt_paper_config`` in configs/common.py), and their checks."""

from __future__ import annotations

import ml_collections

from wsol_jax.methods import common

NETWORKS = ("localizer", "regressor", "classifier")
VST_MAPS = ("localization", "all", "acam", "gt")
VST_NORMALIZE = ("none", "minmax")
VST_CLASS_REDUCE = ("sum", "mean")
VST_STOP_GRADIENT = ("none", "original", "transformed")
LOSS_UNITS = ("cells", "normalized")
# The paper's CUB K: 30 of its 200 classes (Sec. 4.1).
PAPER_K_FRACTION = 30 / 200


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
  # Over the C maps: 'sum' (Eq. 13 as written: ||M^o - M^it||^2 / (W H)) | 'mean' (also / C: the
  # "mean squared error loss" of the text; on raw maps of all classes 'sum' diverged from ImageNet
  # weights at the paper's lr, see docs/ALGORITHMS.md). The same for a single map (C = 1).
  c.vst_class_reduce = "sum"
  c.vst_stop_gradient = "none"  # 'none' | 'original' (M^o is a target) | 'transformed'
  c.smt_on_transformed = False  # also apply L_SMT to I^t (averaged with the original's)
  c.jitter = ml_collections.ConfigDict({
      "brightness": 0.4, "contrast": 0.4, "saturation": 0.4, "hue": 0.1,  # ColorJitter ranges
      "flip_prob": 0.5, "scale_min": 0.75, "scale_max": 1.25})
  c.canvas_multiple = 16  # the transformed image's canvas is rounded up to this (network stride)
  # Pseudo-box of the regressor.
  # On the min-max normalised map at the input size: the start's (CAM's 20 %), and every step's
  # with pseudo_threshold_images_per_class = 0.
  c.pseudo_box_threshold = 0.2
  # > 0: during localization the threshold becomes the one with the best box accuracy on this
  # many box-annotated TRAINING images per class (wsolevaluation's train-fullsup size on CUB; see
  # SLTNet.select_pseudo_box_threshold). Needs boxes on the train split.
  c.pseudo_threshold_images_per_class = 5
  # How many times per localization epoch it is re-chosen, evenly spaced, the last at the epoch's
  # end: 4 = from the first quarter-epoch on (1: after every epoch, so the whole first epoch, a
  # quarter of CUB's recipe, uses pseudo_box_threshold). cub25, 3 seeds: 4 against 1 raised the
  # regressor's GT-known 52.9 -> 55.9 and the first epoch's pseudo-box IoU>=0.5 rate 43 -> 52 %
  # (docs/RESULTS.md, "The pseudo-box threshold schedule").
  c.pseudo_threshold_per_epoch = 4
  # Each network: its input size image_size (px; the training crop and eval image, data.image_size,
  # resized to it on device; 0: read as they come) and, for the regressor and the classifier, its
  # weights pretrained (a file or name; '' -> config.model.pretrained, where 'imagenet' resolves per
  # backbone) and the layers that may start from random where that file lacks them
  # (pretrained_allow_random, as config.model's). The localizer's backbone and weights are
  # config.model's.
  c.localizer = ml_collections.ConfigDict({"image_size": 0})
  c.regressor = ml_collections.ConfigDict({
      "enabled": True, "weight": 1.0, "smooth_l1_beta": 1.0,
      # Eq. 3-4's units: 'cells' (x/m: cells of the regressor's own feature map, m its stride,
      # the paper's) | 'normalized'
      "loss_units": "cells",
      "backbone": "", "backbone_kwargs": ml_collections.ConfigDict(),  # '' -> config.model's
      "image_size": 0, "pretrained": "", "pretrained_allow_random": (),
      # 'linear': outputs are the paper's boxes in feature cells (x1/m, ...; the paper's ReLU
      # without the dead-unit risk at 0) | 'relu' | 'sigmoid': fractions of the image (saturates:
      # one large step on whole-image pseudo-boxes leaves it with no gradient).
      "hidden_units": 512, "pooling": "avg", "output": "linear"})
  # The separate classifier (stage 2).
  c.classifier = ml_collections.ConfigDict({
      "enabled": True,
      "backbone": "", "backbone_kwargs": ml_collections.ConfigDict(),  # '' -> config.model's
      "image_size": 0, "pretrained": "", "pretrained_allow_random": (),
      "head": "linear",  # 'linear': GAP (of a map) + dropout + FC; 'none': the backbone's logits
      "dropout_rate": 0.0,
      # Test-time ten-crop of the original resized to data.resize_size, each crop then resized to
      # image_size (needs data.eval_ten_crop_images=True; slt_paper_config sets both).
      "ten_crop": False})
  # The localization stage trains with config.train; the classifier stage with config.train's
  # fields replaced by these (any config.train field; unset = inherited).
  c.stage_train = ml_collections.ConfigDict({
      "classifier": ml_collections.ConfigDict({"num_epochs": 4.0, "num_steps": -1})})
  return c


def smt_k_for(smt_k: int, num_classes: int) -> int:
  """K of Eq. 8: ``smt_k`` when set (>= 1); -1 scales the paper's 30 of 200 classes to
  ``num_classes`` (rounded, at least 1): 4 for a 25-class CUB subset."""
  if smt_k >= 1:
    return int(smt_k)
  if smt_k == -1:
    return max(1, int(round(PAPER_K_FRACTION * num_classes)))
  raise ValueError(f"config.slt.smt_k must be >= 1 or -1, got {smt_k}")


def input_sizes(slt: ml_collections.ConfigDict) -> dict[str, int]:
  """``{network: config.slt.<network>.image_size}`` (0: the data's size). (``.get``: configs saved
  before these fields existed, e.g. exported models, still load.)"""
  return {net: int(slt.get(net, {}).get("image_size", 0)) for net in NETWORKS}


def check_config(config: ml_collections.ConfigDict, num_classes: int) -> tuple[int, int]:
  """One-line errors for bad ``config.slt`` values on a ``num_classes`` dataset; returns the K of
  Eq. 8 (SMT) and of Eq. 9 (top-K ACAM)."""
  slt = config.slt
  common.check_choice("slt", "vst_maps", slt.vst_maps, VST_MAPS)
  common.check_choice("slt", "vst_normalize", slt.vst_normalize, VST_NORMALIZE)
  common.check_choice("slt", "vst_class_reduce", slt.vst_class_reduce, VST_CLASS_REDUCE)
  common.check_choice("slt", "vst_stop_gradient", slt.vst_stop_gradient, VST_STOP_GRADIENT)
  common.check_choice("slt", "regressor.loss_units", slt.regressor.loss_units, LOSS_UNITS)
  smt_k = smt_k_for(slt.smt_k, num_classes)
  if smt_k < 1 or smt_k > num_classes:
    raise ValueError(f"config.slt.smt_k={slt.smt_k} must be in [1, {num_classes}] "
                     "(classes), or -1 (the paper's 30 of 200 classes, scaled to the class count)")
  if not 0.0 <= slt.smt_alpha <= 1.0:
    raise ValueError(f"config.slt.smt_alpha={slt.smt_alpha} must be in [0, 1] (Eq. 8)")
  acam_k = smt_k if slt.acam_k < 0 else int(slt.acam_k)
  if not 1 <= acam_k <= num_classes:
    raise ValueError(f"config.slt.acam_k={slt.acam_k} must be in [1, {num_classes}]")
  if (slt.classifier.enabled and slt.classifier.ten_crop
      and not config.data.get("eval_ten_crop_images", False)):
    raise ValueError("config.slt.classifier.ten_crop=True needs config.data.eval_ten_crop_images"
                     "=True (the ten crops of the original resized to data.resize_size)")
  if slt.vst_weight < 0:
    raise ValueError(f"config.slt.vst_weight (beta) must be >= 0, got {slt.vst_weight}")
  for net, size in input_sizes(slt).items():
    if size < 0:
      raise ValueError(f"config.slt.{net}.image_size={size} must be >= 0 (0: data.image_size)")
  return smt_k, acam_k
