"""The contract between a WSOL method and the shared training loop (:mod:`wsol_jax.training.loop`).

A method is a class in ``wsol_jax/methods/<name>`` registered by name (``config.method``)::

  @register_method("cam")
  class CAM(Method):
    ...

The loop builds it as ``method_cls(config, info)`` and then only calls what is below.

Stages, one rule for every method:

* ``stage_names()``: the method's stages in order (default: one stage ``'train'``);
* ``stage_train(stage) -> ConfigDict``: the stage's ``train`` config, from which its length
  (``num_epochs`` / ``num_steps``) and its optimizer (lr, ``lr_mults``, schedule, ...) are built.
  The first stage's is ``config.train``; a later stage's is ``config.train`` with the fields of the
  per-stage override section ``config.<method>.stage_train.<stage>`` replaced (e.g. SLT-Net's
  ``config.slt.stage_train.classifier``, LCHP's ``config.lchp.stage_train.refine``);
* ``warm_start() -> WarmStart | None``: start from another run's finished stage instead of
  ``init_state`` (see :class:`WarmStart`); the loop restores it, never the method.

Everything the loop compiles is a PURE function of pytrees:

* ``init_state(rng, sample_batch) -> TrainState`` for the first stage;
* ``enter_stage(state, stage_name) -> TrainState`` when a later stage starts (new optimizer state,
  frozen parts, ...); the loop also runs it under ``jax.eval_shape`` to know what a checkpoint taken
  in that stage holds, so it must not depend on anything but ``state``;
* ``train_step(state, batch, rng, *, stage, axis_name=None) -> (state, metrics)``: one update.
  ``rng`` is the constant root training key: derive per-step keys with
  :func:`wsol_jax.training.train_state.step_rngs` (``fold_in(step)``, named streams). ``metrics`` are scalars
  (means over the global batch). The loop either ``jax.jit``s it over a data-parallel mesh
  (``axis_name=None``: the batch is one global array and means are global already) or ``jax.pmap``s
  it with ``axis_name='batch'``; reduce with :func:`wsol_jax.training.parallel.mean_over_devices` (identity
  under jit, ``lax.pmean`` under pmap) and build BatchNorm with ``axis_name`` so that both give the
  same numbers;
* ``predict(state, batch) -> {group: {key: array}}`` for evaluation (keys in
  :mod:`wsol_jax.training.evaluator`); jitted with the same sharding as training, so every output has the
  batch as its leading axis;
* ``infer(state, images) -> {key: array}`` for inference on new images (:mod:`wsol_jax.inference`,
  ``--mode=predict``): the method's own answer, one class and one box per image, no labels
  (see :meth:`Method.infer` for the keys). ``inference_state(state)`` is the part of the state it
  reads (what ``--mode=export`` writes).

Training metrics are named ``loss`` (the total that is minimised) and ``loss_<term>`` for each of
its terms; other scalars (``accuracy``, ``grad_norm``, ...) keep their own names.

Figures (host, un-replicated state), in two parts: ``figure_arrays(state, images_uint8, labels)
-> {name: array}`` computes on device what the figure shows (jitted once), and
``draw_figures(data, out_dir, tag) -> [png paths]`` draws host arrays (each method's pure
``figures.py``). :meth:`Method.write_figures` joins them for the first ``config.eval.figure_images``
images of a batch (0: none); the loop and ``--mode=visualize`` call it, and hooks get the images to
draw as ``HookContext.figure_batch`` (None when the loop draws no figures).

The state holds arrays only (no PRNG keys: derive them from ``state.step``), replicated on every
device; optimizers, modules and the config stay on the method object.

Hooks (``on_epoch_end`` after each epoch, ``refresh_extras`` :meth:`Method.extras_per_epoch` times
per epoch) run on the host between steps, with an un-replicated state.
"""

from __future__ import annotations

import abc
import dataclasses
import functools
import importlib
import importlib.util
import pkgutil
from typing import Any, Callable, Mapping, Sequence

import jax
import ml_collections
import numpy as np

from wsol_jax import registry
from wsol_jax.training import train_state as ts

Batch = Mapping[str, jax.Array]
Metrics = dict[str, jax.Array]
Predictions = dict[str, dict[str, jax.Array]]


@dataclasses.dataclass(frozen=True)
class RunInfo:
  """What a method learns from the loop when it is built (all on the host, static).

  num_classes: classes of the dataset (or ``config.model.num_classes`` when set).
  steps_per_epoch: optimizer steps per training epoch (train examples // global batch).
  train_size: training examples in the split (over all hosts).
  train_boxes: whether the held-out training images of the method's ``held_out_boxes`` have a GT
    box (False: the box-free fallback, it keeps its configured threshold; see
    :mod:`wsol_jax.training.preflight`).
  """
  num_classes: int
  steps_per_epoch: int
  train_size: int
  train_boxes: bool = True


