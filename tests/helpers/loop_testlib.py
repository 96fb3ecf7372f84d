"""A tiny CAM run for the training-loop tests: 32 px synthetic_wsol (64 train / 24 test images,
4 classes), a 2-stage small VGG, batch 16 -- seconds per run."""

from __future__ import annotations

import jax
import pytest

from repo_paths import HELPERS_DIR
from wsol_jax import config_defaults


@pytest.fixture(autouse=True, scope="module")
def fast_cpu_random():
  """Non-partitionable threefry (as ``wsol_jax.main`` uses): the same algorithm, about 8x faster
  to compile on CPU; restored after the module."""
  old = jax.config.jax_threefry_partitionable
  jax.config.update("jax_threefry_partitionable", False)
  yield
  jax.config.update("jax_threefry_partitionable", old)

TINY_RECIPE = {"image_size": 32, "num_train": 64, "num_test": 24, "num_groups": 2,
               "classes_per_group": 2}


def tiny_config(data_dir: str, **train_overrides):
  config = config_defaults.get_base_config()
  config.data.data_dir = str(data_dir)
  for k, v in TINY_RECIPE.items():
    config.data.synthetic[k] = v
  config.data.image_size = 32
  config.data.resize_size = 36
  config.model.backbone_kwargs = {"widths": (4, 8), "convs_per_stage": 1}
  config.model.head_channels = 8
  config.train.batch_size = 16  # 4 steps per epoch
  config.train.num_steps = 6
  config.train.lr = 0.05
  config.train.schedule = "constant"
  config.train.log_every_steps = 2
  config.train.checkpoint_every_steps = 3
  config.train.progress_bar = False
  config.eval.batch_size = 16
  config.eval.cam_curve_interval = 0.05
  for k, v in train_overrides.items():
    config.train[k] = v
  return config


TINY_CONFIG_FILE = '''
"""Written by the tests: the tiny CAM run with its data in {data_dir!r}."""
import sys
sys.path.insert(0, {helpers_dir!r})
import loop_testlib


def get_config():
  return loop_testlib.tiny_config({data_dir!r})
'''


def write_tiny_config_file(path, data_dir) -> str:
  """A configs/*.py-style file holding :func:`tiny_config` (for command-line tests)."""
  path.write_text(TINY_CONFIG_FILE.format(data_dir=str(data_dir), helpers_dir=str(HELPERS_DIR)))
  return str(path)
