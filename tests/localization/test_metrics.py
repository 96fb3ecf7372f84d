"""Per-level IoUs of both backends and the metric accumulators, with known values."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.ndimage

import scoremap_helpers

from wsol_jax.localization import boxes as box_lib
from wsol_jax.localization import scoremaps as cam
from wsol_jax.localization import metrics
from wsol_jax.localization import scoremap_levels


def _blob_maps(rng, num, size=48):
  """Smooth score maps in [0, 1]: a few Gaussian blobs on noise, bicubic-upsampled like CAMs."""
  maps = []
  for _ in range(num):
    low = int(rng.choice([6, 12]))
    yy, xx = np.mgrid[0:low, 0:low].astype(float)
    m = rng.normal(0, 0.2, (low, low))
    for _ in range(int(rng.integers(1, 4))):
      cy, cx, sigma = rng.uniform(0, low, 2).tolist() + [rng.uniform(0.7, low / 3)]
      m += rng.uniform(0.5, 2) * np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * sigma ** 2))
    maps.append(cam.upsample_scoremaps_reference(m, (size, size)))
  return np.stack(maps)


def _random_gt(rng, num, size, max_boxes=3):
  gt = np.zeros((num, max_boxes, 4))
  valid = np.zeros((num, max_boxes), bool)
  for b in range(num):
    for m in range(int(rng.integers(1, max_boxes + 1))):
      x0, y0 = rng.integers(0, size - 4, 2)
      gt[b, m] = [x0, y0, rng.integers(x0 + 2, size), rng.integers(y0 + 2, size)]
      valid[b, m] = True
  return gt, valid


# ----------------------------------------------------------------------------------------------
# scoremap_levels: both backends against each other and against brute force.


def test_level_ious_fast_equals_reference_for_all_regions_including_holes():
  rng = np.random.default_rng(0)
  maps = np.concatenate([_blob_maps(rng, 5), rng.random((2, 48, 48))])  # noise: many holes
  gt, valid = _random_gt(rng, len(maps), 48)
  q = cam.scoremap_to_uint8(maps)
  gt_int = box_lib.to_metric_int_xyxy(gt)
  v1_ref, v2_ref = scoremap_levels.level_ious(q, gt_int, valid, "reference")
  v1_fast, v2_fast = scoremap_levels.level_ious(q, gt_int, valid, "fast")
  np.testing.assert_array_equal(v2_fast, v2_ref)  # every region's box: exactly OpenCV's
  # The largest region: pixel count vs contour area; on smooth maps they rarely disagree (only
  # between near-equal regions), on noise often.
  assert (v1_fast[:5] != v1_ref[:5]).mean() < 0.01
  assert (v1_fast[5:] != v1_ref[5:]).any()  # noise: pixel count and contour area disagree


def test_fast_largest_component_equals_brute_force_labelling():
  rng = np.random.default_rng(1)
  q = rng.integers(0, 12, (20, 26)).astype(np.uint8) * 20  # few levels, many ties and merges
  extents = scoremap_helpers.largest_component_boxes_fast(q)
  for level in range(scoremap_levels.NUM_LEVELS):
    labels, num = scipy.ndimage.label(q > level, structure=np.ones((3, 3)))
    if num == 0:
      assert (extents[level] == -1).all()
      continue
    counts = np.bincount(labels.ravel())[1:]
    # scipy numbers components in raster order of their first pixel: argmax = our tie rule.
    ys, xs = np.nonzero(labels == np.argmax(counts) + 1)
    np.testing.assert_array_equal(extents[level], [xs.min(), ys.min(), xs.max(), ys.max()])


def test_level_ious_empty_level_scores_the_zero_box():
  q = np.zeros((1, 10, 10), np.uint8)
  gt = np.array([[[0, 0, 1, 1], [5, 5, 9, 9]]])  # the zero box is 1 pixel: IoU 1/4 with the first
  for backend in scoremap_levels.BACKENDS:
    v1, v2 = scoremap_levels.level_ious(q, gt, np.ones((1, 2), bool), backend)
    np.testing.assert_array_equal(v1, 0.25)
    np.testing.assert_array_equal(v2, 0.25)


# ----------------------------------------------------------------------------------------------
# ScoremapMetrics.


def _naive_maxboxacc(maps, gt_int, valid, interval, iou_thresholds):
  """wsolevaluation's loop, threshold by threshold (no level sharing), for comparison."""
  grid = list(np.arange(0, 1, interval))
  correct = {(multi, t): np.zeros(len(grid)) for multi in (False, True) for t in iou_thresholds}
  for scoremap, boxes, ok in zip(maps, gt_int, valid):
    for multi in (False, True):
      per_threshold = cam.boxes_from_scoremap_reference(scoremap, grid, multi)
      best = [box_lib.pairwise_metric_iou_xyxy(b, boxes[ok]).max() for b in per_threshold]
      for t in iou_thresholds:
        correct[multi, t][np.asarray(best) >= t / 100] += 1
  acc = {key: value * 100. / len(maps) for key, value in correct.items()}
  return (acc[False, 50].max(), np.average([acc[True, t].max() for t in iou_thresholds]))