@dataclasses.dataclass(frozen=True)
class HeldOutBoxes:
  """A threshold a method re-chooses during training on held-out TRAINING boxes
  (``Method.held_out_boxes``), as config paths: ``images_per_class`` (its images per class;
  <= 0: off), ``kept`` (the threshold used without them) and ``per_epoch`` (how many times per
  epoch it is re-chosen, evenly spaced; '': once, at each epoch's end); ``what`` it is, for
  messages."""
  images_per_class: str  # e.g. 'slt.pseudo_threshold_images_per_class'
  kept: str  # e.g. 'slt.pseudo_box_threshold'
  what: str  # e.g. 'the pseudo-box threshold'
  per_epoch: str = ""  # e.g. 'slt.pseudo_threshold_per_epoch'

  def value(self, config: ml_collections.ConfigDict, field: str):
    """``config`` at the path held in ``field`` ('images_per_class', 'kept' or 'per_epoch')."""
    return functools.reduce(getattr, getattr(self, field).split("."), config)


@dataclasses.dataclass(frozen=True)
class Stage:
  """A training stage: a name (kept in checkpoints) and its length in optimizer steps."""
  name: str
  num_steps: int


@dataclasses.dataclass(frozen=True)
class WarmStart:
  """Start a run from another run's state instead of ``init_state``.

  workdir: the other run's workdir; its latest checkpoint must have ended its stage
    ``after_stage`` (the loop refuses any other), and holds a state shaped as ``init_state``'s.
  after_stage: that stage's name; this run trains the method's stages after it.

  The loop restores that checkpoint with its own code, enters this run's first stage
  (``enter_stage``) and resets the step to 0.
  """
  workdir: str
  after_stage: str


@dataclasses.dataclass
class HookContext:
  """What ``on_epoch_end`` may use. ``sample_batch`` is a fixed eval batch (host NumPy, per host);
  ``figure_batch`` its first ``config.eval.figure_images`` images, the ones figures show (None:
  no figures)."""
  workdir: str
  writer: Any  # wsol_jax.training.metric_writers.MetricWriter
  sample_batch: Mapping[str, Any]
  is_main_process: bool
  stage: str
  epoch: int  # epochs finished in the current stage (1-based after the first epoch)
  step: int  # global step
  figure_batch: Mapping[str, Any] | None = None


FIGURE_KEYS = ("image", "label", "bboxes", "bboxes_valid")  # what a figure needs of a batch


def figure_batch(config: ml_collections.ConfigDict, batch: Mapping[str, Any]
                 ) -> dict[str, np.ndarray] | None:
  """The first ``config.eval.figure_images`` images of a host ``batch`` (its :data:`FIGURE_KEYS`),
  the ones every figure shows; None when that count is 0 (no figures)."""
  n = min(int(config.eval.figure_images), len(batch["image"]))
  if n <= 0:
    return None
  return {k: np.asarray(batch[k])[:n] for k in FIGURE_KEYS}


def stage_spans(stages: Sequence[Stage]) -> list[tuple[int, int]]:
  """[start, end) global steps of each of ``stages`` (in order; the stages run back to back)."""
  spans, start = [], 0
  for stage in stages:
    spans.append((start, start + stage.num_steps))
    start += stage.num_steps
  return spans


