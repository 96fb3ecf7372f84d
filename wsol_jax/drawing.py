"""Figures as PNG: images with boxes, heat maps, and grids of captioned tiles.

Primitives (tiles, boxes, heat maps, grids, atomic PNG writing) and ``method_grid`` (one row per
image: the image and its heat map, each with every box), which every method's figures use.

Conventions: images are uint8 [H, W, 3]; heat maps are float [h, w] (any size and range: they are
min-max normalised and resized to the image); boxes are absolute pixel xyxy of the image they are
drawn on ([N, 4] or [4]). Colours name their role where a paper fixes it.
"""

from __future__ import annotations

import pathlib
from typing import Sequence

import matplotlib
import numpy as np
from PIL import Image, ImageDraw

from wsol_jax import io_utils
from wsol_jax.localization import boxes as box_lib

RED = (230, 30, 30)  # ground truth (both papers)
GREEN = (40, 200, 40)  # SLT-Net localizer; LCHP-I
BLUE = (40, 90, 255)  # SLT-Net regressor; LCHP-R
YELLOW = (250, 220, 0)  # LCHP's pseudo-label baseline


def to_uint8_image(image) -> np.ndarray:
  """[H, W, 3] uint8, or float in [0, 1] -> uint8 [H, W, 3]."""
  image = np.asarray(image)
  if image.ndim != 3 or image.shape[-1] != 3:
    raise ValueError(f"expected an RGB image [H, W, 3], got shape {image.shape}")
  if image.dtype == np.uint8:
    return image
  return (np.clip(image, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)


def normalize_map(score_map) -> np.ndarray:
  """Min-max normalise a float map to [0, 1]; a constant map becomes zeros."""
  m = np.asarray(score_map, dtype=np.float32)
  lo, hi = float(np.min(m)), float(np.max(m))
  return (m - lo) / (hi - lo) if hi > lo else np.zeros_like(m)


def heatmap_rgb(score_map, size_hw: tuple[int, int] | None = None, cmap: str = "jet") -> np.ndarray:
  """Float map [h, w] -> uint8 [H, W, 3] coloured with ``cmap`` (resized bilinearly to ``size_hw``)."""
  m = normalize_map(score_map)
  if size_hw is not None and m.shape != tuple(size_hw):
    m = np.asarray(Image.fromarray(m).resize((size_hw[1], size_hw[0]), Image.BILINEAR))
  rgba = matplotlib.colormaps[cmap](np.clip(m, 0.0, 1.0))
  return (rgba[..., :3] * 255.0 + 0.5).astype(np.uint8)


def overlay_heatmap(image, score_map, alpha: float = 0.5, cmap: str = "jet") -> np.ndarray:
  """The image blended with its coloured heat map: uint8 [H, W, 3]."""
  image = to_uint8_image(image)
  heat = heatmap_rgb(score_map, image.shape[:2], cmap)
  return (alpha * heat.astype(np.float32) + (1 - alpha) * image.astype(np.float32) + 0.5).astype(
      np.uint8)


def draw_boxes(image, boxes_xyxy, colour: tuple[int, int, int], width: int = 2) -> np.ndarray:
  """A copy of ``image`` (uint8 [H, W, 3]) with each box of ``boxes_xyxy`` ([N, 4] or [4]) outlined.

  A box covers pixels ``[x0, x1) x [y0, y1)``, so its outline runs through the last covered pixel.
  Degenerate boxes (zero width or height) are skipped.
  """
  out = Image.fromarray(to_uint8_image(image).copy())
  draw = ImageDraw.Draw(out)
  for box in np.asarray(boxes_xyxy, dtype=np.float32).reshape(-1, 4):
    if box_lib.is_degenerate_xyxy(box):
      continue
    x0, y0, x1, y1 = (int(round(v)) for v in box)
    draw.rectangle([x0, y0, max(x0, x1 - 1), max(y0, y1 - 1)], outline=colour, width=width)
  return np.asarray(out)


def resize_with_boxes(image, boxes_by_colour, size_hw: tuple[int, int]):
  """Resize an image (bilinear) and move its boxes with it.

  ``boxes_by_colour``: list of (boxes_xyxy, colour). Returns (image uint8, the moved list).
  """
  image = to_uint8_image(image)
  in_hw = image.shape[:2]
  if tuple(in_hw) == tuple(size_hw):
    return image, list(boxes_by_colour)
  resized = np.asarray(Image.fromarray(image).resize((size_hw[1], size_hw[0]), Image.BILINEAR))
  moved = [(box_lib.resize_xyxy(np.asarray(b, np.float32), in_hw, size_hw), c)
           for b, c in boxes_by_colour]
  return resized, moved


def box_tile(image, boxes_by_colour, score_map=None, size_hw=None, width: int = 2) -> np.ndarray:
  """One tile: the image (or its heat-map overlay when ``score_map`` is given) with every box drawn.

  ``boxes_by_colour`` is drawn in order, so the last colour lands on top.
  """
  if size_hw is not None:
    image, boxes_by_colour = resize_with_boxes(image, boxes_by_colour, size_hw)
  tile = to_uint8_image(image) if score_map is None else overlay_heatmap(image, score_map)
  for b, colour in boxes_by_colour:
    tile = draw_boxes(tile, b, colour, width)
  return tile


def grid(tiles: Sequence[Sequence[np.ndarray]], row_labels: Sequence[str] | None = None,
         col_labels: Sequence[str] | None = None, pad: int = 4,
         background=(255, 255, 255)) -> np.ndarray:
  """Lay out rows of equally sized uint8 tiles with optional captions -> uint8 [H, W, 3]."""
  rows = [list(r) for r in tiles]
  if not rows or not rows[0]:
    raise ValueError("grid needs at least one tile")
  th, tw = rows[0][0].shape[:2]
  for r in rows:
    for t in r:
      if t.shape[:2] != (th, tw):
        raise ValueError(f"grid tiles differ in size: {t.shape[:2]} vs {(th, tw)}")
  n_cols = max(len(r) for r in rows)
  caption_h = 14 if col_labels else 0
  label_w = 8 * max((len(s) for s in row_labels), default=0) + pad if row_labels else 0
  height = caption_h + len(rows) * (th + pad) + pad
  width = label_w + n_cols * (tw + pad) + pad
  canvas = Image.new("RGB", (width, height), background)
  draw = ImageDraw.Draw(canvas)
  for j, label in enumerate(col_labels or []):
    draw.text((label_w + pad + j * (tw + pad), 1), str(label), fill=(0, 0, 0))
  for i, row in enumerate(rows):
    y = caption_h + pad + i * (th + pad)
    if row_labels:
      draw.text((2, y + th // 2 - 5), str(row_labels[i]), fill=(0, 0, 0))
    for j, t in enumerate(row):
      canvas.paste(Image.fromarray(t), (label_w + pad + j * (tw + pad), y))
  return np.asarray(canvas)


def caption(image, text: str, colour=(255, 255, 255), background=(0, 0, 0)) -> np.ndarray:
  """``image`` (uint8 [H, W, 3]) with ``text`` on a strip along its top-left corner."""
  out = Image.fromarray(to_uint8_image(image).copy())
  draw = ImageDraw.Draw(out)
  x0, y0, x1, y1 = draw.textbbox((3, 2), text)
  draw.rectangle([0, 0, x1 + 3, y1 + 3], fill=background)
  draw.text((3, 2), text, fill=colour)
  return np.asarray(out)


def save_png(path, image, compress_level: int = 6) -> pathlib.Path:
  """Write uint8 [H, W, 3] as PNG atomically (a crash never leaves a half-written file).
  ``compress_level`` 0-9 (zlib; 1 encodes photos several times faster, files ~1.3x larger)."""
  pil = Image.fromarray(to_uint8_image(image))
  return io_utils.atomic_write(
      path, lambda f: pil.save(f, format="PNG", compress_level=compress_level), mode="wb")


# ----------------------------------------------------------------------------------------------
# Layouts.


def method_grid(images, score_maps, boxes_by_colour_per_image, tile_hw=(160, 160),
                row_labels=None) -> np.ndarray:
  """Rows of [image with boxes | heat map with boxes], one row per image.

  ``images`` [N, H, W, 3]; ``score_maps`` [N, h, w]; ``boxes_by_colour_per_image``: for each image a
  list of (boxes_xyxy, colour) in that image's pixel frame.
  """
  rows = []
  for image, score_map, drawn in zip(images, score_maps, boxes_by_colour_per_image):
    rows.append([box_tile(image, drawn, None, tile_hw), box_tile(image, drawn, score_map, tile_hw)])
  return grid(rows, row_labels=row_labels, col_labels=["image + boxes", "heat map + boxes"])
