"""Procedural images for ``synthetic_wsol``: fine-grained classes with part domination built in.

A class is a (group, part) pair, ``label = group * classes_per_group + part``:

* **group** -- the *body*: a large shape with a texture (ellipse + horizontal stripes, rounded
  square + checks, triangle + dots, diamond + diagonal stripes, hexagon + rings, cross + vertical
  stripes). Body colours come from one distribution for every group and class, so colour carries no
  label information.
* **part** -- a small achromatic disc (``part_size`` of the body's area, at a random place fully
  on the body) whose black/white pattern tells the classes of a group apart (ring-eye, dot-eye,
  left/right split, top/bottom split, quadrants; none of them maps to another under a horizontal
  flip).

So the body says "which group", and only the small part says "which class in the group": a
classifier must find the part, and a CAM tends to fire on it rather than on the whole object --
the part domination of fine-grained WSOL. The GT box and mask cover the whole object (body + part).
Backgrounds are cluttered: a low-saturation gradient, pixel noise, small colour blobs and
*distractors* -- smaller fragments of bodies of random groups, without a part.

Every example is drawn from its own generator seeded by (seed, split, index), so an example does
not depend on the others and the same seed always renders the same pixels.
"""

from __future__ import annotations

import colorsys
import dataclasses

import cv2
import numpy as np

GROUP_NAMES = ("ellipse-stripes", "square-checks", "triangle-dots", "diamond-diagonals",
               "hexagon-rings", "cross-columns")
PART_NAMES = ("ring-eye", "dot-eye", "lr-split", "tb-split", "quadrants")
SPLIT_CODES = {"train": 1, "test": 2}


@dataclasses.dataclass(frozen=True)
class RenderSpec:
  """What to draw; the fields of the ``synthetic_wsol`` builder config."""
  image_size: int = 64
  num_groups: int = 4
  classes_per_group: int = 3
  part_size: float = 0.1  # part area / body area
  clutter: float = 1.0  # scales the number of background blobs and distractors; 0 = none
  seed: int = 0

  def __post_init__(self):
    if not 1 <= self.num_groups <= len(GROUP_NAMES):
      raise ValueError(f"num_groups must be in [1, {len(GROUP_NAMES)}], got {self.num_groups}")
    if not 1 <= self.classes_per_group <= len(PART_NAMES):
      raise ValueError(
          f"classes_per_group must be in [1, {len(PART_NAMES)}], got {self.classes_per_group}")
    if not 0.01 <= self.part_size <= 0.4:
      raise ValueError(f"part_size must be in [0.01, 0.4], got {self.part_size}")
    if self.image_size < 24:
      raise ValueError(f"image_size must be >= 24, got {self.image_size}")
    if self.clutter < 0:
      raise ValueError(f"clutter must be >= 0, got {self.clutter}")

  @property
  def num_classes(self) -> int:
    return self.num_groups * self.classes_per_group

  def class_names(self) -> list[str]:
    return [f"{GROUP_NAMES[g]}+{PART_NAMES[p]}"
            for g in range(self.num_groups) for p in range(self.classes_per_group)]


def example_rng(seed: int, split: str, index: int) -> np.random.Generator:
  """The generator of one example: independent of every other example."""
  return np.random.default_rng([seed, SPLIT_CODES[split], index])


# ----------------------------------------------------------------------------------------------
# Shapes and textures in body-normalised coordinates u, v in [-1, 1] (box edges at +-1).


def _shape_mask(group: int, u: np.ndarray, v: np.ndarray) -> np.ndarray:
  au, av = np.abs(u), np.abs(v)
  if group == 0:
    return u * u + v * v <= 1.0
  if group == 1:
    return u ** 4 + v ** 4 <= 1.0
  if group == 2:  # Apex at the top, base at the bottom.
    return (v <= 1.0) & (au <= (v + 1.0) / 2.0)
  if group == 3:
    return au + av <= 1.0
  if group == 4:  # Flat-topped hexagon.
    return (av <= 0.9) & (au + 0.55 * av <= 1.0)
  if group == 5:
    return (au <= 1.0) & (av <= 1.0) & ((au <= 0.38) | (av <= 0.38))
  raise ValueError(f"no body shape for group {group}")


