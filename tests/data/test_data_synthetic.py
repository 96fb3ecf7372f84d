"""synthetic_wsol: seeded rendering with a small part on the body, and its TFDS builder."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from wsol_jax.data import synthetic_render as R
from wsol_jax.data import synthetic_wsol


def _render(spec, index, split="train", label=None):
  return R.render_example(spec, R.example_rng(spec.seed, split, index), label=label)


def test_same_seed_same_pixels_and_independent_examples():
  spec = R.RenderSpec(image_size=48)
  a = _render(spec, 7, label=4)
  b = _render(spec, 7, label=4)
  for key in a:
    np.testing.assert_array_equal(a[key], b[key])
  other_seed = _render(R.RenderSpec(image_size=48, seed=1), 7, label=4)
  assert not np.array_equal(a["image"], other_seed["image"])
  assert not np.array_equal(a["image"], _render(spec, 7, split="test", label=4)["image"])


def test_geometry_part_on_body_mask_matches_box():
  spec = R.RenderSpec(image_size=64, part_size=0.1)
  ratios = []
  for i in range(60):
    ex = _render(spec, i, label=i % spec.num_classes)
    mask, box, part = ex["mask"], ex["bbox_xyxy"], ex["part_bbox_xyxy"]
    ys, xs = np.nonzero(mask)
    # The box is exactly the mask's pixel extent, and the object is inside the image.
    np.testing.assert_array_equal(box, [xs.min(), ys.min(), xs.max() + 1, ys.max() + 1])
    assert box[0] >= 0 and box[1] >= 0 and box[2] <= 64 and box[3] <= 64
    # The part box lies inside the object box, and it is small.
    assert part[0] >= box[0] and part[1] >= box[1] and part[2] <= box[2] and part[3] <= box[3]
    part_area = (part[2] - part[0]) * (part[3] - part[1])
    ratios.append(part_area / mask.sum())
    # The object covers a good share of the image (the box is the whole object, not the part).
    assert (box[2] - box[0]) * (box[3] - box[1]) > 5 * part_area
  # The part's box area is about (4 / pi) x part_size of the body area.
  assert 0.07 < np.median(ratios) < 0.2


def test_part_pixels_are_the_only_near_black_and_white_blob_on_the_body():
  """The part is where the class lives: the body itself has no near-white pixels."""
  spec = R.RenderSpec(image_size=64, clutter=0.0)
  for i in range(20):
    ex = _render(spec, i, label=i % spec.num_classes)
    x0, y0, x1, y1 = ex["part_bbox_xyxy"].astype(int)
    body = ex["mask"].copy()
    body[y0:y1, x0:x1] = False
    white_on_body = (ex["image"].min(-1) > 235) & body
    assert white_on_body.sum() <= 2


def test_classes_of_a_group_share_body_shape():
  """Same group, different part -> same shape family: mask IoU after aligning the boxes is high."""
  spec = R.RenderSpec(image_size=64, clutter=0.0)

  def normalized_mask(ex):
    x0, y0, x1, y1 = ex["bbox_xyxy"].astype(int)
    crop = ex["mask"][y0:y1, x0:x1].astype(np.uint8)
    return cv2.resize(crop, (32, 32), interpolation=cv2.INTER_NEAREST) > 0

  def iou(a, b):
    return (a & b).sum() / (a | b).sum()

  masks = {label: normalized_mask(_render(spec, label, label=label))
           for label in range(spec.num_classes)}
  k = spec.classes_per_group
  same = [iou(masks[g * k], masks[g * k + p]) for g in range(spec.num_groups) for p in range(1, k)]
  diff = [iou(masks[g * k], masks[h * k]) for g in range(spec.num_groups)
          for h in range(spec.num_groups) if h != g]
  assert min(same) > 0.85 and min(same) > max(diff)


def test_render_spec_validation():
  with pytest.raises(ValueError, match="classes_per_group"):
    R.RenderSpec(classes_per_group=9)
  with pytest.raises(ValueError, match="part_size"):
    R.RenderSpec(part_size=0.9)
  assert len(set(R.RenderSpec(num_groups=6, classes_per_group=5).class_names())) == 30


def test_make_config_names():
  assert synthetic_wsol.make_config() is synthetic_wsol.DEFAULT_CONFIG
  assert synthetic_wsol.make_config(image_size=64) is synthetic_wsol.DEFAULT_CONFIG
  a = synthetic_wsol.make_config(image_size=32, num_train=10)
  b = synthetic_wsol.make_config(image_size=32, num_train=11)
  assert a.name != b.name and a.name.startswith("s32_g4x3_")
  with pytest.raises(ValueError, match="unknown synthetic_wsol fields"):
    synthetic_wsol.make_config(colours=3)


def test_builder_writes_what_the_renderer_drew(tmp_path):
  config = synthetic_wsol.make_config(image_size=32, num_train=24, num_test=12, num_groups=2,
                                      classes_per_group=2, seed=3)
  builder = synthetic_wsol.SyntheticWsol(data_dir=tmp_path, config=config)
  builder.download_and_prepare()
  builder = synthetic_wsol.SyntheticWsol(data_dir=tmp_path, config=config)  # Re-read from disk.
  assert builder.info.file_format.value == "array_record"
  assert {k: v.num_examples for k, v in builder.info.splits.items()} == {"train": 24, "test": 12}
  assert builder.info.features["label"].names == config.render_spec().class_names()
  source = builder.as_data_source("test")
  seen = set()
  for i in range(len(source)):
    ex = source[i]
    index = int(ex["image_id"].decode().split("/")[1])
    ref = R.render_example(config.render_spec(), R.example_rng(3, "test", index),
                           label=index % 4)
    np.testing.assert_array_equal(ex["image"], ref["image"])  # PNG: lossless.
    np.testing.assert_array_equal(ex["mask"][..., 0] > 0, ref["mask"])
    np.testing.assert_array_equal(ex["bboxes"], ref["bbox_xyxy"][None])
    np.testing.assert_array_equal(ex["part_bboxes"], ref["part_bbox_xyxy"][None])
    assert ex["label"] == index % 4
    seen.add(index)
  assert seen == set(range(12))
