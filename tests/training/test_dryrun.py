"""``--mode=dryrun``: the synthetic recipes run every stage, hook, checkpoint, eval, export and predict,
print the table and the projection and leave the workdir's own checkpoints/ absent; a problem in a
stage is a one-line error naming it; every program is measured at full batches and checked against
the memory limit before it runs. (Every shipped paper config: tests/configs/test_dryrun_configs.py.)"""

import pytest

import loop_testlib
import slt_testlib
from cli_testlib import assert_dryrun_report, assert_one_line_error, dryrun
from wsol_jax.training import dryrun as dryrun_lib

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


def test_dryrun_steps_must_not_be_negative(tmp_path):
  config = loop_testlib.write_tiny_config_file(tmp_path / "tiny.py", tmp_path / "tfds")
  proc = dryrun(config, tmp_path / "run", tmp_path / "tfds", "--dryrun_steps=-1")
  assert_one_line_error(proc, "ValueError", "--dryrun_steps=-1")



def test_memory_limit_stops_before_the_first_step_with_one_line(tmp_path):
  """A limit below the train step's compiled memory: exit 1, one line naming the stage, its peak,
  the limit and the setting to lower, before any step ran."""
  config = loop_testlib.write_tiny_config_file(tmp_path / "tiny.py", tmp_path / "tfds")
  workdir = tmp_path / "run"
  proc = dryrun(config, workdir, tmp_path / "tfds", "--dryrun_memory_limit_gb=0.0001")
  assert proc.returncode == 1, proc.stderr[-2000:]
  assert_one_line_error(proc, "MemoryLimitError: dryrun stage 'train': train step: needs ",
                        "MiB at batch 16 (arguments ", "over the 0.1 MiB limit "
                        "(--dryrun_memory_limit_gb): lower config.train.batch_size=16")
  assert "s/step" not in proc.stdout, proc.stdout  # no step ran
  assert not (workdir / "checkpoints").exists()


def test_train_split_smaller_than_the_batch_stops_as_a_real_run_does(tmp_path):
  """A train split with fewer images than the batch is not padded: a real run's loader stops on it
  in its first minute, and so does the dryrun, with the same one line."""
  config = loop_testlib.write_tiny_config_file(tmp_path / "tiny.py", tmp_path / "tfds")
  proc = dryrun(config, tmp_path / "run", tmp_path / "tfds", "--config.data.synthetic.num_train=8")
  assert_one_line_error(proc, "ValueError", "has 8 examples, fewer than batch_size=16")


def test_ten_crop_eval_measured_at_a_full_batch_within_the_train_step_memory(tmp_path):
  """SLT-Net with ten-crop classification at the paper's batches (train 16, eval 64) on a split of
  24 test images, memory check only (``steps=0``): the eval program is compiled for the full 64
  rows (the split padded, as evaluation pads its last batch) and needs at most 1.5x the
  localization step's memory (the ten crops in one pass: 2.7x on this net)."""
  config = loop_testlib.tiny_config(str(tmp_path / "tfds"))
  config.method = "slt"
  config.slt = slt_testlib.tiny_config().slt
  config.slt.classifier.ten_crop = True
  config.data.eval_ten_crop_images = True
  config.eval.batch_size = 64
  assert config.data.synthetic.num_test < config.eval.batch_size
  programs = dryrun_lib.dryrun(config, str(tmp_path / "run"), steps=0)["programs"]
  train, evaluation = programs["train[localization]"], programs["eval"]
  assert (train.rows, evaluation.rows) == (16, 64)
  assert 0 < evaluation.peak_bytes <= 1.5 * train.peak_bytes, (evaluation.memory, train.memory)
  assert not (tmp_path / "run" / "dryrun" / "checkpoints").exists() or not any(
      (tmp_path / "run" / "dryrun" / "checkpoints").iterdir())
