"""CutMix's mixing (Yun et al., Sec. 3.1; wsolevaluation's wsol/method/cutmix.py and main.py), on
device with static shapes: the box is a mask computed from its corner coordinates.

One draw per batch, as wsolevaluation: with probability ``prob`` the batch is mixed;
lam ~ Beta(beta, beta); the box has sides ``floor(H * sqrt(1 - lam))`` and ``floor(W * ...)``
(``int()``), a centre uniform over the pixels, corners ``centre -/+ side // 2`` clipped to the
image (so its area is ``(1 - lam) H W`` before clipping, give or take the odd pixel); the box of
each image is replaced by the same box of its partner, ``images[partner]`` with ``partner`` a random
permutation of the batch the step sees; lam becomes the kept fraction ``1 - box area / (H W)``.
Where the batch is not mixed, the box is empty and lam is 1.

The batch the step sees: under pmap, each device's shard (each with its own draws); under jit, the
global batch (one draw, partners anywhere in it: what wsolevaluation's DataParallel run does, and
the same result on any number of devices).
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp


class Mixed(NamedTuple):
  """A CutMix batch: ``images`` float [B, H, W, C], ``labels_a`` [B] (own), ``labels_b`` [B] (the
  partner's), ``lam`` float32 scalar (the weight of ``labels_a``: the kept area fraction),
  ``partner`` int32 [B] (where each image's pasted box comes from), ``box_mask`` bool [H, W]."""
  images: jax.Array
  labels_a: jax.Array
  labels_b: jax.Array
  lam: jax.Array
  partner: jax.Array
  box_mask: jax.Array


def box_corners(key: jax.Array, height: int, width: int, lam: jax.Array) -> jax.Array:
  """int32 [4] ``(y0, x0, y1, x1)``: rows y0 .. y1 - 1, columns x0 .. x1 - 1 of a box of sides
  ``int(H * sqrt(1 - lam))`` x ``int(W * sqrt(1 - lam))`` around a uniform centre pixel, clipped
  to the image (wsolevaluation's ``rand_bbox``)."""
  key_y, key_x = jax.random.split(key)
  cut_ratio = jnp.sqrt(1.0 - lam)
  cut_h = jnp.floor(height * cut_ratio).astype(jnp.int32)
  cut_w = jnp.floor(width * cut_ratio).astype(jnp.int32)
  centre_y = jax.random.randint(key_y, (), 0, height)
  centre_x = jax.random.randint(key_x, (), 0, width)
  y0 = jnp.clip(centre_y - cut_h // 2, 0, height)
  y1 = jnp.clip(centre_y + cut_h // 2, 0, height)
  x0 = jnp.clip(centre_x - cut_w // 2, 0, width)
  x1 = jnp.clip(centre_x + cut_w // 2, 0, width)
  return jnp.stack([y0, x0, y1, x1])


def box_mask(corners_yxyx: jax.Array, height: int, width: int) -> jax.Array:
  """Bool [H, W]: True inside the box ``(y0, x0, y1, x1)`` (end-exclusive)."""
  y0, x0, y1, x1 = corners_yxyx
  rows = jnp.arange(height)
  cols = jnp.arange(width)
  in_rows = (rows >= y0) & (rows < y1)
  in_cols = (cols >= x0) & (cols < x1)
  return in_rows[:, None] & in_cols[None, :]


def cutmix(images: jax.Array, labels: jax.Array, key: jax.Array, *, beta: float,
           prob: float) -> Mixed:
  """CutMix of a batch: ``images`` float [B, H, W, C], ``labels`` int [B] -> :class:`Mixed`."""
  batch, height, width, _ = images.shape
  key_apply, key_lam, key_box, key_perm = jax.random.split(key, 4)
  apply = jax.random.uniform(key_apply) < prob
  lam_drawn = jax.random.beta(key_lam, beta, beta)
  mask = box_mask(box_corners(key_box, height, width, lam_drawn), height, width) & apply
  partner = jax.random.permutation(key_perm, batch).astype(jnp.int32)
  mixed = jnp.where(mask[None, :, :, None], images[partner], images)
  # The kept fraction after clipping: exactly the label weight of the pixels that stayed.
  area = height * width
  lam = (area - jnp.sum(mask, dtype=jnp.int32)).astype(jnp.float32) / jnp.float32(area)
  return Mixed(mixed, labels, labels[partner], lam, partner, mask)
