"""CAMs, normalisation, upsampling and threshold -> box on both paths (reference and fast)."""

from __future__ import annotations

import cv2
import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.ndimage

import scoremap_helpers

from wsol_jax.localization import scoremaps as cam
from wsol_jax.localization import scoremap_levels

# ----------------------------------------------------------------------------------------------
# CAMs.


def test_cams_known_values_and_topk_average():
  rng = np.random.default_rng(0)
  features = rng.normal(size=(2, 3, 4, 5)).astype(np.float32)
  weights = rng.normal(size=(5, 6)).astype(np.float32)
  bias = rng.normal(size=6).astype(np.float32)
  every = np.asarray(cam.class_activation_maps(features, weights, bias))
  assert every.shape == (2, 3, 4, 6)
  np.testing.assert_allclose(every[1, 2, 3, 4], features[1, 2, 3] @ weights[:, 4] + bias[4],
                             rtol=1e-5)
  chosen = np.asarray(cam.cams_for_classes(features, weights, np.array([4, 1]), bias))
  np.testing.assert_allclose(chosen, np.stack([every[0, ..., 4], every[1, ..., 1]]), rtol=1e-5,
                             atol=1e-6)
  several = np.asarray(cam.cams_for_classes(features, weights, np.array([[0, 5], [2, 3]])))
  assert several.shape == (2, 2, 3, 4)
  np.testing.assert_allclose(several[1, 1], features[1] @ weights[:, 3], rtol=1e-5, atol=1e-6)
  # Top-K ACAM (SLT-Net Eq. 9): the mean of the CAMs of the K highest logits.
  logits = np.array([[0., 5., 1., 4., -1., 3.], [9., 0., 8., 1., 2., 7.]], np.float32)
  acam = np.asarray(jax.jit(cam.topk_average_cam, static_argnums=3)(features, weights, logits, 3,
                                                                    bias))
  expected = np.stack([every[0][..., [1, 3, 5]].mean(-1), every[1][..., [0, 2, 5]].mean(-1)])
  np.testing.assert_allclose(acam, expected, rtol=1e-5, atol=1e-5)


def test_minmax_normalize_constant_nan_and_backends_agree():
  maps = np.stack([np.arange(12.).reshape(3, 4) - 3, np.full((3, 4), 7.), np.ones((3, 4))])
  maps[2, 0, 0] = np.nan
  out = cam.minmax_normalize(maps)
  np.testing.assert_allclose(out[0], (np.arange(12.).reshape(3, 4)) / 11)
  np.testing.assert_array_equal(out[1], 0)  # constant -> zeros
  np.testing.assert_array_equal(out[2], 0)  # NaN -> zeros
  np.testing.assert_allclose(np.asarray(jax.jit(cam.minmax_normalize)(jnp.asarray(maps,
                                                                              jnp.float32))),
                             out, atol=1e-6)


def test_upsampling_reference_is_wsolevaluation_and_device_path_matches():
  rng = np.random.default_rng(1)
  cams = rng.normal(size=(3, 7, 7)).astype(np.float32)
  reference = cam.upsample_scoremaps_reference(cams, (224, 224))
  for i in range(3):  # wsolevaluation: cv2.resize of the float64 CAM, then normalize_scoremap
    resized = cv2.resize(cams[i].astype(np.float64), (224, 224), interpolation=cv2.INTER_CUBIC)
    resized -= resized.min()
    resized /= resized.max()
    np.testing.assert_array_equal(reference[i], resized)
  assert reference.dtype == np.float64
  device = np.asarray(jax.jit(cam.upsample_scoremaps, static_argnums=(1, 2))(cams, (224, 224),
                                                                           "opencv"))
  np.testing.assert_allclose(device, reference, atol=1e-6)
  jax_resize = np.asarray(cam.upsample_scoremaps(cams, (224, 224), "jax"))
  assert 1e-3 < np.abs(jax_resize - reference).mean() < 0.05  # the documented difference
  # Non-square, non-integer factors: the OpenCV matrix matches cv2 to its coefficient rounding.
  odd = rng.normal(size=(10, 13))
  np.testing.assert_allclose(
      cam.opencv_cubic_matrix(10, 33) @ odd @ cam.opencv_cubic_matrix(13, 29).T,
      cv2.resize(odd, (29, 33), interpolation=cv2.INTER_CUBIC), atol=1e-5)


# ----------------------------------------------------------------------------------------------
# Reference path: wsolevaluation's published cases (evaluation_test.py) as figures.

_GRID = np.arange(0, 1, 0.2)


def _first_boxes(scoremap, multi=False):
  return [b.tolist() for b in cam.boxes_from_scoremap_reference(scoremap, _GRID, multi)]


