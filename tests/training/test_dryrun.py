"""``--mode=dryrun``: the synthetic recipes run every stage, hook, checkpoint, eval, export and predict,
print the table and the projection and leave the workdir's own checkpoints/ absent; a problem in a
stage is a one-line error naming it. (Every shipped paper config:
tests/configs/test_dryrun_configs.py.)"""

import pytest

import loop_testlib
from cli_testlib import assert_dryrun_report, assert_one_line_error, dryrun

# 64 train / 24 test images (the recipe's image size, classes and groups): the dataset builds in
# a second and an epoch is 2 steps, so the projection counts every hook and checkpoint.
SMALL_DATA = ("--config.data.synthetic.num_train=64", "--config.data.synthetic.num_test=24")


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
  config = loop_testlib.write_tiny_config_file(tmp_path / "tiny.py", tmp_path / "tfds")
  workdir = tmp_path / "run"
  proc = dryrun(config, workdir, tmp_path / "tfds", "--config.train.lr=1e30")
  assert_one_line_error(proc, "NonFiniteError", "dryrun stage 'train': train step")
  assert not (workdir / "checkpoints").exists()
  assert not (workdir / "dryrun" / "checkpoints").exists() or not any(
      (workdir / "dryrun" / "checkpoints").iterdir())


def test_dryrun_steps_must_be_positive(tmp_path):
  config = loop_testlib.write_tiny_config_file(tmp_path / "tiny.py", tmp_path / "tfds")
  proc = dryrun(config, tmp_path / "run", tmp_path / "tfds", "--dryrun_steps=0")
  assert_one_line_error(proc, "ValueError", "--dryrun_steps=0")

