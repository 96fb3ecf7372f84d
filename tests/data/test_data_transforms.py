"""Boxes (and masks) follow their image through every transform: checked on rendered rectangles."""

from __future__ import annotations

import numpy as np
import pytest

from wsol_jax.data import transforms as T


def _rect_example(rng, h, w):
  """A noise-free image with one filled white rectangle on black; box = its pixel extent."""
  x0, x1 = sorted(rng.choice(np.arange(1, w), 2, replace=False))
  y0, y1 = sorted(rng.choice(np.arange(1, h), 2, replace=False))
  if x1 - x0 < 6:
    x0, x1 = max(0, x0 - 6), min(w, x1 + 6)
  if y1 - y0 < 6:
    y0, y1 = max(0, y0 - 6), min(h, y1 + 6)
  image = np.zeros((h, w, 3), np.uint8)
  image[y0:y1, x0:x1] = 255
  mask = np.zeros((h, w), np.uint8)
  mask[y0:y1, x0:x1] = 255
  box = np.asarray([[x0, y0, x1, y1]], np.float32)
  return {"image": image, "label": 3, "bboxes": box, "image_id": "rect", "mask": mask[..., None]}


def _extent(on: np.ndarray):
  ys, xs = np.nonzero(on)
  return np.asarray([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1], np.float32)


def _check_box_on_rectangle(image, box, valid, mask=None):
  """The output box hugs the rectangle's pixels (1 px slack for interpolation at the edges)."""
  solid = image[..., 0] >= 200  # Surely inside the rectangle.
  touched = image[..., 0] >= 56  # Anything the rectangle bled into.
  if not solid.any():
    assert not valid, "a box survived although its rectangle left the image"
    return
  assert valid
  inner, outer = _extent(solid), _extent(touched)
  # Each box edge lies within one pixel of the rectangle's visible edge: it reaches into the last
  # surely-inside pixel and does not pass the first pixel the rectangle did not touch.
  assert box[0] < inner[0] + 1 and box[1] < inner[1] + 1
  assert box[2] > inner[2] - 1 and box[3] > inner[3] - 1
  assert box[0] > outer[0] - 1 and box[1] > outer[1] - 1
  assert box[2] < outer[2] + 1 and box[3] < outer[3] + 1
  if mask is not None:  # The mask moved the same way (nearest neighbour: within one pixel).
    m = _extent(mask >= 128)
    np.testing.assert_allclose(m, box, atol=1.0)


SPECS = {
    "random_crop": T.TransformSpec(image_size=40, resize_size=56, max_boxes=2, with_mask=True,
                                   train_augment="random_crop"),
    "random_resized_crop": T.TransformSpec(image_size=40, resize_size=56, max_boxes=2,
                                           with_mask=True, train_augment="random_resized_crop",
                                           rrc_scale=(0.3, 1.0)),
    "resize_only": T.TransformSpec(image_size=40, resize_size=40, max_boxes=2, with_mask=True,
                                   train_augment="resize_only"),
}


@pytest.mark.parametrize("mode", sorted(SPECS))
def test_train_transforms_keep_box_on_rectangle(mode):
  rng = np.random.default_rng(0)
  transform = T.TrainTransform(SPECS[mode])
  flips = 0
  for trial in range(40):
    h, w = rng.integers(30, 90, 2)
    ex = _rect_example(rng, h, w)
    row = transform.random_map(ex, np.random.default_rng(trial))
    assert row["image"].shape == (40, 40, 3) and row["image"].dtype == np.uint8
    assert row["mask"].shape == (40, 40)
    assert row["bboxes"].shape == (2, 4) and not row["bboxes_valid"][1]
    assert (row["bboxes"][1] == 0).all()
    _check_box_on_rectangle(row["image"], row["bboxes"][0], row["bboxes_valid"][0],
                            row["mask"] if row["bboxes_valid"][0] else None)
    # Flipped iff the rectangle's horizontal position mirrored (only checkable for resize_only).
    if mode == "resize_only":
      scale = 40 / w
      flips += not np.isclose(row["bboxes"][0][0], ex["bboxes"][0][0] * scale, atol=1e-3)
  if mode == "resize_only":
    assert 8 <= flips <= 32  # About half of the examples were mirrored.


@pytest.mark.parametrize("eval_mode", ["resize", "center_crop"])
def test_eval_transforms_keep_box_on_rectangle(eval_mode):
  rng = np.random.default_rng(1)
  spec = T.TransformSpec(image_size=40, resize_size=48, max_boxes=1, with_mask=True,
                         eval_mode=eval_mode)
  transform = T.EvalTransform(spec)
  for _ in range(30):
    ex = _rect_example(rng, *rng.integers(30, 90, 2))
    row = transform.map(ex)
    assert row["valid"] and row["label"] == 3 and row["label"].dtype == np.int32
    _check_box_on_rectangle(row["image"], row["bboxes"][0], row["bboxes_valid"][0],
                            row["mask"] if row["bboxes_valid"][0] else None)
    again = transform.map(ex)  # Deterministic.
    np.testing.assert_array_equal(again["image"], row["image"])


