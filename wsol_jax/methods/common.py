"""What several methods share, defined once: the classification loss and step, config checks, the
input's zero colour, a network's input size, the CAM localizer and the box regressor built from
their config sections, the choice of a threshold on held-out training boxes, initialisation with
pretrained weights, a state's variables for one network, the optimizer that trains some networks
and freezes the rest, and :class:`CAMLocalizerMethod`, the method shape of CAM and of the baselines
that change only its input, loss, network or map (HaS, CutMix, ADL, ACoL, SPG). Methods import this
module and never each other."""

from __future__ import annotations

import os
from typing import Any, Iterator, Mapping, Sequence

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax

from wsol_jax import drawing
from wsol_jax.data import pipeline
from wsol_jax.localization import metrics as metrics_lib
from wsol_jax.localization import scoremaps
from wsol_jax.models import blocks, heads
from wsol_jax.models import regressor as regressor_lib
from wsol_jax.training import method as base
from wsol_jax.training import optim
from wsol_jax.training import parallel
from wsol_jax.training import train_state as ts


def cross_entropy(logits, labels):
  """Softmax cross-entropy: logits [B, C] float, labels [B] int -> [B] (SLT-Net Eq. 5)."""
  return optax.softmax_cross_entropy_with_integer_labels(logits.astype(jnp.float32), labels)


def mean_cross_entropy(logits, labels):
  """The batch mean of :func:`cross_entropy`: logits [B, C], labels [B] -> scalar."""
  return jnp.mean(cross_entropy(logits, labels))


def cross_entropy_step(state: ts.TrainState, batch, rng, *, model, network: str,
                       tx: optax.GradientTransformation, axis_name: str | None = None,
                       input_size: int = 0, loss_fn=mean_cross_entropy):
  """One classification step of the classifying ``network`` of ``state`` (``model``: its module,
  whose output is the logits or a dict holding ``logits``), on the batch's images resized to
  ``input_size`` px (:func:`resize_images`; 0: as they come); ``tx`` keeps any other network frozen.
  ``loss_fn(logits [B, C], labels [B]) -> scalar``: the mean cross-entropy unless a method has its
  own. -> ``(state, {'loss', 'accuracy', 'grad_norm'})``, means over the global batch."""
  rngs = ts.step_rngs(rng, state.step, ("dropout",), axis_name)
  images = resize_images(heads.model_input(batch["image"]), input_size)
  labels = batch["label"]

  def objective(params):
    out, updates = model.apply(network_variables(state, network, params[network]), images,
                               train=True, rngs=rngs, mutable=["batch_stats"])
    logits = out["logits"] if isinstance(out, dict) else out
    return loss_fn(logits, labels), (logits, updates.get("batch_stats", {}))

  (loss, (logits, batch_stats)), grads = jax.value_and_grad(objective, has_aux=True)(state.params)
  grads = parallel.mean_over_devices(grads, axis_name)
  state, grad_norm = ts.apply_gradients(state, grads, tx, batch_stats=dict(
      state.batch_stats, **{network: batch_stats}))
  metrics = {"loss": loss, "accuracy": jnp.mean(jnp.argmax(logits, -1) == labels),
             "grad_norm": grad_norm}
  return state, parallel.mean_over_devices(metrics, axis_name)


# ----------------------------------------------------------------------------------------------
# Config checks and the input's colours.


def method_section(config: ml_collections.ConfigDict, name: str, default_config
                   ) -> ml_collections.ConfigDict:
  """``config.<name>``, or ``default_config()`` where the config has no such section (e.g. CAM's
  recipe run with ``--config.method=<name>``)."""
  found = config.get(name, None)
  return default_config() if found is None else found


def check_choice(section: str, name: str, value, allowed) -> None:
  """A one-line error unless ``config.<section>.<name>`` is one of ``allowed``."""
  if value not in allowed:
    raise ValueError(f"config.{section}.{name}={value!r} is not one of {tuple(allowed)}")


