"""The start-up check tests' runs, as functions and as config files for the command line: SLT-Net on
the miniature ILSVRC2012 (archive_builders.py), and the loop tests' tiny CAM run."""

from __future__ import annotations

import json
import pathlib

import loop_testlib
from repo_paths import CONFIGS_DIR, HELPERS_DIR
from wsol_jax import config_defaults


def slt_imagenet_config(data_dir: str, manual_dir: str, **overrides):
  """configs/synthetic_slt.py on the miniature imagenet_loc (3 classes x 4 train images, built on
  first use from ``manual_dir``): 32 px, a 2-stage small VGG, batch 4 (3 steps = 1 epoch), the
  localization stage only, 2 held-out images per class for the pseudo-box threshold."""
  config = config_defaults.load_config_file(CONFIGS_DIR / "synthetic_slt.py")
  config.data.name = "imagenet_loc"
  config.data.data_dir = data_dir
  config.data.manual_dir = manual_dir
  config.data.image_size = 32
  config.data.resize_size = 36
  config.data.max_boxes = 4
  config.model.backbone_kwargs = {"widths": (4, 8), "convs_per_stage": 1}
  config.model.head_channels = 8
  config.slt.canvas_multiple = 2  # 2 stages: stride 2
  config.slt.regressor.hidden_units = 8
  config.slt.classifier.enabled = False
  config.slt.pseudo_threshold_images_per_class = 2
  config.train.batch_size = 4
  config.train.num_epochs = 1.0
  config.train.log_every_steps = 1
  config.train.progress_bar = False
  config.eval.batch_size = 4
  config.eval.cam_curve_interval = 0.1
  config.eval.figure_images = 0
  config_defaults.apply_overrides(config, overrides)
  return config


def tiny_cam_config(data_dir: str, **overrides):
  """The loop tests' tiny CAM run (synthetic_wsol, seconds), with ``overrides``."""
  config = loop_testlib.tiny_config(data_dir)
  config_defaults.apply_overrides(config, overrides)
  return config


CONFIG_FILE = '''"""Written by tests/helpers/preflight_testlib.py."""
import json
import sys
sys.path.insert(0, {helpers_dir!r})
import preflight_testlib


def get_config():
  return preflight_testlib.{factory}(**json.loads({kwargs!r}))
'''


def write_config(path: pathlib.Path, factory: str, **kwargs) -> str:
  """A configs/*.py-style file whose ``get_config`` is ``factory(**kwargs)`` of this module."""
  path.write_text(CONFIG_FILE.format(helpers_dir=str(HELPERS_DIR), factory=factory,
                                     kwargs=json.dumps(kwargs)))
  return str(path)
