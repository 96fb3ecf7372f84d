"""The training loop end to end on a tiny synthetic run (8 fake devices, jit over a mesh):
resume after an interrupt equals an uninterrupted run (parameters and data order), eval from a
checkpoint reproduces results.json, the NaN guard, and refusing another config's workdir."""

import json
import os

import jax
import numpy as np
import optax
import pytest

import loop_testlib
from loop_testlib import fast_cpu_random  # noqa: F401  (autouse fixture)
from wsol_jax.training import checkpoints as ckpt_lib
from wsol_jax.training import loop as train, parallel
from wsol_jax.training import method as base
from wsol_jax.methods.cam import CAM


class _Interrupt(Exception):
  """Stands for a crash or a kill between two steps."""


class _RecordingRunner(parallel.JitRunner):
  """Records the image ids of every batch it shards; raises after ``stop_after`` batches."""

  def __init__(self, log, stop_after=None):
    super().__init__()
    self.log, self.stop_after = log, stop_after

  def shard_batch(self, local_batch):
    if self.stop_after is not None and len(self.log) >= self.stop_after:
      raise _Interrupt()
    self.log.append(tuple(local_batch["image_id"].tolist()))
    return super().shard_batch(local_batch)


def _train(config, workdir, monkeypatch, stop_after=None):
  log = []
  monkeypatch.setattr(train.parallel, "make_runner",
                      lambda parallelism: _RecordingRunner(log, stop_after))
  try:
    results = train.train_and_evaluate(config, str(workdir))
  except _Interrupt:
    results = None
  finally:
    monkeypatch.undo()
  return results, log


def _params(workdir, config, step):
  """The parameters and meta record of ``workdir``'s checkpoint at ``step``."""
  _, state, _ = train.load_checkpoint(config, str(workdir), step)
  meta = ckpt_lib.Checkpoints(str(workdir / "checkpoints"), read_only=True).read_meta(step)
  return jax.device_get(state.params), meta


def _assert_same_params(a, b):
  for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True):
    np.testing.assert_array_equal(np.asarray(x), np.asarray(y))


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
  return tmp_path_factory.mktemp("tfds")


@pytest.fixture(scope="module")
def straight(tmp_path_factory, data_dir):
  """6 steps without interruption (checkpoints at 3 and 6)."""
  workdir = tmp_path_factory.mktemp("straight")
  mp = pytest.MonkeyPatch()
  results, log = _train(loop_testlib.tiny_config(data_dir), workdir, mp)
  return workdir, results, log


def test_resume_after_interrupt_equals_straight_run(tmp_path, data_dir, straight, monkeypatch):
  config = loop_testlib.tiny_config(data_dir)
  workdir = tmp_path / "resumed"
  _, first = _train(config, workdir, monkeypatch, stop_after=4)  # dies fetching step 5's batch
  assert ckpt_lib.Checkpoints(str(workdir / "checkpoints"), read_only=True).all_steps() == [3]
  results, second = _train(config, workdir, monkeypatch)
  straight_dir, straight_results, straight_log = straight

  # Same data order: 3 steps before the interrupt (+ the batch of step 4, trained but unsaved,
  # which the resumed run draws again), then the rest and the evaluation.
  assert first[:3] + second == straight_log
  assert first[3] == second[0]
  resumed, _ = _params(workdir, config, 6)
  want, meta = _params(straight_dir, config, 6)
  assert meta["stage"] == "train" and meta["step"] == 6
  _assert_same_params(resumed, want)
  assert results == straight_results


def test_results_json_and_eval_from_checkpoint_reproduces_it(data_dir, straight):
  workdir, results, _ = straight
  saved = json.loads((workdir / "results.json").read_text())
  assert saved == pytest.approx(results)
  for key in ("top1_cls", "top1_loc", "gt_known_loc", "MaxBoxAcc", "MaxBoxAccV2"):
    assert 0.0 <= saved[key] <= 100.0
  assert saved["step"] == 6
  os.remove(workdir / "results.json")
  again = train.evaluate_checkpoint(loop_testlib.tiny_config(data_dir), str(workdir))
  assert json.loads((workdir / "results.json").read_text()) == saved
  assert again == saved
  earlier = train.evaluate_checkpoint(loop_testlib.tiny_config(data_dir), str(workdir), step=3)
  assert earlier["step"] == 3
  with pytest.raises(ValueError, match="no checkpoint for step 5"):
    train.evaluate_checkpoint(loop_testlib.tiny_config(data_dir), str(workdir), step=5)


def _listing(root):
  return sorted((str(p.relative_to(root)), p.stat().st_mtime_ns, p.stat().st_size)
                for p in root.rglob("*"))


