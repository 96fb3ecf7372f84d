"""``python -m wsol_jax.main``: train then ``--mode=eval`` reproduces results.json; an unknown config
key, a missing dataset or another config's workdir is a one-line error that changes nothing; a
trained workdir alone (its config.json) evaluates, predicts, exports and visualizes as its config
file does, without orbax's read-only notices; a run with grain workers leaks no shared memory."""

import json
import os

import pytest

import loop_testlib
from cli_testlib import (assert_no_leaked_shared_memory, assert_no_orbax_read_only_notices,
                         assert_one_line_error, run_main)
from repo_paths import REPO

PHOTO = str(REPO / "docs" / "synthetic_wsol.png")


def _listing(root):
  return sorted((str(p.relative_to(root)), p.stat().st_mtime_ns, p.stat().st_size)
                for p in root.rglob("*"))


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
  root = tmp_path_factory.mktemp("cli")
  config = loop_testlib.write_tiny_config_file(root / "tiny.py", root / "tfds")
  workdir = root / "run"
  proc = run_main(f"--config={config}", f"--workdir={workdir}")
  assert proc.returncode == 0, proc.stderr[-3000:]
  return config, workdir, proc


def test_train_prints_the_table_and_eval_reproduces_results(trained):
  config, workdir, proc = trained
  for label in ("Top-1 CLS", "Top-1 LOC", "GT-known LOC", "MaxBoxAcc", "MaxBoxAccV2"):
    assert label in proc.stdout + proc.stderr
  results = json.loads((workdir / "results.json").read_text())
  for key in ("top1_cls", "top1_loc", "gt_known_loc", "MaxBoxAcc", "MaxBoxAccV2"):
    assert key in results
  assert (workdir / "metrics.jsonl").read_text().strip()
  assert list((workdir / "tensorboard").iterdir())
  os.rename(workdir / "results.json", workdir / "results_train.json")
  proc = run_main(f"--config={config}", f"--workdir={workdir}", "--mode=eval")
  assert proc.returncode == 0, proc.stderr[-3000:]
  assert json.loads((workdir / "results.json").read_text()) == results


def test_unknown_config_key_is_one_line_error(tmp_path):
  proc = run_main("--config=configs/synthetic_cam.py", f"--workdir={tmp_path / 'w'}",
               "--config.train.no_such_field=1")
  assert_one_line_error(proc, "train.no_such_field")
  assert not (tmp_path / "w").exists()


def test_missing_dataset_is_one_line_error(tmp_path):
  proc = run_main("--config=configs/synthetic_cam.py", f"--workdir={tmp_path / 'w'}",
               "--config.data.name=cub", f"--config.data.data_dir={tmp_path / 'no_data'}")
  assert_one_line_error(proc, "FileNotFoundError", "cub", "prepare")
  assert not (tmp_path / "w").exists()


def test_workdir_of_another_config_is_one_line_error_and_untouched(trained):
  config, workdir, _ = trained
  before = _listing(workdir)
  for mode in ("train", "eval"):
    for config_args in ([f"--config={config}"], []):  # [] : the workdir's config.json
      proc = run_main(*config_args, f"--workdir={workdir}", f"--mode={mode}",
                      "--config.model.head_channels=4")
      assert_one_line_error(proc, "another config")
  assert _listing(workdir) == before


def _predicted_boxes(proc, out):
  assert_no_orbax_read_only_notices(proc)
  lines = (out / "predictions.jsonl").read_text().splitlines()
  assert len(lines) == 1, lines
  return json.loads(lines[0])["box_xyxy"]


def test_a_trained_workdir_alone_evaluates_predicts_and_exports(trained, tmp_path):
  config, workdir, _ = trained
  results = json.loads((workdir / "results.json").read_text())
  proc = run_main(f"--workdir={workdir}", "--mode=eval")
  assert_no_orbax_read_only_notices(proc)
  assert json.loads((workdir / "results.json").read_text()) == results

  boxes = {}
  for name, config_args in (("config_file", [f"--config={config}"]), ("workdir", [])):
    out = tmp_path / name
    proc = run_main(*config_args, f"--workdir={workdir}", "--mode=predict", f"--images={PHOTO}",
                    f"--out={out}")
    boxes[name] = _predicted_boxes(proc, out)
  assert boxes["workdir"] == boxes["config_file"]

  exported = tmp_path / "model.wsol"
  assert_no_orbax_read_only_notices(
      run_main(f"--workdir={workdir}", "--mode=export", f"--out={exported}"))
  proc = run_main(f"--workdir={exported}", "--mode=predict", f"--images={PHOTO}",
                  f"--out={tmp_path / 'exported'}")
  assert _predicted_boxes(proc, tmp_path / "exported") == boxes["workdir"]


def test_a_saved_config_json_is_a_config_file(trained):
  _, workdir, _ = trained
  proc = run_main(f"--config={workdir / 'config.json'}", f"--workdir={workdir}",
                  "--mode=visualize")
  assert_no_orbax_read_only_notices(proc)
  written = [line[len("wrote "):] for line in proc.stdout.splitlines() if line.startswith("wrote ")]
  assert written and all(os.path.isfile(path) for path in written), proc.stdout


def test_a_workdir_without_config_json_is_one_line_error(tmp_path):
  for mode, needle in (("train", "a new run needs --config"), ("eval", "trained with")):
    proc = run_main(f"--workdir={tmp_path / 'new'}", f"--mode={mode}")
    assert proc.returncode == 2
    assert_one_line_error(proc, "config.json not found", needle)
  assert not (tmp_path / "new").exists()


def test_images_matching_nothing_is_one_line_error_exit_2(trained, tmp_path):
  _, workdir, _ = trained
  proc = run_main(f"--workdir={workdir}", "--mode=predict", f"--images={tmp_path}/*.png",
                  f"--out={tmp_path / 'out'}")
  assert proc.returncode == 2
  assert_one_line_error(proc, "no images at --images=")
  assert not (tmp_path / "out").exists()


def test_a_run_with_grain_workers_leaks_no_shared_memory(tmp_path):
  config = loop_testlib.write_tiny_config_file(tmp_path / "tiny.py", tmp_path / "tfds")
  proc = run_main(f"--config={config}", f"--workdir={tmp_path / 'run'}",
                  "--config.data.worker_count=1", "--config.train.num_steps=2")
  assert_no_leaked_shared_memory(proc)
  assert (tmp_path / "run" / "results.json").is_file()
