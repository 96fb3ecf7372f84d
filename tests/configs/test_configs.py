"""Every config in configs/ loads, locks, names registered parts, and builds its model (shapes only,
so paper-scale backbones stay cheap)."""

import importlib
import pathlib

import jax
import numpy as np
import pytest
from ml_collections import config_dict

from repo_paths import CONFIGS_DIR as CONFIG_DIR
from wsol_jax import config_defaults
from wsol_jax.data import registry as data_registry
from wsol_jax.training import checkpoints
from wsol_jax.training import method as base
from wsol_jax.models import registry as model_registry

CONFIG_FILES = sorted(p for p in CONFIG_DIR.glob("*.py") if p.stem not in ("common", "__init__"))
# Every file, and each variant of a file with variants ('slt.py:cub'), as --config= names them.
CONFIGS = [str(p) for p in CONFIG_FILES] + [
    f"{p}:{v}" for p in CONFIG_FILES
    for v in getattr(importlib.import_module(f"configs.{p.stem}"), "VARIANTS", ())]


def load_config(path: pathlib.Path):
  return config_defaults.load_config_file(path)


# Class counts of the real datasets (a config's model.num_classes wins; None = from the dataset).
DATASET_CLASSES = {"cub": 200, "imagenet_loc": 1000, "tiny_imagenet": 200}


def num_classes(config) -> int:
  if config.model.num_classes:
    return config.model.num_classes
  if config.data.name == "synthetic_wsol":
    return config.data.synthetic.num_groups * config.data.synthetic.classes_per_group
  return DATASET_CLASSES[config.data.name]


def test_the_required_configs_exist():
  names = {p.stem for p in CONFIG_FILES}
  assert {"synthetic_cam", "cub_cam"} <= names


@pytest.mark.parametrize("path", CONFIGS, ids=[pathlib.Path(p).name for p in CONFIGS])
def test_config_builds(path):
  config = load_config(path)
  assert isinstance(config, config_dict.ConfigDict)
  base_keys = set(config_defaults.get_base_config().keys())
  assert base_keys <= set(config.keys()), f"{pathlib.Path(path).name} dropped base sections"
  config.lock()
  with pytest.raises(AttributeError):
    config.train.no_such_field = 1  # a locked config refuses unknown keys
  method_cls = base.get_method(config.method)
  assert config.model.backbone in model_registry.backbone_names()
  for section in ("regressor", "classifier") if config.method == "slt" else ():
    # SLT-Net's regressor and classifier may have their own backbone and input size.
    assert config.slt[section].backbone in ("", *model_registry.backbone_names())
    assert 0 <= config.slt[section].image_size <= config.data.image_size
  data_registry.builder_class(config.data.name)
  assert config.parallelism in ("jit", "pmap")
  assert config.train.batch_size % 8 == 0  # splits over 8 devices (and 1, 2, 4)
  assert config.eval.batch_size % 8 == 0

  # Build the method and its state abstractly (no weights, no data, no FLOPs).
  with config.unlocked():
    config.model.pretrained = ""
  method = method_cls(config, base.RunInfo(num_classes=num_classes(config), steps_per_epoch=10,
                                           train_size=10 * config.train.batch_size))
  stages = method.stages()
  assert all(stage.num_steps >= 0 for stage in stages) and sum(s.num_steps for s in stages) > 0
  size = config.data.image_size
  batch = {"image": np.zeros((2, size, size, 3), np.uint8), "label": np.zeros((2,), np.int32),
           "bboxes": np.zeros((2, config.data.max_boxes, 4), np.float32),
           "bboxes_valid": np.ones((2, config.data.max_boxes), bool), "valid": np.ones(2, bool)}
  state = jax.eval_shape(method.init_state, jax.random.key(0), batch)
  assert int(np.prod(state.step.shape)) == 1
  assert jax.tree.leaves(state.params)


def _typed_leaves(config, prefix=""):
  """``(dotted key, field type, value)`` of every leaf of ``config``, in key order."""
  for key in sorted(config.keys()):
    value = config[key]
    if isinstance(value, config_dict.ConfigDict):
      yield from _typed_leaves(value, f"{prefix}{key}.")
    else:
      yield f"{prefix}{key}", config.get_type(key), value


@pytest.mark.parametrize("path", CONFIGS, ids=[pathlib.Path(p).name for p in CONFIGS])
def test_a_saved_config_loads_as_the_config(path, tmp_path):
  """A run's config.json (what the loop writes) loads back with every field, value and type of
  the config file (tuples, typed placeholders), so it has the run's fingerprint and takes the
  same --config. overrides."""
  config = load_config(path)
  saved = tmp_path / "config.json"
  saved.write_text(config.to_json_best_effort(indent=2))
  loaded = config_defaults.load_config_file(saved)
  assert list(_typed_leaves(loaded)) == list(_typed_leaves(config))
  assert checkpoints.config_fingerprint(loaded) == checkpoints.config_fingerprint(config)


def test_a_file_that_is_not_a_saved_config_is_a_one_line_error(tmp_path):
  for name, text, needle in (("bad.json", "{not json", "not valid JSON"),
                             ("other.json", '{"a": 1}', "no 'method' key")):
    (tmp_path / name).write_text(text)
    with pytest.raises(ValueError, match=needle) as info:
      config_defaults.load_config_file(tmp_path / name)
    assert str(tmp_path / name) in str(info.value) and "\n" not in str(info.value)
