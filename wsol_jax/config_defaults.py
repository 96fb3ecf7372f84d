"""The base configuration every ``configs/*.py`` starts from.

``get_base_config()`` returns an ``ml_collections.ConfigDict`` with every field the shared loop reads.
Config files import it, change fields and add their method's section (``config.slt``,
``config.lchp``); the papers' recipes they share are in ``configs/common.py``. ``main.py`` loads
them with ``lock_config=True``, so a misspelled override fails.

Durations: a field ``<name>_epochs`` (float) may have a twin ``<name>_steps`` (int); the twin wins
when it is > 0. :func:`wsol_jax.training.train_state.duration_steps` is the one place that converts them.
"""

from __future__ import annotations

import ast
import importlib.util
import json
import pathlib
import types
from typing import Any, Mapping

import ml_collections
from ml_collections import config_dict


def _data_config() -> ml_collections.ConfigDict:
  """The data section: owned by the data pipeline (``wsol_jax.data.pipeline``)."""
  from wsol_jax.data import pipeline  # pylint: disable=import-outside-toplevel
  return pipeline.default_data_config()


def load_config_module(path) -> types.ModuleType:
  """A config file as a module, loaded by path as ``--config=`` loads it (any file, e.g. a user's
  own; the shipped ones import each other as the package ``configs``)."""
  path = pathlib.Path(path)
  if not path.is_file():
    raise FileNotFoundError(f"config file {path} not found")
  spec = importlib.util.spec_from_file_location(f"wsol_config_{path.stem}", path)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module


def load_config_file(path) -> ml_collections.ConfigDict:
  """``get_config()`` of a config file ``'FILE.py'``, or ``get_config(variant)`` of
  ``'FILE.py:variant'`` (as ``--config=`` reads them); a run's saved config, ``config.json``, or
  an exported model's (``.wsol``): :func:`load_saved_config`."""
  if str(path).endswith(SAVED_CONFIG_SUFFIXES):
    return load_saved_config(path)
  file, _, variant = str(path).partition(":")
  module = load_config_module(file)
  return module.get_config(variant) if variant else module.get_config()


# A run's config as it trained, in its workdir (written by the training loop when it starts).
SAVED_CONFIG_FILE = "config.json"
# --config= files holding a run's saved config: a config.json, an exported model.
SAVED_CONFIG_SUFFIXES = (".json", ".wsol")


def load_saved_config(path) -> ml_collections.ConfigDict:
  """The config a run was trained with, from its ``config.json`` or an exported ``.wsol`` file
  (:func:`config_from_saved`); one-line errors naming the file."""
  path = str(path)
  if not pathlib.Path(path).is_file():
    raise FileNotFoundError(f"config file {path} not found")
  if path.endswith(".wsol"):
    from wsol_jax.inference import export  # pylint: disable=import-outside-toplevel
    saved = export.read_export_metadata(path).get("config")
  else:
    try:
      with open(path, encoding="utf-8") as f:
        saved = json.load(f)
    except (ValueError, UnicodeDecodeError) as e:
      raise ValueError(f"{path} is not valid JSON ({e})") from None
  if not isinstance(saved, dict) or "method" not in saved:
    raise ValueError(f"{path} holds no saved wsol_jax config (no 'method' key)")
  return config_from_saved(saved)


def config_from_saved(saved: Mapping[str, Any]) -> ml_collections.ConfigDict:
  """A config saved as JSON (``config.json``, a checkpoint's meta) as the ConfigDict it was: every
  saved field and no other, JSON lists back to tuples (configs hold no lists), and a null where the
  base config has a typed placeholder (``model.num_classes``) keeps that type, so that
  ``--config.`` overrides parse as they do on ``configs/*.py``. Its fingerprint is the run's."""
  return _from_saved(saved, get_base_config())


def _from_saved(saved: Mapping[str, Any], defaults) -> ml_collections.ConfigDict:
  """``saved`` as a ConfigDict; ``defaults``: the same section of the base config, or None."""
  node = ml_collections.ConfigDict()
  for key, value in saved.items():
    known = isinstance(defaults, ml_collections.ConfigDict) and key in defaults
    if isinstance(value, Mapping):
      node[key] = _from_saved(value, defaults.get(key) if known else None)
    elif value is None and known and defaults.get_type(key) is not type(None):
      node[key] = config_dict.placeholder(defaults.get_type(key))
    else:
      node[key] = _tuples(value)
  return node


def _tuples(value):
  return tuple(_tuples(v) for v in value) if isinstance(value, list) else value


def parse_override(text: str) -> tuple[str, object]:
  """``'a.b=value'`` -> ``('a.b', value)``; the value is a Python literal, else the raw string."""
  key, sep, raw = text.partition("=")
  if not sep:
    raise ValueError(f"a config override needs key=value, got {text!r}")
  try:
    return key.strip(), ast.literal_eval(raw)
  except (ValueError, SyntaxError):
    return key.strip(), raw


def apply_overrides(config: ml_collections.ConfigDict, overrides: dict) -> None:
  """Sets ``{'a.b': value}`` fields in place and locks ``config`` (as the command line does), so a
  field it does not have is a ValueError naming it instead of a silently added one."""
  config.lock()
  for dotted, value in overrides.items():
    try:
      config.update_from_flattened_dict({dotted: value})
    except KeyError as e:
      raise ValueError(f"unknown config field {dotted!r}: {e}") from e