def test_reference_wsolevaluation_cases():
  assert _first_boxes(np.zeros((3, 3))) == [[[0, 0, 0, 0]]] * 5
  unimodal = np.array([[0.0, 0.0, 0.0, 0.0, 0.0],
                       [0.0, 0.4, 0.4, 0.4, 0.6],
                       [0.0, 0.4, 1.0, 0.8, 0.6],
                       [0.0, 0.4, 0.4, 0.4, 0.6]])
  assert [b[0] for b in _first_boxes(unimodal)] == [[1, 1, 4, 3], [1, 1, 4, 3], [2, 1, 4, 3],
                                                    [2, 2, 4, 3], [2, 2, 3, 3]]
  multimodal = np.array([[0.4, 0.0, 0.2, 0.2, 0.2],
                         [0.4, 0.4, 0.0, 0.4, 0.0],
                         [0.0, 0.0, 0.0, 0.4, 0.0],
                         [1.0, 0.6, 0.8, 0.2, 0.2]])
  assert [b[0] for b in _first_boxes(multimodal)] == [[0, 0, 4, 3], [0, 0, 2, 2], [0, 3, 3, 3],
                                                      [2, 3, 3, 3], [0, 3, 1, 3]]


def test_reference_border_constant_and_holes():
  # A map that is 1 everywhere: one contour, the whole image, x1 clipped to W - 1.
  assert _first_boxes(np.ones((6, 8)))[0] == [[0, 0, 7, 5]]
  # Constant maps normalise to zeros: no contour at any threshold -> [0, 0, 0, 0].
  assert _first_boxes(cam.minmax_normalize(np.full((6, 8), 0.3)), multi=True) == [
      [[0, 0, 0, 0]]] * 5
  # A ring: RETR_TREE gives the outer border and the hole's border (hole box grown by 1 pixel).
  ring = np.zeros((9, 9))
  ring[1:8, 1:8] = 1
  ring[3:6, 3:6] = 0
  boxes = sorted(_first_boxes(ring, multi=True)[0])
  assert boxes == [[1, 1, 8, 8], [2, 2, 7, 7]]


# ----------------------------------------------------------------------------------------------
# Fast path (jnp): connected components and the largest component's box.

_largest = jax.jit(cam.largest_component_box_xyxy, static_argnames="quantize")


def test_connected_components_match_scipy_8_connectivity():
  rng = np.random.default_rng(2)
  masks = rng.random((4, 24, 30)) > 0.55
  masks[0] = False  # empty
  masks[1, ::2, ::2] = True  # diagonal chains
  labels = np.asarray(jax.jit(cam.connected_components)(masks))
  for mask, lab in zip(masks, labels):
    assert (lab[~mask] == mask.size).all()
    ref, num = scipy.ndimage.label(mask, structure=np.ones((3, 3)))
    ours = lab[mask]
    assert len(np.unique(ours)) == num
    assert len(set(zip(ref[mask].tolist(), ours.tolist()))) == num  # same partition
    for label in np.unique(ours):  # label = first raster index of the component
      assert np.flatnonzero(lab.reshape(-1) == label)[0] == label


_CANVAS = (8, 16, 60)  # one shape for every fast-path call below: one compilation each


def test_largest_component_box_cases():
  maps = np.zeros(_CANVAS, np.float32)
  maps[0, 1:3, 1:3] = 1.0  # 4 pixels
  maps[0, 5:9, 4:11] = 0.8  # 28 pixels: the largest
  maps[1, 0:16, 57:60] = 1.0  # at the right / top / bottom border
  maps[2, 2, 2] = maps[2, 3, 3] = maps[2, 4, 4] = 1.0  # diagonal: one 8-connected component
  maps[3, 1, 1:4] = 1.0  # tie of 3 pixels: the one met first in raster order
  maps[3, 6, 6:9] = 1.0
  maps[4:] = 0.0  # all zero: nothing passes -> [0, 0, 0, 0]
  boxes = np.asarray(_largest(maps, jnp.full(8, 0.5)))
  np.testing.assert_array_equal(boxes[:5], [[4, 5, 11, 9], [57, 0, 60, 16], [2, 2, 5, 5],
                                            [1, 1, 4, 2], [0, 0, 0, 0]])
  # Per-example thresholds: at 0.9 the 0.8 block of map 0 drops out.
  per_example = np.asarray(_largest(maps, jnp.array([0.9] + [0.5] * 7)))
  np.testing.assert_array_equal(per_example[0], [1, 1, 3, 3])
  np.testing.assert_array_equal(per_example[1:], boxes[1:])
  topk_boxes, counts = jax.jit(cam.component_boxes_xyxy, static_argnums=2)(maps, 0.5, 3)
  np.testing.assert_array_equal(np.asarray(counts[0]), [28, 4, 0])
  np.testing.assert_array_equal(np.asarray(topk_boxes[0]), [[4, 5, 11, 9], [1, 1, 3, 3],
                                                            [0, 0, 0, 0]])


def _uint8_exact_maps(rng, shape):
  """Maps whose 255 * value sits mid-way between integers, so float32 and float64 quantise alike."""
  return ((rng.integers(0, 256, shape) + 0.5) / 255).astype(np.float32)


