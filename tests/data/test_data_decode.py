"""Real-world image inputs become RGB; bad files and boxes fail with one line naming the file."""

from __future__ import annotations

import io

import cv2
import numpy as np
import pytest
from PIL import Image

from wsol_jax.data import decode
from wsol_jax.data import wsol_builder


def _encode(img: Image.Image, fmt: str, **kw) -> bytes:
  buf = io.BytesIO()
  img.save(buf, format=fmt, **kw)
  return buf.getvalue()


def _gradient(h=20, w=30):
  y, x = np.mgrid[0:h, 0:w]
  return np.stack([x * 8, y * 12, (x + y) * 4], -1).astype(np.uint8)


def _cv2_rgb(data: bytes) -> np.ndarray:
  """How tfds.data_source decodes stored bytes (OpenCV, BGR -> RGB)."""
  arr = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
  return arr[..., ::-1] if arr.ndim == 3 else arr


def test_rgb_jpeg_bytes_are_kept():
  data = _encode(Image.fromarray(_gradient()), "JPEG", quality=90)
  rgb, stored = decode.load_rgb_image(data, name="a.jpg")
  assert stored is data and rgb.shape == (20, 30, 3)
  assert np.abs(_cv2_rgb(stored).astype(int) - rgb).max() <= 2  # Decoder rounding only.


@pytest.mark.parametrize("mode", ["L", "CMYK", "RGBA", "P", "I;16", "LA", "1"])
def test_other_modes_become_rgb_png(mode):
  src = Image.fromarray(_gradient())
  if mode == "I;16":
    img = Image.fromarray((_gradient()[..., 0].astype(np.uint16) * 257))
  elif mode == "P":
    img = src.convert("P", palette=Image.Palette.ADAPTIVE, colors=16)
  else:
    img = src.convert(mode)
  fmt = "JPEG" if mode in ("L", "CMYK") else "PNG"
  data = _encode(img, fmt)
  rgb, stored = decode.load_rgb_image(data, name=f"x.{fmt.lower()}")
  assert rgb.dtype == np.uint8 and rgb.shape == (20, 30, 3)
  assert stored.startswith(b"\x89PNG")  # Re-encoded losslessly, always 3 channels.
  np.testing.assert_array_equal(_cv2_rgb(stored), rgb)
  if mode in ("L", "I;16", "LA", "1"):
    assert (rgb[..., 0] == rgb[..., 1]).all() and (rgb[..., 1] == rgb[..., 2]).all()
  if mode == "RGBA":  # Alpha dropped, colours kept.
    np.testing.assert_array_equal(rgb, _gradient())
  if mode == "CMYK":  # Close to the original colours after the round trip.
    assert np.abs(rgb.astype(int) - _gradient()).mean() < 12
  if mode == "I;16":  # 16-bit scaled to 8 bits.
    np.testing.assert_allclose(rgb[..., 0], _gradient()[..., 0], atol=1)


def test_rotated_jpeg_is_stored_unrotated():
  img = Image.fromarray(_gradient())
  exif = Image.Exif()
  exif[0x0112] = 6  # "Rotate 90 CW" tag: decoders disagree on honouring it.
  data = _encode(img, "JPEG", exif=exif.tobytes(), quality=95)
  rgb, stored = decode.load_rgb_image(data, name="r.jpg")
  assert rgb.shape == (20, 30, 3) and stored != data
  assert _cv2_rgb(stored).shape == (20, 30, 3)


def test_bad_files_raise_one_line_naming_the_file(tmp_path):
  with pytest.raises(decode.BadExampleError, match=r"not found: .*missing\.jpg"):
    decode.load_rgb_image(path=tmp_path / "missing.jpg")
  (tmp_path / "empty.jpg").write_bytes(b"")
  with pytest.raises(decode.BadExampleError, match=r"empty: .*empty\.jpg"):
    decode.load_rgb_image(path=tmp_path / "empty.jpg")
  with pytest.raises(decode.BadExampleError, match=r"cannot decode image junk\.jpg"):
    decode.load_rgb_image(b"not an image at all", name="junk.jpg")
  full = _encode(Image.fromarray(_gradient(64, 64)), "PNG")
  with pytest.raises(decode.BadExampleError, match=r"cut\.png") as info:
    decode.load_rgb_image(full[: len(full) // 2], name="cut.png")
  assert "\n" not in str(info.value)


def test_validate_boxes_clips_and_rejects():
  out = decode.validate_boxes_xyxy([[-5, 2, 40, 10]], 30, 20, name="img")
  np.testing.assert_array_equal(out, [[0, 2, 30, 10]])
  with pytest.raises(decode.BadExampleError, match=r"img: degenerate box"):
    decode.validate_boxes_xyxy([[5, 5, 5, 9]], 30, 20, name="img")
  with pytest.raises(decode.BadExampleError, match="degenerate"):
    decode.validate_boxes_xyxy([[31, 0, 40, 9]], 30, 20, name="img")  # Entirely outside.
  with pytest.raises(decode.BadExampleError, match="non-finite"):
    decode.validate_boxes_xyxy([[np.nan, 0, 4, 4]], 30, 20, name="img")
  with pytest.raises(decode.BadExampleError, match="no bounding box"):
    decode.validate_boxes_xyxy(np.zeros((0, 4)), 30, 20, name="img")


def test_mask_size_must_match(tmp_path):
  Image.fromarray(np.full((20, 30), 255, np.uint8)).save(tmp_path / "m.png")
  assert decode.load_mask(tmp_path / "m.png", (20, 30)).shape == (20, 30, 1)
  with pytest.raises(decode.BadExampleError, match=r"m\.png is 30x20 but its image is 31x20"):
    decode.load_mask(tmp_path / "m.png", (20, 31))


def test_make_example_and_skip_log():
  data = _encode(Image.fromarray(_gradient()), "JPEG")
  ex = wsol_builder.make_example(image_id="a/b.jpg", label=2, bboxes_xyxy=[[1, 2, 50, 9]],
                                 data=data)
  assert ex["label"] == 2 and ex["image"] is data
  np.testing.assert_array_equal(ex["bboxes"], [[1, 2, 30, 9]])
  log = decode.BadExampleLog("ds", skip=True)
  log.handle(decode.BadExampleError("bad one"))
  assert log.skipped == ["bad one"]
  with pytest.raises(decode.BadExampleError):
    decode.BadExampleLog("ds", skip=False).handle(decode.BadExampleError("x"))
