"""imagenet_loc builder on small archives generated in ILSVRC2012's real layouts."""

from __future__ import annotations

import io
import tarfile

import numpy as np
import pytest
from PIL import Image

from wsol_jax.data import imagenet_loc
from wsol_jax.data import registry

WNIDS = ["n01530575", "n01440764", "n02119789"]  # not sorted: labels must follow sorted order


def _jpeg(rng, mode="RGB", size=(40, 30)):
  img = Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8))
  buf = io.BytesIO()
  img.convert(mode).save(buf, format="JPEG", quality=95)
  return buf.getvalue()


def _add(tar, name, data):
  info = tarfile.TarInfo(name)
  info.size = len(data)
  tar.addfile(info, io.BytesIO(data))


def _voc_xml(stem, width, height, objects):
  objs = "".join(f"<object><name>{w}</name><bndbox><xmin>{b[0]}</xmin><ymin>{b[1]}</ymin>"
                 f"<xmax>{b[2]}</xmax><ymax>{b[3]}</ymax></bndbox></object>" for w, b in objects)
  return (f"<annotation><folder>val</folder><filename>{stem}</filename><size><width>{width}"
          f"</width><height>{height}</height><depth>3</depth></size>{objs}</annotation>").encode()


def write_ilsvrc(manual, rng, val_boxes_format="csv", with_train=True):
  """A tiny ILSVRC2012: per-class train tars (one CMYK JPEG), a flat val tar, val boxes."""
  manual.mkdir(parents=True, exist_ok=True)
  expected = {"train": {}, "validation": {}}
  if with_train:
    with tarfile.open(manual / imagenet_loc.TRAIN_TAR, "w") as outer:
      for wnid in WNIDS:
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w") as inner:
          for k in range(2):
            data = _jpeg(rng, "CMYK" if (wnid, k) == (WNIDS[0], 1) else "RGB")
            _add(inner, f"{wnid}_{k}.JPEG", data)
            expected["train"][f"train/{wnid}/{wnid}_{k}.JPEG"] = (wnid, data)
        _add(outer, f"{wnid}.tar", buf.getvalue())
    # Train boxes for one image only (the others stay without boxes).
    (manual / imagenet_loc.TRAIN_CSV).write_text(
        f"ImageId,PredictionString\n{WNIDS[1]}_0,{WNIDS[1]} 3 4 20 25 \n")
  val = {"ILSVRC2012_val_00000001": (WNIDS[2], [(1, 2, 30, 20), (10, 5, 39, 29)]),
         "ILSVRC2012_val_00000002": (WNIDS[0], [(0, 0, 39, 29)]),
         "ILSVRC2012_val_00000003": (WNIDS[1], [(5, 6, 50, 12)])}  # x1 passes the edge: clipped
  with tarfile.open(manual / imagenet_loc.VAL_TAR, "w") as tar:
    for stem, (wnid, _) in val.items():
      data = _jpeg(rng)
      _add(tar, f"{stem}.JPEG", data)
      expected["validation"][f"val/{stem}.JPEG"] = (wnid, data)
  if val_boxes_format == "csv":
    lines = ["ImageId,PredictionString"] + [
        f"{stem}," + " ".join(f"{wnid} {' '.join(map(str, b))}" for b in boxes)
        for stem, (wnid, boxes) in val.items()]
    (manual / imagenet_loc.VAL_CSV).write_text("\n".join(lines) + "\n")
  else:
    with tarfile.open(manual / imagenet_loc.VAL_XML_TGZ, "w:gz") as tar:
      for stem, (wnid, boxes) in val.items():
        _add(tar, f"val/{stem}.xml", _voc_xml(stem, 40, 30, [(wnid, b) for b in boxes]))
  return expected, val


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
