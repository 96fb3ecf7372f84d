"""Per-example NumPy transforms that move boxes (and masks) with their image.

Geometric ops take and return an :class:`ImageBoxes` (``image`` uint8 [H, W, 3], ``boxes_xyxy``
float32 [N, 4] abs continuous xyxy of that image, ``mask`` uint8 [H, W] or None); the box side of
each op is the matching function of :mod:`wsol_jax.localization.boxes`, so a box keeps covering the same pixels.

The grain transforms at the bottom turn a decoded TFDS example (the schema of
:mod:`wsol_jax.data.wsol_builder`) into one row of a batch:

* ``image`` uint8 [S, S, 3] (ten-crop: [10, S, S, 3]);
* ``label`` int32 [];
* ``bboxes`` float32 [max_boxes, 4] abs xyxy in the output image, padded rows 0
  (ten-crop: [10, max_boxes, 4], per crop);
* ``bboxes_valid`` bool [max_boxes] (ten-crop: [10, max_boxes]) -- False for padding rows and for
  boxes that a crop cut away entirely;
* ``valid`` bool [] -- False only for padding examples of the last eval batch;
* ``image_id`` bytes ``S{IMAGE_ID_BYTES}``;
* ``mask`` uint8 [S, S] when requested (not with ten-crop).

Train modes: ``random_crop`` (resize to ``resize_size`` square, random ``image_size`` crop -- the
CAM / SLT-Net recipe), ``random_resized_crop`` (Inception-style area/aspect crop, resized to
``image_size``), ``resize_only``; each followed by a random horizontal flip when ``hflip``.
Eval modes: ``resize`` (to ``image_size``; the wsolevaluation protocol), ``center_crop``
(resize to ``resize_size``, centre crop), ``ten_crop`` (4 corners + centre of the
``resize_size`` image, and their mirror images; for classification).
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, NamedTuple

import cv2
import grain.python as grain
import numpy as np

from wsol_jax.localization import boxes as box_lib

IMAGE_ID_BYTES = 128
TRAIN_MODES = ("random_crop", "random_resized_crop", "resize_only")
EVAL_MODES = ("resize", "center_crop", "ten_crop")


class ImageBoxes(NamedTuple):
  image: np.ndarray  # uint8 [H, W, 3]
  boxes_xyxy: np.ndarray  # float32 [N, 4]
  mask: np.ndarray | None = None  # uint8 [H, W]


# ----------------------------------------------------------------------------------------------
# Geometric ops.


def resize(x: ImageBoxes, out_hw: tuple[int, int]) -> ImageBoxes:
  """Resize to ``out_hw`` = (H, W) (area filter when shrinking, bilinear when enlarging)."""
  in_hw = x.image.shape[:2]
  if tuple(in_hw) == tuple(out_hw):
    return x
  shrink = out_hw[0] * out_hw[1] < in_hw[0] * in_hw[1]
  image = cv2.resize(x.image, (out_hw[1], out_hw[0]),
                     interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)
  mask = None
  if x.mask is not None:  # Exact (pixel-centre aligned) nearest neighbour keeps mask values.
    mask = cv2.resize(x.mask, (out_hw[1], out_hw[0]), interpolation=cv2.INTER_NEAREST_EXACT)
  boxes = box_lib.resize_xyxy(x.boxes_xyxy, in_hw, out_hw).astype(np.float32)
  return ImageBoxes(image, boxes, mask)


def crop(x: ImageBoxes, top: int, left: int, height: int, width: int) -> ImageBoxes:
  """Rows [top, top+height) and columns [left, left+width) (inside the image); boxes clipped."""
  h, w = x.image.shape[:2]
  if top < 0 or left < 0 or top + height > h or left + width > w:
    raise ValueError(f"crop window (top={top}, left={left}, {width}x{height}) leaves the "
                     f"{w}x{h} image")
  image = x.image[top:top + height, left:left + width]
  mask = None if x.mask is None else x.mask[top:top + height, left:left + width]
  boxes = box_lib.crop_xyxy(x.boxes_xyxy, top, left, height, width).astype(np.float32)
  return ImageBoxes(image, boxes, mask)


def hflip(x: ImageBoxes) -> ImageBoxes:
  """Mirror left-right."""
  width = x.image.shape[1]
  mask = None if x.mask is None else x.mask[:, ::-1]
  return ImageBoxes(x.image[:, ::-1], box_lib.hflip_xyxy(x.boxes_xyxy, width).astype(np.float32),
                    mask)


def random_crop_window(rng: np.random.Generator, in_hw, out_hw) -> tuple[int, int]:
  """(top, left) of a uniformly placed ``out_hw`` window."""
  return (int(rng.integers(0, in_hw[0] - out_hw[0] + 1)),
          int(rng.integers(0, in_hw[1] - out_hw[1] + 1)))


def random_resized_crop_window(rng: np.random.Generator, in_hw, scale=(0.08, 1.0),
                               ratio=(3 / 4, 4 / 3), attempts: int = 10
                               ) -> tuple[int, int, int, int]:
  """(top, left, height, width): area fraction in ``scale``, aspect w/h in ``ratio``.

  Inception-style sampling; after ``attempts`` misses, the largest centred window whose aspect is
  clamped into ``ratio``.
  """
  h, w = in_hw
  area = h * w
  log_ratio = (math.log(ratio[0]), math.log(ratio[1]))
  for _ in range(attempts):
    target = area * rng.uniform(*scale)
    aspect = math.exp(rng.uniform(*log_ratio))
    cw = int(round(math.sqrt(target * aspect)))
    ch = int(round(math.sqrt(target / aspect)))
    if 0 < cw <= w and 0 < ch <= h:
      return int(rng.integers(0, h - ch + 1)), int(rng.integers(0, w - cw + 1)), ch, cw
  aspect = w / h
  if aspect < ratio[0]:
    cw, ch = w, int(round(w / ratio[0]))
  elif aspect > ratio[1]:
    ch, cw = h, int(round(h * ratio[1]))
  else:
    cw, ch = w, h
  return (h - ch) // 2, (w - cw) // 2, ch, cw


def center_crop(x: ImageBoxes, out_hw) -> ImageBoxes:
  h, w = x.image.shape[:2]
  return crop(x, (h - out_hw[0]) // 2, (w - out_hw[1]) // 2, out_hw[0], out_hw[1])


def ten_crop(x: ImageBoxes, out_hw) -> list[ImageBoxes]:
  """Corners (tl, tr, bl, br) and centre, then the same five mirrored."""
  h, w = x.image.shape[:2]
  ch, cw = out_hw
  windows = [(0, 0), (0, w - cw), (h - ch, 0), (h - ch, w - cw), ((h - ch) // 2, (w - cw) // 2)]
  crops = [crop(x, top, left, ch, cw) for top, left in windows]
  return crops + [hflip(c) for c in crops]


# ----------------------------------------------------------------------------------------------
# Example <-> batch row.


def pad_boxes(boxes_xyxy: np.ndarray, max_boxes: int, *, image_id: str = "?"
              ) -> tuple[np.ndarray, np.ndarray]:
  """[N, 4] -> ([max_boxes, 4] with zero rows, bool [max_boxes]); degenerate boxes invalid."""
  n = boxes_xyxy.shape[0]
  if n > max_boxes:
    raise ValueError(f"{image_id}: {n} boxes but data.max_boxes={max_boxes}; raise max_boxes")
  valid = np.zeros((max_boxes,), bool)
  valid[:n] = ~box_lib.is_degenerate_xyxy(boxes_xyxy)
  out = np.zeros((max_boxes, 4), np.float32)
  out[:n] = np.where(valid[:n, None], boxes_xyxy, 0)
  return out, valid


def image_id_bytes(image_id) -> np.ndarray:
  """A str/bytes id -> fixed-width NumPy bytes scalar (so batches stack to ``S{IMAGE_ID_BYTES}``)."""
  raw = image_id if isinstance(image_id, bytes) else str(image_id).encode()
  if len(raw) > IMAGE_ID_BYTES:
    raise ValueError(f"image_id longer than {IMAGE_ID_BYTES} bytes: {raw[:60]!r}...")
  return np.asarray(raw, dtype=f"S{IMAGE_ID_BYTES}")


def _source(example: dict[str, Any], with_mask: bool) -> ImageBoxes:
  mask = None
  if with_mask:
    if "mask" not in example:
      raise ValueError(f"{example.get('image_id')!r}: data.with_mask=True but the dataset has no "
                       "'mask' feature")
    mask = example["mask"][..., 0] if example["mask"].ndim == 3 else example["mask"]
  boxes = np.asarray(example["bboxes"], np.float32).reshape(-1, 4)
  return ImageBoxes(np.asarray(example["image"]), boxes, mask)


def _row(x: ImageBoxes, example: dict[str, Any], max_boxes: int, with_mask: bool
         ) -> dict[str, np.ndarray]:
  image_id = example["image_id"]
  boxes, boxes_valid = pad_boxes(x.boxes_xyxy, max_boxes, image_id=image_id)
  row = {
      "image": np.ascontiguousarray(x.image),
      "label": np.asarray(example["label"], np.int32),
      "bboxes": boxes,
      "bboxes_valid": boxes_valid,
      "valid": np.asarray(True),
      "image_id": image_id_bytes(image_id),
  }
  if with_mask:
    row["mask"] = np.ascontiguousarray(x.mask)
  return row


@dataclasses.dataclass(frozen=True)
class TransformSpec:
  """The geometry of a loader (from the data config)."""
  image_size: int
  resize_size: int
  max_boxes: int
  with_mask: bool = False
  train_augment: str = "random_crop"
  hflip: bool = True
  rrc_scale: tuple[float, float] = (0.08, 1.0)
  rrc_ratio: tuple[float, float] = (3 / 4, 4 / 3)
  eval_mode: str = "resize"
  # Eval rows also carry ``image_ten_crop`` [10, S, S, 3]: the ten crops of the ORIGINAL image
  # resized to ``resize_size`` (a classifier's test-time ten-crop next to the localization image).
  ten_crop_images: bool = False
  # Train rows also carry ``image_plain`` / ``bboxes_plain``: the un-augmented image (resized to
  # ``image_size`` as at evaluation) and its boxes (LCHP's refine stage: I_r before S).
  train_plain_images: bool = False

  def __post_init__(self):
    if self.train_augment not in TRAIN_MODES:
      raise ValueError(f"data.train_augment={self.train_augment!r}; expected one of {TRAIN_MODES}")
    if self.eval_mode not in EVAL_MODES:
      raise ValueError(f"data.eval_mode={self.eval_mode!r}; expected one of {EVAL_MODES}")
    if self.image_size <= 0 or self.max_boxes <= 0:
      raise ValueError(f"data.image_size ({self.image_size}) and data.max_boxes "
                       f"({self.max_boxes}) must be positive")
    needs_resize = self.train_augment == "random_crop" or self.eval_mode != "resize"
    if needs_resize and self.resize_size < self.image_size:
      raise ValueError(f"data.resize_size={self.resize_size} < data.image_size={self.image_size}")
    if self.with_mask and self.eval_mode == "ten_crop":
      raise ValueError("data.with_mask is not supported with eval_mode='ten_crop'")


class TrainTransform(grain.RandomMapTransform):
  """Decoded example -> augmented batch row (random crop / resized crop / resize, flip)."""

  def __init__(self, spec: TransformSpec):
    self.spec = spec

  def random_map(self, example: dict[str, Any], rng: np.random.Generator):
    s = self.spec
    x = _source(example, s.with_mask)
    out_hw = (s.image_size, s.image_size)
    plain = resize(x, out_hw) if s.train_plain_images else None
    row = self._augmented_row(x, example, rng, out_hw)
    if plain is not None:
      plain_row = _row(plain, example, s.max_boxes, False)
      row["image_plain"], row["bboxes_plain"] = plain_row["image"], plain_row["bboxes"]
    return row

  def _augmented_row(self, x, example, rng, out_hw):
    s = self.spec
    if s.train_augment == "random_crop":
      x = resize(x, (s.resize_size, s.resize_size))
      x = crop(x, *random_crop_window(rng, x.image.shape[:2], out_hw), *out_hw)
    elif s.train_augment == "random_resized_crop":
      x = crop(x, *random_resized_crop_window(rng, x.image.shape[:2], s.rrc_scale, s.rrc_ratio))
      x = resize(x, out_hw)
    else:
      x = resize(x, out_hw)
    if s.hflip and rng.uniform() < 0.5:
      x = hflip(x)
    return _row(x, example, s.max_boxes, s.with_mask)


class EvalTransform(grain.MapTransform):
  """Decoded example (or None = padding) -> deterministic batch row."""

  def __init__(self, spec: TransformSpec):
    self.spec = spec

  def map(self, example: dict[str, Any] | None):
    s = self.spec
    if example is None:
      return padding_row(s)
    x = _source(example, s.with_mask)
    out_hw = (s.image_size, s.image_size)
    if s.eval_mode in ("resize", "center_crop"):
      resized = resize(x, (s.resize_size, s.resize_size)) if (
          s.eval_mode == "center_crop" or s.ten_crop_images) else None
      row = _row(resize(x, out_hw) if s.eval_mode == "resize" else center_crop(resized, out_hw),
                 example, s.max_boxes, s.with_mask)
      if s.ten_crop_images:
        row["image_ten_crop"] = np.stack([c.image for c in ten_crop(resized, out_hw)])
      return row
    x = resize(x, (s.resize_size, s.resize_size))
    rows = [_row(c, example, s.max_boxes, False) for c in ten_crop(x, out_hw)]
    out = rows[0]
    for key in ("image", "bboxes", "bboxes_valid"):
      out[key] = np.stack([r[key] for r in rows])
    return out


def padding_row(spec: TransformSpec) -> dict[str, np.ndarray]:
  """A batch row that only fills the last eval batch: zeros, ``valid=False``."""
  s = spec
  lead = (10,) if s.eval_mode == "ten_crop" else ()
  row = {
      "image": np.zeros(lead + (s.image_size, s.image_size, 3), np.uint8),
      "label": np.asarray(0, np.int32),
      "bboxes": np.zeros(lead + (s.max_boxes, 4), np.float32),
      "bboxes_valid": np.zeros(lead + (s.max_boxes,), bool),
      "valid": np.asarray(False),
      "image_id": image_id_bytes(b""),
  }
  if s.with_mask:
    row["mask"] = np.zeros((s.image_size, s.image_size), np.uint8)
  if s.ten_crop_images and s.eval_mode != "ten_crop":
    row["image_ten_crop"] = np.zeros((10, s.image_size, s.image_size, 3), np.uint8)
  return row
