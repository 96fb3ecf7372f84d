"""LCHP's strong augmentation S moves an image and its box together."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from wsol_jax.methods.lchp import strong_augment as sa


def _render(boxes_xyxy, height, width):
  """[B, 4] integer boxes -> [B, H, W, 1] images, 1 inside the box and 0 outside."""
  out = np.zeros((len(boxes_xyxy), height, width, 1), np.float32)
  for i, (x0, y0, x1, y1) in enumerate(np.asarray(boxes_xyxy, int)):
    out[i, y0:y1, x0:x1] = 1.0
  return out


def _extent_xyxy(image, threshold=0.5):
  """Pixel-edge extent of the pixels above ``threshold`` in a [H, W, 1] image."""
  ys, xs = np.nonzero(np.asarray(image)[..., 0] > threshold)
  return np.array([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1], np.float32)


def test_rendered_rectangle_and_its_box_move_together():
  height, width, batch = 48, 64, 32
  boxes = np.array([[12, 10, 44, 34]] * batch, np.float32)  # inside S's reach for any draw
  images = _render(boxes, height, width)
  params = sa.sample_strong_params(jax.random.PRNGKey(3), batch)
  out_images, out_boxes = jax.jit(sa.strong_augment)(jnp.asarray(images), jnp.asarray(boxes),
                                                     params)
  assert out_images.shape == images.shape
  # The draws cover every part of S.
  assert bool(params.hflip.any()) and bool((~params.hflip).any())
  assert bool(params.vflip.any()) and bool((~params.vflip).any())
  assert 0 < int((params.pad_left != 0).sum()) < batch
  for i in range(batch):
    # Rendered edges land on the moved box to within the half-pixel of bilinear resampling.
    np.testing.assert_allclose(_extent_xyxy(out_images[i]), out_boxes[i], atol=1.0,
                               err_msg=f"example {i}")


def test_identity_parameters_change_nothing():
  batch = 2
  ones, zeros = jnp.ones((batch,)), jnp.zeros((batch,))
  false = jnp.zeros((batch,), bool)
  params = sa.StrongAugmentParams(ones, ones, zeros, zeros, zeros, zeros, false, false)
  images = jax.random.uniform(jax.random.PRNGKey(0), (batch, 10, 12, 3))
  boxes = jnp.asarray([[1.0, 2.0, 7.0, 9.0], [0.0, 0.0, 12.0, 10.0]])
  out_images, out_boxes = sa.strong_augment(images, boxes, params)
  np.testing.assert_allclose(out_images, images, atol=1e-5)
  np.testing.assert_allclose(out_boxes, boxes, atol=1e-5)


def test_flips_are_exact_and_padding_takes_the_fill_value():
  batch = 1
  ones, zeros = jnp.ones((batch,)), jnp.zeros((batch,))
  true = jnp.ones((batch,), bool)
  params = sa.StrongAugmentParams(ones, ones, zeros, zeros, zeros, zeros, true, true)
  images = jax.random.uniform(jax.random.PRNGKey(1), (1, 6, 8, 3))
  out, box = sa.strong_augment(images, jnp.asarray([[1.0, 2.0, 3.0, 5.0]]), params)
  np.testing.assert_allclose(out, images[:, ::-1, ::-1], atol=1e-5)
  np.testing.assert_allclose(box, [[5.0, 1.0, 7.0, 4.0]], atol=1e-6)
  # Shrink to 80 % about the centre: a border of the fill value appears, the box shrinks with it.
  params = params._replace(scale_x=ones * 0.8, scale_y=ones * 0.8, hflip=~true, vflip=~true)
  out, box = sa.strong_augment(jnp.ones((1, 20, 20, 1)), jnp.asarray([[0.0, 0.0, 20.0, 20.0]]),
                               params, fill=-1.0)
  np.testing.assert_allclose(box, [[2.0, 2.0, 18.0, 18.0]], atol=1e-5)
  np.testing.assert_allclose(out[0, 0, :, 0], -1.0, atol=1e-5)
  np.testing.assert_allclose(out[0, 5:15, 5:15], 1.0, atol=1e-5)


def test_crop_resize_of_a_box_shows_only_its_content():
  boxes = np.array([[8, 4, 24, 28], [0, 0, 32, 32]], np.float32)
  images = _render(boxes[:1], 32, 32).repeat(2, axis=0)
  crops = sa.crop_resize_xyxy(jnp.asarray(images), jnp.asarray(boxes), (16, 16))
  assert crops.shape == (2, 16, 16, 1)
  np.testing.assert_allclose(crops[0], 1.0, atol=1e-5)  # the crop is all rectangle
  np.testing.assert_allclose(_extent_xyxy(crops[1]), [4, 2, 12, 14], atol=0.5)  # half size
  # A degenerate box still gives finite pixels.
  tiny = sa.crop_resize_xyxy(jnp.asarray(images[:1]), jnp.asarray([[5.0, 5.0, 5.0, 5.0]]), (4, 4))
  assert np.isfinite(np.asarray(tiny)).all()


def test_bad_ranges_are_refused():
  with pytest.raises(ValueError, match="crop_pad_fraction"):
    sa.sample_strong_params(jax.random.PRNGKey(0), 2, crop_pad_fraction=0.6)
  with pytest.raises(ValueError, match="scale_range"):
    sa.sample_strong_params(jax.random.PRNGKey(0), 2, scale_range=(1.2, 0.8))


def test_reflect_fill_mirrors_the_image_at_its_edges():
  """fill=None: a whole-pixel shift shows numpy's 'symmetric' padding, no constant border; the
  content inside the image is the same as with a fill."""
  rng = np.random.default_rng(0)
  images = rng.uniform(0, 255, (1, 6, 8, 3)).astype(np.float32)
  shift = sa.AxisAffine(a_x=jnp.ones(1), b_x=jnp.full(1, 2.0), a_y=jnp.ones(1),
                        b_y=jnp.full(1, -1.0))
  mirrored = np.asarray(sa.resample_affine(jnp.asarray(images), shift, fill=None))
  padded = np.pad(images, ((0, 0), (1, 1), (2, 2), (0, 0)), mode="symmetric")
  np.testing.assert_allclose(mirrored, padded[:, 2:8, 0:8], atol=1e-4)
  filled = np.asarray(sa.resample_affine(jnp.asarray(images), shift, fill=0.0))
  np.testing.assert_allclose(mirrored[:, :5, 2:], filled[:, :5, 2:], atol=1e-4)
