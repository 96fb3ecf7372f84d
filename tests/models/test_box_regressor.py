"""The box regressor: backbone + FC-ReLU-FC -> 4 normalised coordinates."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from wsol_jax.models import get_backbone
from wsol_jax.models.regressor import BoxRegressor, ordered_box_xyxy


def _tiny_backbone():
  return get_backbone("small_vgg", widths=(4, 8), convs_per_stage=1, batch_norm=False)


@pytest.mark.parametrize("pooling,output", [("avg", "sigmoid"), ("flatten", "linear"),
                                            ("avg", "relu")])
def test_regressor_shapes_and_ranges(pooling, output):
  model = BoxRegressor(_tiny_backbone(), hidden_units=16, pooling=pooling, output=output)
  x = jax.random.uniform(jax.random.PRNGKey(0), (3, 16, 16, 3))
  params = model.init(jax.random.PRNGKey(1), x)["params"]
  assert params["fc1"]["kernel"].shape[-1] == 16 and params["fc2"]["kernel"].shape[-1] == 4
  out = model.apply({"params": params}, x)
  assert out.shape == (3, 4) and out.dtype == jnp.float32
  if output == "sigmoid":
    assert float(out.min()) > 0 and float(out.max()) < 1
  if output == "relu":
    assert float(out.min()) >= 0


def test_regressor_learns_a_box_from_the_image():
  """A few SGD steps on smooth L1 reduce the error on a box drawn in the image."""
  import optax
  from wsol_jax.methods.slt import losses
  rng = np.random.default_rng(0)
  xs, ys = np.sort(rng.uniform(0, 1, (32, 2)), 1), np.sort(rng.uniform(0, 1, (32, 2)), 1)
  boxes = np.stack([xs[:, 0], ys[:, 0], xs[:, 1], ys[:, 1]], 1).astype(np.float32)
  yy, xx = np.meshgrid((np.arange(16) + 0.5) / 16, (np.arange(16) + 0.5) / 16, indexing="ij")
  inside = ((xx >= boxes[:, 0, None, None]) & (xx < boxes[:, 2, None, None])
            & (yy >= boxes[:, 1, None, None]) & (yy < boxes[:, 3, None, None]))
  images = jnp.asarray(np.repeat(inside[..., None], 3, -1), jnp.float32)
  model = BoxRegressor(_tiny_backbone(), hidden_units=32)
  params = model.init(jax.random.PRNGKey(0), images)["params"]
  tx = optax.adam(1e-2)
  opt = tx.init(params)

  def loss_fn(p):
    return jnp.mean(losses.smooth_l1_loss(model.apply({"params": p}, images), boxes))

  first = float(loss_fn(params))
  step = jax.jit(lambda p, o: (lambda l, g: (l, *tx.update(g, o, p)))(*jax.value_and_grad(loss_fn)(p)))
  for _ in range(60):
    _, updates, opt = step(params, opt)
    params = optax.apply_updates(params, updates)
  assert float(loss_fn(params)) < 0.5 * first


def test_bad_options_and_ordered_boxes():
  x = jnp.zeros((1, 8, 8, 3))
  with pytest.raises(ValueError, match="pooling"):
    BoxRegressor(_tiny_backbone(), pooling="max").init(jax.random.PRNGKey(0), x)
  with pytest.raises(ValueError, match="output"):
    BoxRegressor(_tiny_backbone(), output="tanh").init(jax.random.PRNGKey(0), x)
  np.testing.assert_allclose(ordered_box_xyxy(jnp.array([[0.8, 0.1, 0.2, 0.9]])),
                             [[0.2, 0.1, 0.8, 0.9]])
