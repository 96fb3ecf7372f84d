"""PNG figure helpers: boxes land where they should, heat maps, grids, atomic saves."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from wsol_jax import drawing as vis
from wsol_jax.methods.slt import figures as slt_figures


def test_draw_boxes_outlines_the_covered_pixels():
  image = np.zeros((20, 30, 3), np.uint8)
  out = vis.draw_boxes(image, np.array([[5.0, 4.0, 15.0, 12.0]]), vis.RED, width=1)
  red = np.all(out == vis.RED, axis=-1)
  ys, xs = np.nonzero(red)
  assert (xs.min(), ys.min(), xs.max() + 1, ys.max() + 1) == (5, 4, 15, 12)
  assert not red[6:11, 6:14].any()  # outline only
  assert image.max() == 0  # input untouched
  # Degenerate boxes are skipped; several boxes at once.
  out2 = vis.draw_boxes(image, np.array([[3, 3, 3, 9], [0, 0, 4, 4]], np.float32), vis.BLUE, 1)
  assert np.all(out2 == vis.BLUE, axis=-1).sum() == 12


def test_heatmap_and_overlay():
  m = np.outer(np.linspace(0, 2, 4), np.ones(5))
  heat = vis.heatmap_rgb(m, (8, 10))
  assert heat.shape == (8, 10, 3) and heat.dtype == np.uint8
  assert not np.array_equal(heat[0, 0], heat[-1, 0])  # low vs high differ in colour
  np.testing.assert_array_equal(vis.normalize_map(np.full((3, 3), 7.0)), np.zeros((3, 3)))
  over = vis.overlay_heatmap(np.zeros((8, 10, 3), np.float32), m)
  assert over.shape == (8, 10, 3)


def test_box_tile_moves_boxes_with_the_resize():
  image = np.zeros((10, 20, 3), np.uint8)
  tile = vis.box_tile(image, [(np.array([0.0, 0.0, 10.0, 5.0]), vis.GREEN)], size_hw=(40, 80),
                      width=1)
  ys, xs = np.nonzero(np.all(tile == vis.GREEN, axis=-1))
  assert (xs.min(), ys.min(), xs.max() + 1, ys.max() + 1) == (0, 0, 40, 20)


def test_grid_and_save_png(tmp_path):
  t = np.full((16, 16, 3), 128, np.uint8)
  g = vis.grid([[t, t, t], [t, t, t]], row_labels=["a", "bb"], col_labels=["x", "y", "z"])
  assert g.shape[0] > 32 and g.shape[1] > 48
  with pytest.raises(ValueError, match="differ in size"):
    vis.grid([[t, np.zeros((8, 8, 3), np.uint8)]])
  path = vis.save_png(tmp_path / "sub" / "fig.png", g)
  np.testing.assert_array_equal(np.asarray(Image.open(path)), g)
  assert [p.name for p in path.parent.iterdir()] == ["fig.png"]  # no temp file left


def test_method_and_epoch_layouts():
  rng = np.random.default_rng(0)
  images = rng.integers(0, 255, (2, 24, 24, 3), dtype=np.uint8)
  maps = rng.uniform(size=(2, 6, 6))
  drawn = [[(np.array([2.0, 2.0, 20.0, 20.0]), vis.RED)], [(np.zeros((0, 4)), vis.GREEN)]]
  fig = vis.method_grid(images, maps, drawn, tile_hw=(48, 48))
  assert fig.shape[1] >= 2 * 48 and fig.shape[0] >= 2 * 48
  fig2 = slt_figures.epochs_grid(images, [maps, maps, maps], [drawn] * 3, ["1", "2", "3"], tile_hw=(32, 32))
  assert fig2.shape[1] >= 3 * 32