def zero_rgb(backbone_name: str, backbone_kwargs: Mapping[str, Any] | None = None) -> jnp.ndarray:
  """The [0, 1] RGB colour that the backbone's input scaling maps to zero, asking the backbone
  itself (its ``input_norm``, whether a config sets it or the backbone defaults it): the fill of
  canvases and erased regions that should read as "nothing" to the network."""
  probe = heads.make_backbone(backbone_name, dict(backbone_kwargs or {}))
  norm = getattr(probe, "input_norm", "none")
  if norm == "imagenet":
    return jnp.asarray(blocks.IMAGENET_MEAN_RGB, jnp.float32)
  return jnp.full((3,), 0.5 if norm == "inception" else 0.0, jnp.float32)


def held_out_box_batches(config: ml_collections.ConfigDict, images_per_class: int,
                         num_classes: int, config_field: str) -> Iterator[dict]:
  """``images_per_class x num_classes`` images of the TRAINING split, evenly spaced over it, as
  evaluation batches (resized, no ten-crop), the same on every process: the few box-annotated
  images (wsolevaluation's train-fullsup) on which a method chooses a box threshold.

  Rows without a GT box (most of ImageNet's training images) come with ``valid`` False, so they
  are never scored; when no row has one, a one-line error names ``config.<config_field>``.
  """
  data_cfg = ml_collections.ConfigDict(config.data.to_dict())
  data_cfg.eval_ten_crop_images = False
  loader = pipeline.make_eval_loader(data_cfg, config.eval.batch_size,
                                     split=config.data.train_split, shard_index=0, shard_count=1,
                                     num_records=images_per_class * num_classes)
  images_with_gt = 0
  for batch in loader:
    valid = (np.asarray(batch["valid"], bool)
             & np.any(np.asarray(batch["bboxes_valid"], bool), axis=-1))
    images_with_gt += int(valid.sum())
    yield {**batch, "valid": valid}
  if images_with_gt == 0:
    raise ValueError(f"no held-out training image has a GT box to choose a threshold with (set "
                     f"config.{config_field}=0 to keep the configured one)")


def select_on_held_out_boxes(method, scores_fn, candidates: Sequence[float] | None = None
                             ) -> tuple[float, float]:
  """The value of ``method.held_out_boxes``' threshold with the best box accuracy (IoU >= 0.5, the
  MaxBoxAcc of wsolevaluation; the lowest on ties) on its images per class x classes images of the
  TRAINING split (:func:`held_out_box_batches`), and that accuracy in percent.

  ``scores_fn(images uint8 [B, H, W, 3], labels [B])`` gives, per held-out batch, either
  * score maps [B, h, w] (``candidates`` None): their threshold is swept as MaxBoxAcc's, every
    ``config.eval.cam_curve_interval``, after the evaluator's upsampling to the image; or
  * boxes [K, B, 4] abs xyxy px, one row per value of ``candidates`` (K of them).
  Every process scores the same images, so all agree.
  """
  cfg, spec = method.config, method.held_out_boxes
  batches = held_out_box_batches(cfg, spec.value(cfg, "images_per_class"),
                                 method.info.num_classes, spec.images_per_class)

  def scored():
    for batch in batches:
      images = np.asarray(batch["image"])
      scores = np.asarray(scores_fn(images, np.asarray(batch["label"])))
      if candidates is None:
        scores = scoremaps.upsample_scoremaps_reference(scores, images.shape[1:3])
        yield scores, batch["bboxes"], batch["bboxes_valid"], batch["valid"]
      else:
        yield scores, batch["bboxes"], batch["bboxes_valid"], batch["valid"], images.shape[1:3]

  if candidates is None:
    return metrics_lib.best_box_threshold(scored(), cfg.eval.cam_curve_interval, cfg.eval.backend)
  return metrics_lib.best_candidate_boxes(scored(), tuple(candidates))


def resize_images(images, size: int):
  """Float images [B, H, W, C] -> [B, size, size, C], bilinear (antialiased when shrinking), on
  device: one training crop read by networks of different input sizes. ``size`` 0 or the images'
  own size returns them unchanged."""
  if size <= 0 or images.shape[1:3] == (size, size):
    return images
  return jax.image.resize(images, (images.shape[0], size, size, images.shape[-1]),
                          method="bilinear", antialias=True)


# ----------------------------------------------------------------------------------------------
# Networks.


def backbone_of(config: ml_collections.ConfigDict, section) -> tuple[str, dict]:
  """``(name, kwargs)`` of a network section with ``backbone`` / ``backbone_kwargs`` fields; an
  empty ``backbone`` means ``config.model``'s backbone with ``config.model.backbone_kwargs``."""
  if section.backbone:
    return section.backbone, dict(section.backbone_kwargs)
  return config.model.backbone, dict(config.model.backbone_kwargs)