class Method(abc.ABC):
  """Base class of a WSOL method. Subclasses set ``name`` and implement the abstract methods."""

  name: str = ""
  # The prediction group whose metrics are reported without a prefix (others as 'group/metric').
  primary_eval_group: str = "localizer"
  # The threshold its refresh_extras re-chooses on held-out training boxes (None: none); when
  # ``info.train_boxes`` is False it must keep the configured one.
  held_out_boxes: HeldOutBoxes | None = None

  def __init__(self, config: ml_collections.ConfigDict, info: RunInfo):
    self.config = config
    self.info = info
    self._figure_fn = None  # figure_arrays, jitted on first use

  # ------------------------------------------------------------------------------------------
  # Stages.

  def stage_names(self) -> Sequence[str]:
    """The method's stages in order (default: one stage ``'train'``)."""
    return ("train",)

  def warm_start(self) -> WarmStart | None:
    """Another run's finished stage to start from (default: none, ``init_state``)."""
    return None

  def stages(self) -> Sequence[Stage]:
    """The stages this run trains, in order: ``stage_names()`` after the warm start's stage, each
    ``stage_train(name).num_{epochs,steps}`` long."""
    names = list(self.stage_names())
    warm = self.warm_start()
    if warm is not None:
      names = names[names.index(warm.after_stage) + 1:]
    return tuple(Stage(name, self.stage_steps(name)) for name in names)

  def stage_train(self, stage: str) -> ml_collections.ConfigDict:
    """The ``train`` config of ``stage`` (an unlocked copy): ``config.train`` for the first stage;
    for a later one, ``config.train`` with ``config.<method>.stage_train.<stage>``'s fields replaced
    (every field there must be a ``config.train`` field)."""
    names = list(self.stage_names())
    if stage not in names:
      raise ValueError(f"method {self.name!r} has no stage {stage!r}; stages: {names}")
    train = ml_collections.ConfigDict(self.config.train.to_dict())
    if stage == names[0]:
      return train
    section = f"{self.name}.stage_train.{stage}"
    try:
      overrides = self.config[self.name].stage_train[stage]
    except (KeyError, AttributeError) as e:
      raise ValueError(f"config.{section} is missing (the {stage!r} stage's train "
                       "settings)") from e
    for key, value in overrides.items():
      if key not in train:
        raise ValueError(f"config.{section}.{key} is not a config.train field")
      train[key] = value.to_dict() if isinstance(value, ml_collections.ConfigDict) else value
    return train

  def enter_stage(self, state: ts.TrainState, stage: str) -> ts.TrainState:
    """Turns the state of the previous stage into the first state of ``stage`` (pure)."""
    del stage
    return state

  # ------------------------------------------------------------------------------------------
  # State and steps.

  @abc.abstractmethod
  def init_state(self, rng: jax.Array, sample_batch: Batch) -> ts.TrainState:
    """Initial state of the first stage. ``sample_batch``: a per-host batch (shapes only matter)."""

  @abc.abstractmethod
  def train_step(self, state: ts.TrainState, batch: Batch, rng: jax.Array, *, stage: str,
                 axis_name: str | None = None) -> tuple[ts.TrainState, Metrics]:
    """One optimizer step (pure). See the module docstring for ``rng`` and ``axis_name``."""

  @abc.abstractmethod
  def predict(self, state: ts.TrainState, batch: Batch) -> Predictions:
    """Evaluation outputs by group, e.g. ``{'localizer': {'logits', 'cams', 'cam_gt'}}``."""

  @abc.abstractmethod
  def figure_arrays(self, state: ts.TrainState, images_uint8: jax.Array,
                    labels: jax.Array) -> dict[str, jax.Array]:
    """On device (jitted): what the method's figures show of uint8 ``images_uint8`` [N, H, W, 3]
    with their ``labels`` [N] (maps, boxes, ...), each with N as its leading axis."""

  @abc.abstractmethod
  def draw_figures(self, data: Mapping[str, np.ndarray], out_dir: str, tag: str) -> list[str]:
    """PNG figures of host arrays ``data`` (a figure batch's :data:`FIGURE_KEYS` and
    :meth:`figure_arrays`) into ``out_dir``, names ending in ``tag``; returns their paths. Pure:
    draws what it is given."""

  def figure_data(self, state: ts.TrainState, images: Mapping[str, Any]) -> dict[str, np.ndarray]:
    """Host arrays for :meth:`draw_figures`: ``images`` (a :func:`figure_batch`) and, computed on
    device, its :meth:`figure_arrays`."""
    if self._figure_fn is None:
      self._figure_fn = jax.jit(self.figure_arrays)
    arrays = jax.device_get(self._figure_fn(state, images["image"], images["label"]))
    return dict(images, **arrays)

  def write_figures(self, state: ts.TrainState, batch: Mapping[str, Any], out_dir: str,
                    tag: str) -> list[str]:
    """PNG figures of the first ``config.eval.figure_images`` images of the host ``batch`` into
    ``out_dir`` (names ending in ``tag``); returns their paths (none when that count is 0)."""
    images = figure_batch(self.config, batch)
    if images is None:
      return []
    return self.draw_figures(self.figure_data(state, images), out_dir, tag)

  # ------------------------------------------------------------------------------------------
  # Optional.

  def on_epoch_end(self, state: ts.TrainState, ctx: HookContext) -> dict[str, float]:
    """Host-side hook after each epoch; returns extra scalars to log (default none)."""
    del state, ctx
    return {}

  def refresh_extras(self, state: ts.TrainState, ctx: HookContext) -> dict[str, Any]:
    """Host-side hook :meth:`extras_per_epoch` times per epoch (at an epoch's end, after
    ``on_epoch_end``): new values for entries of ``state.extras`` (the shapes and dtypes they
    have), which the loop writes into the state and logs as ``<stage>/<key>`` when scalar; e.g. a
    threshold re-chosen on held-out images. It must return the same on every process. Default:
    none."""
    del state, ctx
    return {}

  def extras_per_epoch(self) -> int:
    """How many times per epoch the loop calls :meth:`refresh_extras`, evenly spaced, the last at
    the epoch's end: :attr:`held_out_boxes`' ``per_epoch`` setting (default once)."""
    spec = self.held_out_boxes
    if spec is None or not spec.per_epoch:
      return 1
    try:
      times = spec.value(self.config, "per_epoch")
    except AttributeError:  # a config saved before the field existed
      return 1
    if times < 1:
      raise ValueError(f"config.{spec.per_epoch} must be a whole number >= 1, got {times!r}")
    return int(times)

  def selects_on_held_out_boxes(self) -> bool:
    """Whether :meth:`refresh_extras` re-chooses :attr:`held_out_boxes`' threshold: one is declared,
    its images per class are > 0, and those training images have boxes (else the box-free
    fallback keeps the configured threshold)."""
    spec = self.held_out_boxes
    return (spec is not None and spec.value(self.config, "images_per_class") > 0
            and self.info.train_boxes)

  def weight_sources(self) -> dict[str, tuple[str, str]]:
    """``{network: (backbone name, weights source)}`` that ``init_state`` loads ('' = random init;
    'imagenet' resolves per backbone), checked at start-up. Default: ``config.model``'s."""
    return {"model": (self.config.model.backbone, self.config.model.pretrained)}

  def params_for_eval(self, state: ts.TrainState) -> ts.TrainState:
    """The state ``predict`` should see (e.g. EMA parameters swapped in); default unchanged."""
    return state

  # Inference on new images (wsol_jax.inference).

  def infer(self, state: ts.TrainState, images: jax.Array) -> dict[str, jax.Array]:
    """The method's prediction for images without labels (pure, jit-able).

    ``images``: uint8 [B, S, S, 3], preprocessed as the eval pipeline does (``data.eval_mode``).
    Returns, every array with the batch as its leading axis:

    * ``logits`` [B, C]: the class scores the method reports (its Top-1/5 CLS);
    * ``boxes`` [B, 4] normalised xyxy: the method's box (e.g. a regressor's). Omitted when the box
      IS the map's box: the caller then thresholds ``scoremap`` on the host exactly as the
      evaluator does (:func:`wsol_jax.localization.scoremap_reference.scoremap_boxes_at_threshold`);
    * optional ``scoremap`` [B, h, w]: the raw localization map (a CAM), and ``threshold`` [B]: the
      threshold its box is taken at (``config.eval.cam_threshold``).
    """
    raise NotImplementedError(f"method {self.name!r} has no inference hook (Method.infer)")

  def inference_state(self, state: ts.TrainState) -> ts.TrainState:
    """The state :meth:`infer` reads: ``params_for_eval(state)`` without the optimizer state, the
    EMA and the extras (what ``--mode=export`` writes). A method whose ``infer`` reads more
    overrides this."""
    state = self.params_for_eval(state)
    return ts.TrainState(step=state.step, params=state.params, batch_stats=state.batch_stats,
                         opt_state=None, ema_params=None, extras={})

  # Helpers for subclasses.

  def stage_steps(self, stage: str) -> int:
    """The length of ``stage`` in optimizer steps (``stage_train(stage).num_{epochs,steps}``)."""
    return ts.duration_steps(self.stage_train(stage), "num", self.info.steps_per_epoch)

  def stage_start(self, stage: str) -> int:
    """The global step at which ``stage`` begins in this run."""
    stages = self.stages()
    for s, (start, _) in zip(stages, stage_spans(stages)):
      if s.name == stage:
        return start
    raise ValueError(f"method {self.name!r} has no stage {stage!r} in this run; stages: "
                     f"{[s.name for s in stages]}")

  def total_steps(self) -> int:
    return sum(s.num_steps for s in self.stages())


def method_names() -> list[str]:
  """The method packages in ``wsol_jax/methods`` (found on disk, not imported)."""
  spec = importlib.util.find_spec("wsol_jax.methods")
  return sorted({m.name for m in pkgutil.iter_modules(spec.submodule_search_locations)} - {"common"})


# A method registers itself; ``wsol_jax.methods.<name>`` is imported when ``name`` is first used,
# so the loop never imports a method module itself.
METHODS = registry.Registry("config.method", modules=lambda name: f"wsol_jax.methods.{name}",
                            known=method_names, name_attribute="name")
register_method = METHODS.register


def get_method(name: str) -> Callable[..., Method]:
  """The method class registered as ``name`` (config.method); unknown names: a one-line error."""
  return METHODS.get(name)