@pytest.mark.parametrize("backend", scoremap_levels.BACKENDS)
def test_scoremap_metrics_equal_naive_loop_and_batching_and_padding_do_not_matter(backend):
  rng = np.random.default_rng(2)
  maps = _blob_maps(rng, 12)
  gt, valid = _random_gt(rng, 12, 48)
  expected = _naive_maxboxacc(maps, box_lib.to_metric_int_xyxy(gt), valid, 0.05, (30, 50, 70))
  one = metrics.ScoremapMetrics(cam_curve_interval=0.05, backend=backend)
  one.update(maps, gt, valid)
  padded = metrics.ScoremapMetrics(cam_curve_interval=0.05, backend=backend)
  for start in range(0, 12, 5):  # batches of 5, 5, 2 padded to 5 with garbage rows
    b_maps, b_gt, b_valid = maps[start:start + 5], gt[start:start + 5], valid[start:start + 5]
    pad = 5 - len(b_maps)
    keep = np.r_[np.ones(len(b_maps), bool), np.zeros(pad, bool)]
    padded.update(np.concatenate([b_maps, np.ones((pad, 48, 48))]),
                  np.concatenate([b_gt, np.zeros((pad, 3, 4))]),
                  np.concatenate([b_valid, np.zeros((pad, 3), bool)]), valid=keep)
  a, b = one.compute(), padded.compute()
  assert a == b
  assert a["num_images"] == 12
  if backend == "reference":
    assert (a["MaxBoxAcc"], a["MaxBoxAccV2"]) == expected
  else:
    assert abs(a["MaxBoxAcc"] - expected[0]) <= 100 / 12 and a["MaxBoxAccV2"] == expected[1]


def test_scoremap_metrics_known_values():
  size = 32
  maps = np.zeros((4, size, size))
  maps[0, 4:20, 6:30] = 1.0  # plateau exactly on GT box 0 -> correct at every threshold
  maps[1, 0:10, 0:10] = 1.0  # second GT box of image 1 matches (several GT boxes)
  maps[2, 20:30, 20:30] = 1.0  # misses its GT at every threshold
  maps[3, 5:15, 5:15] = 1.0  # matches, but its class prediction is wrong
  maps[3, 25:28, 25:28] = 0.1  # a faint second blob: only at t < 0.1 does it show up
  gt = np.array([[[6, 4, 29, 19], [0, 0, 0, 0]],
                 [[20, 20, 30, 30], [0, 0, 9, 9]],
                 [[0, 0, 9, 9], [0, 0, 0, 0]],
                 [[5, 5, 14, 14], [0, 0, 0, 0]]], float)
  gt_valid = np.array([[1, 0], [1, 1], [1, 0], [1, 0]], bool)
  labels = np.array([1, 2, 3, 4])
  top5 = np.array([[1, 0, 0, 0, 0], [0, 2, 0, 0, 0], [3, 0, 0, 0, 0], [0, 0, 0, 0, 0]])
  m = metrics.ScoremapMetrics(cam_curve_interval=0.1, cam_threshold=0.5)
  m.update(maps, gt, gt_valid, labels=labels, topk_classes=top5)
  r = m.compute()
  assert r["MaxBoxAcc"] == 75.0 and r["MaxBoxAccV2"] == 75.0
  assert r["MaxBoxAcc_threshold"] == 0.0
  assert r["gt_known_loc"] == 75.0  # images 0, 1, 3
  assert r["top1_cls"] == 50.0 and r["top5_cls"] == 75.0
  assert r["top1_loc"] == 25.0 and r["top5_loc"] == 50.0  # image 0; images 0 and 1
  assert r["top1_loc_best"] == 25.0
  curves = m.curves()
  np.testing.assert_array_equal(curves["v1@50"], np.full(10, 75.0))


