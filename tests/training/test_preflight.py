"""Start-up checks (wsol_jax/training/preflight.py): what a later stage needs is checked
in the first seconds of ``train``. Each failure is one line and leaves no workdir behind; ImageNet
without training boxes under SLT-Net's per-epoch threshold selection runs with the box-free
fallback, says so, and its epoch-end hook never raises."""

from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys
import time

import numpy as np
import pytest

import archive_builders
import loop_testlib
from preflight_testlib import slt_imagenet_config, tiny_cam_config, write_config
from repo_paths import REPO
from wsol_jax.data import pipeline
from wsol_jax.models import pretrained
from wsol_jax.training import preflight


def run_main(*args, hide=(), env=None, timeout=600):
  """``python -m wsol_jax.main *args`` on one CPU device, offline, with the packages ``hide``
  made unimportable (``sys.modules[name] = None``)."""
  code = ("import sys\n" + "".join(f"sys.modules[{m!r}] = None\n" for m in hide)
          + "from absl import app\nfrom wsol_jax import main\n"
          + "app.run(lambda argv: sys.exit(main.main(argv)), flags_parser=main.parse_flags)\n")
  full_env = dict(os.environ, PYTHONPATH=str(REPO), XLA_FLAGS="", WSOL_JAX_OFFLINE="1",
                  **(env or {}))
  start = time.time()
  proc = subprocess.run([sys.executable, "-c", code, *args], cwd=REPO, env=full_env,
                        capture_output=True, text=True, timeout=timeout)
  proc.seconds = time.time() - start
  return proc


def assert_one_line_error(proc, workdir, *needles):
  """Failed with one ``error:`` line holding ``needles``, before writing anything to ``workdir``."""
  assert proc.returncode != 0, proc.stdout + proc.stderr[-3000:]
  assert "Traceback" not in proc.stderr, proc.stderr[-3000:]
  last = [line for line in proc.stderr.splitlines() if line.strip()][-1]
  assert last.startswith("error: "), proc.stderr[-3000:]
  for needle in needles:
    assert needle in last, last
  assert not pathlib.Path(workdir).exists(), sorted(os.listdir(workdir))


@pytest.fixture(scope="module")
def imagenet_dirs(tmp_path_factory):
  """Manual dirs of the miniature ILSVRC2012: without train boxes, and with 3 boxes on a val image
  (and one boxed train image)."""
  root = tmp_path_factory.mktemp("ilsvrc")
  archive_builders.make_imagenet_manual_dir(root / "no_train_boxes", train_boxes=False,
                                            images_per_class=4)
  archive_builders.make_imagenet_manual_dir(root / "val3", train_boxes=True, max_boxes_in_val=3,
                                            images_per_class=4)
  return root


# ----------------------------------------------------------------------------------------------
# Through the command line.


@pytest.mark.slow
def test_imagenet_without_train_boxes_keeps_the_threshold_and_says_so(imagenet_dirs, tmp_path):
  config = write_config(tmp_path / "slt.py", "slt_imagenet_config",
                        data_dir=str(tmp_path / "data"),
                        manual_dir=str(imagenet_dirs / "no_train_boxes"))
  proc = run_main(f"--config={config}", f"--workdir={tmp_path / 'run'}")
  assert proc.returncode == 0, proc.stderr[-3000:]
  notes = [line for line in proc.stdout.splitlines() if line.startswith("note: ")]
  assert len(notes) == 1, proc.stdout
  for needle in ("imagenet_loc's train split has no boxes", "config.slt.pseudo_box_threshold=0.2",
                 "LOC_train_solution.csv", "config.slt.pseudo_threshold_images_per_class=0"):
    assert needle in notes[0], notes[0]
  results = json.loads((tmp_path / "run" / "results.json").read_text())
  assert results["step"] == 3  # the epoch (and its end hook) ran through


def test_val_image_with_more_boxes_than_max_boxes_stops_at_start(imagenet_dirs, tmp_path):
  config = write_config(tmp_path / "slt.py", "slt_imagenet_config",
                        data_dir=str(tmp_path / "data"), manual_dir=str(imagenet_dirs / "val3"))
  proc = run_main(f"--config={config}", f"--workdir={tmp_path / 'run'}",
                  "--config.data.max_boxes=2")
  assert_one_line_error(proc, tmp_path / "run", "config.data.max_boxes=2 but validation of "
                        "imagenet_loc has images with up to 3 boxes: set "
                        "--config.data.max_boxes=3")


