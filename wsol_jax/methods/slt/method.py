"""SLT-Net (Guo et al., CVPR 2021): strengthen learning tolerance for WSOL.

Three networks (Sec. 3.1, ``L = L_LOC + L_REG + L_CLS``), trained in two stages of the shared loop:

1. ``localization``: the localizer (backbone + CAM head) and the regressor in ONE compiled step,
   each on its own backbone and input size: both read the same training crop, resized on device to
   the network's ``config.slt.<network>.image_size`` (the paper's localizer is CAM-VGG16 on CUB and
   InceptionV3 on ImageNet, whatever the regressor's backbone; ``slt_paper_config``).
   * ``L_SMT`` (Eq. 8): cross-entropy, times ``alpha`` where the label is within the top-K logits.
   * ``L_VST`` (Eq. 10-13): ``I^t = g(I)`` (colour jitter, flip, scale; :mod:`wsol_jax.methods.slt.vst`),
     ``M^it = g'(f(I^t))``, ``||M^o - M^it||^2 / (W H)``; ``L_LOC = L_SMT + beta L_VST``.
   * The localization map is the top-K averaged CAM (Eq. 9) of the original image; thresholded at
     the localizer's input size, its largest connected component is the regressor's pseudo-box
     (normalised xyxy, so any network size reads it; on device, no gradient), and the regressor
     (backbone, FC-ReLU-FC, outputs in cells of ITS OWN feature map) learns it with smooth L1 (Eq.
     3-4). The threshold (``state.extras``) is re-chosen ``slt.pseudo_threshold_per_epoch`` times
     per epoch on a few box-annotated training images (:meth:`SLTNet.select_pseudo_box_threshold`).
2. ``classifier``: a separate network (backbone + GAP + FC) with cross-entropy (Eq. 5).

Inference: the class from the classifier (ten-crop), the box from the regressor (prediction group
``system``); the localizer is reported on its own (group ``localizer``: its top-K ACAM scored by
GT-known, MaxBoxAcc, MaxBoxAccV2). Choices where the paper is silent are fields of ``config.slt``
(:func:`default_config`) and are explained in docs/ALGORITHMS.md ("SLT-Net").
"""

from __future__ import annotations

import os

import jax
import jax.numpy as jnp
import numpy as np

from wsol_jax.localization import boxes as box_lib
from wsol_jax.localization import scoremaps as cam_lib
from wsol_jax.methods import common
from wsol_jax.methods.slt import config as slt_config
from wsol_jax.methods.slt import figures, losses
from wsol_jax.methods.slt import vst as transforms
from wsol_jax.models import blocks, heads
from wsol_jax.models import classifier as classifier_lib
from wsol_jax.models import regressor as regressor_lib
from wsol_jax.models.batch_norm_stats import apply_recording_batch_stats
from wsol_jax.training import method as base
from wsol_jax.training import parallel
from wsol_jax.training import train_state as ts

LOCALIZATION, CLASSIFIER = "localization", "classifier"
PSEUDO_THRESHOLD = "pseudo_box_threshold"  # state.extras key: the regressor's pseudo-box threshold
_REGRESSOR_GROUPS = {"regressor/backbone": "backbone", "regressor/fc1": "head",
                     "regressor/fc2": "head"}
# The regressor's FC layers take config.train.lr_mults['regressor_head'] when a config sets it
# (else 'head'): in feature-cell units one SGD step moves a box by ~lr * ||hidden||^2 cells.
REGRESSOR_HEAD_GROUP = "regressor_head"
_CLASSIFIER_GROUPS = {"classifier/backbone": "backbone", "classifier/fc": "head"}
NETWORKS = slt_config.NETWORKS