def test_workdir_of_another_config_is_refused_untouched(data_dir, straight):
  workdir = straight[0]
  before = _listing(workdir)
  other = loop_testlib.tiny_config(data_dir)
  other.model.head_channels = 4
  with pytest.raises(ValueError, match="holds checkpoints of another config") as err:
    train.train_and_evaluate(other, str(workdir))
  assert "\n" not in str(err.value)
  with pytest.raises(ValueError, match="another config"):
    train.evaluate_checkpoint(other, str(workdir))
  assert _listing(workdir) == before
  # Changing only how often to log or evaluate is the same run.
  same = loop_testlib.tiny_config(data_dir, log_every_steps=1, eval_every_steps=2)
  assert ckpt_lib.config_fingerprint(same) == ckpt_lib.config_fingerprint(
      loop_testlib.tiny_config(data_dir))


@base.register_method("test_nan_cam")
class _NanCAM(CAM):
  """CAM whose loss turns NaN from the 4th step on."""

  def train_step(self, state, batch, rng, *, stage, axis_name=None):
    step = state.step
    state, metrics = super().train_step(state, batch, rng, stage=stage, axis_name=axis_name)
    metrics["loss"] = jax.numpy.where(step >= 3, jax.numpy.nan, metrics["loss"])
    return state, metrics


def test_nan_guard_stops_and_keeps_last_good_checkpoint(tmp_path, data_dir):
  config = loop_testlib.tiny_config(data_dir, checkpoint_every_steps=2)
  config.method = "test_nan_cam"
  with pytest.raises(train.NonFiniteError, match=r"step 4 .*loss=nan.*last good checkpoint is "
                                                 r"step 2"):
    train.train_and_evaluate(config, str(tmp_path))
  assert ckpt_lib.Checkpoints(str(tmp_path / "checkpoints"), read_only=True).all_steps() == [2]
  assert not (tmp_path / "results.json").exists()


@base.register_method("test_two_stage_cam")
class _TwoStageCAM(CAM):
  """CAM in two stages of 3 steps; stage 'b' switches to Adam (another optimizer-state structure)."""

  def __init__(self, config, info):
    super().__init__(config, info)
    self.tx_b = optax.adam(1e-3)

  def stages(self):
    return (base.Stage("a", 3), base.Stage("b", 3))

  def enter_stage(self, state, stage):
    assert stage == "b"
    return state.replace(opt_state=self.tx_b.init(state.params))

  def train_step(self, state, batch, rng, *, stage, axis_name=None):
    sgd = self.tx
    self.tx = self.tx_b if stage == "b" else sgd  # read while tracing
    try:
      return super().train_step(state, batch, rng, stage=stage, axis_name=axis_name)
    finally:
      self.tx = sgd


def test_two_stage_run_resumes_mid_stage(tmp_path, data_dir, monkeypatch):
  config = loop_testlib.tiny_config(data_dir, checkpoint_every_steps=4)
  config.method = "test_two_stage_cam"
  straight_results, straight_log = _train(config, tmp_path / "straight", monkeypatch)
  _, first = _train(config, tmp_path / "resumed", monkeypatch, stop_after=5)
  ckpts = ckpt_lib.Checkpoints(str(tmp_path / "resumed" / "checkpoints"), read_only=True)
  assert ckpts.all_steps() == [3, 4]
  meta = ckpts.read_meta(4)
  assert (meta["stage"], meta["stage_start_step"], meta["stage_step"]) == ("b", 3, 1)
  results, second = _train(config, tmp_path / "resumed", monkeypatch)
  assert first[:4] + second == straight_log
  _assert_same_params(_params(tmp_path / "resumed", config, 6)[0],
                      _params(tmp_path / "straight", config, 6)[0])
  assert results == straight_results


@pytest.mark.parametrize("steps_per_epoch, times, into_epoch", [
    (4, 1, [4]),
    (4, 2, [2, 4]),
    (10, 3, [3, 7, 10]),  # near-equal parts, the last at the epoch's end
    (3, 5, [1, 2, 3]),  # at most one per step
])
def test_refresh_points_cut_each_epoch_evenly(steps_per_epoch, times, into_epoch):
  cadence = train.Cadence(steps_per_epoch=steps_per_epoch, total_steps=0, log_every=1,
                          eval_every=0, ckpt_every=0, refreshes_per_epoch=times)
  # A stage starting at global step 5, two epochs long: the same points in both epochs, and
  # on_epoch_end only at each epoch's end.
  start = 5
  steps = range(start + 1, start + 2 * steps_per_epoch + 1)
  refreshed = [step - start for step in steps if cadence.events(step, start, steps[-1]).refresh]
  assert refreshed == into_epoch + [steps_per_epoch + p for p in into_epoch]
  ends = [step - start for step in steps if cadence.events(step, start, steps[-1]).epoch_end]
  assert ends == [steps_per_epoch, 2 * steps_per_epoch]