def _texture(group: int, u: np.ndarray, v: np.ndarray) -> np.ndarray:
  """bool: where the darker texture colour goes."""
  if group == 0:
    return np.sin(2 * np.pi * 2.5 * v) > 0
  if group == 1:
    return np.sin(2 * np.pi * 2.0 * u) * np.sin(2 * np.pi * 2.0 * v) > 0
  if group == 2:
    fu, fv = (u * 3.0) % 1.0 - 0.5, (v * 3.0) % 1.0 - 0.5
    return fu * fu + fv * fv < 0.09
  if group == 3:
    return np.sin(2 * np.pi * 2.0 * (u + v)) > 0
  if group == 4:
    return np.sin(2 * np.pi * 2.2 * np.sqrt(u * u + v * v)) > 0
  if group == 5:
    return np.sin(2 * np.pi * 2.5 * u) > 0
  raise ValueError(f"no texture for group {group}")


def _part_pattern(part: int, p: np.ndarray, q: np.ndarray) -> np.ndarray:
  """bool: white pixels of the part (the rest of the disc is black); p, q in [-1, 1]."""
  rho = np.sqrt(p * p + q * q)
  if part == 0:
    return rho > 0.5
  if part == 1:
    return rho <= 0.5
  if part == 2:
    return p < 0
  if part == 3:
    return q < 0
  if part == 4:
    return (p < 0) == (q < 0)
  raise ValueError(f"no part pattern {part}")


def _hsv(h: float, s: float, v: float) -> np.ndarray:
  return np.asarray(colorsys.hsv_to_rgb(h % 1.0, s, v), np.float32) * 255.0


def _body_colours(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
  """(base, texture) colours: the same distribution for every group and class."""
  h, s, v = rng.uniform(), rng.uniform(0.35, 0.8), rng.uniform(0.5, 0.85)
  return _hsv(h, s, v), _hsv(h + rng.uniform(-0.05, 0.05), s, v * rng.uniform(0.45, 0.65))


def _paint(canvas: np.ndarray, where: np.ndarray, colour: np.ndarray, alpha: float = 1.0) -> None:
  canvas[where] = (1 - alpha) * canvas[where] + alpha * colour


# ----------------------------------------------------------------------------------------------


class _Grid:
  """Pixel-centre coordinates of an image (cached per size)."""

  def __init__(self, size: int):
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) + 0.5
    self.x, self.y, self.size = xx, yy, size


def _sample_box(rng: np.random.Generator, size: int, lo: float, hi: float
                ) -> tuple[float, float, float, float]:
  """A box (cx, cy, w, h) of scale in [lo, hi] * size and random aspect, inside the image."""
  scale = rng.uniform(lo, hi) * size
  aspect = np.exp(rng.uniform(np.log(0.67), np.log(1.5)))
  w = min(scale * np.sqrt(aspect), 0.92 * size)
  h = min(scale / np.sqrt(aspect), 0.92 * size)
  cx = rng.uniform(w / 2, size - w / 2)
  cy = rng.uniform(h / 2, size - h / 2)
  return cx, cy, w, h


def _draw_body(canvas: np.ndarray, grid: _Grid, rng: np.random.Generator, group: int,
               box: tuple[float, float, float, float], keep: np.ndarray | None = None
               ) -> np.ndarray:
  """Paint a textured body; returns its bool mask (restricted to ``keep`` if given)."""
  cx, cy, w, h = box
  u = (grid.x - cx) / (w / 2)
  v = (grid.y - cy) / (h / 2)
  mask = _shape_mask(group, u, v)
  if keep is not None:
    mask &= keep
  base, tex = _body_colours(rng)
  _paint(canvas, mask, base)
  _paint(canvas, mask & _texture(group, u, v), tex)
  return mask


