"""Real-world image files -> validated RGB examples, shared by every dataset builder.

Builders call :func:`load_rgb_image` on each source file once, at build time. It accepts any
format Pillow reads (JPEG incl. CMYK / YCCK, PNG with palette or alpha, grayscale, 16-bit) and
returns the decoded ``uint8 [H, W, 3]`` RGB array together with the bytes to store:

* an RGB JPEG without an EXIF rotation is stored as its original bytes (no re-compression);
* anything else (grayscale, CMYK, RGBA -- alpha is dropped, palette, 16-bit, rotated JPEG, ...)
  is converted to RGB and re-encoded losslessly as PNG,

so the array_record files only hold 3-channel images that OpenCV (what ``tfds.data_source``
decodes with) and Pillow decode to the same pixels, in the stored orientation the boxes refer to.

Problems raise :class:`BadExampleError` (a ``ValueError``) with one line naming the file; a builder
configured with ``skip_bad_examples`` counts and skips such examples via :class:`BadExampleLog`.
"""

from __future__ import annotations

import io
import logging
import os
from typing import Sequence

import numpy as np
from PIL import Image, UnidentifiedImageError

from wsol_jax.localization import boxes as box_lib

_EXIF_ORIENTATION_TAG = 0x0112


class BadExampleError(ValueError):
  """A source example that cannot be used (missing / undecodable file, degenerate box, ...)."""


def encode_png(array: np.ndarray) -> bytes:
  """uint8 [H, W], [H, W, 1] or [H, W, 3] -> PNG bytes (lossless)."""
  if array.ndim == 3 and array.shape[-1] == 1:
    array = array[..., 0]
  buf = io.BytesIO()
  Image.fromarray(np.ascontiguousarray(array)).save(buf, format="PNG", compress_level=1)
  return buf.getvalue()


def _to_rgb_array(img: Image.Image) -> np.ndarray:
  """Any Pillow mode -> uint8 [H, W, 3] RGB (no EXIF transpose: boxes refer to stored pixels)."""
  if img.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
    arr = np.asarray(img, dtype=np.float64)
    hi = float(arr.max()) if arr.size else 0.0
    # 16-bit data (values above 255) -> 8 bits; 8-bit data stored in a wide mode is kept.
    arr = np.clip(np.rint(arr / 257.0) if hi > 255 else arr, 0, 255).astype(np.uint8)
    return np.repeat(arr[..., None], 3, axis=-1)
  if img.mode != "RGB":
    # RGBA/LA: alpha dropped; P: palette expanded; L/1: gray replicated; CMYK/YCbCr: converted.
    img = img.convert("RGB")
  return np.asarray(img, dtype=np.uint8)


def read_image_bytes(path, name: str) -> bytes:
  """The bytes of an image file; BadExampleError (one line naming ``name``) when it is missing,
  unreadable or empty."""
  try:
    with open(path, "rb") as f:
      data = f.read()
  except FileNotFoundError:
    raise BadExampleError(f"image file not found: {name}") from None
  except OSError as e:
    raise BadExampleError(f"cannot read image file {name}: {e}") from None
  if not data:
    raise BadExampleError(f"image file is empty: {name}")
  return data


def load_rgb_image(data: bytes | None = None, *, path: str | os.PathLike | None = None,
                   name: str | None = None) -> tuple[np.ndarray, bytes]:
  """Decode an image file (given as ``data`` bytes or a ``path``) to RGB.

  Args:
    data: the encoded file contents; read from ``path`` when None.
    path: the file to read (also used in error messages).
    name: how to call the file in error messages (defaults to ``path``).

  Returns:
    ``(rgb, stored_bytes)``: the decoded uint8 [H, W, 3] image and the bytes to store for it
    (the original JPEG or a PNG re-encoding; both decode to ``rgb``, up to JPEG decoder rounding).

  Raises:
    BadExampleError: missing, empty, truncated or undecodable file.
  """
  name = name or (os.fspath(path) if path is not None else "<bytes>")
  if data is None:
    if path is None:
      raise ValueError("load_rgb_image needs data or path")
    data = read_image_bytes(path, name)
  elif not data:
    raise BadExampleError(f"image file is empty: {name}")
  try:
    with Image.open(io.BytesIO(data)) as img:
      fmt = img.format
      rotated = fmt == "JPEG" and img.getexif().get(_EXIF_ORIENTATION_TAG, 1) not in (1, None)
      keep_bytes = fmt == "JPEG" and img.mode == "RGB" and not rotated
      img.load()  # Forces a full decode: a truncated file fails here, not in a training worker.
      rgb = _to_rgb_array(img)
  except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError) as e:
    raise BadExampleError(f"cannot decode image {name}: {type(e).__name__}: {e}") from None
  if rgb.ndim != 3 or rgb.shape[0] == 0 or rgb.shape[1] == 0:
    raise BadExampleError(f"image {name} has no pixels (shape {rgb.shape})")
  return rgb, (data if keep_bytes else encode_png(rgb))


