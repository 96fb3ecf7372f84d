"""LCHP Algorithm 1 on hand-made feature maps: the boxes must be the ones worked out by hand."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from wsol_jax.methods.lchp import attention_boxes as ab


def _features(maps):
  """[B, h, w] maps -> [B, h, w, 3] features whose channel mean is the map."""
  maps = np.asarray(maps, np.float32)
  noise = np.stack([np.ones_like(maps), -np.ones_like(maps), np.zeros_like(maps)], -1) * 0.3
  return jnp.asarray(maps[..., None] + noise)


def _pool4(images):
  """A stand-in 'CNN': 4x4 average pooling of the image's channel mean, stride 4."""
  x = jnp.mean(images, axis=-1, keepdims=True)
  return jax.lax.reduce_window(x, 0.0, jax.lax.add, (1, 4, 4, 1), (1, 4, 4, 1), "VALID") / 16.0


def test_empty_foreground_is_not_found_and_merges_to_whole_image():
  maps = np.full((1, 8, 8), 3.0)  # constant map: min-max normalises it to all zeros
  first = ab.attention_box_xyxy(_features(maps), 0.7, (32, 48))
  assert not bool(first.found[0])
  np.testing.assert_array_equal(first.boxes_xyxy, [[0, 0, 0, 0]])
  merged = ab.merge_boxes_xyxy(first, first, (32, 48))
  np.testing.assert_array_equal(merged, [[0, 0, 48, 32]])
  # Nothing found -> nothing erased.
  images = jnp.ones((1, 32, 48, 3))
  np.testing.assert_array_equal(ab.erase_box(images, first.boxes_xyxy), images)


def test_full_foreground_gives_whole_image():
  maps = np.full((1, 8, 8), 0.9)
  maps[0, 3, 3] = 1.0  # every cell >= 0.9 of the max
  out = ab.attention_box_xyxy(_features(maps), 0.7, (32, 32), normalize="max", upsample=False)
  assert bool(out.found[0])
  np.testing.assert_array_equal(out.boxes_xyxy, [[0, 0, 32, 32]])


def test_one_blob_on_the_feature_grid_scales_to_image_pixels():
  maps = np.zeros((1, 8, 10))
  maps[0, 2:5, 3:7] = 1.0  # rows 2..4, cols 3..6
  out = ab.attention_box_xyxy(_features(maps), 0.5, (32, 40), upsample=False)
  np.testing.assert_array_equal(out.boxes_xyxy, [[12, 8, 28, 20]])  # x4 per axis


def test_two_blobs_above_threshold_give_one_enclosing_box():
  maps = np.zeros((1, 8, 8))
  maps[0, 0:2, 0:2] = 1.0
  maps[0, 5:7, 4:8] = 0.9
  out = ab.attention_box_xyxy(_features(maps), 0.7, (8, 8), upsample=False)
  np.testing.assert_array_equal(out.boxes_xyxy, [[0, 0, 8, 7]])


def test_algorithm1_two_separated_blobs_second_pass_finds_the_weaker_one():
  images = np.zeros((2, 32, 32, 3), np.float32)
  images[:, 4:12, 4:12] = 1.0  # strong blob: the first pass's region L_r
  images[:, 20:28, 16:32] = 0.6  # weaker blob, below delta until the strong one is erased
  images[1] = images[1, ::-1]  # second example: the same scene upside down
  out = jax.jit(lambda x: ab.pseudo_box_xyxy(_pool4, x, 0.7, upsample=False))(jnp.asarray(images))
  np.testing.assert_array_equal(out.first.boxes_xyxy, [[4, 4, 12, 12], [4, 20, 12, 28]])
  np.testing.assert_array_equal(out.second.boxes_xyxy, [[16, 20, 32, 28], [16, 4, 32, 12]])
  np.testing.assert_array_equal(out.boxes_xyxy, [[4, 4, 32, 28], [4, 4, 32, 28]])
  # I_m: the first region is zero, everything else untouched.
  masked = np.asarray(out.masked_images)
  assert masked[0, 4:12, 4:12].max() == 0.0
  np.testing.assert_array_equal(masked[0, 20:28, 16:32], images[0, 20:28, 16:32])
  np.testing.assert_array_equal(masked[1, 20:28, 4:12], 0.0)


def test_upsampled_attention_box_is_within_one_stride_of_the_blob():
  images = np.zeros((1, 64, 64, 3), np.float32)
  images[:, 16:40, 24:56] = 1.0
  out = ab.pseudo_box_xyxy(_pool4, jnp.asarray(images), 0.5, upsample=True)
  np.testing.assert_allclose(out.first.boxes_xyxy, [[24, 16, 56, 40]], atol=4)
  # The single blob is wholly erased, so the second pass sees a constant image: nothing found.
  assert not bool(out.second.found[0])
  np.testing.assert_array_equal(out.boxes_xyxy, out.first.boxes_xyxy)


def test_max_normalisation_and_bad_mode():
  att = jnp.asarray([[[-1.0, 0.5], [1.0, 2.0]]])
  np.testing.assert_allclose(ab.normalize_attention(att, "max"), [[[0, 0.25], [0.5, 1.0]]])
  np.testing.assert_allclose(ab.normalize_attention(att, "minmax"), [[[0, 0.5], [2 / 3, 1.0]]])
  with pytest.raises(ValueError, match="normalization"):
    ab.normalize_attention(att, "softmax")
