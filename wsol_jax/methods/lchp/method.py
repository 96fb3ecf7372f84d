"""LCHP (Sun & Zhu): learning consistency from high-quality pseudo-labels, two stages.

Networks (``state.params``): ``classifier`` theta1, a backbone + BAP head (:mod:`models.bap`), and
``regressor``, a backbone + two FC layers -> 4 normalised coordinates (:mod:`models.regressor`).
``state.ema_params`` holds theta2, the EMA of the classifier's parameters AND batch statistics,
used only to make pseudo-boxes.

**init** (LCHP-I), per step on a batch ``I_r``:

1. Algorithm 1 with theta2 (inference mode, no gradient) at threshold ``state.extras['delta']``
   (``lchp.delta``, or re-chosen after every epoch on held-out boxes: :meth:`LCHP.select_delta`):
   box ``L_r`` from the channel-mean attention, ``I_m`` = ``I_r`` with ``L_r`` erased, box
   ``L_m`` from ``I_m``, pseudo-box ``y`` = their union
   (:mod:`wsol_jax.methods.lchp.attention_boxes`);
2. ``L_cls = (CE(cls(I_r)) + CE(cls(I_m))) / 2`` (Eq. 1), ``L_reg = mean ||Loc(I_r) - y||^2``
   (Eq. 2), ``L_init = L_cls + alpha * L_reg`` (Eq. 3); classifier lr x0.9 per epoch, regressor
   lr constant;
3. ``theta2 = beta * theta2 + (1 - beta) * theta1`` (Eq. 7).

**refine** (LCHP-R): the classifier is frozen; per step ``y = Loc(I_r)`` (no gradient),
``conf = max softmax(cls(crop(I_r, y)))``, and ``L_refine = mean(1[conf > tau] ||Loc(S(I_r)) -
S(y)||^2)`` (Eq. 6) with the strong augmentation S (:mod:`wsol_jax.methods.lchp.strong_augment`).

Evaluation groups: ``lchp`` (class from the classifier, box from the regressor: LCHP-I after the
init stage, LCHP-R after refine), ``lchp_i`` (the regressor as it left the init stage, during
refine), ``pseudo_label`` (Algorithm 1 boxes from theta2: the paper's baseline).
Choices the paper leaves open are ``config.lchp`` fields, documented in docs/ALGORITHMS.md.
"""

from __future__ import annotations

import os

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from wsol_jax.localization import boxes as box_lib
from wsol_jax.methods import common
from wsol_jax.methods.lchp import attention_boxes
from wsol_jax.methods.lchp import figures as lchp_figures
from wsol_jax.methods.lchp import losses
from wsol_jax.methods.lchp import strong_augment
from wsol_jax.models import bap, blocks, heads, regressor
from wsol_jax.training import method as base
from wsol_jax.training import parallel
from wsol_jax.training import train_state as ts

INIT, REFINE = "init", "refine"
GROUPS = {"classifier": "classifier", "regressor": "regressor"}  # lr groups = the two networks
ATTENTION_SOURCES = ("features", "attention")
FILLS = ("mean", "black")
STRONG_FILLS = FILLS + ("reflect",)  # S may also mirror the image instead of padding
COORD_REDUCTIONS = ("sum", "mean")
TEACHERS = ("current", "init")
REFINE_IMAGES = ("plain", "augmented")
REFINE_BN = ("frozen", "train")
REGRESSOR_BIAS_INITS = ("mean_pseudo_box", "zero")
INIT_COUNTS = ("seen", "with_gt", "pseudo_gt_known")
DELTA = "delta"  # state.extras key: Algorithm 1's threshold in use
REFINE_COUNTS = ("seen", "kept", "with_gt", "kept_with_gt", "all_gt_known", "kept_gt_known")


def default_lchp_config() -> ml_collections.ConfigDict:
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
  # I_r in refine: 'plain' (the un-augmented training image, resized as at evaluation; needs
  # data.train_plain_images) | 'augmented' (the init stage's general augmentation).
  c.refine_images = "plain"
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


def check_lchp_config(c: ml_collections.ConfigDict) -> None:
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


# ----------------------------------------------------------------------------------------------
# The method.


