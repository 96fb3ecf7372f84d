"""SLT-Net's VST loss on maps whose answer is known: it compares ``g'(M^t)`` with ``M^o`` and
normalises over the image's cells only (after ``g'``), so a perfectly equivariant map gives
L_VST = 0 (identity) or ~0 (flip + scale); and the transformed pass uses the original pass's
BatchNorm statistics, so an identity transform gives the same raw maps wherever the canvas fill
cannot reach.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

import slt_testlib
from wsol_jax.methods.slt import losses
from wsol_jax.methods.slt import method as slt_lib
from wsol_jax.methods.slt import vst as transforms

STRIDE = 4


def _equivariant_map(images):
  """A perfectly equivariant 'CAM': the STRIDE x STRIDE average of the first channel."""
  x = images[..., :1]
  return jax.lax.reduce_window(x, 0.0, jax.lax.add, (1, STRIDE, STRIDE, 1),
                               (1, STRIDE, STRIDE, 1), "VALID") / STRIDE ** 2


def _smooth_images(n, size, seed=0):
  """Smooth random images (a few low-frequency cosines): resampling them is nearly exact."""
  rng = np.random.default_rng(seed)
  yy, xx = np.meshgrid(np.linspace(0, 1, size), np.linspace(0, 1, size), indexing="ij")
  out = np.zeros((n, size, size, 3), np.float32)
  for i in range(n):
    for _ in range(3):
      fy, fx, ph = rng.uniform(0.3, 1.2), rng.uniform(0.3, 1.2), rng.uniform(0, 6)
      out[i] += np.cos(2 * np.pi * (fy * yy + fx * xx) + ph)[..., None]
  return jnp.asarray((out - out.min()) / (out.max() - out.min()))


def _vst(images, params_g, image_hw, canvas_hw):
  images_t = transforms.spatial_forward(images, params_g, canvas_hw, fill=0.0)
  maps_o, maps_it = slt_lib.vst_map_pair(_equivariant_map(images), _equivariant_map(images_t),
                                         params_g, image_hw, canvas_hw, "minmax")
  return losses.vst_loss(maps_o, maps_it)


def test_vst_identity_transform_of_an_equivariant_map_is_exactly_zero():
  images = _smooth_images(4, 32)
  params = transforms.sample_vst_params(jax.random.key(0), 4)  # zero ranges: the identity
  canvas = transforms.vst_canvas_hw((32, 32), 1.25, STRIDE)  # 40 x 40: 36 % of it is fill
  assert canvas == (40, 40)
  np.testing.assert_array_equal(np.asarray(_vst(images, params, (32, 32), canvas)), 0.0)


def test_vst_flip_and_scale_of_an_equivariant_map_is_zero_within_interpolation_error():
  images = _smooth_images(4, 64)
  n = 4
  params = transforms.VSTParams(
      brightness=jnp.ones(n), contrast=jnp.ones(n), saturation=jnp.ones(n), hue=jnp.zeros(n),
      flip=jnp.array([True, False, True, False]), scale=jnp.array([1.25, 1.25, 0.75, 1.0]))
  canvas = transforms.vst_canvas_hw((64, 64), 1.25, STRIDE)
  loss = np.asarray(_vst(images, params, (64, 64), canvas))
  # Maps in [0, 1] on 16 x 16 cells; 3e-3 is an RMS cell error of 0.055 (the 0.75 downscale
  # leaves 12 x 12 cells to upsample). Normalising the canvas before g' would give ~0.09 even for
  # identity.
  assert loss.max() < 3e-3, loss
  # A map that is NOT equivariant (the un-flipped map compared with the flipped one) is far off.
  wrong = params._replace(flip=jnp.array([False, False, False, False]))
  images_t = transforms.spatial_forward(images, params, canvas, fill=0.0)
  m_o, m_it = slt_lib.vst_map_pair(_equivariant_map(images), _equivariant_map(images_t), wrong,
                                   (64, 64), canvas, "minmax")
  assert np.asarray(losses.vst_loss(m_o, m_it))[[0, 2]].min() > 20 * loss.max()


def test_vst_identity_transform_gives_equal_raw_maps_where_the_fill_cannot_reach(monkeypatch):
  """With the original pass's BatchNorm statistics the transformed pass reproduces M^o away from the
  fill (right/bottom edge); train-mode BatchNorm on the canvas batch would change every cell."""
  config = slt_testlib.tiny_config(vst_weight=10.0, vst_normalize="none", vst_maps="all",
                                jitter__scale_max=1.25, jitter__flip_prob=0.0,
                                **{f"jitter__{k}": 0.0 for k in ("brightness", "contrast",
                                                                 "saturation", "hue")})
  config.slt.regressor.enabled = False
  config.slt.classifier.enabled = False
  method = slt_lib.SLTNet(config, slt_testlib.INFO)
  sample = transforms.sample_vst_params
  identity = lambda key, n, **_: sample(key, n)  # zero ranges: the identity
  monkeypatch.setattr(slt_lib.transforms, "sample_vst_params", identity)
  seen = []
  real_vst_loss = losses.vst_loss

  def spy(maps_o, maps_it, valid=None, **kwargs):
    jax.debug.callback(lambda a, b: seen.append((np.asarray(a), np.asarray(b))),
                       maps_o, maps_it)
    return real_vst_loss(maps_o, maps_it, valid, **kwargs)

  monkeypatch.setattr(slt_lib.losses, "vst_loss", spy)
  batch = slt_testlib.batches(1)[0]
  state = method.init_state(jax.random.key(0), batch)
  assert jax.tree.leaves(state.batch_stats["localizer"]), "the test needs a BatchNorm localizer"
  method.train_step(state, batch, jax.random.key(1), stage=slt_lib.LOCALIZATION)
  maps_o, maps_it = (np.asarray(m) for m in seen[0])
  # 16 px image on a 20 px canvas, stride 2: map cells 0..5 never see the fill.
  inner = (slice(None), slice(0, 6), slice(0, 6))
  np.testing.assert_allclose(maps_it[inner], maps_o[inner], atol=1e-5 * np.abs(maps_o).max())
