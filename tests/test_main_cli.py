"""``python -m wsol_jax.main``: train then ``--mode=eval`` reproduces results.json; an unknown config
key, a missing dataset or another config's workdir is a one-line error that changes nothing."""

import json
import os

import pytest

import loop_testlib
from cli_testlib import assert_one_line_error, run_main


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
    proc = run_main(f"--config={config}", f"--workdir={workdir}", f"--mode={mode}",
                 "--config.model.head_channels=4")
    assert_one_line_error(proc, "another config")
  assert _listing(workdir) == before
