"""SLT-Net losses: SMT (Eq. 8), VST (Eq. 13), smooth L1 (Eq. 3-4)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from wsol_jax.methods import common
from wsol_jax.methods.slt import losses


def _ce_numpy(logits, labels):
  z = logits - logits.max(-1, keepdims=True)
  logp = z - np.log(np.exp(z).sum(-1, keepdims=True))
  return -logp[np.arange(len(labels)), labels]


def test_smt_is_cross_entropy_at_k1_alpha1():
  logits = np.random.default_rng(0).normal(size=(16, 10)).astype(np.float32)
  labels = np.arange(16) % 10
  got = losses.smt_loss(jnp.asarray(logits), jnp.asarray(labels), k=1, alpha=1.0)
  np.testing.assert_allclose(got, _ce_numpy(logits, labels), rtol=1e-5, atol=1e-6)


def test_smt_scales_by_alpha_exactly_when_label_in_top_k():
  rng = np.random.default_rng(1)
  logits = rng.normal(size=(64, 12)).astype(np.float32)
  labels = rng.integers(0, 12, size=64)
  k, alpha = 4, 0.3
  ce = _ce_numpy(logits, labels)
  # Independent top-k membership: the label's logit is among the k largest values.
  in_top = np.array([labels[i] in np.argsort(-logits[i])[:k] for i in range(64)])
  assert 0 < in_top.sum() < 64  # both branches exercised
  got = np.asarray(losses.smt_loss(jnp.asarray(logits), jnp.asarray(labels), k=k, alpha=alpha))
  np.testing.assert_allclose(got[in_top], alpha * ce[in_top], rtol=1e-5, atol=1e-6)
  np.testing.assert_allclose(got[~in_top], ce[~in_top], rtol=1e-5, atol=1e-6)


def test_smt_gradient_has_no_indicator_term():
  """d SMT / d logits == factor * d CE / d logits: the choice of factor contributes nothing."""
  rng = np.random.default_rng(2)
  logits = jnp.asarray(rng.normal(size=(32, 8)).astype(np.float32))
  labels = jnp.asarray(rng.integers(0, 8, size=32))
  k, alpha = 3, 0.25
  g_smt = jax.grad(lambda x: losses.smt_loss(x, labels, k, alpha).sum())(logits)
  g_ce = jax.grad(lambda x: common.cross_entropy(x, labels).sum())(logits)
  factor = np.where(np.asarray(losses.label_in_top_k(logits, labels, k)), alpha, 1.0)
  np.testing.assert_allclose(g_smt, factor[:, None] * np.asarray(g_ce), rtol=1e-5, atol=1e-7)


def test_smt_ties_count_for_the_label():
  logits = jnp.array([[1.0, 1.0, 1.0, 0.0]])
  assert bool(losses.label_in_top_k(logits, jnp.array([2]), 1)[0])
  assert not bool(losses.label_in_top_k(logits, jnp.array([3]), 3)[0])


@pytest.mark.parametrize("k,alpha", [(0, 0.5), (3, 1.5), (3, -0.1)])
def test_smt_rejects_bad_hyperparameters(k, alpha):
  with pytest.raises(ValueError):
    losses.smt_loss(jnp.zeros((2, 4)), jnp.zeros((2,), jnp.int32), k, alpha)


def test_vst_zero_for_identical_maps_and_eq13_otherwise():
  rng = np.random.default_rng(3)
  a = rng.normal(size=(3, 5, 7, 4)).astype(np.float32)
  np.testing.assert_array_equal(losses.vst_loss(jnp.asarray(a), jnp.asarray(a)), np.zeros(3))
  b = rng.normal(size=a.shape).astype(np.float32)
  expected = ((a - b) ** 2).sum(axis=(1, 2, 3)) / (5 * 7)
  np.testing.assert_allclose(losses.vst_loss(jnp.asarray(a), jnp.asarray(b)), expected, rtol=1e-5)
  valid = np.zeros((3, 5, 7), bool)
  valid[:, :2] = True
  expected_masked = ((a - b) ** 2)[:, :2].sum(axis=(1, 2, 3)) / (5 * 7)
  np.testing.assert_allclose(losses.vst_loss(jnp.asarray(a), jnp.asarray(b), jnp.asarray(valid)),
                             expected_masked, rtol=1e-5)
  with pytest.raises(ValueError):
    losses.vst_loss(jnp.zeros((1, 2, 2, 1)), jnp.zeros((1, 3, 2, 1)))


def test_vst_class_mean_divides_the_sum_by_the_class_count():
  rng = np.random.default_rng(4)
  a, b = (jnp.asarray(rng.normal(size=(2, 3, 4, 5)).astype(np.float32)) for _ in range(2))
  np.testing.assert_allclose(losses.vst_loss(a, b, class_reduce="mean"),
                             losses.vst_loss(a, b) / 5, rtol=1e-6)
  one_map = a[..., :1], b[..., :1]
  np.testing.assert_array_equal(losses.vst_loss(*one_map, class_reduce="mean"),
                                losses.vst_loss(*one_map))
  with pytest.raises(ValueError, match="class_reduce"):
    losses.vst_loss(a, b, class_reduce="max")


def test_smooth_l1_matches_eq4():
  pred = jnp.array([[0.1, 0.5, 2.0, -3.0]])
  target = jnp.zeros((1, 4))
  x = np.array([0.1, 0.5, 2.0, -3.0])
  eq4 = np.where(np.abs(x) < 1, 0.5 * x ** 2, np.abs(x) - 0.5).sum()
  np.testing.assert_allclose(losses.smooth_l1_loss(pred, target), [eq4], rtol=1e-6)
