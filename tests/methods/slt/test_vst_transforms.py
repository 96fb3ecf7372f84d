"""VST transforms g (colour jitter, flip, scale) and the inverse g' on maps."""

from __future__ import annotations

import colorsys

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from PIL import Image, ImageEnhance

from wsol_jax.localization import boxes
from wsol_jax.methods.slt import vst as T
from wsol_jax.models import classifier as classifier_lib


def _params(b, **kw):
  base = dict(brightness=jnp.ones(b), contrast=jnp.ones(b), saturation=jnp.ones(b),
              hue=jnp.zeros(b), flip=jnp.zeros(b, bool), scale=jnp.ones(b))
  base.update({k: jnp.asarray(v) for k, v in kw.items()})
  return T.VSTParams(**base)


def _smooth_maps(b, h, w, c=2):
  yy, xx = np.meshgrid(np.linspace(0, 1, h), np.linspace(0, 1, w), indexing="ij")
  maps = [np.exp(-((yy - 0.3 - 0.1 * i) ** 2 + (xx - 0.6 + 0.05 * j) ** 2) / 0.08)
          for i in range(b) for j in range(c)]
  return jnp.asarray(np.stack(maps).reshape(b, c, h, w).transpose(0, 2, 3, 1), jnp.float32)


def test_inverse_undoes_flips_exactly():
  maps = jax.random.normal(jax.random.PRNGKey(0), (4, 7, 9, 3))
  p = _params(4, flip=[True, False, True, False])
  forward = T.spatial_forward(maps, p, (7, 9))
  np.testing.assert_array_equal(forward[0], maps[0, :, ::-1])
  back = T.spatial_inverse(forward, p, (7, 9), (7, 9), (7, 9))
  np.testing.assert_allclose(back, maps, atol=1e-6)


def test_inverse_undoes_scale_within_interpolation_error():
  h = w = 32
  maps = _smooth_maps(2, h, w)
  canvas = T.vst_canvas_hw((h, w), 1.25)
  roundtrip = jax.jit(lambda m, p: T.spatial_inverse(T.spatial_forward(m, p, canvas), p, (h, w),
                                                     canvas, (h, w)))
  plain_roundtrip = lambda size: jax.image.resize(
      jax.image.resize(maps, (2, size, size, 2), "linear"), maps.shape, "linear")
  for scale in (0.75, 0.9, 1.1, 1.25):
    back = roundtrip(maps, _params(2, flip=[False, True], scale=[scale, scale]))
    # Within the error of the same resampling round trip done by plain resizes (no flip, no canvas).
    bound = max(2.0 * float(jnp.abs(plain_roundtrip(int(round(h * scale))) - maps).max()), 0.03)
    assert float(jnp.abs(back - maps).max()) < bound, scale


