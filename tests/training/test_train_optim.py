"""Optimizer groups, weight decay semantics, schedules and durations (the loop's arithmetic)."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from wsol_jax import config_defaults
from wsol_jax.training import optim
from wsol_jax.training import train_state as ts

GROUPS = {"net/backbone": "backbone", "net/head": "head"}


def _train(**fields):
  train = config_defaults.get_base_config().train
  for k, v in fields.items():
    train[k] = v
  return train


def _params():
  return {"net": {"backbone": {"w": jnp.array([1.0, -2.0])}, "head": {"w": jnp.array([0.5])}}}


def _run(train, grads_seq):
  params = _params()
  tx = optim.make_optimizer(train, lambda p: optim.path_labels(p, GROUPS), 10, 100)
  opt_state = tx.init(params)
  for g in grads_seq:
    updates, opt_state = jax.jit(tx.update)(g, opt_state, params)
    params = optax.apply_updates(params, updates)
  return params


def _grads(seed):
  rng = np.random.default_rng(seed)
  return {"net": {"backbone": {"w": jnp.asarray(rng.normal(size=2), jnp.float32)},
                  "head": {"w": jnp.asarray(rng.normal(size=1), jnp.float32)}}}


def _torch_sgd(p, grads, lr, momentum, wd, nesterov):
  """PyTorch's SGD update rule (dampening 0), written out in NumPy."""
  p, buf = np.array(p, np.float64), None
  for g in grads:
    d = np.asarray(g, np.float64) + wd * p
    buf = d if buf is None else momentum * buf + d
    p = p - lr * (d + momentum * buf if nesterov else buf)
  return p


@pytest.mark.parametrize("nesterov", [False, True])
def test_l2_weight_decay_and_groups_follow_pytorch_sgd(nesterov):
  train = _train(lr=0.1, lr_mults={"backbone": 1.0, "head": 10.0}, momentum=0.9, nesterov=nesterov,
                 weight_decay=0.01, weight_decay_mode="l2", schedule="constant")
  grads = [_grads(i) for i in range(4)]
  params = _run(train, grads)
  for group, lr in (("backbone", 0.1), ("head", 1.0)):
    want = _torch_sgd(_params()["net"][group]["w"], [g["net"][group]["w"] for g in grads], lr,
                      0.9, 0.01, nesterov)
    np.testing.assert_allclose(params["net"][group]["w"], want, rtol=1e-5)


def test_decoupled_weight_decay_bypasses_momentum():
  train = _train(lr=0.1, lr_mults={"backbone": 1.0, "head": 1.0}, momentum=0.9, weight_decay=0.5,
                 weight_decay_mode="decoupled", schedule="constant")
  zero = jax.tree.map(jnp.zeros_like, _params())
  params = _run(train, [zero, zero])
  # Zero gradients: each step only shrinks the weights by lr * wd, momentum never sees the decay.
  np.testing.assert_allclose(params["net"]["head"]["w"], 0.5 * (1 - 0.05) ** 2, rtol=1e-6)


def test_step_schedule_matches_wsolevaluation_boundaries():
  train = _train(schedule="step", decay_boundaries_epochs=(14.0, 29.0, 44.0), decay_factor=0.1)
  schedule = optim.make_schedule(train, 1.0, steps_per_epoch=10, total_steps=500)
  lrs = [float(schedule(s)) for s in (0, 139, 140, 289, 290, 440, 499)]
  np.testing.assert_allclose(lrs, [1.0, 1.0, 0.1, 0.1, 0.01, 0.001, 0.001], rtol=1e-6)


def test_exponential_schedule_is_per_epoch_staircase_with_warmup():
  train = _train(schedule="exponential", decay_every_epochs=1.0, decay_factor=0.9,
                 warmup_steps=5)
  schedule = optim.make_schedule(train, 1.0, steps_per_epoch=10, total_steps=100)
  assert float(schedule(0)) == 0.0 and 0 < float(schedule(3)) < 1.0
  np.testing.assert_allclose([float(schedule(s)) for s in (5, 14, 15, 25)],
                             [1.0, 1.0, 0.9, 0.81], rtol=1e-6)


def test_schedule_override_per_group():
  train = _train(schedule="exponential", decay_every_epochs=1.0, decay_factor=0.5,
                 lr_mults={"backbone": 1.0, "head": 1.0}, momentum=0.0, weight_decay=0.0)
  with train.unlocked():
    train.schedule_overrides = {"head": "constant"}
  ones = jax.tree.map(jnp.ones_like, _params())
  params = _run(train, [ones] * 20)  # 2 epochs of 10 steps
  np.testing.assert_allclose(params["net"]["head"]["w"], 0.5 - 20 * train.lr, rtol=1e-5)
  np.testing.assert_allclose(params["net"]["backbone"]["w"][0],
                             1.0 - 10 * train.lr * (1 + 0.5), rtol=1e-5)


def test_bad_names_are_one_line_errors():
  with pytest.raises(ValueError, match="matches no group rule"):
    optim.path_labels({"other": {"w": 1}}, GROUPS)
  with pytest.raises(ValueError, match="no config.train.lr_mults entry"):
    optim.make_optimizer(_train(lr_mults={"backbone": 1.0}),
                         optim.path_labels(_params(), GROUPS), 10, 100)
  with pytest.raises(ValueError, match="unknown config.train.schedule"):
    optim.make_schedule(_train(schedule="linear"), 1.0, 10, 100)


def test_durations_in_steps_or_epochs():
  train = _train(num_epochs=2.5, num_steps=-1)
  assert ts.duration_steps(train, "num", 40) == 100
  train.num_steps = 7
  assert ts.duration_steps(train, "num", 40) == 7
  assert ts.steps_per_epoch(2400, 32) == 75
  with pytest.raises(ValueError, match="neither"):
    ts.duration_steps(train, "nothing", 40)


def test_step_rngs_are_named_and_step_dependent():
  key = jax.random.key(0)
  a = ts.step_rngs(key, 3, ("dropout", "vst"))
  b = ts.step_rngs(key, 3, ("vst",))
  c = ts.step_rngs(key, 4, ("vst",))
  assert jnp.array_equal(jax.random.key_data(a["vst"]), jax.random.key_data(b["vst"]))
  assert not jnp.array_equal(jax.random.key_data(a["vst"]), jax.random.key_data(a["dropout"]))
  assert not jnp.array_equal(jax.random.key_data(b["vst"]), jax.random.key_data(c["vst"]))