def pseudo_box_normalized_xyxy(loc_maps, image_hw, threshold: float):
  """Localization maps [B, h, w] -> the regressor's targets [B, 4] normalised xyxy, no gradient.

  The map is upsampled to the input size and min-max normalised (as at evaluation), thresholded,
  and the box of its largest 8-connected component is taken (:func:`wsol_jax.localization.scoremaps
  .largest_component_box_xyxy`). A map with nothing above the threshold (a constant map) gives the
  whole image.
  """
  h, w = image_hw
  maps = cam_lib.upsample_scoremaps(jax.lax.stop_gradient(loc_maps), (h, w))
  boxes_px = cam_lib.largest_component_box_xyxy(maps, threshold)
  empty = box_lib.is_degenerate_xyxy(boxes_px)[:, None]
  boxes = box_lib.normalize_xyxy(boxes_px, w, h)
  return jax.lax.stop_gradient(jnp.where(empty, jnp.array([0.0, 0.0, 1.0, 1.0]), boxes))


def vst_map_pair(maps_o, maps_t_canvas, params_g, image_hw, canvas_hw, normalize: str):
  """The two maps Eq. 13 compares: raw ``M^o`` [B, h, w, C] and the raw map of the transformed
  canvas [B, h', w', C] -> (``M^o``, ``M^it = g'(M^t)``), both [B, h, w, C].

  ``g'`` comes FIRST; only then is each map min-max normalised (``normalize='minmax'``), over the
  image's cells only (``g'`` returns exactly the image's region), never over the canvas fill. So a
  perfectly equivariant map gives L_VST = 0 (normalising the canvas first would let the fill's
  cells set the minimum).
  """
  maps_it = transforms.spatial_inverse(maps_t_canvas, params_g, image_hw, canvas_hw,
                                       maps_o.shape[1:3])
  if normalize == "minmax":
    norm = lambda m: jnp.moveaxis(cam_lib.minmax_normalize(jnp.moveaxis(m, -1, 1)), 1, -1)
    return norm(maps_o), norm(maps_it)
  return maps_o, maps_it


