"""WSOL metrics, accumulated batch by batch: CLS, LOC and MaxBoxAcc / MaxBoxAccV2.

* Top-1 / Top-5 CLS: the label is among the first 1 / 5 predicted classes.
* GT-known LOC: the box has IoU >= 0.5 with a GT box (several GT boxes: the best one counts).
* Top-1 / Top-5 LOC: Top-1 / Top-5 CLS and GT-known LOC both hold (SLT-Net Sec. 4.1). The box
  comes from the GT class's score map; when the label is among the top 5 that is the same map as
  the one of the matching predicted class, so no other class's map is needed.
* MaxBoxAcc (Choe et al., CVPR 2020): GT-known LOC with the largest region's box, at the best
  threshold of ``np.arange(0, 1, cam_curve_interval)``; MaxBoxAccV2: every region's box, the best
  threshold per IoU in ``iou_thresholds`` (30, 50, 70), averaged.

Boxes and IoU follow wsolevaluation exactly (:mod:`wsol_jax.localization.boxes`,
:mod:`wsol_jax.localization.scoremap_levels`): with ``backend='reference'`` the figures equal its ``BoxEvaluator`` to the last digit.

Use::

  metrics = ScoremapMetrics(cam_curve_interval=0.01, backend="reference")
  for batch in loader:  # score maps at the evaluation size, e.g. [B, 224, 224] in [0, 1]
    metrics.update(scoremaps, batch["bboxes"], batch["bboxes_valid"], labels=batch["label"],
                   topk_classes=top5, valid=batch["valid"])
  results = metrics.compute()  # {'MaxBoxAcc': 71.3, 'MaxBoxAccV2': 63.0, ...} in percent
"""

from __future__ import annotations

from typing import Iterable, Sequence

import numpy as np

from wsol_jax.localization import boxes as box_lib
from wsol_jax.localization import scoremap_levels
from wsol_jax.localization import scoremap_reference

LOC_IOU = 50  # GT-known / Top-k LOC and MaxBoxAcc use IoU >= 0.5


def topk_correct(topk_classes, labels, k: int) -> np.ndarray:
  """[B, K] predicted classes (best first) and [B] labels -> [B] bool: label among the first k."""
  topk_classes = np.asarray(topk_classes)
  labels = np.asarray(labels)
  if topk_classes.ndim != 2 or topk_classes.shape[1] < k:
    raise ValueError(f"topk_classes must be [B, >= {k}], got shape {topk_classes.shape}")
  return np.any(topk_classes[:, :k] == labels[:, None], axis=1)


def _batch_mask(valid, batch: int) -> np.ndarray:
  if valid is None:
    return np.ones(batch, bool)
  valid = np.asarray(valid, bool).reshape(-1)
  if valid.shape != (batch,):
    raise ValueError(f"valid must be [{batch}], got shape {valid.shape}")
  return valid


def _gt_to_metric(gt_boxes, gt_valid):
  """Float abs xyxy [B, M, 4] (+ [B, M] mask) -> int64 protocol boxes and the mask, checked."""
  gt_boxes = np.asarray(gt_boxes)
  if gt_boxes.ndim != 3 or gt_boxes.shape[-1] != 4:
    raise ValueError(f"gt_boxes must be [B, M, 4], got shape {gt_boxes.shape}")
  gt_valid = (np.ones(gt_boxes.shape[:2], bool) if gt_valid is None
              else np.asarray(gt_valid, bool))
  if gt_valid.shape != gt_boxes.shape[:2]:
    raise ValueError(f"gt_valid must be {gt_boxes.shape[:2]}, got shape {gt_valid.shape}")
  missing = np.flatnonzero(~gt_valid.any(axis=1))
  if missing.size:
    raise ValueError(f"example {int(missing[0])} of the batch has no valid GT box")
  return box_lib.to_metric_int_xyxy(gt_boxes).astype(np.int64), gt_valid


