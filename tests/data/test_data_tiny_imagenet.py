"""tiny_imagenet builder: the real 20-class cut (../shared) and a generated folder layout."""

from __future__ import annotations

import io
import zipfile

import numpy as np
import pytest
from PIL import Image

import archive_builders
from wsol_jax.data import registry
from wsol_jax.data import tiny_imagenet


def _build(data_dir, manual_dir, skip=False):
  cfg = {"name": "tiny_imagenet", "data_dir": str(data_dir), "skip_bad_examples": skip}
  registry.prepare(registry.make_builder(cfg), str(manual_dir))
  return registry.make_builder(cfg)


@pytest.fixture(scope="module")
def real_tiny(shared_dir, tmp_path_factory):
  zip_path = shared_dir / "data" / "tiny-imagenet-200-sub20.zip"
  if not zip_path.is_file():
    pytest.skip(f"{zip_path} is absent")
  return _build(tmp_path_factory.mktemp("tiny_data"), zip_path.parent), zip_path


def _expected_from_zip(zip_path):
  """Independent reading of the annotation files: {image_id: (wnid, inclusive box)}."""
  z = zipfile.ZipFile(zip_path)
  root = "tiny-imagenet-200/"
  wnids = z.read(root + "wnids.txt").decode().split()
  out = {"train": {}, "validation": {}}
  for wnid in wnids:
    for line in z.read(f"{root}train/{wnid}/{wnid}_boxes.txt").decode().splitlines():
      f, *box = line.split("\t")
      out["train"][f"train/{wnid}/images/{f}"] = (wnid, [float(b) for b in box])
  for line in z.read(root + "val/val_annotations.txt").decode().splitlines():
    f, wnid, *box = line.split("\t")
    out["validation"][f"val/images/{f}"] = (wnid, [float(b) for b in box])
  return z, root, sorted(wnids), out


def test_real_tiny_imagenet_counts_labels_boxes(real_tiny):
  builder, zip_path = real_tiny
  z, root, wnids, expected = _expected_from_zip(zip_path)
  assert {k: v.num_examples for k, v in builder.info.splits.items()} == {
      "train": 2000, "validation": 1000}
  assert builder.info.features["label"].names == wnids and len(wnids) == 20
  assert builder.info.metadata["descriptions"][wnids.index("n02124075")] == "Egyptian cat"
  rng = np.random.default_rng(0)
  for split in ("train", "validation"):
    source = builder.as_data_source(split)
    want = dict(expected[split])
    for i in range(len(source)):
      ex = source[i]
      wnid, box = want.pop(ex["image_id"].decode())
      assert ex["label"] == wnids.index(wnid)
      # Inclusive pixel indices -> continuous edges: +1 on the far corner.
      np.testing.assert_array_equal(ex["bboxes"], [[box[0], box[1], box[2] + 1, box[3] + 1]])
      assert ex["image"].shape == (64, 64, 3)
      if rng.uniform() < 0.03:  # Pixels match the source photo (up to JPEG decoder rounding).
        ref = np.asarray(Image.open(io.BytesIO(z.read(root + ex["image_id"].decode())))
                         .convert("RGB"), dtype=int)
        assert np.abs(ex["image"] - ref).mean() < 1.5
    assert not want  # Every annotated image was built.


def _write_layout(root, rng):
  return archive_builders.make_tiny_imagenet_folder(root, rng)


def test_generated_folder_layout(tmp_path):
  _write_layout(tmp_path / "manual", np.random.default_rng(1))
  builder = _build(tmp_path / "data", tmp_path / "manual")
  assert builder.info.features["label"].names == ["n0000001", "n0000002"]
  assert builder.info.metadata["descriptions"] == ["one", "two"]
  train = builder.as_data_source("train")
  by_id = {train[i]["image_id"].decode(): train[i] for i in range(len(train))}
  assert len(by_id) == 6
  gray = by_id["train/n0000001/images/n0000001_0.JPEG"]
  assert gray["label"] == 0 and (gray["image"][..., 0] == gray["image"][..., 1]).all()
  np.testing.assert_array_equal(by_id["train/n0000002/images/n0000002_2.JPEG"]["bboxes"],
                                [[2, 3, 43, 64]])
  val = builder.as_data_source("validation")
  assert len(val) == 1  # The line of the class outside wnids.txt is ignored.
  np.testing.assert_array_equal(val[0]["bboxes"], [[0, 0, 64, 64]])  # The whole image.


def test_generated_zip(tmp_path):
  archive_builders.make_tiny_imagenet_zip(tmp_path / "manual", np.random.default_rng(1))
  builder = _build(tmp_path / "data", tmp_path / "manual")
  assert {k: v.num_examples for k, v in builder.info.splits.items()} == {"train": 6,
                                                                          "validation": 1}
  assert builder.info.metadata["box_counts"]["train"] == {"examples": 6, "with_boxes": 6,
                                                          "max_boxes": 1}


def test_missing_image_error_then_skip(tmp_path):
  base = _write_layout(tmp_path / "manual", np.random.default_rng(2))
  (base / "train" / "n0000002" / "images" / "n0000002_1.JPEG").unlink()
  with pytest.raises(ValueError, match=r"not found: .*n0000002_1\.JPEG"):
    _build(tmp_path / "d1", tmp_path / "manual")
  builder = _build(tmp_path / "d2", tmp_path / "manual", skip=True)
  assert builder.info.splits["train"].num_examples == 5
  assert "n0000002_1.JPEG" in builder.info.metadata["skipped"][0]


def test_no_layout_is_a_clear_error(tmp_path):
  (tmp_path / "manual").mkdir()
  with pytest.raises(FileNotFoundError, match="manual dir .* is missing or empty"):
    _build(tmp_path / "data", tmp_path / "manual")  # Never falls back to a download.
  (tmp_path / "manual" / "notes.txt").write_text("hello")
  with pytest.raises(FileNotFoundError, match="no wnids.txt"):
    _build(tmp_path / "data", tmp_path / "manual")
  assert tiny_imagenet.inclusive_to_xyxy(0, 0, 63, 63) == (0, 0, 64, 64)