def describe_bad_override(argv) -> str | None:
  """The first ``--config.a.b=v`` of a command line (``argv``) naming a field that the
  ``--config=`` file does not have, as a one-line message (None if there is none)."""
  config_file = next((a.split("=", 1)[1] for a in argv if a.startswith("--config=")), None)
  if config_file is None:
    return None
  try:
    config = load_config_file(config_file)
  except Exception:  # pylint: disable=broad-except
    return None
  for arg in argv:
    if not arg.startswith("--config."):
      continue
    path = arg[len("--config."):].split("=", 1)[0]
    node = config
    for i, part in enumerate(path.split(".")):
      if not hasattr(node, "keys") or part not in node.keys():
        parent = ".".join(path.split(".")[:i]) or "config"
        known = ", ".join(sorted(node.keys())) if hasattr(node, "keys") else "(not a section)"
        return f"unknown config field {path!r} in {arg}; {parent} has: {known}"
      node = node[part]
  return None


def get_base_config() -> ml_collections.ConfigDict:
  """Every field the loop and the CAM method read, with the CAM-on-synthetic defaults."""
  config = ml_collections.ConfigDict()
  config.seed = 0
  config.method = "cam"  # a method package of wsol_jax.methods ('cam', 'slt', 'lchp', 'has', ...)
  config.parallelism = "jit"  # 'jit' (data-parallel Mesh, 1..N devices, multi-host) or 'pmap'

  config.data = _data_config()

  config.model = ml_collections.ConfigDict()
  config.model.backbone = "small_vgg"  # a name in wsol_jax.models.registry
  config.model.backbone_kwargs = ml_collections.ConfigDict()  # forwarded to the backbone
  config.model.head_channels = 1024  # CAM head: conv 3x3 to this many channels + ReLU; 0 = none
  config.model.num_classes = config_dict.placeholder(int)  # None: from the dataset
  config.model.dtype = "float32"  # compute dtype: 'float32' or 'bfloat16' (params stay float32)
  config.model.pretrained = ""  # backbone weights: a file, 'imagenet' or a name ('' = random init)
  # Backbone layers that may start from random where the weights file lacks them (e.g. VGG16's fc6 /
  # fc7, ('classifier_0', 'classifier_3'), with a convolutions-only file); any other missing tensor
  # stops the start-up. Printed in one line when used.
  config.model.pretrained_allow_random = ()

  config.train = ml_collections.ConfigDict()
  config.train.batch_size = 32  # global: over all devices and hosts
  config.train.num_epochs = 10.0
  config.train.num_steps = -1  # > 0 overrides num_epochs
  config.train.optimizer = "sgd"  # 'sgd' | 'adam'
  config.train.lr = 0.01  # base lr (backbone); groups scale it by lr_mults
  config.train.lr_mults = ml_collections.ConfigDict({"backbone": 1.0, "head": 10.0})
  config.train.momentum = 0.9
  config.train.nesterov = False
  config.train.weight_decay = 5e-4
  # 'l2': wd * param added to the gradient before momentum (PyTorch SGD, what the papers used);
  # 'decoupled': param -= lr * wd * param after the update (AdamW / SGDW).
  config.train.weight_decay_mode = "l2"
  # 'constant' | 'step' (x decay_factor at each of decay_boundaries_epochs) | 'exponential'
  # (x decay_factor every decay_every_epochs, staircase) | 'cosine' (to 0 at the end of the stage).
  config.train.schedule = "constant"
  config.train.decay_factor = 0.1
  config.train.decay_boundaries_epochs = (1e9,)
  config.train.decay_every_epochs = 1.0
  # Per lr group, a schedule that replaces train.schedule for it, e.g. {'regressor': 'constant'}.
  config.train.schedule_overrides = ml_collections.ConfigDict()
  config.train.warmup_epochs = 0.0
  config.train.warmup_steps = -1
  config.train.grad_clip_norm = 0.0  # 0 = no clipping
  config.train.log_every_steps = 50
  config.train.eval_every_epochs = 0.0  # 0 = only at the end
  config.train.eval_every_steps = -1
  config.train.checkpoint_every_epochs = 1.0
  config.train.checkpoint_every_steps = -1
  config.train.keep_checkpoints = 3  # the latest N; the end of every stage is kept too
  config.train.progress_bar = True

  config.eval = ml_collections.ConfigDict()
  config.eval.batch_size = 64  # global
  config.eval.split = ""  # '' -> data.eval_split, else the dataset's evaluation split (test/val)
  config.eval.cam_curve_interval = 0.01  # MaxBoxAcc threshold grid: np.arange(0, 1, interval)
  config.eval.iou_thresholds = (30, 50, 70)  # MaxBoxAccV2 (percent)
  config.eval.backend = "reference"  # threshold -> box: 'reference' (OpenCV, exact) or 'fast'
  config.eval.cam_threshold = 0.2  # CAM threshold for Top-1/5 LOC and GT-known
  config.eval.max_batches = -1  # > 0: evaluate only this many batches (smoke tests)
  config.eval.figure_images = 8  # images in each method's PNG figures (0: no figures)
  return config
