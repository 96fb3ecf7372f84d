"""cub builder on a small CUB_200_2011.tgz generated in the real layout (incl. gray + CMYK JPEGs,
:func:`archive_builders.make_cub_archive`)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

import archive_builders
from wsol_jax.data import cub
from wsol_jax.data import pipeline
from wsol_jax.data import registry

CLASSES = archive_builders.CUB_CLASSES


@pytest.fixture(scope="module")
def cub_source(tmp_path_factory):
  root = tmp_path_factory.mktemp("cub_src")
  tgz_dir = tmp_path_factory.mktemp("cub_tgz")
  expected = archive_builders.make_cub_archive(tgz_dir, source_root=root,
                                               rng=np.random.default_rng(0))
  return root, tgz_dir, expected


def _built(data_dir, manual_dir, config="default", skip=False):
  cfg = {"name": "cub", "data_dir": str(data_dir), "builder_config": config,
         "skip_bad_examples": skip}
  builder = registry.make_builder(cfg)
  registry.prepare(builder, str(manual_dir))
  return builder, registry.make_builder(cfg)


def _check_against_source(builder, expected, with_masks=False):
  names = [f"{cid:03d}.{n}" for cid, n in sorted(CLASSES.items())]
  assert builder.info.features["label"].names == names
  for split, is_train in (("train", True), ("test", False)):
    want = {k: v for k, v in expected.items() if v["train"] == is_train}
    source = builder.as_data_source(split)
    assert len(source) == len(want)
    for i in range(len(source)):
      ex = source[i]
      rel = ex["image_id"].decode()
      exp = want.pop(rel)
      assert ex["label"] == exp["label"]
      np.testing.assert_allclose(ex["bboxes"], [exp["box"]])
      ref = np.asarray(Image.open(exp["path"]).convert("RGB"))
      assert ex["image"].shape == ref.shape
      assert np.abs(ex["image"].astype(int) - ref).mean() < 2.0  # Same pixels up to JPEG rounding.
      if with_masks:
        np.testing.assert_array_equal(ex["mask"][..., 0], exp["mask"])
    assert not want


def test_cub_from_tgz_matches_the_files(cub_source, tmp_path):
  _, tgz_dir, expected = cub_source
  _, builder = _built(tmp_path / "data", tgz_dir)
  assert {k: v.num_examples for k, v in builder.info.splits.items()} == {"train": 9, "test": 3}
  assert "mask" not in builder.info.features
  _check_against_source(builder, expected)
  gray = next(builder.as_data_source("train")[i] for i in range(9)
              if builder.as_data_source("train")[i]["image_id"].decode().endswith("_2.jpg"))
  assert (gray["image"][..., 0] == gray["image"][..., 2]).all()  # Gray replicated to RGB.


def test_cub_from_folder_with_masks(cub_source, tmp_path):
  root, _, expected = cub_source
  _, builder = _built(tmp_path / "data", root, config="with_masks")
  _check_against_source(builder, expected, with_masks=True)


def test_cub_class_subset_by_missing_folders(cub_source, tmp_path):
  root, _, expected = cub_source
  subset = tmp_path / "subset"
  shutil.copytree(root, subset)
  shutil.rmtree(subset / "CUB_200_2011" / "images" / "017.Cardinal")
  _, builder = _built(tmp_path / "data", subset)
  assert builder.info.features["label"].names == ["005.Crested_Auklet", "042.Vermilion_Flycatcher"]
  labels = sorted(builder.as_data_source("train")[i]["label"] for i in range(6))
  assert labels == [0, 0, 0, 1, 1, 1]


def test_cub_bad_image_error_or_skip(cub_source, tmp_path):
  root, _, expected = cub_source
  broken = tmp_path / "broken"
  shutil.copytree(root, broken)
  rel = sorted(expected)[4]
  (broken / "CUB_200_2011" / "images" / rel).write_bytes(b"\xff\xd8 truncated")
  with pytest.raises(ValueError, match=f"cannot decode image .*{os.path.basename(rel)}"):
    _built(tmp_path / "d1", broken)
  first, builder = _built(tmp_path / "d2", broken, skip=True)
  assert len(first.skipped_examples) == 1 and os.path.basename(rel) in first.skipped_examples[0]
  total = sum(v.num_examples for v in builder.info.splits.values())
  assert total == len(expected) - 1
  assert len(builder.info.metadata["skipped"]) == 1


def test_cub_missing_annotation_file(cub_source, tmp_path):
  root, _, _ = cub_source
  broken = tmp_path / "noboxes"
  shutil.copytree(root, broken)
  os.remove(broken / "CUB_200_2011" / "bounding_boxes.txt")
  with pytest.raises(FileNotFoundError, match="bounding_boxes.txt"):
    _built(tmp_path / "d", broken)


def test_cub_not_prepared_message(tmp_path):
  cfg = pipeline.default_data_config()
  cfg.name, cfg.data_dir = "cub", str(tmp_path)
  with pytest.raises(FileNotFoundError) as info:
    pipeline.ensure_prepared(cfg)
  msg = str(info.value)
  assert "python -m wsol_jax.data.prepare --dataset=cub" in msg and "CUB_200_2011.tgz" in msg
  assert "\n" not in msg


def test_prepare_cli_summary(cub_source, tmp_path):
  _, tgz_dir, _ = cub_source
  summary = tmp_path / "out" / "cub.json"
  env = dict(os.environ, JAX_PLATFORMS="cpu")
  proc = subprocess.run(
      [sys.executable, "-m", "wsol_jax.data.prepare", "--dataset=cub",
       f"--data_dir={tmp_path / 'data'}", f"--manual_dir={tgz_dir}", f"--summary={summary}"],
      capture_output=True, text=True, env=env, timeout=120)
  assert proc.returncode == 0, proc.stderr[-2000:]
  assert "classes" in proc.stdout and "train" in proc.stdout
  got = json.loads(summary.read_text())
  assert got["dataset"] == "cub" and got["num_classes"] == 3
  assert got["splits"] == {"train": 9, "test": 3}
  assert cub.Cub.EVAL_SPLIT == "test"