class _ClassificationCounts:
  """Top-1 / Top-5 CLS counts; absent from the results when no labels were given."""

  def __init__(self):
    self.num = 0
    self.top1 = 0
    self.top5 = 0

  def update(self, topk_classes, labels):
    """Returns ([B] top-1 correct, [B] top-5 correct) or (None, None) without labels."""
    if labels is None or topk_classes is None:
      return None, None
    top1 = topk_correct(topk_classes, labels, 1)
    top5 = topk_correct(topk_classes, labels, min(5, np.asarray(topk_classes).shape[1]))
    self.num += len(top1)
    self.top1 += int(top1.sum())
    self.top5 += int(top5.sum())
    return top1, top5

  def results(self) -> dict:
    if not self.num:
      return {}
    return {"top1_cls": self.top1 * 100.0 / self.num, "top5_cls": self.top5 * 100.0 / self.num}


class ScoremapMetrics:
  """MaxBoxAcc, MaxBoxAccV2 and CLS / LOC from score maps, fed batch by batch.

  Args:
    cam_curve_interval: threshold grid step: ``np.arange(0, 1, cam_curve_interval)``.
    iou_thresholds: IoU thresholds in percent for MaxBoxAccV2 (and per-IoU MaxBoxAcc).
    cam_threshold: the fixed threshold for GT-known / Top-1 / Top-5 LOC.
    backend: 'reference' (OpenCV contours, exactly wsolevaluation) or 'fast' (component tree;
      differs only in which region is the largest, see docs/ALGORITHMS.md).
  """

  def __init__(self, cam_curve_interval: float = 0.01, iou_thresholds=(30, 50, 70),
               cam_threshold: float = 0.2, backend: str = "reference"):
    if backend not in scoremap_levels.BACKENDS:
      raise ValueError(f"backend must be one of {scoremap_levels.BACKENDS}, got {backend!r}")
    if not 0 < cam_curve_interval < 1:
      raise ValueError(f"cam_curve_interval must be in (0, 1), got {cam_curve_interval}")
    if not 0 <= cam_threshold < 1:
      raise ValueError(f"cam_threshold must be in [0, 1), got {cam_threshold}")
    self.backend = backend
    self.iou_thresholds = tuple(int(t) for t in iou_thresholds)
    self.cam_threshold = float(cam_threshold)
    self.thresholds = np.arange(0, 1, cam_curve_interval)
    # The fixed LOC threshold rides along as one extra column after the grid.
    self._columns = np.append(self.thresholds, self.cam_threshold)
    self._ious = sorted(set(self.iou_thresholds) | {LOC_IOU})
    self.num_images = 0
    self._v1 = {t: np.zeros(len(self._columns), np.int64) for t in self._ious}
    self._v2 = {t: np.zeros(len(self._columns), np.int64) for t in self._ious}
    self._top1_loc = np.zeros(len(self._columns), np.int64)
    self._top5_loc = np.zeros(len(self._columns), np.int64)
    self._cls = _ClassificationCounts()

  def update(self, scoremaps, gt_boxes, gt_valid=None, labels=None, topk_classes=None,
             valid=None) -> None:
    """Add a batch.

    Args:
      scoremaps: [B, H, W] floats in [0, 1] at the evaluation size (e.g. 224 x 224).
      gt_boxes: [B, M, 4] absolute xyxy GT boxes in the same H x W frame (truncated to integers
        as the protocol does); several per image allowed.
      gt_valid: [B, M] bool, False on padding rows (default: all valid).
      labels: [B] int labels (optional; needed for CLS and Top-k LOC).
      topk_classes: [B, K >= 1] predicted classes, best first (optional; K >= 5 for Top-5).
      valid: [B] bool, False on padding examples, which are skipped (default: all valid).
    """
    scoremaps = np.asarray(scoremaps)
    if scoremaps.ndim != 3:
      raise ValueError(f"scoremaps must be [B, H, W], got shape {scoremaps.shape}")
    keep = _batch_mask(valid, scoremaps.shape[0])
    if not keep.any():
      return
    scoremaps = scoremaps[keep]
    gt, gt_valid = _gt_to_metric(np.asarray(gt_boxes)[keep],
                                 None if gt_valid is None else np.asarray(gt_valid)[keep])
    _check_scoremaps(scoremaps)
    q = scoremap_reference.scoremap_to_uint8(scoremaps)
    levels = (self._columns[None, :] * q.max(axis=(1, 2)).astype(np.float64)[:, None]).astype(
        np.int64)  # int(t * max), as the protocol
    v1, v2 = scoremap_levels.level_ious(q, gt, gt_valid, self.backend, levels)
    iou_v1 = np.take_along_axis(v1, levels, axis=1)
    iou_v2 = np.take_along_axis(v2, levels, axis=1)
    for t in self._ious:
      self._v1[t] += (iou_v1 >= t / 100).sum(axis=0)
      self._v2[t] += (iou_v2 >= t / 100).sum(axis=0)
    self.num_images += len(q)

    loc = _top_k_loc_counts(self._cls, iou_v1 >= LOC_IOU / 100, labels, topk_classes, keep)
    if loc is not None:
      self._top1_loc += loc[0]
      self._top5_loc += loc[1]

  def curves(self) -> dict:
    """Accuracy (percent) at every grid threshold: {'thresholds', 'v1@IOU', 'v2@IOU'} arrays."""
    self._require_images()
    n = float(self.num_images)
    out = {"thresholds": self.thresholds}
    for t in self._ious:
      out[f"v1@{t}"] = self._v1[t][:-1] * 100. / n
      out[f"v2@{t}"] = self._v2[t][:-1] * 100. / n
    return out

  def compute(self) -> dict:
    """Results in percent (floats) with the best thresholds; see the module docstring."""
    curves = self.curves()
    grid = self.thresholds
    out = {"num_images": self.num_images, "cam_threshold": self.cam_threshold}
    for name, key in (("MaxBoxAcc", "v1"), ("MaxBoxAccV2", "v2")):
      for t in self.iou_thresholds:
        acc = curves[f"{key}@{t}"]
        out[f"{name}@{t}"] = float(acc.max())
        out[f"{name}@{t}_threshold"] = float(grid[np.argmax(acc)])
    acc50 = curves[f"v1@{LOC_IOU}"]
    out["MaxBoxAcc"] = float(acc50.max())
    out["MaxBoxAcc_threshold"] = float(grid[np.argmax(acc50)])
    out["MaxBoxAccV2"] = float(np.average([out[f"MaxBoxAccV2@{t}"] for t in self.iou_thresholds]))
    n = float(self.num_images)
    out["gt_known_loc"] = self._v1[LOC_IOU][-1] * 100. / n
    if self._cls.num:
      for name, counts in (("top1_loc", self._top1_loc), ("top5_loc", self._top5_loc)):
        out[name] = counts[-1] * 100. / n
        out[f"{name}_best"] = float(counts[:-1].max() * 100. / n)
        out[f"{name}_best_threshold"] = float(grid[np.argmax(counts[:-1])])
    out.update(self._cls.results())
    return out

  def _require_images(self):
    if not self.num_images:
      raise ValueError("no valid image was accumulated (every example was masked out?)")