def test_scoremap_metrics_errors():
  m = metrics.ScoremapMetrics()
  good = np.zeros((1, 8, 8))
  gt = np.array([[[0., 0., 3., 3.]]])
  with pytest.raises(ValueError, match="NaN"):
    m.update(np.full((1, 8, 8), np.nan), gt)
  with pytest.raises(ValueError, match=r"\[0, 1\]"):
    m.update(good + 1.5, gt)
  with pytest.raises(ValueError, match="no valid GT box"):
    m.update(good, gt, np.zeros((1, 1), bool))
  with pytest.raises(ValueError, match="backend"):
    metrics.ScoremapMetrics(backend="opencv")
  with pytest.raises(ValueError, match="no valid image"):
    m.compute()
  m.update(good, gt, valid=np.zeros(1, bool))  # a batch of padding only: nothing counted
  assert m.num_images == 0


# ----------------------------------------------------------------------------------------------
# BoxMetrics (predicted boxes, e.g. a regressor).


def test_box_metrics_known_values():
  m = metrics.BoxMetrics()
  pred = np.array([[10., 10., 30., 30.], [0., 0., 8., 8.], [100., 100., 300., 300.], [0, 0, 1, 1]])
  gt = np.array([[[10., 10., 29., 29.], [0, 0, 0, 0]],
                 [[50., 50., 60., 60.], [0., 0., 15., 15.]],  # IoU 81/256 = 0.32 with the 2nd
                 [[100., 100., 223., 223.], [0, 0, 0, 0]],  # pred clipped to 223: IoU 1
                 [[0., 0., 1., 1.], [0, 0, 0, 0]]])
  gt_valid = np.array([[1, 0], [1, 1], [1, 0], [1, 0]], bool)
  m.update(pred, gt, (224, 224), gt_valid, labels=np.array([0, 1, 2, 3]),
           topk_classes=np.array([[0] * 5, [1] * 5, [0, 2, 0, 0, 0], [0] * 5]),
           valid=np.array([1, 1, 1, 0], bool))
  r = m.compute()
  assert r["num_images"] == 3
  assert r["gt_known_loc"] == pytest.approx(200 / 3)
  assert r["gt_known_loc@30"] == 100.0 and r["gt_known_loc@70"] == pytest.approx(200 / 3)
  assert r["top1_loc"] == pytest.approx(100 / 3) and r["top5_loc"] == pytest.approx(200 / 3)
  assert r["top1_cls"] == pytest.approx(200 / 3) and r["top5_cls"] == 100.0


def test_box_metrics_centre_spread_over_batches_skips_padding_and_images_without_a_first_box():
  rng = np.random.default_rng(0)
  pred = rng.uniform(0, 100, (10, 4))
  gt = rng.uniform(0, 100, (10, 2, 4))
  valid = np.ones(10, bool)
  valid[3] = False  # padding
  gt_valid = np.ones((10, 2), bool)
  gt_valid[6, 0] = False  # its first GT box is missing: not in the spread, still scored
  m = metrics.BoxMetrics()
  for part in (slice(0, 4), slice(4, 10)):
    m.update(pred[part], gt[part], (100, 100), gt_valid[part], valid=valid[part])
  used = valid & gt_valid[:, 0]
  r = m.compute()
  assert r["num_images"] == 9
  assert r["centre_spread"] == pytest.approx(metrics.centre_spread(pred[used], gt[used, 0]),
                                             rel=1e-12)
  # Counting image 6 (against its missing first box) would change the figure:
  assert r["centre_spread"] != pytest.approx(metrics.centre_spread(pred[valid], gt[valid, 0]),
                                             rel=1e-3)


def test_topk_correct():
  top = np.array([[3, 1, 2], [0, 4, 5]])
  np.testing.assert_array_equal(metrics.topk_correct(top, np.array([1, 0]), 1), [False, True])
  np.testing.assert_array_equal(metrics.topk_correct(top, np.array([1, 5]), 3), [True, True])
  with pytest.raises(ValueError, match="topk_classes"):
    metrics.topk_correct(top, np.array([1, 0]), 5)
