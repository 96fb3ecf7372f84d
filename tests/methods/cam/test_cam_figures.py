"""CAM's figure: each image with its GT box (red) and CAM box (green), beside its heat map."""

from __future__ import annotations

import jax
import numpy as np
from PIL import Image

from wsol_jax import config_defaults
from wsol_jax import drawing as vis
from wsol_jax.methods import cam
from wsol_jax.training import method as base


def test_cam_method_draws_heat_maps_with_gt_and_cam_boxes(tmp_path):
  """CAM's write_figures (the Method contract): [image + boxes | heat map + boxes] per image, GT red
  and CAM box green; config.eval.figure_images = 0 draws nothing."""
  config = config_defaults.get_base_config()
  config.model.backbone_kwargs = {"widths": (4, 8), "convs_per_stage": 1}
  config.model.head_channels = 4
  config.eval.figure_images = 2
  method = cam.CAM(config, base.RunInfo(num_classes=3, steps_per_epoch=1, train_size=4))
  rng = np.random.default_rng(0)
  boxes = np.array([[[2, 3, 12, 14], [0, 0, 0, 0]]] * 4, np.float32)
  batch = {"image": rng.integers(0, 256, (4, 16, 16, 3), dtype=np.uint8),
           "label": np.array([0, 1, 2, 0], np.int32), "bboxes": boxes,
           "bboxes_valid": np.array([[True, False]] * 4)}
  state = method.init_state(jax.random.key(0), batch)
  paths = method.write_figures(state, batch, str(tmp_path), "t")
  assert paths == [str(tmp_path / "cam_t.png")]
  image = np.asarray(Image.open(paths[0]).convert("RGB"))
  assert np.all(image == vis.RED, axis=-1).any() and np.all(image == vis.GREEN, axis=-1).any()
  with method.config.unlocked():
    method.config.eval.figure_images = 0
  assert method.write_figures(state, batch, str(tmp_path), "none") == []