# The lr groups of a CAM localizer's parameters (wsolevaluation: 'features.' = backbone, rest = head).
LOCALIZER_GROUPS = {"localizer/backbone": "backbone", "localizer/head": "head"}


def build_localizer(config: ml_collections.ConfigDict, num_classes: int,
                    bn_axis_name: str | None = None) -> heads.Localizer:
  """The CAM localizer (backbone + CAM head) of ``config.model``: CAM's network and SLT-Net's
  localizer."""
  return heads.Localizer(
      backbone_name=config.model.backbone, num_classes=num_classes,
      backbone_kwargs=dict(config.model.backbone_kwargs), head_channels=config.model.head_channels,
      dtype=blocks.canonical_dtype(config.model.dtype), bn_axis_name=bn_axis_name)


def build_regressor(config: ml_collections.ConfigDict, section,
                    bn_axis_name: str | None = None) -> regressor_lib.BoxRegressor:
  """The box regressor of a ``config.<method>.regressor`` section: ``backbone``,
  ``backbone_kwargs`` (:func:`backbone_of`), ``hidden_units``, ``pooling`` and ``output``."""
  name, kwargs = backbone_of(config, section)
  dtype = blocks.canonical_dtype(config.model.dtype)
  backbone = heads.make_backbone(name, kwargs, dtype=dtype, bn_axis_name=bn_axis_name)
  return regressor_lib.BoxRegressor(backbone=backbone, hidden_units=section.hidden_units,
                                    pooling=section.pooling, output=section.output, dtype=dtype)


def init_variables(config: ml_collections.ConfigDict, module, backbone_name: str, rng,
                   images, pretrained: str | None = None, *, network: str = "localizer",
                   allow_random_field: str = "model.pretrained_allow_random") -> dict:
  """``module.init`` on ``images`` (float, [0, 1]) in one compiled call (op-by-op initialisation
  compiles every initializer separately: slow on CPU), then the weights ``pretrained`` names
  (None: ``config.model.pretrained``; 'imagenet' resolves per ``backbone_name``) copied into its
  ``backbone`` (a ``backbone_name`` network) when set. Backbone layers listed in the config field
  ``allow_random_field`` may be absent from the file; they stay random and one line says so."""
  variables = jax.jit(lambda r, x: module.init({"params": r}, x, train=False))(rng, images)
  source = config.model.pretrained if pretrained is None else pretrained
  if source:
    from wsol_jax.models import pretrained as weights  # pylint: disable=import-outside-toplevel
    section = config
    for part in allow_random_field.split("."):  # .get: configs saved before the field existed
      section = section.get(part, ()) if hasattr(section, "get") else ()
    # 'a,b' from the command line arrives as one string: split it.
    items = (section,) if isinstance(section, str) else tuple(section or ())
    allow_random = tuple(name for item in items for name in str(item).split(",") if name)
    variables, report = weights.load_into(variables, source, backbone_name, paths=[("backbone",)],
                                          allow_random=allow_random,
                                          allow_random_field=f"config.{allow_random_field}")
    if report.random:
      print(f"{network}: {', '.join(report.random)} not in {source}: start from random "
            f"(config.{allow_random_field})", flush=True)
  return variables


def network_variables(state: ts.TrainState, network: str, params=None) -> dict:
  """The Flax variables of one network of ``state`` (``params`` replaces its parameters, e.g. the
  ones being differentiated)."""
  return {"params": state.params[network] if params is None else params,
          "batch_stats": state.batch_stats[network]}


# ----------------------------------------------------------------------------------------------
# Optimizers.


def network_optimizer(train: ml_collections.ConfigDict, groups: Mapping[str, str],
                      steps_per_epoch: int, num_steps: int,
                      trained: Sequence[str] | None = None) -> optax.GradientTransformation:
  """The loop's optimizer (:func:`wsol_jax.training.optim.make_optimizer`) of a stage's ``train``
  config over the lr ``groups`` (path prefix -> group); with ``trained``, only those networks (keys
  of ``state.params``) learn and every other one stays frozen (zero updates)."""
  inner = optim.make_optimizer(train, lambda p: optim.path_labels(p, groups), steps_per_epoch,
                               max(1, num_steps))
  if trained is None:
    return inner
  labels = lambda params: {k: ("train" if k in trained else "frozen") for k in params}
  return optax.multi_transform({"train": inner, "frozen": optax.set_to_zero()}, labels)


