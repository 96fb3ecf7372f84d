"""HaS's hiding (Singh & Lee, Sec. 3.1): cut each training image into a grid of square patches and
hide each patch independently with probability ``drop_rate``, on device, one random grid per image.

How it stands against wsolevaluation's wsol/method/has.py:

* The grid: patches of ``patch_px`` x ``patch_px`` pixels from the top-left corner, the last row
  and column cut short where the side does not divide the image (as has.py). has.py loops its
  column index over the width but indexes the height with it; on the square crops it trains on
  (and on ours) that is the same grid; here both axes are the image's own.
* The fill: has.py writes 0 into the NORMALISED tensor, i.e. the ImageNet mean colour of its
  torchvision normalisation (the paper's "mean RGB value over all the training images",
  Sec. 3.1). Our images reach the network in [0, 1] and the backbone normalises them, so hidden
  pixels get the colour that normalisation maps to zero (``common.zero_rgb``): the same colour
  for torchvision backbones, the zero of Keras / Inception scaling for the others.
* The draws: has.py hides a patch when ``random.random() <= drop_rate`` (Python's RNG, per patch);
  here a Bernoulli(drop_rate) per patch from the step's 'augment' key: the same law.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp


def hidden_mask(key: jax.Array, batch: int, height: int, width: int, patch_px: int,
                drop_rate: float) -> jax.Array:
  """Bool [batch, height, width]: True on the pixels of hidden patches. Patch (i, j) covers rows
  ``i*patch_px .. (i+1)*patch_px - 1`` and the same columns; each is hidden with probability
  ``drop_rate``, independently per patch and image. ``patch_px`` 0: nothing hidden."""
  if patch_px <= 0:
    return jnp.zeros((batch, height, width), bool)
  rows, cols = math.ceil(height / patch_px), math.ceil(width / patch_px)
  hidden_patches = jax.random.bernoulli(key, drop_rate, (batch, rows, cols))
  row_patch = jnp.arange(height) // patch_px
  col_patch = jnp.arange(width) // patch_px
  return hidden_patches[:, row_patch[:, None], col_patch[None, :]]


def hide_patches(images: jax.Array, key: jax.Array, *, patch_px: int, drop_rate: float,
                 fill_rgb: jax.Array) -> jax.Array:
  """Float images [B, H, W, 3] (in [0, 1]) with random patches (:func:`hidden_mask`) set to
  ``fill_rgb`` [3] (the colour the backbone reads as zero)."""
  batch, height, width, _ = images.shape
  mask = hidden_mask(key, batch, height, width, patch_px, drop_rate)
  return jnp.where(mask[..., None], jnp.asarray(fill_rgb, images.dtype), images)
