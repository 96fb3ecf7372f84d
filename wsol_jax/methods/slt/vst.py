"""Visual-stimulus transforms of SLT-Net (Sec. 3.4) as pure, batched, jit-able ``jnp`` functions.

``g`` (Eq. 10) = colour jitter (brightness, contrast, saturation, hue), then a horizontal flip, then
a scale; every example of a batch draws its own parameters (:func:`sample_vst_params`).
``g'`` (Eq. 12) undoes only the spatial part, on score maps: rescale back, flip back
(:func:`spatial_inverse`).

How scale is realised. The paper's transformed CAM has its own size ``W' x H'`` and ``g'`` rescales
it to ``W x H``: the *whole* image is resized by ``s`` and nothing is cropped. A jit-compiled step
needs one static shape for the batch while ``s`` differs per example, so the resized image is placed
at the top-left of a fixed canvas of ``ceil(s_max * H)`` rows (rounded up to a multiple of the network
stride) and the rest is filled with the colour the network's input scaling maps to zero (the
ImageNet mean colour for ImageNet-normalised backbones), as a conv net's own zero padding sees it.
The map the network gives for the canvas is ``W' x H'`` in its top-left ``s``-fraction; ``g'``
resamples exactly that region back to ``W x H``. No content is lost, so every cell of ``M^it`` has a
counterpart in ``M^o``.

Images for :func:`colour_jitter` are float RGB in [0, 1]; the spatial functions take any float
[B, H, W, C] array (images or maps).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import jax
import jax.numpy as jnp

# ITU-R 601-2 luma, as torchvision and PIL compute grayscale.
_LUMA = (0.299, 0.587, 0.114)


class VSTParams(NamedTuple):
  """Per-example parameters of ``g``; every field is [B]."""

  brightness: jax.Array  # multiplicative factor
  contrast: jax.Array  # blend factor with the image's mean gray
  saturation: jax.Array  # blend factor with the pixel's gray
  hue: jax.Array  # hue shift in turns (1 = full circle)
  flip: jax.Array  # bool: flip left-right
  scale: jax.Array  # isotropic resize factor


def sample_vst_params(key, batch_size: int, *, brightness: float = 0.0, contrast: float = 0.0,
                      saturation: float = 0.0, hue: float = 0.0, flip_prob: float = 0.0,
                      scale_range: tuple[float, float] = (1.0, 1.0)) -> VSTParams:
  """Draw ``g``'s parameters for ``batch_size`` examples (torchvision ``ColorJitter`` ranges).

  Factors are uniform in ``[max(0, 1 - x), 1 + x]`` for brightness, contrast and saturation; the
  hue shift is uniform in ``[-hue, hue]`` turns (``hue <= 0.5``); flips are Bernoulli(``flip_prob``);
  the scale is uniform in ``scale_range``. Zero ranges give the identity.
  """
  if not 0.0 <= hue <= 0.5:
    raise ValueError(f"hue jitter must be in [0, 0.5] turns, got {hue}")
  lo, hi = scale_range
  if not 0.0 < lo <= hi:
    raise ValueError(f"scale_range must satisfy 0 < low <= high, got {scale_range}")
  for name, value in (("brightness", brightness), ("contrast", contrast),
                      ("saturation", saturation)):
    if value < 0:
      raise ValueError(f"{name} jitter must be >= 0, got {value}")
  kb, kc, ks, kh, kf, kz = jax.random.split(key, 6)

  def factor(k, x):
    return jax.random.uniform(k, (batch_size,), minval=max(0.0, 1.0 - x), maxval=1.0 + x)

  return VSTParams(
      brightness=factor(kb, brightness),
      contrast=factor(kc, contrast),
      saturation=factor(ks, saturation),
      hue=jax.random.uniform(kh, (batch_size,), minval=-hue, maxval=hue),
      flip=jax.random.bernoulli(kf, flip_prob, (batch_size,)),
      scale=jax.random.uniform(kz, (batch_size,), minval=lo, maxval=hi),
  )


# ----------------------------------------------------------------------------------------------
# Colour jitter (photometric part of g; g' leaves it alone).


def grayscale(images):
  """[..., 3] RGB -> [..., 1] luma."""
  r, g, b = images[..., 0:1], images[..., 1:2], images[..., 2:3]
  return _LUMA[0] * r + _LUMA[1] * g + _LUMA[2] * b


def _per_example(x, ndim):
  return x.reshape(x.shape + (1,) * (ndim - 1))


def adjust_brightness(images, factor):
  """images [B, H, W, 3] in [0, 1], factor [B] -> ``clip(factor * image)``."""
  return jnp.clip(images * _per_example(factor, images.ndim), 0.0, 1.0)


def adjust_contrast(images, factor):
  """Blend each image with its mean gray level: ``factor = 0`` is flat gray, 1 the identity."""
  mean = jnp.mean(grayscale(images), axis=(1, 2, 3), keepdims=True)
  f = _per_example(factor, images.ndim)
  return jnp.clip(f * images + (1.0 - f) * mean, 0.0, 1.0)


def adjust_saturation(images, factor):
  """Blend each pixel with its gray level: ``factor = 0`` is grayscale, 1 the identity."""
  f = _per_example(factor, images.ndim)
  return jnp.clip(f * images + (1.0 - f) * grayscale(images), 0.0, 1.0)


def rgb_to_hsv(images):
  """[..., 3] RGB in [0, 1] -> [..., 3] HSV, hue in turns [0, 1)."""
  r, g, b = images[..., 0], images[..., 1], images[..., 2]
  maxc = jnp.max(images, axis=-1)
  minc = jnp.min(images, axis=-1)
  delta = maxc - minc
  safe_delta = jnp.where(delta > 0, delta, 1.0)
  sat = jnp.where(maxc > 0, delta / jnp.where(maxc > 0, maxc, 1.0), 0.0)
  rc, gc, bc = (maxc - r) / safe_delta, (maxc - g) / safe_delta, (maxc - b) / safe_delta
  hue = jnp.where(r == maxc, bc - gc, jnp.where(g == maxc, 2.0 + rc - bc, 4.0 + gc - rc))
  hue = jnp.where(delta > 0, jnp.mod(hue / 6.0, 1.0), 0.0)
  return jnp.stack([hue, sat, maxc], axis=-1)


def hsv_to_rgb(images_hsv):
  """[..., 3] HSV (hue in turns) -> [..., 3] RGB in [0, 1]."""
  h, s, v = images_hsv[..., 0], images_hsv[..., 1], images_hsv[..., 2]
  h6 = jnp.mod(h, 1.0) * 6.0
  sector = jnp.floor(h6)
  f = h6 - sector
  sector = sector.astype(jnp.int32) % 6
  p, q, t = v * (1.0 - s), v * (1.0 - s * f), v * (1.0 - s * (1.0 - f))
  choose = lambda *options: jnp.select([sector == i for i in range(6)], options)
  return jnp.stack([choose(v, q, p, p, t, v), choose(t, v, v, q, p, p), choose(p, p, t, v, v, q)],
                   axis=-1)


def adjust_hue(images, shift):
  """Rotate the hue of each image by ``shift`` [B] turns."""
  hsv = rgb_to_hsv(images)
  hue = jnp.mod(hsv[..., 0] + _per_example(shift, images.ndim - 1), 1.0)
  return hsv_to_rgb(hsv.at[..., 0].set(hue))


def colour_jitter(images, params: VSTParams):
  """Photometric part of ``g``: brightness, contrast, saturation, hue, in this fixed order.

  torchvision shuffles the order per call; a fixed order keeps the step a single graph, and every
  example still draws its own factors.
  """
  images = adjust_brightness(images, params.brightness)
  images = adjust_contrast(images, params.contrast)
  images = adjust_saturation(images, params.saturation)
  return adjust_hue(images, params.hue)


# ----------------------------------------------------------------------------------------------
# Spatial part of g and its inverse g'.


def vst_canvas_hw(image_hw: tuple[int, int], max_scale: float, multiple: int = 1) -> tuple[int, int]:
  """Static size of the canvas that holds an image scaled by up to ``max_scale``.

  Never smaller than the image; rounded up to ``multiple`` (use the network's stride so the
  canvas map's cells cover whole input pixels, as the original map's do).
  """
  factor = max(1.0, float(max_scale))
  return tuple(int(math.ceil(math.ceil(n * factor - 1e-6) / multiple) * multiple)
               for n in image_hw)


def flip_left_right(x, flip):
  """x [B, H, W, C], flip [B] bool -> x with the flagged examples mirrored."""
  return jnp.where(_per_example(flip, x.ndim), x[:, :, ::-1, :], x)


def _resample(x, out_hw, scale_y, scale_x):
  """Per-example ``out[p] = x[p / scale]`` (edge coordinates, origin at the top-left corner)."""

  def one(xi, sy, sx):
    return jax.image.scale_and_translate(
        xi, (out_hw[0], out_hw[1], xi.shape[-1]), (0, 1), jnp.stack([sy, sx]),
        jnp.zeros((2,), xi.dtype), method="linear", antialias=True)

  return jax.vmap(one)(x, scale_y.astype(x.dtype), scale_x.astype(x.dtype))


def spatial_forward(x, params: VSTParams, canvas_hw: tuple[int, int], fill=0.0):
  """Spatial part of ``g``: flip, then resize by ``scale`` onto a canvas at its top-left.

  x [B, H, W, C] -> [B, canvas_h, canvas_w, C]; the canvas outside the image holds ``fill``
  (scalar or [C]; for images in [0, 1] pass the colour the network's input scaling maps to zero).
  Every ``scale`` must be at most ``canvas / image size`` (guaranteed by :func:`vst_canvas_hw`).
  """
  fill = jnp.asarray(fill, x.dtype)
  x = flip_left_right(x, params.flip)
  return _resample(x - fill, canvas_hw, params.scale, params.scale) + fill


def spatial_inverse(maps, params: VSTParams, image_hw: tuple[int, int],
                    canvas_hw: tuple[int, int], out_hw: tuple[int, int]):
  """``g'`` on score maps: the canvas map [B, h', w', C] -> [B, out_h, out_w, C] in the original frame.

  ``image_hw`` / ``canvas_hw`` are the input sizes (pixels) that produced the original map (of size
  ``out_hw``) and the canvas map; their ratio to the map sizes gives the network stride on each, so
  this holds even where a stride does not divide the input exactly.
  """
  h_c, w_c = maps.shape[1:3]
  # Map cells per input pixel on each input, and how the original-frame map relates to the canvas map.
  scale_y = (out_hw[0] / image_hw[0]) / (h_c / canvas_hw[0]) / params.scale
  scale_x = (out_hw[1] / image_hw[1]) / (w_c / canvas_hw[1]) / params.scale
  return flip_left_right(_resample(maps, out_hw, scale_y, scale_x), params.flip)