@base.register_method("lchp")
class LCHP(base.Method):
  """LCHP on the shared loop: stages ``init`` and (unless ``lchp.run_refine`` is False) ``refine``."""

  primary_eval_group = "lchp"
  held_out_boxes = base.HeldOutBoxes("lchp.delta_images_per_class", "lchp.delta", "delta")

  def __init__(self, config, info: base.RunInfo):
    super().__init__(config, info)
    self.lchp = config.lchp
    check_lchp_config(self.lchp)
    if (REFINE in self.stage_names() and self.lchp.refine_images == "plain"
        and not config.data.get("train_plain_images", False)):
      raise ValueError("config.lchp.refine_images='plain' needs config.data.train_plain_images="
                       "True (the un-augmented training images in each batch)")
    self.tx_init = common.network_optimizer(self.stage_train(INIT), GROUPS, info.steps_per_epoch,
                                            self.stage_steps(INIT))
    if REFINE in self.stage_names():  # the classifier is frozen
      self.tx_refine = common.network_optimizer(self.stage_train(REFINE), GROUPS,
                                                info.steps_per_epoch, self.stage_steps(REFINE),
                                                trained=("regressor",))
    self.erase_rgb = self._fill_rgb(self.lchp.erase_fill)
    self.strong_rgb = self._fill_rgb(self.lchp.strong_fill)
    self._delta_boxes_fn = None  # compiled on the first select_delta

  # ------------------------------------------------------------------------------------------
  # Models.

  def _fill_rgb(self, fill: str):
    if fill == "reflect":
      return None  # strong_augment.resample_affine: mirror, no fill
    if fill == "black":
      return jnp.zeros((3,), jnp.float32)
    return common.zero_rgb(self.config.model.backbone, self.config.model.backbone_kwargs)

  def classifier(self, bn_axis_name: str | None = None) -> bap.BAPClassifier:
    return bap.BAPClassifier(
        backbone_name=self.config.model.backbone, num_classes=self.info.num_classes,
        backbone_kwargs=dict(self.config.model.backbone_kwargs),
        num_attention=self.lchp.num_attention, feature_scale=self.lchp.bap_feature_scale,
        bn_axis_name=bn_axis_name, dtype=blocks.canonical_dtype(self.config.model.dtype))

  def regressor(self, bn_axis_name: str | None = None) -> regressor.BoxRegressor:
    return common.build_regressor(self.config, self.lchp.regressor, bn_axis_name)

  def regress_boxes(self, variables, images):
    """The regressor's boxes (inference mode): normalised xyxy, corners in order, clipped to the
    image (a linear output may leave it) -> [B, 4]."""
    raw = self.regressor().apply(variables, images, train=False)
    return jnp.clip(regressor.ordered_box_xyxy(raw), 0.0, 1.0)

  def stage_names(self):
    return (INIT, REFINE) if self.lchp.run_refine or self.lchp.init_from else (INIT,)

  def warm_start(self):
    """``lchp.init_from``: refine the LCHP-I that another run's init stage ended with."""
    return base.WarmStart(self.lchp.init_from, INIT) if self.lchp.init_from else None

  # ------------------------------------------------------------------------------------------
  # State.

  def weight_sources(self):
    """Both networks load ``config.model.pretrained``, each for its own backbone."""
    return {"classifier": (self.config.model.backbone, self.config.model.pretrained),
            "regressor": (common.backbone_of(self.config, self.lchp.regressor)[0],
                          self.config.model.pretrained)}

  def init_state(self, rng, sample_batch):
    images = heads.model_input(sample_batch["image"][:1])
    k_cls, k_reg = jax.random.split(rng)
    cls_vars = common.init_variables(self.config, self.classifier(), self.config.model.backbone,
                                     k_cls, images)
    reg_vars = common.init_variables(self.config, self.regressor(),
                                     common.backbone_of(self.config, self.lchp.regressor)[0], k_reg,
                                     images)
    params = {"classifier": cls_vars["params"], "regressor": reg_vars["params"]}
    stats = {"classifier": cls_vars.get("batch_stats", {}),
             "regressor": reg_vars.get("batch_stats", {})}
    if self.lchp.regressor_bias_init == "mean_pseudo_box":
      params["regressor"] = self._bias_at_mean_pseudo_box(params["regressor"], cls_vars,
                                                          sample_batch["image"])
    # theta2 starts equal to theta1 (copies, so donated buffers are never shared).
    ema = jax.tree.map(jnp.array, {"params": params["classifier"],
                                   "batch_stats": stats["classifier"]})
    counts = {k: jnp.zeros((), jnp.float32) for k in INIT_COUNTS}
    return ts.create_state(params, stats, self.tx_init, ema_params=ema,
                           extras={"counts": counts,
                                   DELTA: jnp.asarray(self.lchp.delta, jnp.float32)})

  def _bias_at_mean_pseudo_box(self, reg_params, cls_vars, images):
    """``reg_params`` with ``fc2``'s bias set so that the regressor's output starts at the mean
    Algorithm-1 box of ``images`` (the initial classifier = theta2 at step 0) on average over the
    images; ``fc2``'s weights keep their random init."""
    x = heads.model_input(images)
    height, width = x.shape[1:3]
    boxes = self.pseudo_boxes(cls_vars, x).boxes_xyxy
    mean_box = jnp.mean(box_lib.normalize_xyxy(boxes, width, height), axis=0)
    bias = regressor.output_bias_for_box(mean_box, self.lchp.regressor.output)
    fc2 = {**reg_params["fc2"], "bias": bias.astype(reg_params["fc2"]["bias"].dtype)}
    return {**reg_params, "fc2": fc2}

  def enter_stage(self, state, stage):
    if stage != REFINE:
      return state
    frozen_init = jax.tree.map(jnp.array, common.network_variables(state, "regressor"))
    counts = {k: jnp.zeros((), jnp.float32) for k in REFINE_COUNTS}
    return state.replace(opt_state=self.tx_refine.init(state.params),
                         extras={"counts": counts, "init_regressor": frozen_init,
                                 DELTA: state.extras[DELTA]})

  # ------------------------------------------------------------------------------------------
  # Algorithm 1 with theta2.

  def _attention_features_fn(self, ema_params):
    """theta2's map that Algorithm 1 averages, in inference mode, without gradient."""
    model = self.classifier()
    source = self.lchp.attention_source
    ema_params = jax.lax.stop_gradient(ema_params)
    return lambda x: model.apply(ema_params, x, train=False)[source]

  def pseudo_boxes(self, ema_params, images, delta=None) -> attention_boxes.PseudoBoxes:
    """Algorithm 1 on ``images`` (float [0, 1]) with theta2 in inference mode; no gradient.
    ``delta``: a float or traced scalar (``state.extras['delta']``); None: ``lchp.delta``."""
    return attention_boxes.pseudo_box_xyxy(
        self._attention_features_fn(ema_params), images,
        self.lchp.delta if delta is None else delta, normalize=self.lchp.attention_normalize,
        upsample=self.lchp.attention_upsample, erase_value=self.erase_rgb)

  def state_pseudo_boxes(self, state, images) -> attention_boxes.PseudoBoxes:
    """:meth:`pseudo_boxes` with ``state``'s theta2 and delta."""
    return self.pseudo_boxes(state.ema_params, images, state.extras[DELTA])

  def select_delta(self, state) -> tuple[float, float]:
    """The ``lchp.delta_candidates`` value whose Algorithm-1 boxes (theta2) hit the GT boxes most
    often (IoU >= 0.5; the lowest on ties) on ``lchp.delta_images_per_class`` x classes images of
    the TRAINING split, and that GT-known accuracy in percent.

    The paper fixes delta per dataset from Table 3, scored on CUB's test set with its InceptionV3
    at 448 px. The best delta moves with the backbone and the map's resolution: with the CPU
    recipe's 10 x 10 maps the boxes at 0.7 are 1.7x the GT boxes' area (docs/ALGORITHMS.md), which
    also blinds the tau gate. So it is chosen the way SLT-Net's pseudo-box threshold is, on a few
    box-annotated training images whose boxes reach no gradient. All processes score the same
    images, so all agree."""
    if self._delta_boxes_fn is None:
      self._delta_boxes_fn = jax.jit(lambda ema, x: attention_boxes.pseudo_boxes_per_delta(
          self._attention_features_fn(ema), heads.model_input(x),
          tuple(self.lchp.delta_candidates), normalize=self.lchp.attention_normalize,
          upsample=self.lchp.attention_upsample, erase_value=self.erase_rgb))
    batches = common.held_out_box_batches(self.config, self.lchp.delta_images_per_class,
                                          self.info.num_classes, "lchp.delta_images_per_class")
    return attention_boxes.best_delta(lambda x: self._delta_boxes_fn(state.ema_params, x),
                                      batches, tuple(self.lchp.delta_candidates))

  # ------------------------------------------------------------------------------------------
  # Steps.

  def _counts(self, state, stage: str, new: dict, axis_name):
    """Per-epoch counters: reset at the first step of each epoch of the stage, then add ``new``."""
    first = (state.step - self.stage_start(stage)) % self.info.steps_per_epoch == 0
    new = parallel.sum_over_devices(new, axis_name)
    return {k: jnp.where(first, 0.0, v) + new[k] for k, v in state.extras["counts"].items()}

  def train_step(self, state, batch, rng, *, stage, axis_name=None):
    if stage == INIT:
      return self._init_step(state, batch, axis_name)
    if stage == REFINE:
      return self._refine_step(state, batch, rng, axis_name)
    raise ValueError(f"LCHP has no stage {stage!r}; stages: {[s.name for s in self.stages()]}")

  def _init_step(self, state, batch, axis_name):
    cls_model, reg_model = self.classifier(axis_name), self.regressor(axis_name)
    images = heads.model_input(batch["image"])
    labels = batch["label"]
    height, width = images.shape[1:3]
    pseudo = self.state_pseudo_boxes(state, images)
    target = box_lib.normalize_xyxy(pseudo.boxes_xyxy, width, height)
    masked = jax.lax.stop_gradient(pseudo.masked_images)

    def loss_fn(params):
      out_r, upd = cls_model.apply(common.network_variables(state, "classifier",
                                                            params["classifier"]),
                                   images, train=True, mutable=["batch_stats"])
      out_m, upd = cls_model.apply({"params": params["classifier"], **upd}, masked, train=True,
                                   mutable=["batch_stats"])
      ce_r = common.cross_entropy(out_r["logits"], labels)
      ce_m = common.cross_entropy(out_m["logits"], labels)
      loss_cls = jnp.mean((ce_r + ce_m) / 2.0)
      pred, reg_upd = reg_model.apply(
          common.network_variables(state, "regressor", params["regressor"]), images, train=True,
          mutable=["batch_stats"])
      loss_reg = jnp.mean(losses.box_sq_error(pred, target, self.lchp.coord_reduction))
      loss = loss_cls + self.lchp.alpha * loss_reg
      new_stats = {"classifier": upd.get("batch_stats", {}),
                   "regressor": reg_upd.get("batch_stats", {})}
      aux = dict(loss_cls=loss_cls, loss_reg=loss_reg,
                 accuracy=jnp.mean(jnp.argmax(out_r["logits"], -1) == labels),
                 accuracy_masked=jnp.mean(jnp.argmax(out_m["logits"], -1) == labels))
      return loss, (aux, new_stats)

    (loss, (aux, new_stats)), grads = jax.value_and_grad(loss_fn, has_aux=True)(state.params)
    grads = parallel.mean_over_devices(grads, axis_name)
    new_stats = parallel.mean_over_devices(new_stats, axis_name)
    new, grad_norm = ts.apply_gradients(state, grads, self.tx_init, batch_stats=new_stats)
    ema = ts.ema_update(state.ema_params, common.network_variables(new, "classifier"),
                        self.lchp.ema_decay)
    hit, has_gt = box_lib.gt_known_hits(pseudo.boxes_xyxy, batch["bboxes"], batch["bboxes_valid"],
                                (height, width))
    counts = self._counts(state, INIT, {"seen": jnp.float32(labels.shape[0]),
                                        "with_gt": has_gt.sum(), "pseudo_gt_known": hit.sum()},
                          axis_name)
    new = new.replace(ema_params=ema, extras={**new.extras, "counts": counts})
    area = box_lib.area_xyxy(pseudo.boxes_xyxy) / (height * width)
    metrics = dict(loss=loss, grad_norm=grad_norm, pseudo_area=jnp.mean(area), **aux)
    return new, parallel.mean_over_devices(metrics, axis_name)

  def _refine_step(self, state, batch, rng, axis_name):
    lchp = self.lchp
    reg_model = self.regressor(axis_name)
    if lchp.refine_images == "plain":
      if "image_plain" not in batch:
        raise ValueError("lchp.refine_images='plain': the batch has no 'image_plain' (set "
                         "config.data.train_plain_images=True)")
      images = heads.model_input(batch["image_plain"])
      gt_boxes = batch["bboxes_plain"]
    else:
      images = heads.model_input(batch["image"])
      gt_boxes = batch["bboxes"]
    height, width = images.shape[1:3]
    teacher = (common.network_variables(state, "regressor") if lchp.refine_teacher == "current"
               else state.extras["init_regressor"])
    y = jax.lax.stop_gradient(
        box_lib.denormalize_xyxy(self.regress_boxes(teacher, images), width, height))
    conf = self.confidence(state, images, y)
    keep = conf > lchp.tau
    key = ts.step_rngs(rng, state.step, ("strong",), axis_name)["strong"]
    params = strong_augment.sample_strong_params(
        key, images.shape[0], scale_range=tuple(lchp.strong_scale),
        crop_pad_fraction=lchp.strong_crop_pad,
        crop_pad_prob=lchp.strong_crop_pad_prob, hflip_prob=lchp.strong_hflip_prob,
        vflip_prob=lchp.strong_vflip_prob)
    s_images, s_boxes = strong_augment.strong_augment(images, y, params, fill=self.strong_rgb)
    target = box_lib.normalize_xyxy(s_boxes, width, height)
    # A pseudo-box that S pushed wholly out of the image has nothing to teach.
    use = keep & ~box_lib.is_degenerate_xyxy(s_boxes)

    def loss_fn(reg_params):
      variables = common.network_variables(state, "regressor", reg_params)
      if lchp.refine_bn == "frozen":  # LCHP-I's statistics, kept (issue 11, defect 7)
        pred = reg_model.apply(variables, s_images, train=False)
        return (losses.refine_loss(pred, target, use, lchp.coord_reduction),
                state.batch_stats["regressor"])
      pred, upd = reg_model.apply(variables, s_images, train=True, mutable=["batch_stats"])
      return losses.refine_loss(pred, target, use, lchp.coord_reduction), upd.get("batch_stats", {})

    (loss, reg_stats), reg_grads = jax.value_and_grad(loss_fn, has_aux=True)(
        state.params["regressor"])
    grads = {"classifier": jax.tree.map(jnp.zeros_like, state.params["classifier"]),
             "regressor": parallel.mean_over_devices(reg_grads, axis_name)}
    stats = {"classifier": state.batch_stats["classifier"],
             "regressor": parallel.mean_over_devices(reg_stats, axis_name)}
    new, grad_norm = ts.apply_gradients(state, grads, self.tx_refine, batch_stats=stats)
    hit, has_gt = box_lib.gt_known_hits(y, gt_boxes, batch["bboxes_valid"], (height, width))
    keep_f = keep.astype(jnp.float32)
    counts = self._counts(state, REFINE, {
        "seen": jnp.float32(images.shape[0]), "kept": keep_f.sum(), "with_gt": has_gt.sum(),
        "kept_with_gt": (keep_f * has_gt).sum(), "all_gt_known": hit.sum(),
        "kept_gt_known": (keep_f * hit).sum()}, axis_name)
    new = new.replace(extras={**new.extras, "counts": counts})
    metrics = dict(loss=loss, grad_norm=grad_norm, kept_frac=jnp.mean(keep_f),
                   confidence=jnp.mean(conf))
    return new, parallel.mean_over_devices(metrics, axis_name)

  def confidence(self, state, images, boxes_xyxy):
    """max softmax of the classifier theta1 (inference mode) on each image cropped at its box and
    resized to the input size: [B, H, W, 3], [B, 4] abs xyxy -> [B]."""
    crops = strong_augment.crop_resize_xyxy(images, boxes_xyxy, images.shape[1:3])
    variables = common.network_variables(state, "classifier")
    logits = self.classifier().apply(jax.lax.stop_gradient(variables), crops, train=False)["logits"]
    return jnp.max(jax.nn.softmax(logits, -1), -1)

  # ------------------------------------------------------------------------------------------
  # Evaluation.

  def infer(self, state, images):
    """LCHP's inference: the class from the classifier, the box from the regressor."""
    x = heads.model_input(images)
    return {"logits": self.classifier().apply(common.network_variables(state, "classifier"), x,
                                              train=False)["logits"],
            "boxes": self.regress_boxes(common.network_variables(state, "regressor"), x)}

  def predict(self, state, batch):
    images = heads.model_input(batch["image"])
    height, width = images.shape[1:3]
    out = {"lchp": self.infer(state, batch["image"])}
    logits = out["lchp"]["logits"]
    if "init_regressor" in state.extras:
      out["lchp_i"] = {"logits": logits,
                       "boxes": self.regress_boxes(state.extras["init_regressor"], images)}
    pseudo = self.state_pseudo_boxes(state, images).boxes_xyxy
    out["pseudo_label"] = {"logits": logits,
                           "boxes": box_lib.normalize_xyxy(pseudo, width, height)}
    return out

  def pseudo_label_quality(self, state, batch):
    """For Table 4: the regressor's boxes on ``batch`` (abs xyxy), their confidence and whether
    they hit a GT box -> dict of [B] arrays (``boxes`` [B, 4])."""
    images = heads.model_input(batch["image"])
    height, width = images.shape[1:3]
    y = box_lib.denormalize_xyxy(
        self.regress_boxes(common.network_variables(state, "regressor"), images), width, height)
    hit, has_gt = box_lib.gt_known_hits(y, batch["bboxes"], batch["bboxes_valid"], (height, width))
    return {"boxes": y, "confidence": self.confidence(state, images, y), "gt_known": hit,
            "has_gt": has_gt}

  def write_figures(self, state, batch, out_dir: str, tag: str) -> list[str]:
    """``out_dir/lchp_<tag>.png``: the Fig. 2 grid (GT red, pseudo-label yellow, LCHP-I green,
    LCHP-R blue) of the first ``config.eval.figure_images`` images of ``batch`` (0: none)."""
    num_images = min(self.config.eval.figure_images, len(batch["image"]))
    if num_images <= 0:
      return []
    path = os.path.join(out_dir, f"lchp_{tag}.png")
    return [str(lchp_figures.save_fig2(self, state, batch, path, num_images))]

  def on_epoch_end(self, state, ctx):
    counts = {k: float(np.asarray(v)) for k, v in state.extras["counts"].items()}
    if ctx.stage == INIT:
      out = {"pseudo_gt_known": 100.0 * counts["pseudo_gt_known"] / max(counts["with_gt"], 1.0)}
    else:
      out = {"kept": counts["kept"], "kept_frac": counts["kept"] / max(counts["seen"], 1.0),
             "kept_gt_known": 100.0 * counts["kept_gt_known"] / max(counts["kept_with_gt"], 1.0),
             "all_gt_known": 100.0 * counts["all_gt_known"] / max(counts["with_gt"], 1.0)}
    last_epoch = ctx.epoch * self.info.steps_per_epoch >= self.stage_steps(ctx.stage)
    if last_epoch and ctx.is_main_process:
      for path in self.write_figures(state, ctx.sample_batch, os.path.join(ctx.workdir, "figures"),
                                     f"{ctx.stage}_step{ctx.step}"):
        ctx.writer.write_text(f"wrote {path}")
    return out

  def epoch_end_extras(self, state, ctx):
    """After each init epoch with ``lchp.delta_images_per_class`` > 0: delta re-chosen on
    held-out boxes (:meth:`select_delta`), which the loop logs as ``init/delta``."""
    if ctx.stage != INIT or not self.selects_on_held_out_boxes():
      return {}
    delta, _ = self.select_delta(state)
    return {DELTA: np.asarray(delta, np.float32)}