@pytest.mark.parametrize("source", ["imagenet", "missing_file"])
def test_missing_weights_offline_stop_at_start(tmp_path, source):
  cache = tmp_path / "cache"
  pretrained_value = "imagenet" if source == "imagenet" else str(tmp_path / "nowhere.h5")
  config = write_config(tmp_path / "cam.py", "tiny_cam_config", data_dir=str(tmp_path / "data"),
                        **{"model.backbone": "mobilenet_v1_050", "model.backbone_kwargs": {},
                           "model.pretrained": pretrained_value})
  proc = run_main(f"--config={config}", f"--workdir={tmp_path / 'run'}",
                  env={"WSOL_JAX_CACHE": str(cache)})
  if source == "imagenet":
    assert_one_line_error(proc, tmp_path / "run", "keras:mobilenet_v1_050", "WSOL_JAX_OFFLINE",
                          "mobilenet_5_0_224_tf.h5", f"place it at {cache}")
  else:
    assert_one_line_error(proc, tmp_path / "run", f"{tmp_path / 'nowhere.h5'} does not exist")


def test_pytorch_weights_without_torch_stop_at_start(tmp_path):
  weights = tmp_path / "mobilenet.pth"
  weights.write_bytes(b"")
  config = write_config(tmp_path / "cam.py", "tiny_cam_config", data_dir=str(tmp_path / "data"),
                        **{"model.backbone": "mobilenet_v1_050", "model.backbone_kwargs": {},
                           "model.pretrained": str(weights)})
  proc = run_main(f"--config={config}", f"--workdir={tmp_path / 'run'}", hide=("torch",))
  assert_one_line_error(proc, tmp_path / "run", f"needs torch to read {weights}",
                        "pip install -e '.[torch]'", "timm:<id>")


# ----------------------------------------------------------------------------------------------
# In process: the checks one by one.


def test_missing_numba_for_the_fast_backend(monkeypatch, tmp_path):
  config = tiny_cam_config(str(tmp_path), **{"eval.backend": "fast"})
  preflight.check_packages(config)
  monkeypatch.setitem(sys.modules, "numba", None)
  with pytest.raises(pretrained.MissingPackageError, match=r"config.eval.backend='fast' needs "
                     r"numba, .*pip install -e \."):
    preflight.check_packages(config)
  config = tiny_cam_config(str(tmp_path), **{"eval.backend": "fastest"})
  with pytest.raises(ValueError, match="config.eval.backend='fastest' is not one of"):
    preflight.check_packages(config)


def test_held_out_train_boxes_from_metadata_and_from_a_scan(imagenet_dirs, tmp_path):
  """The builders' box statistics answer at once; a build made before they existed (its
  metadata.json without them) is scanned, images undecoded."""
  from wsol_jax.methods.slt import method as slt_method  # pylint: disable=import-outside-toplevel
  for manual, has_train_boxes in (("no_train_boxes", False), ("val3", True)):
    config = slt_imagenet_config(str(tmp_path / manual), str(imagenet_dirs / manual))
    builder = pipeline.ensure_prepared(config.data)
    counts = builder.info.metadata["box_counts"]
    assert counts["train"] == {"examples": 12, "with_boxes": int(has_train_boxes),
                               "max_boxes": int(has_train_boxes)}
    assert counts["validation"]["max_boxes"] == (3 if has_train_boxes else 2)
    assert preflight.held_out_train_boxes(config, slt_method.SLTNet, 3) is has_train_boxes

    metadata_file = pathlib.Path(builder.data_dir) / "metadata.json"
    metadata = json.loads(metadata_file.read_text())
    del metadata["box_counts"], metadata["max_boxes"]
    metadata_file.write_text(json.dumps(metadata))
    assert pipeline.box_counts(config.data, "train") is None
    start = time.perf_counter()
    assert preflight.held_out_train_boxes(config, slt_method.SLTNet, 3) is has_train_boxes
    assert pipeline.max_boxes(config.data, "validation") == (3 if has_train_boxes else 2)
    assert pipeline.max_boxes(config.data, "train", scan_limit=5) is None
    print(f"{manual}: legacy scans in {time.perf_counter() - start:.3f} s")


def test_scan_speed_without_decoding_images(tmp_path):
  """Reading the boxes of a build without box statistics costs well under a millisecond a record
  (synthetic_wsol, 500 records)."""
  config = loop_testlib.tiny_config(str(tmp_path))
  config.data.synthetic.num_train = 500
  config.data.synthetic.image_size = 64
  pipeline.ensure_prepared(config.data)
  n = pipeline.num_examples(config.data)
  start = time.perf_counter()
  assert max(pipeline.box_counts_at(config.data, "train", range(n))) == 1
  per_record = (time.perf_counter() - start) / n
  print(f"scan: {per_record * 1e3:.3f} ms per record")
  assert per_record < 2e-3
  np.testing.assert_array_equal(pipeline.evenly_spaced(10, 4), [0, 3, 6, 9])
  np.testing.assert_array_equal(pipeline.evenly_spaced(3, 5), [0, 1, 2])
