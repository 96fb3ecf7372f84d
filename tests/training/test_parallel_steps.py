"""One CAM train step under jit over an 8-device mesh, under pmap on 8 devices and on one device
gives the same parameters, batch statistics and metrics (BatchNorm included)."""

import jax
import numpy as np
import pytest

from wsol_jax import config_defaults
from wsol_jax.training import parallel
from wsol_jax.training import method as base
from wsol_jax.methods.cam import CAM
from loop_testlib import fast_cpu_random  # noqa: F401  (autouse fixture)

BATCH = 16


def _tiny_config():
  config = config_defaults.get_base_config()
  config.model.backbone_kwargs = {"widths": (4, 8), "convs_per_stage": 1}
  config.model.head_channels = 8
  config.train.batch_size = BATCH
  config.train.num_steps = 10
  config.train.lr = 0.1
  config.train.schedule = "cosine"  # the lr depends on the step too
  return config


def _batches(n):
  rng = np.random.default_rng(0)
  return [{"image": rng.integers(0, 256, (BATCH, 16, 16, 3), dtype=np.uint8),
           "label": rng.integers(0, 5, (BATCH,), dtype=np.int32),
           "image_id": np.array([b"x"] * BATCH)} for _ in range(n)]


def _run(runner, steps=2):
  method = CAM(_tiny_config(), base.RunInfo(num_classes=5, steps_per_epoch=5, train_size=80))
  batches = _batches(steps)
  state = method.init_state(jax.random.key(0), batches[0])
  state = runner.place_state(state)
  step = runner.compile_step(lambda s, b, r, axis_name: method.train_step(
      s, b, r, stage="train", axis_name=axis_name))
  metrics = []
  for batch in batches:
    state, m = step(state, runner.shard_batch(batch), jax.random.key(1))
    metrics.append(runner.metrics_to_host(m))
  return jax.device_get(runner.checkpointable(state)), metrics


@pytest.fixture(scope="module")
def single_device():
  return _run(parallel.JitRunner(devices=jax.devices()[:1]))


def test_eight_devices_present():
  assert jax.device_count() == 8


@pytest.mark.parametrize("make_runner", [parallel.JitRunner, parallel.PmapRunner],
                         ids=["jit_mesh8", "pmap8"])
def test_step_matches_single_device(make_runner, single_device):
  state, metrics = _run(make_runner())
  ref_state, ref_metrics = single_device
  assert int(state.step) == int(ref_state.step) == 2
  for got, want in zip(jax.tree.leaves(state.params), jax.tree.leaves(ref_state.params)):
    np.testing.assert_allclose(got, want, rtol=2e-5, atol=2e-6)
  for got, want in zip(jax.tree.leaves(state.batch_stats), jax.tree.leaves(ref_state.batch_stats)):
    np.testing.assert_allclose(got, want, rtol=2e-5, atol=2e-6)
  for got, want in zip(metrics, ref_metrics):
    assert got.keys() == want.keys()
    for k in got:
      np.testing.assert_allclose(got[k], want[k], rtol=2e-5, atol=1e-6)
  # The parameters did move (the comparison is not between two untouched initialisations).
  assert metrics[0]["grad_norm"] > 0


def test_mean_over_devices_is_identity_without_axis():
  tree = {"a": np.ones(3)}
  assert parallel.mean_over_devices(tree, None) is tree


def test_batch_not_divisible_by_devices_is_a_clear_error():
  with pytest.raises(ValueError, match="not divisible by the 8 devices"):
    parallel.check_batch_size(12)