def load_photo(source, *, name: str | None = None) -> np.ndarray:
  """A photo to predict on -> uint8 [H, W, 3] RGB, as it is displayed: EXIF orientation applied.

  ``source``: a path, a ``PIL.Image.Image`` or an array (uint8 [H, W], [H, W, 1], [H, W, 3] or
  [H, W, 4]; alpha dropped). Any format Pillow reads, converted as :func:`load_rgb_image` does
  (grayscale, CMYK, palette, RGBA, 16-bit). Unlike the dataset builders (whose boxes refer to the
  stored pixels), the EXIF rotation is applied, so boxes refer to the upright photo.

  Raises BadExampleError (one line naming the file) for a missing, empty, truncated or
  undecodable file.
  """
  from PIL import ImageOps  # pylint: disable=import-outside-toplevel
  if isinstance(source, np.ndarray):
    arr = source[..., None] if source.ndim == 2 else source
    if arr.ndim != 3 or arr.shape[-1] not in (1, 3, 4) or arr.dtype != np.uint8 or not arr.size:
      raise BadExampleError(f"{name or 'array'}: expected a uint8 [H, W, 3] image, got "
                            f"{arr.dtype} {arr.shape}")
    return np.ascontiguousarray(np.repeat(arr, 3, -1) if arr.shape[-1] == 1 else arr[..., :3])
  if isinstance(source, Image.Image):
    try:
      return _to_rgb_array(ImageOps.exif_transpose(source))
    except (OSError, SyntaxError, ValueError) as e:
      raise BadExampleError(f"cannot decode image {name or 'PIL image'}: "
                            f"{type(e).__name__}: {e}") from None
  name = name or os.fspath(source)
  data = read_image_bytes(source, name)
  try:
    with Image.open(io.BytesIO(data)) as img:
      img.load()  # a truncated file fails here
      rgb = _to_rgb_array(ImageOps.exif_transpose(img))
  except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError) as e:
    raise BadExampleError(f"cannot decode image {name}: {type(e).__name__}: {e}") from None
  if rgb.ndim != 3 or rgb.shape[0] == 0 or rgb.shape[1] == 0:
    raise BadExampleError(f"image {name} has no pixels (shape {rgb.shape})")
  return rgb


def load_mask(path: str | os.PathLike, image_hw: Sequence[int], *, name: str | None = None
              ) -> np.ndarray:
  """A segmentation PNG -> uint8 [H, W, 1] (grayscale values kept; colour masks -> luminance).

  Raises BadExampleError if the file is missing/undecodable or its size differs from the image.
  """
  name = name or os.fspath(path)
  try:
    with Image.open(path) as img:
      img.load()
      mask = np.asarray(img.convert("L"), dtype=np.uint8)
  except FileNotFoundError:
    raise BadExampleError(f"mask file not found: {name}") from None
  except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as e:
    raise BadExampleError(f"cannot decode mask {name}: {type(e).__name__}: {e}") from None
  if tuple(mask.shape) != tuple(image_hw):
    raise BadExampleError(
        f"mask {name} is {mask.shape[1]}x{mask.shape[0]} but its image is "
        f"{image_hw[1]}x{image_hw[0]} (WxH)")
  return mask[..., None]


def validate_boxes_xyxy(boxes_xyxy, width: int, height: int, *, name: str) -> np.ndarray:
  """Clip abs xyxy boxes [N, 4] to the ``width`` x ``height`` image; reject bad ones.

  Raises BadExampleError (naming ``name`` and the box) for non-finite coordinates, no box at all,
  or a box with no area after clipping (entirely outside the image or inverted).
  """
  arr = np.asarray(boxes_xyxy, dtype=np.float32).reshape(-1, 4)
  if arr.shape[0] == 0:
    raise BadExampleError(f"{name}: no bounding box")
  if not np.isfinite(arr).all():
    raise BadExampleError(f"{name}: non-finite box coordinates {arr.tolist()}")
  clipped = box_lib.clip_xyxy(arr, width, height).astype(np.float32)
  bad = box_lib.is_degenerate_xyxy(clipped)
  if bad.any():
    i = int(np.argmax(bad))
    raise BadExampleError(
        f"{name}: degenerate box xyxy={arr[i].tolist()} for a {width}x{height} (WxH) image")
  return clipped


class BadExampleLog:
  """Raise on a bad example, or (``skip=True``) count it, log it and go on."""

  def __init__(self, dataset: str, skip: bool):
    self.dataset = dataset
    self.skip = skip
    self.skipped: list[str] = []

  def handle(self, error: BadExampleError) -> None:
    """Re-raise ``error`` unless skipping; then record it."""
    if not self.skip:
      raise error
    self.skipped.append(str(error))
    logging.warning("%s: skipping bad example (%d so far): %s", self.dataset, len(self.skipped),
                    error)
