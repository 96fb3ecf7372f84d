"""imagenet_loc builder on small archives generated in ILSVRC2012's real layouts."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

import archive_builders
from wsol_jax.data import imagenet_loc
from wsol_jax.data import registry

WNIDS = archive_builders.IMAGENET_WNIDS


def write_ilsvrc(manual, rng, val_boxes_format="csv", with_train=True):
  return archive_builders.make_imagenet_manual_dir(manual, val_boxes_format=val_boxes_format,
                                                   with_train=with_train, rng=rng)


def _build(data_dir, manual, skip=False):
  cfg = {"name": "imagenet_loc", "data_dir": str(data_dir), "skip_bad_examples": skip}
  registry.prepare(registry.make_builder(cfg), str(manual))
  return registry.make_builder(cfg)


def _by_id(builder, split):
  source = builder.as_data_source(split)
  return {source[i]["image_id"].decode(): source[i] for i in range(len(source))}


def test_tars_with_csv_boxes(tmp_path):
  expected, val = write_ilsvrc(tmp_path / "manual", np.random.default_rng(0))
  builder = _build(tmp_path / "data", tmp_path / "manual")
  names = sorted(WNIDS)
  assert builder.info.features["label"].names == names
  assert builder.info.metadata["max_boxes"] == 2
  assert builder.info.metadata["box_counts"] == {
      "train": {"examples": 6, "with_boxes": 1, "max_boxes": 1},
      "validation": {"examples": 3, "with_boxes": 3, "max_boxes": 2}}
  assert {k: v.num_examples for k, v in builder.info.splits.items()} == {"train": 6,
                                                                          "validation": 3}
  train = _by_id(builder, "train")
  assert set(train) == set(expected["train"])
  for image_id, ex in train.items():
    wnid, data = expected["train"][image_id]
    assert ex["label"] == names.index(wnid)
    ref = np.asarray(Image.open(io.BytesIO(data)).convert("RGB"), int)
    assert np.abs(ex["image"].astype(int) - ref).mean() < 1.5
  np.testing.assert_array_equal(train[f"train/{WNIDS[1]}/{WNIDS[1]}_0.JPEG"]["bboxes"],
                                [[3, 4, 20, 25]])
  assert train[f"train/{WNIDS[0]}/{WNIDS[0]}_0.JPEG"]["bboxes"].shape == (0, 4)
  validation = _by_id(builder, "validation")
  for stem, (wnid, boxes) in val.items():
    ex = validation[f"val/{stem}.JPEG"]
    assert ex["label"] == names.index(wnid)
    want = np.minimum(np.asarray(boxes, np.float32), [40, 30, 40, 30])
    np.testing.assert_array_equal(ex["bboxes"], want)


def test_val_only_with_xml_boxes_and_synsets_file(tmp_path):
  manual = tmp_path / "manual"
  _, val = write_ilsvrc(manual, np.random.default_rng(1), "xml", with_train=False)
  # The class list (and so the labels) of a val-only build comes from the synsets file.
  synsets = sorted(WNIDS + ["n09999999"])
  (manual / "LOC_synset_mapping.txt").write_text(
      "".join(f"{w} name of {w}\n" for w in synsets))
  builder = _build(tmp_path / "data", manual)
  assert list(builder.info.splits) == ["validation"]
  assert builder.info.features["label"].names == synsets
  assert builder.info.metadata["descriptions"][0] == f"name of {synsets[0]}"
  validation = _by_id(builder, "validation")
  ex = validation["val/ILSVRC2012_val_00000001.JPEG"]
  assert ex["label"] == synsets.index(WNIDS[2])
  np.testing.assert_array_equal(ex["bboxes"], val["ILSVRC2012_val_00000001"][1])


def test_missing_files_and_bad_annotations_are_one_line_errors(tmp_path):
  manual = tmp_path / "manual"
  manual.mkdir()
  (manual / "readme.txt").write_text("nothing here")
  with pytest.raises(FileNotFoundError, match="neither ILSVRC2012_img_train.tar nor"):
    _build(tmp_path / "d0", manual)
  write_ilsvrc(manual, np.random.default_rng(2), with_train=False)
  (manual / imagenet_loc.VAL_CSV).unlink()
  with pytest.raises(FileNotFoundError, match="LOC_val_solution.csv or ILSVRC2012_bbox_val_v3"):
    _build(tmp_path / "d1", manual)
  (manual / imagenet_loc.VAL_CSV).write_text(
      "ImageId,PredictionString\nILSVRC2012_val_00000001,n01440764 1 2 3\n")
  with pytest.raises(ValueError, match=r"LOC_val_solution.csv line 2: PredictionString"):
    _build(tmp_path / "d2", manual)
  # An image without annotation has no label: an error naming it, or skipped when asked.
  (manual / imagenet_loc.VAL_CSV).write_text(
      f"ImageId,PredictionString\nILSVRC2012_val_00000001,{WNIDS[0]} 1 2 3 4\n")
  with pytest.raises(ValueError, match="ILSVRC2012_val_00000002.JPEG: no box annotation"):
    _build(tmp_path / "d3", manual)
  builder = _build(tmp_path / "d4", manual, skip=True)
  assert builder.info.splits["validation"].num_examples == 1
  assert len(builder.info.metadata["skipped"]) == 2