def test_inverse_at_a_coarser_network_stride():
  """Images of 64 px, maps at stride 8: the canvas map is read back at the original map's grid."""
  h_img, stride = 64, 8
  canvas = T.vst_canvas_hw((h_img, h_img), 1.25, multiple=stride)
  assert canvas == (80, 80)
  fine = _smooth_maps(3, h_img, h_img, c=1)
  p = _params(3, flip=[True, False, True], scale=[0.8, 1.0, 1.25])
  # A perfectly equivariant "network": the map is the image's content pooled by the stride.
  pool = lambda x: jax.image.resize(x, (x.shape[0], x.shape[1] // stride, x.shape[2] // stride, 1),
                                    "linear", antialias=True)
  m_o = pool(fine)
  m_t = pool(T.spatial_forward(fine, p, canvas))
  m_it = T.spatial_inverse(m_t, p, (h_img, h_img), canvas, m_o.shape[1:3])
  assert m_it.shape == m_o.shape == (3, 8, 8, 1)

  def centroid(m):
    grid = np.stack(np.meshgrid(np.arange(8), np.arange(8), indexing="ij"), -1)[None]
    m = np.asarray(m)
    return (grid * m).sum((1, 2)) / m.sum((1, 2))

  # The peak comes back to its cell (a missed stride, flip or scale would move it by cells).
  np.testing.assert_allclose(centroid(m_it), centroid(m_o), atol=0.2)
  assert float(jnp.abs(m_it - m_o).max()) < 0.15  # 8x8 maps: coarse interpolation


def test_spatial_forward_moves_a_rendered_rectangle_like_its_box():
  h, w = 40, 60
  box = np.array([10.0, 8.0, 30.0, 20.0])
  image = np.zeros((1, h, w, 1), np.float32)
  image[0, 8:20, 10:30] = 1.0
  canvas = T.vst_canvas_hw((h, w), 1.5)
  p = _params(1, flip=[True], scale=[1.25])
  out = np.asarray(T.spatial_forward(jnp.asarray(image), p, canvas))[0, ..., 0]
  expected = boxes.scale_xyxy(boxes.hflip_xyxy(box, w), 1.25, 1.25)
  ys, xs = np.nonzero(out > 0.5)
  np.testing.assert_allclose([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1], expected, atol=1.0)
  assert out[int(h * 1.25) + 1:].max() == 0 and out[:, int(w * 1.25) + 1:].max() == 0  # zero fill
  grey = np.asarray(T.spatial_forward(jnp.asarray(image), p, canvas, fill=0.5))[0, ..., 0]
  np.testing.assert_allclose(grey[int(h * 1.25) + 1:], 0.5)
  np.testing.assert_allclose(grey[:int(h * 1.25) - 1, :int(w * 1.25) - 1],
                             out[:int(h * 1.25) - 1, :int(w * 1.25) - 1], atol=1e-6)


def test_colour_jitter_identity_and_against_pil():
  rng = np.random.default_rng(0)
  img = rng.integers(0, 256, size=(2, 12, 10, 3), dtype=np.uint8)
  x = jnp.asarray(img, jnp.float32) / 255.0
  np.testing.assert_allclose(T.colour_jitter(x, _params(2)), x, atol=1e-5)
  for kind, enhancer in (("brightness", ImageEnhance.Brightness),
                         ("contrast", ImageEnhance.Contrast),
                         ("saturation", ImageEnhance.Color)):
    factors = np.array([0.6, 1.4], np.float32)
    ours = np.asarray(getattr(T, f"adjust_{kind}")(x, jnp.asarray(factors))) * 255.0
    for i in range(2):
      ref = np.asarray(enhancer(Image.fromarray(img[i])).enhance(float(factors[i])), np.float32)
      # PIL rounds to uint8 (and its contrast uses a rounded mean): within 2 levels.
      np.testing.assert_allclose(ours[i], ref, atol=2.0)


def test_hue_matches_colorsys():
  rng = np.random.default_rng(1)
  x = rng.uniform(size=(1, 6, 5, 3)).astype(np.float32)
  hsv = np.asarray(T.rgb_to_hsv(jnp.asarray(x)))
  ref = np.array([colorsys.rgb_to_hsv(*p) for p in x.reshape(-1, 3)]).reshape(x.shape)
  np.testing.assert_allclose(hsv, ref, atol=1e-5)
  np.testing.assert_allclose(T.hsv_to_rgb(jnp.asarray(hsv)), x, atol=1e-5)
  shifted = np.asarray(T.adjust_hue(jnp.asarray(x), jnp.array([0.25])))
  ref_shift = np.array([colorsys.hsv_to_rgb((h + 0.25) % 1.0, s, v)
                        for h, s, v in ref.reshape(-1, 3)]).reshape(x.shape)
  np.testing.assert_allclose(shifted, ref_shift, atol=1e-5)
  red = jnp.array([[[[1.0, 0.0, 0.0]]]])
  np.testing.assert_allclose(T.adjust_hue(red, jnp.array([1 / 3]))[0, 0, 0], [0, 1, 0], atol=1e-5)


def test_sample_params_per_example_ranges_and_errors():
  p = T.sample_vst_params(jax.random.PRNGKey(0), 256, brightness=0.4, contrast=0.3,
                          saturation=0.2, hue=0.1, flip_prob=0.5, scale_range=(0.75, 1.25))
  assert all(v.shape == (256,) for v in p)
  assert 0.6 <= float(p.brightness.min()) and float(p.brightness.max()) <= 1.4
  assert 0.7 <= float(p.contrast.min()) and float(p.contrast.max()) <= 1.3
  assert -0.1 <= float(p.hue.min()) and float(p.hue.max()) <= 0.1
  assert 0.75 <= float(p.scale.min()) and float(p.scale.max()) <= 1.25
  assert 60 < int(p.flip.sum()) < 196
  assert len(np.unique(np.asarray(p.scale))) == 256  # each example its own
  identity = T.sample_vst_params(jax.random.PRNGKey(1), 4)
  np.testing.assert_array_equal(identity.scale, np.ones(4))
  assert not bool(identity.flip.any())
  with pytest.raises(ValueError, match="hue"):
    T.sample_vst_params(jax.random.PRNGKey(0), 2, hue=0.7)
  with pytest.raises(ValueError, match="scale_range"):
    T.sample_vst_params(jax.random.PRNGKey(0), 2, scale_range=(1.2, 0.8))


def test_ten_crop_matches_torchvision_layout():
  images = jnp.arange(2 * 6 * 8 * 1, dtype=jnp.float32).reshape(2, 6, 8, 1)
  crops = np.asarray(classifier_lib.ten_crop(images, (4, 5)))
  assert crops.shape == (2, 10, 4, 5, 1)
  x = np.asarray(images)
  np.testing.assert_array_equal(crops[:, 0], x[:, :4, :5])  # top-left
  np.testing.assert_array_equal(crops[:, 1], x[:, :4, 3:])  # top-right
  np.testing.assert_array_equal(crops[:, 2], x[:, 2:, :5])  # bottom-left
  np.testing.assert_array_equal(crops[:, 3], x[:, 2:, 3:])  # bottom-right
  np.testing.assert_array_equal(crops[:, 4], x[:, 1:5, 2:7])  # centre: round(1.5)=2 cols, 1 row
  np.testing.assert_array_equal(crops[:, 5:], crops[:, :5, :, ::-1])
  with pytest.raises(ValueError, match="does not fit"):
    classifier_lib.ten_crop(images, (7, 5))
