"""LCHP (Sun & Zhu): learning consistency from high-quality pseudo-labels, two stages.

Networks (``state.params``): ``classifier`` theta1, a backbone + BAP head (:mod:`models.bap`), and
``regressor``, a backbone + two FC layers -> 4 normalised coordinates (:mod:`models.regressor`).
``state.ema_params`` holds theta2, the EMA of the classifier's parameters AND batch statistics,
used only to make pseudo-boxes.

**init** (LCHP-I), per step on a batch ``I_r``:

1. Algorithm 1 with theta2 (inference mode, no gradient) at threshold ``state.extras['delta']``
   (``lchp.delta``, or re-chosen ``lchp.delta_per_epoch`` times per epoch on held-out boxes:
   :meth:`LCHP.select_delta`):
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
import numpy as np

from wsol_jax.localization import boxes as box_lib
from wsol_jax.methods import common
from wsol_jax.methods.lchp import attention_boxes
from wsol_jax.methods.lchp import config as lchp_config
from wsol_jax.methods.lchp import figures, losses
from wsol_jax.methods.lchp import strong_augment
from wsol_jax.models import bap, blocks, heads, regressor
from wsol_jax.training import method as base
from wsol_jax.training import parallel
from wsol_jax.training import train_state as ts

INIT, REFINE = "init", "refine"
GROUPS = {"classifier": "classifier", "regressor": "regressor"}  # lr groups = the two networks
INIT_COUNTS = ("seen", "with_gt", "pseudo_gt_known")
DELTA = "delta"  # state.extras key: Algorithm 1's threshold in use
REFINE_COUNTS = ("seen", "kept", "with_gt", "kept_with_gt", "all_gt_known", "kept_gt_known")


@base.register_method("lchp")
class LCHP(base.Method):
  """LCHP on the shared loop: stages ``init`` and (unless ``lchp.run_refine`` is False) ``refine``."""

  primary_eval_group = "lchp"
  held_out_boxes = base.HeldOutBoxes("lchp.delta_images_per_class", "lchp.delta", "delta",
                                     per_epoch="lchp.delta_per_epoch")

  def __init__(self, config, info: base.RunInfo):
    super().__init__(config, info)
    self.lchp = config.lchp
    lchp_config.check_config(self.lchp)
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
    """The regressor's boxes (inference mode) -> [B, 4] normalised xyxy, corners in order, clipped
    to the image (:func:`wsol_jax.models.regressor.decoded_boxes_xyxy`)."""
    raw = self.regressor().apply(variables, images, train=False)
    return regressor.decoded_boxes_xyxy(raw, self.lchp.regressor.output)

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
    return common.select_on_held_out_boxes(
        self, lambda images, _: self._delta_boxes_fn(state.ema_params, images),
        candidates=self.lchp.delta_candidates)

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
      if lchp.refine_bn == "frozen":  # LCHP-I's statistics: S(I_r) must not move them
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

  # ------------------------------------------------------------------------------------------
  # Figures (the paper's Fig. 2; drawn by :mod:`wsol_jax.methods.lchp.figures`).

  def figure_arrays(self, state, images_uint8, labels):
    """On device: the Fig. 2 boxes (abs xyxy [B, 4]): ``pseudo_label`` (Algorithm 1, theta2),
    ``lchp_i`` (the init-stage regressor) and, after refine, ``lchp_r``."""
    preds = self.predict(state, {"image": images_uint8, "label": labels})
    height, width = images_uint8.shape[1:3]
    to_abs = lambda boxes: box_lib.denormalize_xyxy(boxes.astype(jnp.float32), width, height)
    out = {"pseudo_label": to_abs(preds["pseudo_label"]["boxes"])}
    if "lchp_i" in preds:
      out.update(lchp_i=to_abs(preds["lchp_i"]["boxes"]), lchp_r=to_abs(preds["lchp"]["boxes"]))
    else:
      out["lchp_i"] = to_abs(preds["lchp"]["boxes"])
    return out

  def draw_figures(self, data, out_dir: str, tag: str) -> list[str]:
    """``out_dir/lchp_<tag>.png``: the Fig. 2 grid (:func:`.figures.draw`)."""
    return figures.draw(data, out_dir, tag)

  def on_epoch_end(self, state, ctx):
    counts = {k: float(np.asarray(v)) for k, v in state.extras["counts"].items()}
    if ctx.stage == INIT:
      out = {"pseudo_gt_known": 100.0 * counts["pseudo_gt_known"] / max(counts["with_gt"], 1.0)}
    else:
      out = {"kept": counts["kept"], "kept_frac": counts["kept"] / max(counts["seen"], 1.0),
             "kept_gt_known": 100.0 * counts["kept_gt_known"] / max(counts["kept_with_gt"], 1.0),
             "all_gt_known": 100.0 * counts["all_gt_known"] / max(counts["with_gt"], 1.0)}
    last_epoch = ctx.epoch * self.info.steps_per_epoch >= self.stage_steps(ctx.stage)
    if last_epoch and ctx.is_main_process and ctx.figure_batch is not None:
      for path in self.draw_figures(self.figure_data(state, ctx.figure_batch),
                                    os.path.join(ctx.workdir, "figures"),
                                    f"{ctx.stage}_step{ctx.step}"):
        ctx.writer.write_text(f"wrote {path}")
    return out

  def refresh_extras(self, state, ctx):
    """``lchp.delta_per_epoch`` times per init epoch, with ``lchp.delta_images_per_class`` > 0:
    delta re-chosen on held-out boxes (:meth:`select_delta`), which the loop logs as
    ``init/delta``."""
    if ctx.stage != INIT or not self.selects_on_held_out_boxes():
      return {}
    delta, _ = self.select_delta(state)
    return {DELTA: np.asarray(delta, np.float32)}