class BoxMetrics:
  """GT-known / Top-k LOC and CLS for predicted boxes (e.g. a box regressor), batch by batch, and
  ``centre_spread`` (:func:`centre_spread` of the boxes against each image's first GT box: 1 = the
  boxes move with the objects, 0 = one box for every image).

  Args:
    iou_thresholds: IoU thresholds in percent; ``gt_known_loc@T`` is reported for each, and
      ``gt_known_loc`` (IoU 50) always.
  """

  def __init__(self, iou_thresholds=(30, 50, 70)):
    self.iou_thresholds = tuple(int(t) for t in iou_thresholds)
    self._ious = sorted(set(self.iou_thresholds) | {LOC_IOU})
    self.num_images = 0
    self._located = {t: 0 for t in self._ious}
    self._top1_loc = 0
    self._top5_loc = 0
    self._cls = _ClassificationCounts()
    self._pred_centres = _CentreMoments()  # of images whose first GT box is valid
    self._gt_centres = _CentreMoments()

  def update(self, pred_boxes, gt_boxes, image_size_hw, gt_valid=None, labels=None,
             topk_classes=None, valid=None) -> None:
    """Add a batch: pred_boxes [B, 4] absolute pixel-edge xyxy in the ``image_size_hw`` frame of
    gt_boxes [B, M, 4]; other arguments as in :meth:`ScoremapMetrics.update`. Predicted boxes are
    scored as the protocol scores score-map boxes (:func:`wsol_jax.localization.boxes.to_metric_pred_xyxy`).
    """
    pred_boxes = np.asarray(pred_boxes, np.float64)
    if pred_boxes.ndim != 2 or pred_boxes.shape[1] != 4:
      raise ValueError(f"pred_boxes must be [B, 4], got shape {pred_boxes.shape}")
    keep = _batch_mask(valid, pred_boxes.shape[0])
    if not keep.any():
      return
    if not np.isfinite(pred_boxes[keep]).all():
      raise ValueError("pred_boxes hold NaN or inf")
    gt, gt_valid = _gt_to_metric(np.asarray(gt_boxes)[keep],
                                 None if gt_valid is None else np.asarray(gt_valid)[keep])
    first_valid = np.asarray(gt_valid)[:, 0]
    self._pred_centres.update(pred_boxes[keep][first_valid])
    self._gt_centres.update(np.asarray(gt_boxes, np.float64)[keep][first_valid, 0])
    height, width = image_size_hw
    pred = box_lib.to_metric_pred_xyxy(pred_boxes[keep], width, height).astype(np.int64)
    ious = box_lib.metric_iou_xyxy(pred[:, None, :], gt)
    best = np.where(gt_valid, ious, 0.0).max(axis=1)
    for t in self._ious:
      self._located[t] += int((best >= t / 100).sum())
    self.num_images += len(best)
    loc = _top_k_loc_counts(self._cls, best >= LOC_IOU / 100, labels, topk_classes, keep)
    if loc is not None:
      self._top1_loc += int(loc[0])
      self._top5_loc += int(loc[1])

  def compute(self) -> dict:
    if not self.num_images:
      raise ValueError("no valid image was accumulated (every example was masked out?)")
    n = float(self.num_images)
    out = {"num_images": self.num_images, "gt_known_loc": self._located[LOC_IOU] * 100. / n}
    for t in self.iou_thresholds:
      out[f"gt_known_loc@{t}"] = self._located[t] * 100. / n
    if self._cls.num:
      out["top1_loc"] = self._top1_loc * 100. / n
      out["top5_loc"] = self._top5_loc * 100. / n
    if self._gt_centres.num:
      out["centre_spread"] = _spread_ratio(self._pred_centres, self._gt_centres)
    out.update(self._cls.results())
    return out


