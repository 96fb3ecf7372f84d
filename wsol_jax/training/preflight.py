"""Start-up checks of a run's config against its packages, data and weights: what a later stage
needs is checked in the first seconds of ``train``, never at the end of an epoch (issue 23).

:func:`checked_method` (called by :func:`wsol_jax.training.loop.setup`) builds the method after
these checks, each failure one line that says what to do:

1. packages a configured stage imports only when it runs (numba for ``eval.backend='fast'``,
   tensorboardX for the metric writer), and ``eval.backend`` itself;
2. data: the train and eval splits exist, and ``data.max_boxes`` holds the most boxes of any
   example of either (the builder's box statistics, ``info.metadata['box_counts']``);
3. held-out training boxes: a method that re-chooses a threshold after every epoch on held-out
   TRAINING boxes (``Method.held_out_boxes``) gets ``RunInfo.train_boxes=False`` when none of those
   images has a box (ImageNet prepared without ``LOC_train_solution.csv``): the box-free fallback,
   it keeps the configured threshold for every epoch, and a note says so;
4. weights: every file the networks load (``Method.weight_sources()``; 'imagenet' resolved per
   backbone) is present (fetched now when online; offline a missing one names its URL and where to
   put it), and its reader is installed (torch, an optional extra, for ``.pth`` files).
"""

from __future__ import annotations

import dataclasses
import importlib

import jax
import ml_collections

from wsol_jax.data import pipeline
from wsol_jax.data import registry
from wsol_jax.localization import scoremap_levels
from wsol_jax.models import pretrained
from wsol_jax.models import weight_sources
from wsol_jax.training import method as base


def checked_method(config: ml_collections.ConfigDict, method_cls, info: base.RunInfo
                   ) -> base.Method:
  """``method_cls(config, info)`` after the checks of the module doc (``info.train_boxes`` set by
  :func:`held_out_train_boxes`); one-line errors, and a note for the box-free fallback."""
  check_packages(config)
  check_data(config)
  train_boxes = held_out_train_boxes(config, method_cls, info.num_classes)
  method = method_cls(config, dataclasses.replace(info, train_boxes=train_boxes))
  check_weights(method)
  if not train_boxes:
    _note(box_free_note(config, method_cls.held_out_boxes, info.num_classes))
  return method


def _note(text: str) -> None:
  if jax.process_index() == 0:
    print(f"note: {text}", flush=True)


# ----------------------------------------------------------------------------------------------
# 1. Packages.


def lazy_packages(config: ml_collections.ConfigDict) -> dict[str, str]:
  """``{package: what needs it}``: the packages a configured stage imports only when it runs
  (dependencies of wsol_jax, so only a broken install lacks them)."""
  needed = {"tensorboardX": "the metric writer (metrics to TensorBoard)"}
  if config.eval.backend == "fast":
    needed["numba"] = "config.eval.backend='fast'"
  return needed


def check_packages(config: ml_collections.ConfigDict) -> None:
  """``config.eval.backend`` is known, and every package of :func:`lazy_packages` imports."""
  if config.eval.backend not in scoremap_levels.BACKENDS:
    raise ValueError(f"config.eval.backend={config.eval.backend!r} is not one of "
                     f"{tuple(scoremap_levels.BACKENDS)}")
  for package, what in lazy_packages(config).items():
    try:
      importlib.import_module(package)
    except ImportError as e:
      raise pretrained.MissingPackageError(
          f"{what} needs {package}, which does not import ({e}): pip install -e . (it is a "
          f"dependency of wsol_jax)") from None


# ----------------------------------------------------------------------------------------------
# 2. Data.


def run_splits(config: ml_collections.ConfigDict) -> dict[str, str]:
  """``{'train': split, 'eval': split}``: the splits the run reads (as the evaluator picks its)."""
  return {"train": config.data.train_split,
          "eval": config.eval.split or pipeline.eval_split(config.data)}


def check_data(config: ml_collections.ConfigDict) -> None:
  """The run's splits exist and ``data.max_boxes`` holds the most boxes of any of their examples
  (a note when a build without box statistics is too large to scan)."""
  data_cfg = config.data
  for split in dict.fromkeys(run_splits(config).values()):
    pipeline.num_examples(data_cfg, split)  # one-line error for a missing split
    most = pipeline.max_boxes(data_cfg, split)
    if most is None:
      _note(f"config.data.max_boxes={data_cfg.max_boxes} is not checked against {split} of "
            f"{data_cfg.name}: it was prepared without box statistics (prepare it again to record "
            f"them)")
    elif most > data_cfg.max_boxes:
      raise ValueError(f"config.data.max_boxes={data_cfg.max_boxes} but {split} of {data_cfg.name} "
                       f"has images with up to {most} boxes: set --config.data.max_boxes={most}")


# ----------------------------------------------------------------------------------------------
# 3. Held-out training boxes (the box-free fallback).


def held_out_train_boxes(config: ml_collections.ConfigDict, method_cls, num_classes: int) -> bool:
  """Whether the training images that ``method_cls.held_out_boxes`` reads (its images per class x
  ``num_classes``, evenly spaced over the train split, as ``common.held_out_box_batches``) have a
  GT box; True when the method selects no threshold that way."""
  spec = method_cls.held_out_boxes
  if spec is None or spec.value(config, 'images_per_class') <= 0:
    return True
  split = config.data.train_split
  count = spec.value(config, 'images_per_class') * num_classes
  indices = pipeline.evenly_spaced(pipeline.num_examples(config.data, split), count)
  return pipeline.any_boxes(config.data, split, indices)


def box_free_note(config: ml_collections.ConfigDict, spec: base.HeldOutBoxes,
                  num_classes: int) -> str:
  """The one line that says a run keeps its configured threshold, and how to change that."""
  name = config.data.name
  per_class = spec.value(config, 'images_per_class')
  files = registry.builder_class(name).TRAIN_BOX_FILES
  how = f"prepare {name} with {files} to choose it on held-out boxes; " if files else ""
  return (f"{name}'s {config.data.train_split} split has no boxes on the {per_class} x "
          f"{num_classes} held-out images: {spec.what} stays config.{spec.kept}="
          f"{spec.value(config, 'kept')} for every epoch ({how}config."
          f"{spec.images_per_class}=0 silences this note)")


# ----------------------------------------------------------------------------------------------
# 4. Weights.


def check_weights(method: base.Method) -> None:
  """Every weight file of ``method.weight_sources()`` is here (fetched when online) and
  readable with the installed packages."""
  checked = set()
  for network, (backbone, source) in method.weight_sources().items():
    if not source:
      continue
    name = source
    if source == "imagenet":
      try:
        name = pretrained.default_source(backbone)
      except ValueError as e:
        raise ValueError(f"pretrained='imagenet' for the {network} ({backbone}): {e}") from None
    if name in checked:
      continue
    checked.add(name)
    path = weight_sources.resolve(name)  # offline: the URL and where to place the file
    pretrained.require_torch(path, f"the {network} ({backbone})")
