"""The BAP classifier head: pooling, signed sqrt, L2 norm, logits."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from wsol_jax.models import bap


def test_bilinear_attention_pool_matches_a_loop():
  rng = np.random.default_rng(0)
  feats = rng.normal(size=(2, 3, 4, 5)).astype(np.float32)
  att = rng.uniform(size=(2, 3, 4, 6)).astype(np.float32)
  want = np.zeros((2, 6, 5), np.float32)
  for b in range(2):
    for m in range(6):
      want[b, m] = (feats[b] * att[b, :, :, m:m + 1]).mean(axis=(0, 1))
  np.testing.assert_allclose(bap.bilinear_attention_pool(feats, att), want, rtol=1e-5, atol=1e-6)


def test_signed_sqrt_and_l2_normalize():
  x = jnp.asarray([[-4.0, 0.0, 9.0]])
  np.testing.assert_allclose(bap.signed_sqrt(x), [[-2.0, 0.0, 3.0]], atol=1e-5)
  g = jax.grad(lambda v: bap.signed_sqrt(v).sum())(jnp.zeros(3))
  assert np.isfinite(np.asarray(g)).all()
  np.testing.assert_allclose(jnp.linalg.norm(bap.l2_normalize(x), axis=-1), [1.0], rtol=1e-6)


def test_bap_classifier_outputs_and_batch_stats():
  model = bap.BAPClassifier("small_vgg", num_classes=5, num_attention=4,
                            backbone_kwargs={"widths": (4, 8), "convs_per_stage": 1})
  x = jax.random.uniform(jax.random.PRNGKey(0), (3, 16, 16, 3))
  variables = model.init(jax.random.PRNGKey(1), x, train=False)
  out, updates = model.apply(variables, x, train=True, mutable=["batch_stats"])
  assert out["logits"].shape == (3, 5)
  assert out["attention"].shape == (3, 8, 8, 4)
  assert out["features"].shape == (3, 8, 8, 8)
  assert out["embedding"].shape == (3, 32)
  np.testing.assert_allclose(jnp.linalg.norm(out["embedding"], axis=-1), 1.0, rtol=1e-5)
  assert float(out["attention"].min()) >= 0.0  # ReLU'd attention maps
  assert "attention_bn" in updates["batch_stats"]["bap"]