# ----------------------------------------------------------------------------------------------
# The CAM localizer's method shape.


class CAMLocalizerMethod(base.Method):
  """A one-stage method whose one network (``'localizer'``) classifies and whose class map
  localises: CAM, and each baseline that changes one piece of it. A subclass overrides

  * :meth:`localizer` -- the network: a module ``(images [B,H,W,3] float in [0,1], train) -> dict``
    with ``logits`` [B, C] and whatever :meth:`class_map` reads (default: the CAM localizer of
    ``config.model``, whose dict holds ``features`` [B,h,w,K] and ``cam_weights`` [K, C]);
  * :meth:`train_inputs` -- the training images and the loss targets from a batch (HaS, CutMix);
  * :meth:`train_forward` -- the network's training call (ACoL and SPG give it the labels);
  * :meth:`train_loss` -- the loss of the network's training output (ACoL, SPG, CutMix);
  * :meth:`class_map` -- the raw score map of given classes [B, h, w] (ACoL's fused map);
  * :meth:`eval_outputs` -- the network's evaluation call (ACoL gives it the labels);
  * :meth:`check_config` -- one-line errors for the method's own fields.

  The backbone learns at ``config.train.lr``, everything else (the ``head``, any new branch named
  in :attr:`lr_groups`) at ``lr * lr_mults[group]``; a ResNet50's layer4 learns with the head, as
  wsolevaluation groups it (its main.py, ``_FEATURE_PARAM_LAYER_PATTERNS``). Evaluation: one prediction group,
  ``'localizer'`` (the class from the logits, the map of the GT class); prediction: the top-1 class
  and its map thresholded at ``config.eval.cam_threshold`` on the host.
  """

  primary_eval_group = "localizer"
  lr_groups: Mapping[str, str] = LOCALIZER_GROUPS
  # The step's random streams: 'dropout' reaches the network's modules; the others are
  # train_inputs' keys.
  rng_streams: tuple[str, ...] = ("dropout",)

  def __init__(self, config, info: base.RunInfo):
    super().__init__(config, info)
    check_cam_threshold(config)
    self.check_config(config)
    groups = dict(self.lr_groups)
    if config.model.backbone == "resnet50":
      groups.update({f"localizer/backbone/layer4_{b}": "head" for b in range(3)})
    self.tx = network_optimizer(config.train, groups, info.steps_per_epoch, self.total_steps())

  def check_config(self, config: ml_collections.ConfigDict) -> None:
    """One-line errors for the method's own config fields (default: none)."""
    del config

  def localizer(self, bn_axis_name: str | None = None):
    return build_localizer(self.config, self.info.num_classes, bn_axis_name)

  def train_inputs(self, batch, rngs: Mapping[str, jax.Array]) -> tuple[jax.Array, Any]:
    """``(images float [B,H,W,3] in [0,1], targets)`` of a training batch; default: the images
    and their labels [B]."""
    del rngs
    return heads.model_input(batch["image"]), batch["label"]

  def train_forward(self, model, variables: dict, images, labels, rngs: Mapping[str, jax.Array]
                    ) -> tuple[dict, dict]:
    """``(training output dict, updated collections)`` of ``model`` on ``images`` with
    ``variables``; ``labels`` [B] are the batch's, for networks that read them in training."""
    del labels
    return model.apply(variables, images, train=True, rngs={"dropout": rngs["dropout"]},
                       mutable=["batch_stats"])

  def train_loss(self, out: dict, targets) -> jax.Array:
    """The scalar loss of the network's training output (default: mean cross-entropy)."""
    return mean_cross_entropy(out["logits"], targets)

  def class_map(self, out: dict, classes) -> jax.Array:
    """The raw map [B, h, w] of ``classes`` [B] from the network's eval output (default: CAM)."""
    return scoremaps.cams_for_classes(out["features"], out["cam_weights"], classes)

  def init_state(self, rng, sample_batch):
    images = heads.model_input(sample_batch["image"][:1])
    variables = init_variables(self.config, self.localizer(), self.config.model.backbone, rng,
                               images)
    return ts.create_state({"localizer": variables["params"]},
                           {"localizer": variables.get("batch_stats", {})}, self.tx)

  def train_step(self, state, batch, rng, *, stage, axis_name=None):
    del stage
    rngs = ts.step_rngs(rng, state.step, self.rng_streams, axis_name)
    images, targets = self.train_inputs(batch, rngs)
    model = self.localizer(axis_name)

    def objective(params):
      out, updates = self.train_forward(
          model, network_variables(state, "localizer", params["localizer"]), images,
          batch["label"], rngs)
      return self.train_loss(out, targets), (out["logits"], updates.get("batch_stats", {}))

    (loss, (logits, batch_stats)), grads = jax.value_and_grad(objective, has_aux=True)(
        state.params)
    grads = parallel.mean_over_devices(grads, axis_name)
    state, grad_norm = ts.apply_gradients(state, grads, self.tx,
                                          batch_stats={"localizer": batch_stats})
    metrics = {"loss": loss, "accuracy": jnp.mean(jnp.argmax(logits, -1) == batch["label"]),
               "grad_norm": grad_norm}
    return state, parallel.mean_over_devices(metrics, axis_name)

  def eval_outputs(self, state, images_uint8, labels=None) -> dict:
    """The network's evaluation dict on uint8 images [B, H, W, 3]; ``labels`` [B] (None when
    predicting) are given where the evaluation knows them, for networks that read them (ACoL)."""
    del labels
    return self.localizer().apply(network_variables(state, "localizer"),
                                  heads.model_input(images_uint8), train=False)

  def predict(self, state, batch):
    out = self.eval_outputs(state, batch["image"], batch["label"])
    return {"localizer": {"logits": out["logits"],
                          "cam_gt": self.class_map(out, batch["label"])}}

  def infer(self, state, images):
    """The class from the logits; the box is the top-1 class's map at ``config.eval.cam_threshold``,
    thresholded on the host as the evaluator does (no ``boxes``)."""
    out = self.eval_outputs(state, images)
    return {"logits": out["logits"],
            "scoremap": self.class_map(out, jnp.argmax(out["logits"], axis=-1)),
            "threshold": jnp.full(out["logits"].shape[:1], self.config.eval.cam_threshold)}

  def figure_arrays(self, state, images_uint8, labels):
    """On device: ``scoremap``, the GT class's map upsampled to the image and min-max normalised
    [B, H, W], and ``cam_box``, its box (abs xyxy [B, 4]) at ``config.eval.cam_threshold``."""
    out = self.eval_outputs(state, images_uint8, labels)
    maps = scoremaps.upsample_scoremaps(self.class_map(out, labels), images_uint8.shape[1:3])
    return {"scoremap": maps,
            "cam_box": scoremaps.largest_component_box_xyxy(maps,
                                                            self.config.eval.cam_threshold)}

  def draw_figures(self, data, out_dir: str, tag: str) -> list[str]:
    """``out_dir/<method>_<tag>.png`` (:func:`draw_map_figure`)."""
    return [draw_map_figure(data, os.path.join(out_dir, f"{self.name}_{tag}.png"))]


def check_cam_threshold(config: ml_collections.ConfigDict) -> None:
  """A one-line error unless ``config.eval.cam_threshold`` is in [0, 1]."""
  threshold = config.eval.cam_threshold
  if not 0.0 <= threshold <= 1.0:
    raise ValueError(f"config.eval.cam_threshold={threshold} must be in [0, 1] (a fraction of the "
                     "min-max normalised CAM)")


def draw_map_figure(data, path: str) -> str:
  """``path`` (PNG) from host arrays ``data``: ``image`` uint8 [N, H, W, 3], ``bboxes`` [N, M, 4]
  with ``bboxes_valid`` [N, M], ``scoremap`` [N, H, W] and ``cam_box`` [N, 4] (abs xyxy px); one
  row per image, [image + boxes | heat map + boxes], GT red, the map's box green."""
  drawn = [[(data["bboxes"][i][data["bboxes_valid"][i].astype(bool)], drawing.RED),
            (data["cam_box"][i], drawing.GREEN)] for i in range(len(data["image"]))]
  return str(drawing.save_png(path, drawing.method_grid(data["image"], data["scoremap"], drawn)))