def _background(grid: _Grid, rng: np.random.Generator, spec: RenderSpec) -> np.ndarray:
  size = grid.size
  c0 = _hsv(rng.uniform(), rng.uniform(0.05, 0.35), rng.uniform(0.35, 0.85))
  c1 = _hsv(rng.uniform(), rng.uniform(0.05, 0.35), rng.uniform(0.35, 0.85))
  angle = rng.uniform(0, 2 * np.pi)
  t = ((grid.x - size / 2) * np.cos(angle) + (grid.y - size / 2) * np.sin(angle)) / size + 0.5
  canvas = (1 - t[..., None]) * c0 + t[..., None] * c1
  for _ in range(rng.poisson(4.0 * spec.clutter)):  # Small colour blobs.
    cx, cy = rng.uniform(0, size, 2)
    rx, ry = rng.uniform(0.03, 0.1, 2) * size
    blob = ((grid.x - cx) / rx) ** 2 + ((grid.y - cy) / ry) ** 2 <= 1
    if rng.uniform() < 0.5:  # Rectangles too.
      blob = (np.abs(grid.x - cx) <= rx) & (np.abs(grid.y - cy) <= ry)
    _paint(canvas, blob, _hsv(rng.uniform(), rng.uniform(0.1, 0.6), rng.uniform(0.3, 0.8)),
           alpha=rng.uniform(0.5, 1.0))
  for _ in range(rng.binomial(2, min(1.0, 0.6 * spec.clutter))):  # Body fragments, no part.
    box = _sample_box(rng, size, 0.2, 0.45)
    angle = rng.uniform(0, 2 * np.pi)  # Cut by a random line through the fragment's centre.
    keep = ((grid.x - box[0]) * np.cos(angle) + (grid.y - box[1]) * np.sin(angle)) > 0
    _draw_body(canvas, grid, rng, int(rng.integers(spec.num_groups)), box, keep)
  return canvas


def _place_part(rng: np.random.Generator, body: np.ndarray, part_size: float
                ) -> tuple[float, float, float]:
  """Centre (x, y) and radius of a disc of ``part_size`` x body area lying fully on the body."""
  radius = float(np.sqrt(part_size * body.sum() / np.pi))
  # Distance (in pixels) from each body pixel centre to the nearest non-body pixel centre.
  dist = cv2.distanceTransform(np.pad(body, 1).astype(np.uint8), cv2.DIST_L2, 5)[1:-1, 1:-1]
  while True:
    ys, xs = np.nonzero(dist >= radius + 0.5)
    if len(xs) or radius < 1.0:
      break
    radius *= 0.9  # Thin bodies (the cross) may not hold the nominal disc.
  if not len(xs):
    ys, xs = np.nonzero(dist == dist.max())
  i = int(rng.integers(len(xs)))
  return xs[i] + 0.5, ys[i] + 0.5, max(radius, 1.0)


def _extent_xyxy(mask: np.ndarray) -> np.ndarray:
  """Tight continuous xyxy box of a bool mask's pixels."""
  ys, xs = np.nonzero(mask)
  return np.asarray([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1], np.float32)


_GRIDS: dict[int, _Grid] = {}


def render_example(spec: RenderSpec, rng: np.random.Generator, label: int | None = None
                   ) -> dict[str, np.ndarray | int]:
  """Draw one example.

  Returns a dict: ``image`` uint8 [S, S, 3]; ``mask`` bool [S, S] (the whole object);
  ``label`` int; ``bbox_xyxy`` float32 [4] (tight box of ``mask``); ``part_bbox_xyxy``
  float32 [4] (tight box of the part's pixels, inside ``bbox_xyxy``).
  """
  size = spec.image_size
  grid = _GRIDS.setdefault(size, _Grid(size))
  if label is None:
    label = int(rng.integers(spec.num_classes))
  group, part = divmod(label, spec.classes_per_group)

  canvas = _background(grid, rng, spec)
  body = _draw_body(canvas, grid, rng, group, _sample_box(rng, size, 0.45, 0.8))
  px, py, radius = _place_part(rng, body, spec.part_size)
  p, q = (grid.x - px) / radius, (grid.y - py) / radius
  disc = (p * p + q * q <= 1.0) & body
  white = disc & _part_pattern(part, p, q)
  _paint(canvas, disc & ~white, np.full(3, rng.uniform(0, 40), np.float32))
  _paint(canvas, white, np.full(3, rng.uniform(215, 255), np.float32))

  # Global colour jitter (contrast, brightness) and sensor noise.
  canvas = (canvas - 128.0) * rng.uniform(0.85, 1.15) + 128.0 + rng.uniform(-15, 15)
  canvas += rng.normal(0.0, 4.0, canvas.shape)
  return {
      "image": np.clip(np.rint(canvas), 0, 255).astype(np.uint8),
      "mask": body,
      "label": label,
      "bbox_xyxy": _extent_xyxy(body),
      "part_bbox_xyxy": _extent_xyxy(disc),
  }