class _CentreMoments:
  """Count, sum and sum of squares of box centres (x, y), accumulated over batches of [N, 4] xyxy
  boxes, in float64."""

  def __init__(self):
    self.num = 0
    self._sum = np.zeros(2)
    self._sum_sq = np.zeros(2)

  def update(self, boxes_xyxy) -> None:
    boxes = np.asarray(boxes_xyxy, np.float64).reshape(-1, 4)
    centres = (boxes[:, :2] + boxes[:, 2:]) / 2
    self.num += len(centres)
    self._sum += centres.sum(0)
    self._sum_sq += (centres ** 2).sum(0)

  def variance(self) -> float:
    """Sum of the x and y (population) variances of the centres."""
    mean = self._sum / self.num
    return float(np.maximum(self._sum_sq / self.num - mean ** 2, 0.0).sum())


def _spread_ratio(pred: _CentreMoments, gt: _CentreMoments) -> float:
  return float(np.sqrt(pred.variance() / max(gt.variance(), 1e-12)))


def centre_spread(pred_xyxy, gt_xyxy) -> float:
  """How far predicted boxes follow the objects: sqrt(sum of the x and y variances of the predicted
  box centres / the same of the GT box centres), over [N, 4] xyxy boxes of N images in one frame.
  1: the centres vary as much as the objects'; 0: one box for every image. :class:`BoxMetrics`
  reports it as ``centre_spread`` (against each image's first GT box)."""
  pred, gt = _CentreMoments(), _CentreMoments()
  pred.update(pred_xyxy)
  gt.update(gt_xyxy)
  return _spread_ratio(pred, gt)