@base.register_method("slt")
class SLTNet(base.Method):
  """SLT-Net on the shared loop (see the module docstring)."""

  held_out_boxes = base.HeldOutBoxes("slt.pseudo_threshold_images_per_class",
                                     "slt.pseudo_box_threshold", "the pseudo-box threshold",
                                     per_epoch="slt.pseudo_threshold_per_epoch")

  def __init__(self, config, info: base.RunInfo):
    super().__init__(config, info)
    slt = config.slt
    self.smt_k, self.acam_k = slt_config.check_config(config, info.num_classes)
    self.has_regressor = bool(slt.regressor.enabled)
    self.has_classifier = bool(slt.classifier.enabled)
    self.input_sizes = slt_config.input_sizes(slt)
    self._check_weight_sources()
    self._regressor_cells = {}
    self.primary_eval_group = "system" if self.has_regressor else "localizer"
    self.dtype = blocks.canonical_dtype(config.model.dtype)
    j = slt.jitter
    self.jitter_kwargs = dict(brightness=j.brightness, contrast=j.contrast,
                              saturation=j.saturation, hue=j.hue, flip_prob=j.flip_prob,
                              scale_range=(j.scale_min, j.scale_max))
    transforms.sample_vst_params(jax.random.key(0), 1, **self.jitter_kwargs)  # validates ranges
    # The canvas fill of g: the colour the localizer's backbone reads as zero.
    self.fill = common.zero_rgb(config.model.backbone, config.model.backbone_kwargs)
    reg_groups = dict(_REGRESSOR_GROUPS)
    if REGRESSOR_HEAD_GROUP in self.stage_train(LOCALIZATION).lr_mults:
      reg_groups.update({k: REGRESSOR_HEAD_GROUP for k, v in reg_groups.items() if v == "head"})
    loc_groups = dict(common.LOCALIZER_GROUPS, **(reg_groups if self.has_regressor else {}))
    self.tx_loc = common.network_optimizer(self.stage_train(LOCALIZATION), loc_groups,
                                           info.steps_per_epoch,
                                           self.stage_steps(LOCALIZATION),
                                           trained=("localizer", "regressor"))
    if self.has_classifier:
      self.tx_cls = common.network_optimizer(self.stage_train(CLASSIFIER), _CLASSIFIER_GROUPS,
                                             info.steps_per_epoch, self.stage_steps(CLASSIFIER),
                                             trained=("classifier",))
    self._threshold_map_fn = None

  # ------------------------------------------------------------------------------------------
  # Configuration helpers.

  def stage_names(self):
    return (LOCALIZATION, CLASSIFIER) if self.has_classifier else (LOCALIZATION,)

  # ------------------------------------------------------------------------------------------
  # Networks.

  def localizer(self, bn_axis_name=None) -> heads.Localizer:
    return common.build_localizer(self.config, self.info.num_classes, bn_axis_name)

  def regressor(self, bn_axis_name=None) -> regressor_lib.BoxRegressor:
    return common.build_regressor(self.config, self.config.slt.regressor, bn_axis_name)

  def classifier(self, bn_axis_name=None) -> classifier_lib.Classifier:
    c = self.config.slt.classifier
    name, kwargs = common.backbone_of(self.config, c)
    backbone = heads.make_backbone(name, kwargs, dtype=self.dtype, bn_axis_name=bn_axis_name)
    return classifier_lib.Classifier(backbone, self.info.num_classes, head=c.head,
                                     dropout_rate=c.dropout_rate, dtype=self.dtype)

  def network_input(self, network: str, images):
    """Float images [B, H, W, 3] (the training crop, an eval image) as ``network`` reads them:
    resized on device to its ``config.slt.<network>.image_size`` (0: unchanged)."""
    return common.resize_images(images, self.input_sizes[network])

  def networks(self) -> tuple[str, ...]:
    """The networks of the state: the localizer, then the regressor and classifier if enabled."""
    enabled = (True, self.has_regressor, self.has_classifier)
    return tuple(net for net, on in zip(NETWORKS, enabled) if on)

  def weight_sources(self) -> dict[str, tuple[str, str]]:
    """``{network: (backbone name, weights source)}`` of :meth:`networks` ('' = random init): the
    localizer's ``config.model.pretrained``; the others' ``config.slt.<network>.pretrained`` or,
    when that is '', ``config.model.pretrained`` ('imagenet' resolves per backbone)."""
    cfg = self.config
    out = {"localizer": (cfg.model.backbone, cfg.model.pretrained)}
    for net in self.networks()[1:]:
      section = cfg.slt[net]
      out[net] = (common.backbone_of(cfg, section)[0],
                  section.get("pretrained", "") or cfg.model.pretrained)
    return out

  def _check_weight_sources(self) -> None:
    """A one-line error when a network would load the localizer's weight FILE into another
    backbone family (set its own ``config.slt.<network>.pretrained``)."""
    from wsol_jax.models import pretrained  # pylint: disable=import-outside-toplevel

    def family(name):
      try:
        return pretrained.family_of(name)[0]
      except ValueError:  # no ImageNet import (small test nets): the name itself
        return name

    sources = self.weight_sources()
    loc_name, loc_source = sources["localizer"]
    for net in self.networks()[1:]:
      name = sources[net][0]
      if (not self.config.slt[net].get("pretrained", "") and loc_source not in ("", "imagenet")
          and family(name) != family(loc_name)):
        raise ValueError(
            f"config.slt.{net}.pretrained is empty, so the {net} ({name}) would load "
            f"config.model.pretrained={loc_source!r}, the {loc_name} localizer's weights: set "
            f"config.slt.{net}.pretrained to its own file (or 'imagenet')")

  def init_state(self, rng, sample_batch):
    images = heads.model_input(sample_batch["image"][:1])
    modules = {"localizer": self.localizer, "regressor": self.regressor,
               "classifier": self.classifier}
    sources = self.weight_sources()
    keys = dict(zip(NETWORKS, jax.random.split(rng, 3)))
    variables = {}
    for net in self.networks():
      name, source = sources[net]
      field = ("model" if net == "localizer" else f"slt.{net}") + ".pretrained_allow_random"
      variables[net] = common.init_variables(self.config, modules[net](), name, keys[net],
                                             self.network_input(net, images), pretrained=source,
                                             network=net, allow_random_field=field)
    slt = self.config.slt
    params = {k: v["params"] for k, v in variables.items()}
    batch_stats = {k: v.get("batch_stats", {}) for k, v in variables.items()}
    extras = {PSEUDO_THRESHOLD: jnp.asarray(slt.pseudo_box_threshold, jnp.float32)}
    return ts.create_state(params, batch_stats, self.tx_loc, extras=extras)

  def enter_stage(self, state, stage):
    if stage == CLASSIFIER:
      return state.replace(opt_state=self.tx_cls.init(state.params))
    return state

  # ------------------------------------------------------------------------------------------
  # The localization branch: localizer (L_SMT + beta L_VST) and regressor (L_REG) in one step.

  def localization_map(self, out, labels):
    """The localizer's map [B, h, w] (raw): top-K ACAM (Eq. 9), or the true class's CAM."""
    if self.config.slt.topk_acam:
      return cam_lib.topk_average_cam(out["features"], out["cam_weights"],
                                      jax.lax.stop_gradient(out["logits"]), self.acam_k)
    return cam_lib.cams_for_classes(out["features"], out["cam_weights"], labels)

  def _vst_maps(self, out, logits_o, labels):
    """The raw maps Eq. 13 compares, [B, h, w, C'] (classes chosen on the ORIGINAL image's logits)."""
    slt = self.config.slt
    kind = slt.vst_maps
    if kind == "localization":
      kind = "acam" if slt.topk_acam else "gt"
    if kind == "all":
      maps = cam_lib.class_activation_maps(out["features"], out["cam_weights"])
    elif kind == "acam":
      maps = cam_lib.topk_average_cam(out["features"], out["cam_weights"], logits_o,
                                      self.acam_k)[..., None]
    else:
      maps = cam_lib.cams_for_classes(out["features"], out["cam_weights"], labels)[..., None]
    return maps  # raw: vst_map_pair normalises them after g-inverse

  def _localization_step(self, state, batch, rng, axis_name):
    slt = self.config.slt
    rngs = ts.step_rngs(rng, state.step, ("dropout", "vst"), axis_name)
    crop_images = heads.model_input(batch["image"])  # the training crop, data.image_size
    images = self.network_input("localizer", crop_images)
    labels = batch["label"]
    n, h, w, _ = images.shape
    use_vst = slt.vst_weight > 0
    if use_vst:  # g on the localizer's input: its canvas follows the localizer's size and stride
      params_g = transforms.sample_vst_params(rngs["vst"], n, **self.jitter_kwargs)
      canvas_hw = transforms.vst_canvas_hw((h, w), slt.jitter.scale_max, slt.canvas_multiple)
      images_t = transforms.spatial_forward(transforms.colour_jitter(images, params_g), params_g,
                                            canvas_hw, fill=self.fill)
    localizer = self.localizer(axis_name)
    regressor = self.regressor(axis_name) if self.has_regressor else None
    dropout = {"dropout": rngs["dropout"]}

    def loss_fn(params):
      loc_vars = common.network_variables(state, "localizer", params["localizer"])
      (out_o, updates), stats_o = apply_recording_batch_stats(
          localizer, loc_vars, images, train=True, rngs=dropout, mutable=["batch_stats"])
      logits = out_o["logits"]
      smt = losses.smt_loss(logits, labels, self.smt_k, slt.smt_alpha)
      terms = {"loss_smt": jnp.mean(smt)}
      loss = terms["loss_smt"]
      if use_vst:
        # The transformed pass normalises with the ORIGINAL pass's batch statistics (inference-
        # mode BatchNorm on them) and updates no running statistics: BatchNorm must not turn the
        # canvas fill into a map difference.
        out_t = localizer.apply({"params": params["localizer"], "batch_stats": stats_o},
                                images_t, train=False)
        logits_sg = jax.lax.stop_gradient(logits)
        maps_o, maps_it = vst_map_pair(self._vst_maps(out_o, logits_sg, labels),
                                       self._vst_maps(out_t, logits_sg, labels), params_g,
                                       (h, w), canvas_hw, slt.vst_normalize)
        if slt.vst_stop_gradient == "original":
          maps_o = jax.lax.stop_gradient(maps_o)
        elif slt.vst_stop_gradient == "transformed":
          maps_it = jax.lax.stop_gradient(maps_it)
        terms["loss_vst"] = jnp.mean(losses.vst_loss(maps_o, maps_it,
                                                       class_reduce=slt.vst_class_reduce))
        loss = loss + slt.vst_weight * terms["loss_vst"]
        if slt.smt_on_transformed:
          smt_t = jnp.mean(losses.smt_loss(out_t["logits"], labels, self.smt_k, slt.smt_alpha))
          loss = loss + 0.5 * (smt_t - terms["loss_smt"])
      pseudo = None
      if regressor is not None:
        # Normalised xyxy from the localizer's map at its own input size: it transfers to any size.
        pseudo = pseudo_box_normalized_xyxy(self.localization_map(out_o, labels), (h, w),
                                            state.extras[PSEUDO_THRESHOLD])
        reg_vars = common.network_variables(state, "regressor", params["regressor"])
        reg_images = self.network_input("regressor", crop_images)
        raw, reg_updates = regressor.apply(reg_vars, reg_images, train=True, rngs=dropout,
                                           mutable=["batch_stats"])
        cells_hw = self.regressor_cells_hw(reg_images.shape[1:3])
        pred = regressor_lib.normalized_xyxy(raw, slt.regressor.output, cells_hw)
        if slt.regressor.loss_units == "cells":  # Eq. 3-4: boxes in cells of the REGRESSOR's map
          reg = losses.regressor_loss(pred, pseudo, cells_hw, slt.regressor.smooth_l1_beta)
        else:  # 'normalized': [0, 1] coordinates (a half-MSE at beta 1)
          reg = losses.smooth_l1_loss(pred, pseudo, slt.regressor.smooth_l1_beta)
        terms["loss_reg"] = jnp.mean(reg)
        loss = loss + slt.regressor.weight * terms["loss_reg"]
        updates = {"localizer": updates.get("batch_stats", {}),
                   "regressor": reg_updates.get("batch_stats", {})}
      else:
        updates = {"localizer": updates.get("batch_stats", {})}
      return loss, (terms, logits, pseudo, updates)

    (loss, (terms, logits, pseudo, bs_updates)), grads = jax.value_and_grad(
        loss_fn, has_aux=True)(state.params)
    grads = parallel.mean_over_devices(grads, axis_name)
    batch_stats = dict(state.batch_stats, **bs_updates)
    state, grad_norm = ts.apply_gradients(state, grads, self.tx_loc, batch_stats=batch_stats)
    metrics = dict(terms, loss=loss, grad_norm=grad_norm,
                   accuracy=jnp.mean(jnp.argmax(logits, -1) == labels),
                   label_in_top_k=jnp.mean(losses.label_in_top_k(logits, labels, self.smt_k)))
    if pseudo is not None:
      # Monitoring only (the boxes never reach a gradient): how often the pseudo-box is right,
      # in the crop's frame (the GT boxes').
      crop_h, crop_w = crop_images.shape[1:3]
      pseudo_px = box_lib.denormalize_xyxy(pseudo, crop_w, crop_h)
      hit, _ = box_lib.gt_known_hits(pseudo_px, batch["bboxes"], batch["bboxes_valid"],
                                     (crop_h, crop_w))
      metrics["pseudo_box_iou50"] = jnp.mean(hit)
    return state, parallel.mean_over_devices(metrics, axis_name)

  # ------------------------------------------------------------------------------------------
  # The classifier (stage 2).

  def _classifier_step(self, state, batch, rng, axis_name):
    return common.cross_entropy_step(state, batch, rng, model=self.classifier(axis_name),
                                     network="classifier", tx=self.tx_cls, axis_name=axis_name,
                                     input_size=self.input_sizes["classifier"])

  def train_step(self, state, batch, rng, *, stage, axis_name=None):
    if stage == LOCALIZATION:
      return self._localization_step(state, batch, rng, axis_name)
    if stage == CLASSIFIER:
      return self._classifier_step(state, batch, rng, axis_name)
    raise ValueError(f"SLT-Net has no stage {stage!r}")

  # ------------------------------------------------------------------------------------------
  # Inference.

  def localizer_out(self, state, images):
    """The localizer's outputs (inference mode) for float ``images`` [B, H, W, 3] of any size
    (resized to its input size): logits [B, C], features [B, h, w, K], cam_weights [K, C]."""
    return self.localizer().apply(common.network_variables(state, "localizer"),
                                  self.network_input("localizer", images), train=False)

  def regressor_cells_hw(self, input_hw) -> tuple[int, int]:
    """(h, w) of the regressor backbone's feature map at its input size ``input_hw`` (shapes
    only, nothing is computed): the units of Eq. 3-4, ``x / m`` with m the REGRESSOR's stride."""
    input_hw = tuple(int(n) for n in input_hw)
    if input_hw not in self._regressor_cells:
      name, kwargs = common.backbone_of(self.config, self.config.slt.regressor)
      backbone = heads.make_backbone(name, kwargs, dtype=self.dtype)
      features = jax.eval_shape(
          lambda x: backbone.init_with_output(jax.random.key(0), x, train=False)[0],
          jax.ShapeDtypeStruct((1, *input_hw, 3), jnp.float32))
      self._regressor_cells[input_hw] = tuple(features.shape[1:3])
    return self._regressor_cells[input_hw]

  def regressor_boxes(self, state, images):
    """The regressor's boxes for float ``images`` [B, H, W, 3] of any size (resized to its input
    size): its outputs in cells of its own map (Eq. 3-4: one unit of output is one cell, so the
    smooth L1's gradient per coordinate is at most 1, as in the paper) decoded to normalised xyxy,
    corners in order, clipped to the image (:func:`wsol_jax.models.regressor.decoded_boxes_xyxy`)."""
    x = self.network_input("regressor", images)
    raw = self.regressor().apply(common.network_variables(state, "regressor"), x, train=False)
    return regressor_lib.decoded_boxes_xyxy(raw, self.config.slt.regressor.output,
                                            self.regressor_cells_hw(x.shape[1:3]))

  def classify(self, state, images, crops_uint8=None):
    """Class logits [B, C] of the classifier on float ``images`` [B, H, W, 3]; with
    ``crops_uint8`` [B, V, h, w, 3] (uint8) instead, the log of the mean softmax over the V views:
    the ten crops of the original image resized to ``data.resize_size`` (eval batches'
    ``image_ten_crop`` with ``data.eval_ten_crop_images``), never crops of an upscaled eval image.
    Either is resized to the classifier's input size first.

    The views run one after another (``lax.map``), each over the whole batch: the peak memory is
    one pass over B images, as without crops, not V x B (640 VGG16 passes at once at the paper's
    eval batch of 64). The numbers are those of one pass over all B x V crops."""
    model, variables = self.classifier(), common.network_variables(state, "classifier")
    logits_of = lambda x: model.apply(variables, self.network_input("classifier", x), train=False)
    if crops_uint8 is None:
      return logits_of(images)
    probs_of_view = lambda view: jax.nn.softmax(logits_of(heads.model_input(view)), axis=-1)
    probs = jax.lax.map(probs_of_view, jnp.moveaxis(crops_uint8, 1, 0))  # [V, B, C]
    return jnp.log(jnp.mean(probs, axis=0) + 1e-12)

  def predict(self, state, batch):
    images = heads.model_input(batch["image"])
    out = self.localizer_out(state, images)
    preds = {"localizer": {"logits": out["logits"],
                           "cam_gt": self.localization_map(out, batch["label"])}}
    if self.has_regressor:
      if not self.has_classifier:
        logits = out["logits"]
      elif self.config.slt.classifier.ten_crop:
        if "image_ten_crop" not in batch:
          raise ValueError("config.slt.classifier.ten_crop=True needs eval batches with "
                           "'image_ten_crop': set config.data.eval_ten_crop_images=True")
        logits = self.classify(state, images, batch["image_ten_crop"])
      else:
        logits = self.classify(state, images)
      preds["system"] = {"logits": logits, "boxes": self.regressor_boxes(state, images)}
    return preds

  def infer(self, state, images):
    """The paper's inference: the class from the classifier (the localizer's without one), the
    box from the regressor; also the localizer's map (top-K ACAM, or the predicted class's CAM)
    and ``config.eval.cam_threshold`` for its box. Each network reads ``images`` at its own size."""
    x = heads.model_input(images)
    out = self.localizer_out(state, x)
    # A new photo arrives resized to the model input; the paper's ten-crop needs the original
    # resized to data.resize_size (the eval batches' image_ten_crop), and crops of an enlarged
    # model input are not that, so inference classifies the image once.
    logits = self.classify(state, x) if self.has_classifier else out["logits"]
    preds = {"logits": logits,
             "scoremap": self.localization_map(out, jnp.argmax(out["logits"], axis=-1)),
             "threshold": jnp.full(logits.shape[:1], self.config.eval.cam_threshold)}
    if self.has_regressor:
      preds["boxes"] = self.regressor_boxes(state, x)
    return preds

  # ------------------------------------------------------------------------------------------
  # Figures (the paper's Fig. 5 and 6; drawn by :mod:`wsol_jax.methods.slt.figures`).

  def figure_arrays(self, state, images_uint8, labels):
    """On device: ``scoremap``, the localization map upsampled to the image [B, H, W];
    ``localizer_box``, its box at ``config.eval.cam_threshold``, and with a regressor
    ``regressor_box``, the regressor's (abs xyxy [B, 4])."""
    images = heads.model_input(images_uint8)
    _, h, w, _ = images.shape
    maps = cam_lib.upsample_scoremaps(self.localization_map(self.localizer_out(state, images),
                                                            labels), (h, w))
    arrays = {"scoremap": maps,
              "localizer_box": cam_lib.largest_component_box_xyxy(maps,
                                                                  self.config.eval.cam_threshold)}
    if self.has_regressor:
      arrays["regressor_box"] = box_lib.denormalize_xyxy(self.regressor_boxes(state, images), w, h)
    return arrays

  def draw_figures(self, data, out_dir: str, tag: str) -> list[str]:
    """``out_dir/slt_<tag>.png`` and, when the training hook saved per-epoch data there,
    ``out_dir/slt_epochs.png`` (:func:`.figures.draw`)."""
    return figures.draw(data, out_dir, tag)

  def on_epoch_end(self, state, ctx: base.HookContext):
    """After each localization epoch: the figure images' arrays saved for ``slt_epochs.png``."""
    if ctx.stage != LOCALIZATION or ctx.figure_batch is None:
      return {}
    data = self.figure_data(state, ctx.figure_batch)
    if ctx.is_main_process:
      figures.save_epoch_data(data, os.path.join(ctx.workdir, "figures"), ctx.epoch)
    return {}

  def refresh_extras(self, state, ctx: base.HookContext):
    """``slt.pseudo_threshold_per_epoch`` times per localization epoch, with
    ``slt.pseudo_threshold_images_per_class`` > 0: the pseudo-box threshold re-chosen on held-out
    boxes (:meth:`select_pseudo_box_threshold`)."""
    if ctx.stage != LOCALIZATION or not self.selects_on_held_out_boxes():
      return {}
    threshold, _ = self.select_pseudo_box_threshold(state)
    return {PSEUDO_THRESHOLD: np.asarray(threshold, np.float32)}

  def select_pseudo_box_threshold(self, state) -> tuple[float, float]:
    """The threshold of the localizer's maps with the best box accuracy (IoU >= 0.5, the
    ``MaxBoxAcc`` of wsolevaluation) on ``slt.pseudo_threshold_images_per_class`` x classes
    images of the TRAINING split (evenly spaced over it), and that accuracy in percent.

    The paper scores its localizer at the optimal threshold and gives no pseudo-box threshold;
    the best one moves with the backbone, the map's resolution and training (0.45 for CAM and
    0.63 for the top-K ACAM of MobileNet-0.75 on cub25, against the 0.2 used before), so it is
    chosen the way wsolevaluation chooses thresholds: on a few box-annotated images outside the
    test split (its train-fullsup: 5 per class on CUB, 10 on ImageNet). Their boxes choose this
    one number and reach no gradient. Every process scores the same images, so all agree.
    """
    if self._threshold_map_fn is None:
      self._threshold_map_fn = jax.jit(lambda s, x, y: self.localization_map(
          self.localizer_out(s, heads.model_input(x)), y))
    return common.select_on_held_out_boxes(
        self, lambda images, labels: self._threshold_map_fn(state, images, labels))
