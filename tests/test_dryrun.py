"""``--mode=dryrun``: the synthetic recipes run every stage, hook, checkpoint, eval, export and predict,
print the table and the projection and leave the workdir's own checkpoints/ absent; a problem in a
stage is a one-line error naming it. (Every shipped paper config: tests/test_dryrun_configs.py.)"""

import os
import pathlib
import sys

import pytest

import loop_testlib
from test_main_cli import _assert_one_line_error, _main

TESTS_DIR = pathlib.Path(__file__).resolve().parent
# 64 train / 24 test images (the recipe's image size, classes and groups): the dataset builds in
# a second and an epoch is 2 steps, so the projection counts every hook and checkpoint.
SMALL_DATA = ("--config.data.synthetic.num_train=64", "--config.data.synthetic.num_test=24")
HEADER = ("compile s", "s/unit", "input s/batch", "images/s", "peak GiB (host RSS)")


def dryrun(config, workdir, data_dir, *args, timeout=900):
  """``python -m wsol_jax.main --mode=dryrun`` on one CPU device (as a user runs it)."""
  env_flags = " ".join(f for f in os.environ.get("XLA_FLAGS", "").split()
                       if not f.startswith("--xla_force_host_platform_device_count"))
  return _main(f"--config={config}", f"--workdir={workdir}", "--mode=dryrun",
               f"--config.data.data_dir={data_dir}", "--config.train.progress_bar=False", *args,
               timeout=timeout, env={"XLA_FLAGS": env_flags})


def assert_dryrun_report(proc, workdir, stages):
  """Exit 0, the table with a row per stage / hooks / eval, the projection, and nothing in
  ``workdir`` but ``dryrun/``."""
  assert proc.returncode == 0, proc.stderr[-4000:]
  out = proc.stdout
  for label in HEADER + ("projected wall time", "total", "eval", "checkpoint save", "export",
                         "predict ("):
    assert label in out, out
  for stage in stages:
    assert f"train[{stage}]" in out and f"hooks[{stage}]" in out, out
  assert sorted(os.listdir(workdir)) == ["dryrun"]
  dry = pathlib.Path(workdir) / "dryrun"
  assert (dry / "model.wsol").is_file()
  # 2 test images, or the split's only one (the Tiny-ImageNet miniature's).
  predicted = len((dry / "predict" / "predictions.jsonl").read_text().splitlines())
  assert f"predict ({predicted} image" in out and predicted in (1, 2), out


@pytest.mark.parametrize("name,stages", [("synthetic_cam", ["train"]),
                                         ("synthetic_slt", ["localization", "classifier"]),
                                         ("synthetic_lchp", ["init", "refine"])])
def test_synthetic_recipes_dryrun(tmp_path, name, stages):
  workdir = tmp_path / "run"
  proc = dryrun(f"configs/{name}.py", workdir, tmp_path / "tfds", *SMALL_DATA)
  assert_dryrun_report(proc, workdir, stages)
  assert not (workdir / "checkpoints").exists()


def test_stage_problem_is_one_line_error(tmp_path):
  """A diverging step (lr 1e30) stops the dryrun in its stage, with one line, before saving."""
  config = loop_testlib.write_tiny_config_file(tmp_path / "tiny.py", tmp_path / "tfds", TESTS_DIR)
  workdir = tmp_path / "run"
  proc = dryrun(config, workdir, tmp_path / "tfds", "--config.train.lr=1e30")
  _assert_one_line_error(proc, "NonFiniteError", "dryrun stage 'train': train step")
  assert not (workdir / "checkpoints").exists()
  assert not (workdir / "dryrun" / "checkpoints").exists() or not any(
      (workdir / "dryrun" / "checkpoints").iterdir())


def test_dryrun_steps_must_be_positive(tmp_path):
  config = loop_testlib.write_tiny_config_file(tmp_path / "tiny.py", tmp_path / "tfds", TESTS_DIR)
  proc = dryrun(config, tmp_path / "run", tmp_path / "tfds", "--dryrun_steps=0")
  _assert_one_line_error(proc, "ValueError", "--dryrun_steps=0")


if __name__ == "__main__":
  sys.exit(pytest.main([__file__, "-q"]))