def best_box_threshold(batches: Iterable[tuple], cam_curve_interval: float = 0.01,
                       backend: str = "reference") -> tuple[float, float]:
  """The score-map threshold with the best box accuracy at IoU >= 0.5 (MaxBoxAcc's) over
  ``batches`` of ``(scoremaps [B, H, W] in [0, 1], gt_boxes [B, M, 4] xyxy px, gt_valid [B, M],
  valid [B])`` -> ``(threshold, accuracy in percent)``; the lowest such threshold on ties."""
  scorer = ScoremapMetrics(cam_curve_interval=cam_curve_interval, iou_thresholds=(LOC_IOU,),
                           backend=backend)
  for scoremaps, gt_boxes, gt_valid, valid in batches:
    scorer.update(scoremaps, gt_boxes, gt_valid=gt_valid, valid=valid)
  out = scorer.compute()
  return out["MaxBoxAcc_threshold"], out["MaxBoxAcc"]


def best_candidate_boxes(batches: Iterable[tuple], candidates: Sequence[float]
                         ) -> tuple[float, float]:
  """The candidate (e.g. a threshold) whose boxes hit a GT box most often (IoU >= 0.5, as
  MaxBoxAcc) over ``batches`` of ``(boxes [K, B, 4] abs xyxy px, one row per candidate, gt_boxes
  [B, M, 4], gt_valid [B, M], valid [B], image_hw)`` -> ``(candidate, accuracy in percent over the
  images with a GT box)``; the first (lowest) such candidate on ties."""
  hits = np.zeros(len(candidates))
  with_gt = 0.0
  for boxes, gt_boxes, gt_valid, valid, image_hw in batches:
    valid = np.asarray(valid, bool)
    for i, boxes_xyxy in enumerate(np.asarray(boxes)):
      hit, has_gt = box_lib.gt_known_hits(boxes_xyxy, np.asarray(gt_boxes),
                                          np.asarray(gt_valid, bool), image_hw)
      hits[i] += hit[valid].sum()
    with_gt += has_gt[valid].sum()
  if with_gt == 0:
    raise ValueError("no image with a GT box to choose among the candidates with")
  best = int(np.argmax(hits))
  return float(candidates[best]), float(100.0 * hits[best] / with_gt)


def _top_k_loc_counts(cls, located, labels, topk_classes, keep):
  """Adds the kept examples' classes to ``cls`` (CLS counts); returns the Top-1 / Top-5 LOC counts
  (box located AND class right) of ``located`` [B] or [B, T] (per threshold), summed over the
  batch, or None without classes."""
  top1, top5 = cls.update(None if topk_classes is None else np.asarray(topk_classes)[keep],
                          None if labels is None else np.asarray(labels)[keep])
  if top1 is None:
    return None
  if located.ndim == 2:
    top1, top5 = top1[:, None], top5[:, None]
  return (located & top1).sum(axis=0), (located & top5).sum(axis=0)


def _check_scoremaps(scoremaps: np.ndarray) -> None:
  if not np.issubdtype(scoremaps.dtype, np.floating):
    raise ValueError(f"scoremaps must be floats in [0, 1], got dtype {scoremaps.dtype}")
  if np.isnan(scoremaps).any():
    raise ValueError("scoremaps hold NaN")
  lo, hi = scoremaps.min(), scoremaps.max()
  if lo < 0 or hi > 1:
    raise ValueError(f"scoremaps must be in [0, 1], got min {lo} and max {hi}")