def test_ten_crop_boxes_per_crop():
  rng = np.random.default_rng(2)
  spec = T.TransformSpec(image_size=32, resize_size=48, max_boxes=1, eval_mode="ten_crop")
  transform = T.EvalTransform(spec)
  for _ in range(10):
    ex = _rect_example(rng, *rng.integers(30, 90, 2))
    ex.pop("mask")
    row = transform.map(ex)
    assert row["image"].shape == (10, 32, 32, 3)
    assert row["bboxes"].shape == (10, 1, 4) and row["bboxes_valid"].shape == (10, 1)
    for k in range(10):
      _check_box_on_rectangle(row["image"][k], row["bboxes"][k, 0], row["bboxes_valid"][k, 0])
    # Crops 5..9 mirror crops 0..4.
    np.testing.assert_array_equal(row["image"][5:], row["image"][:5, :, ::-1])


def test_eval_rows_carry_ten_crops_of_the_original_resized_to_resize_size():
  rng = np.random.default_rng(0)
  original = rng.integers(0, 256, (80, 60, 3), dtype=np.uint8)  # fine detail, not square
  example = {"image": original, "label": 3, "bboxes": np.array([[5, 6, 40, 50]], np.float32),
             "image_id": b"a"}
  spec = T.TransformSpec(image_size=32, resize_size=36, max_boxes=1, ten_crop_images=True)
  row = T.EvalTransform(spec).map(example)
  assert row["image"].shape == (32, 32, 3) and row["image_ten_crop"].shape == (10, 32, 32, 3)
  big = T.resize(T.ImageBoxes(original, example["bboxes"], None), (36, 36)).image
  np.testing.assert_array_equal(row["image_ten_crop"][0], big[:32, :32])
  np.testing.assert_array_equal(row["image_ten_crop"][4], big[2:34, 2:34])
  np.testing.assert_array_equal(row["image_ten_crop"][5], big[:32, :32][:, ::-1])
  # Not the eval image enlarged to 36 (that would lose detail to the 32 px detour).
  upscaled = T.resize(T.ImageBoxes(row["image"], example["bboxes"], None), (36, 36))
  assert np.abs(upscaled.image[2:34, 2:34].astype(int) - row["image_ten_crop"][4]).mean() > 10
  pad = T.padding_row(spec)
  assert pad["image_ten_crop"].shape == (10, 32, 32, 3)


def test_geometric_ops_compose_exactly_on_integer_grids():
  """Crop + flip are exact pixel moves: the box extent equals the rectangle extent exactly."""
  rng = np.random.default_rng(3)
  for _ in range(20):
    ex = _rect_example(rng, 50, 60)
    x = T.ImageBoxes(ex["image"], ex["bboxes"], ex["mask"][..., 0])
    top, left = rng.integers(0, 10, 2)
    x = T.hflip(T.crop(x, int(top), int(left), 40, 50))
    if x.image[..., 0].any():
      np.testing.assert_array_equal(_extent(x.image[..., 0] > 0), x.boxes_xyxy[0])
      np.testing.assert_array_equal(_extent(x.mask > 0), x.boxes_xyxy[0])


def test_resize_box_scaling_matches_pixels_both_ways():
  ex = _rect_example(np.random.default_rng(4), 64, 64)
  x = T.ImageBoxes(ex["image"], ex["bboxes"])
  for size in [(32, 32), (128, 96)]:
    y = T.resize(x, size)
    assert y.image.shape[:2] == size
    _check_box_on_rectangle(y.image, y.boxes_xyxy[0], True)


def test_random_resized_crop_window_in_bounds():
  rng = np.random.default_rng(5)
  areas = []
  for _ in range(300):
    h, w = rng.integers(20, 200, 2)
    top, left, ch, cw = T.random_resized_crop_window(rng, (h, w), (0.2, 1.0), (0.75, 4 / 3))
    assert 0 <= top and 0 <= left and top + ch <= h and left + cw <= w and ch > 0 and cw > 0
    areas.append(ch * cw / (h * w))
  assert 0.15 < min(areas) < 0.4 and max(areas) > 0.9


def test_pad_boxes_and_errors():
  boxes = np.asarray([[0, 0, 4, 4], [3, 3, 3, 9]], np.float32)  # Second is degenerate.
  padded, valid = T.pad_boxes(boxes, 3)
  assert valid.tolist() == [True, False, False]
  assert (padded[1:] == 0).all()
  with pytest.raises(ValueError, match="img7: 2 boxes but data.max_boxes=1"):
    T.pad_boxes(boxes, 1, image_id="img7")
  with pytest.raises(ValueError, match="train_augment"):
    T.TransformSpec(image_size=8, resize_size=8, max_boxes=1, train_augment="jitter")
  with pytest.raises(ValueError, match="resize_size=8 < data.image_size=16"):
    T.TransformSpec(image_size=16, resize_size=8, max_boxes=1)
  assert T.image_id_bytes("a/b.jpg").dtype == np.dtype(f"S{T.IMAGE_ID_BYTES}")
  with pytest.raises(ValueError, match="longer than"):
    T.image_id_bytes("x" * (T.IMAGE_ID_BYTES + 1))


def test_padding_row_matches_real_row_layout():
  spec = T.TransformSpec(image_size=24, resize_size=24, max_boxes=2, with_mask=True)
  real = T.EvalTransform(spec).map(_rect_example(np.random.default_rng(6), 30, 30))
  pad = T.EvalTransform(spec).map(None)
  assert set(real) == set(pad)
  for key in real:
    assert real[key].shape == pad[key].shape and real[key].dtype == pad[key].dtype, key
  assert not pad["valid"] and not pad["image"].any()