def test_fast_device_path_agrees_with_host_component_tree():
  rng = np.random.default_rng(3)
  smooth = scipy.ndimage.gaussian_filter(rng.random((4,) + _CANVAS[1:]), (0, 2, 2))
  smooth = (smooth - smooth.min(axis=(1, 2), keepdims=True)) / np.ptp(smooth, axis=(1, 2),
                                                                      keepdims=True)
  maps = np.concatenate([_uint8_exact_maps(rng, (4,) + _CANVAS[1:]),
                         ((np.floor(smooth * 254.99) + 0.5) / 255).astype(np.float32)])
  for t in (0.0, 0.25, 0.5, 0.8):
    device = np.asarray(_largest(maps, jnp.full(len(maps), t), quantize=True))
    for i, scoremap in enumerate(maps):
      q = cam.scoremap_to_uint8(scoremap)
      extent = scoremap_helpers.largest_component_boxes_fast(q)[cam.threshold_levels(q.max(), t)]
      expected = [0, 0, 0, 0] if extent[0] < 0 else [extent[0], extent[1], extent[2] + 1,
                                                     extent[3] + 1]
      np.testing.assert_array_equal(device[i], expected, err_msg=f"t={t} map {i}")


# ----------------------------------------------------------------------------------------------
# Where the paths differ (docs/ALGORITHMS.md): "largest" is polygon area in OpenCV, pixels here.


def _difference_maps():
  line_vs_square = np.zeros((16, 60), np.float32)
  line_vs_square[1, 1:26] = 1.0  # 25 pixels, contour area 0
  line_vs_square[6:9, 6:9] = 1.0  # 9 pixels, contour area 4
  ring_vs_bar = np.zeros((16, 60), np.float32)
  ring_vs_bar[1:10, 1:10] = 1.0  # ring: 72 pixels, contour area 64 (its hole included)
  ring_vs_bar[2:5, 2:5] = 0.0  # off-centre hole: its contour box is [1, 1, 6, 6]
  ring_vs_bar[12:14, 15:55] = 1.0  # bar: 80 pixels, contour area 39
  return line_vs_square, ring_vs_bar


def test_paths_differ_where_documented():
  line_vs_square, ring_vs_bar = _difference_maps()
  # Reference: the largest contour area -> the square; the ring.
  assert _first_boxes(line_vs_square)[0] == [[6, 6, 9, 9]]
  assert _first_boxes(ring_vs_bar)[0] == [[1, 1, 10, 10]]
  # Fast: the most pixels -> the line; the bar.
  maps = np.zeros(_CANVAS, np.float32)
  maps[:2] = line_vs_square, ring_vs_bar
  boxes = np.asarray(_largest(maps, jnp.full(8, 0.5)))
  np.testing.assert_array_equal(boxes[:2], [[1, 1, 26, 2], [15, 12, 55, 14]])
  # Every-region boxes (MaxBoxAccV2) are the same on both paths: holes are regions there too.
  q = cam.scoremap_to_uint8(ring_vs_bar)
  gt = np.array([[[1, 1, 6, 6]]])  # exactly the hole's contour box
  valid = np.ones((1, 1), bool)
  v1_ref, v2_ref = scoremap_levels.level_ious(q[None], gt, valid, "reference")
  v1_fast, v2_fast = scoremap_levels.level_ious(q[None], gt, valid, "fast")
  np.testing.assert_array_equal(v2_ref, v2_fast)
  assert v2_fast[0, 0] == 1.0
  assert v1_ref[0, 0] == 36 / 100 and v1_fast[0, 0] == 0.0  # ring box vs bar box


def test_protocol_quantisation_pinned():
  scoremap = np.array([[0.0, 0.5, 1.0], [0.2, 0.3999, 0.6]])
  np.testing.assert_array_equal(cam.scoremap_to_uint8(scoremap), [[0, 127, 255], [51, 101, 153]])
  np.testing.assert_array_equal(cam.threshold_levels(255, [0.0, 0.5, 0.6, 0.99]), [0, 127, 153,
                                                                                   252])
  # np.arange(0, 1, 0.2)[3] is 0.6000000000000001: int(0.6000000000000001 * 255) = 153.
  assert cam.threshold_levels(np.uint8(255), np.arange(0, 1, 0.2))[3] == 153


@pytest.mark.parametrize("shape", [(1, 7, 9)])
def test_binarize_quantize_matches_reference_levels(shape):
  rng = np.random.default_rng(4)
  maps = _uint8_exact_maps(rng, shape)
  q = cam.scoremap_to_uint8(maps[0])
  for t in (0.0, 0.3, 0.77):
    expected = q > cam.threshold_levels(q.max(), t)
    np.testing.assert_array_equal(np.asarray(cam.binarize(maps, t, quantize=True))[0], expected)
