"""Box formats, IoUs and box transforms, with known values, in NumPy and under jax.jit."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from wsol_jax.localization import boxes as B


# ----------------------------------------------------------------------------------------------
# Conversions.


def test_format_conversions_known_values():
  xyxy = np.array([[10., 20., 50., 80.], [0., 0., 1., 1.]])
  np.testing.assert_array_equal(B.xyxy_to_cxcywh(xyxy), [[30, 50, 40, 60], [.5, .5, 1, 1]])
  normalized = B.normalize_xyxy(xyxy, 100, 200)
  np.testing.assert_allclose(normalized[0], [.1, .1, .5, .4])
  np.testing.assert_allclose(B.denormalize_xyxy(normalized, 100, 200), xyxy)


def test_normalize_per_example_sizes():
  xyxy = np.array([[10., 10., 20., 20.], [10., 10., 20., 20.]])
  out = B.normalize_xyxy(xyxy, np.array([20., 40.]), np.array([10., 20.]))
  np.testing.assert_allclose(out, [[.5, 1, 1, 2], [.25, .5, .5, 1]])


# ----------------------------------------------------------------------------------------------
# IoU: wsolevaluation's published cases (evaluation_test.py) and GT-known hits.


def test_metric_iou_wsolevaluation_cases():
  # All-zero boxes are one pixel each (+1 convention): IoU 1 everywhere, shape (3, 5).
  ious = B.pairwise_metric_iou_xyxy(np.zeros((3, 4), int), np.zeros((5, 4), int))
  assert ious.shape == (3, 5) and ious.dtype == np.float64
  np.testing.assert_array_equal(ious, np.ones((3, 5)))
  eye = np.array([[1, 1, 3, 3], [4, 4, 5, 5]])
  np.testing.assert_array_equal(B.pairwise_metric_iou_xyxy(eye, eye), np.eye(2))
  realistic = B.pairwise_metric_iou_xyxy(np.array([[1, 2, 5, 6]]), np.array([[3, 1, 4, 5]]))
  assert realistic[0, 0] == pytest.approx(8. / 27, abs=1e-12)


def test_resize_for_metric_wsolevaluation_cases():
  # resize_bbox((1, 2, 4, 3), image (w=10, h=20), resize (w=35, h=10)) == (3, 1, 14, 1).
  out = B.resize_xyxy_for_metric(np.array([1, 2, 4, 3]), 10, 20, 35, 10)
  np.testing.assert_array_equal(out, [3, 1, 14, 1])
  assert out.dtype == np.int32
  np.testing.assert_array_equal(B.resize_xyxy_for_metric(np.array([1, 2, 1, 2]), 3, 3, 3, 3),
                                [1, 2, 1, 2])
  # The same through resize_xyxy (sizes as (H, W)) + truncation.
  np.testing.assert_array_equal(
      B.to_metric_int_xyxy(B.resize_xyxy(np.array([1., 2., 4., 3.]), (20, 10), (10, 35))),
      [3, 1, 14, 1])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_resize_then_truncate_equals_python_int_exhaustively(dtype):
  """int(x * 224 / W) for every integer x in [0, W] and W in 100..700 (x * (224 / W) is not)."""
  for width in range(100, 701, 3):
    xs = np.arange(width + 1, dtype=dtype)
    boxes = np.stack([xs, xs, xs, xs], axis=-1)
    got = B.to_metric_int_xyxy(B.resize_xyxy(boxes, (width, width), (224, 224)))[:, 0]
    expected = np.array([int(float(x) * 224.0 / width) for x in range(width + 1)])
    np.testing.assert_array_equal(got, expected, err_msg=f"W={width}")
  # The case that the divide-first order gets wrong: x = W = 107 -> 224, not 223.
  assert int(107 * (224 / 107)) == 223
  assert B.to_metric_int_xyxy(B.resize_xyxy(np.array([107.], dtype)[[0, 0, 0, 0]],
                                            (107, 107), (224, 224)))[0] == 224


def test_gt_known_hits_use_the_protocol_iou_and_any_valid_gt_box():
  # Protocol IoU of [0, 0, 9, 9] (100 px) with [0, 0, 9, 4] (50 px) is exactly 0.5: a hit.
  pred = np.array([[0., 0., 9., 9.]] * 3)
  gt = np.array([[[0., 0., 9., 4.], [50., 50., 60., 60.]],
                 [[50., 50., 60., 60.], [0., 0., 9., 9.]],  # the second box hits
                 [[0., 0., 9., 9.], [0., 0., 0., 0.]]])
  valid = np.array([[True, True], [True, True], [False, False]])  # no GT: never a hit
  for xp in (np, jnp):
    hit, has_gt = B.gt_known_hits(xp.asarray(pred), xp.asarray(gt), xp.asarray(valid), (64, 64))
    np.testing.assert_array_equal(np.asarray(hit), [1, 1, 0])
    np.testing.assert_array_equal(np.asarray(has_gt), [1, 1, 0])


def test_degenerate_clip_and_border_boxes():
  boxes = np.array([[0., 0., 0., 5.], [1., 1., 2., 2.], [3., 3., 2., 5.], [np.nan, 0., 1., 1.]])
  np.testing.assert_array_equal(B.is_degenerate_xyxy(boxes), [True, False, True, True])
  np.testing.assert_array_equal(B.area_xyxy(boxes[:3]), [0., 1., 0.])
  np.testing.assert_array_equal(B.clip_xyxy(np.array([-3., -1., 12., 30.]), 10, 20),
                                [0, 0, 10, 20])
  # Protocol boxes of predicted pixel-edge boxes: x1 = min(x + w, W - 1), like wsolevaluation.
  np.testing.assert_array_equal(
      B.to_metric_pred_xyxy(np.array([[0., 0., 224., 224.], [-2.5, 3.9, 10.2, 223.]]), 224, 224),
      [[0, 0, 223, 223], [0, 3, 10, 223]])
  # A box covering the whole map scores IoU 1 against the full-image GT box.
  full = B.to_metric_pred_xyxy(np.array([0., 0., 224., 224.]), 224, 224)
  assert B.metric_iou_xyxy(full, np.array([0, 0, 223, 223])) == 1.0


# ----------------------------------------------------------------------------------------------
# Transforms: known values, round trips, and the box following the image (a box-shaped mask).


def _mask_of(box, height, width):
  mask = np.zeros((height, width), bool)
  x0, y0, x1, y1 = (int(v) for v in box)
  mask[y0:y1, x0:x1] = True
  return mask


def _box_of(mask):
  ys, xs = np.nonzero(mask)
  return np.array([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1], float)


def test_transforms_follow_the_image():
  height, width = 12, 16
  box = np.array([3., 2., 9., 7.])
  image = _mask_of(box, height, width)
  np.testing.assert_array_equal(B.hflip_xyxy(box, width), _box_of(image[:, ::-1]))
  np.testing.assert_array_equal(B.crop_xyxy(box, 1, 2, 8, 10), _box_of(image[1:9, 2:12]))
  upsampled = np.repeat(np.repeat(image, 3, axis=0), 2, axis=1)  # exact per-axis resize
  np.testing.assert_array_equal(B.resize_xyxy(box, (height, width), (36, 32)),
                                _box_of(upsampled))
  np.testing.assert_array_equal(B.scale_xyxy(box, 2, 3), _box_of(upsampled))
  np.testing.assert_array_equal(B.translate_xyxy(box, 2, -1), _box_of(np.roll(image, (-1, 2),
                                                                              axis=(0, 1))))


def test_transform_known_values_and_border():
  box = np.array([1., 2., 4., 6.])
  np.testing.assert_array_equal(B.hflip_xyxy(box, 10), [6, 2, 9, 6])
  border = np.array([0., 0., 10., 10.])  # the whole image
  np.testing.assert_array_equal(B.hflip_xyxy(border, 10), border)
  # A crop that cuts the box keeps the inside part; one that misses it leaves a degenerate box.
  np.testing.assert_array_equal(B.crop_xyxy(box, 3, 2, 5, 5), [0, 0, 2, 3])
  assert B.is_degenerate_xyxy(B.crop_xyxy(box, 0, 6, 4, 4))


def test_round_trips():
  rng = np.random.default_rng(0)
  xy0 = rng.uniform(5, 40, (20, 2))
  boxes = np.concatenate([xy0, xy0 + rng.uniform(1, 20, (20, 2))], axis=1)
  height, width = 64, 80
  np.testing.assert_allclose(B.hflip_xyxy(B.hflip_xyxy(boxes, width), width), boxes)
  np.testing.assert_allclose(
      B.resize_xyxy(B.resize_xyxy(boxes, (height, width), (37, 123)), (37, 123), (height, width)),
      boxes, rtol=1e-12)
  np.testing.assert_allclose(B.scale_xyxy(B.scale_xyxy(boxes, 1.3, 0.7), 1 / 1.3, 1 / 0.7), boxes,
                             rtol=1e-12)
  # crop then shift back (the crop holds every box).
  np.testing.assert_allclose(B.translate_xyxy(B.crop_xyxy(boxes, 4, 3, 60, 77), 3, 4), boxes)
  np.testing.assert_allclose(B.translate_xyxy(B.translate_xyxy(boxes, 3, -2), -3, 2), boxes)
  # Normalised and format round trips.
  np.testing.assert_allclose(B.denormalize_xyxy(B.normalize_xyxy(boxes, width, height), width,
                                                height), boxes)


# ----------------------------------------------------------------------------------------------
# The same functions under jax.jit.


def test_jit_matches_numpy():
  rng = np.random.default_rng(1)
  xy0 = rng.uniform(0, 30, (6, 2)).astype(np.float32)
  a = np.concatenate([xy0, xy0 + rng.uniform(0, 20, (6, 2)).astype(np.float32)], axis=1)
  b = a[::-1] + 1.5

  @jax.jit
  def run(a, b, scale):
    return dict(
        cxcywh=B.xyxy_to_cxcywh(a), norm=B.normalize_xyxy(a, 64, 48),
        area=B.area_xyxy(a), degenerate=B.is_degenerate_xyxy(a),
        clip=B.clip_xyxy(a, 32, 32), metric=B.pairwise_metric_iou_xyxy(
            B.to_metric_int_xyxy(a), B.to_metric_int_xyxy(b)),
        resize=B.resize_xyxy(a, (48, 64), (224, 224)), scale=B.scale_xyxy(a, scale, 2.0),
        crop=B.crop_xyxy(a, 2, 3, 30, 30), hflip=B.hflip_xyxy(a, 64),
        pred=B.to_metric_pred_xyxy(a, 32, 32),
        for_metric=B.resize_xyxy_for_metric(a, 64, 48))

  got = run(jnp.asarray(a), jnp.asarray(b), jnp.float32(1.5))
  want = dict(
      cxcywh=B.xyxy_to_cxcywh(a), norm=B.normalize_xyxy(a, 64, 48),
      area=B.area_xyxy(a), degenerate=B.is_degenerate_xyxy(a),
      clip=B.clip_xyxy(a, 32, 32),
      metric=B.pairwise_metric_iou_xyxy(B.to_metric_int_xyxy(a), B.to_metric_int_xyxy(b)),
      resize=B.resize_xyxy(a, (48, 64), (224, 224)), scale=B.scale_xyxy(a, 1.5, 2.0),
      crop=B.crop_xyxy(a, 2, 3, 30, 30), hflip=B.hflip_xyxy(a, 64),
      pred=B.to_metric_pred_xyxy(a, 32, 32),
      for_metric=B.resize_xyxy_for_metric(a, 64, 48))
  for key, value in want.items():
    assert isinstance(got[key], jax.Array), key
    np.testing.assert_allclose(np.asarray(got[key]), value, rtol=1e-5, atol=1e-5, err_msg=key)
