"""SPG's losses as wsolevaluation assembles them (``wsol/method/spg.py`` ``get_loss``, called from
``main.py``): cross-entropy of SPG-A's logits plus three pixel-level BCE terms, each against a
self-produced guidance map (1 foreground, 0 background, ignored in between):

* SPG-B2 against the guidance of SPG-A's attention (the label's class map, min-max normalised);
* SPG-B1 against the guidance of ``sigmoid(B2)``;
* SPG-C against the guidance of the fused map ``(sigmoid(B1) + sigmoid(B2)) / 2``.

Every map is first upsampled bilinearly to the training images' size (wsolevaluation: 224, its crop
size). No gradient flows through any guidance (theirs reads detached copies or only compares).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import optax

from wsol_jax.methods import common
from wsol_jax.methods.spg import network

# The guidance label of a pixel the loss ignores (wsolevaluation marks them 255).
IGNORED = -1


def upsample_bilinear(maps, size_hw):
  """[B, h, w] -> [B, H, W], bilinear with half-pixel centres (PyTorch's ``nn.Upsample(size,
  mode='bilinear')``, ``align_corners=False``)."""
  maps = jnp.asarray(maps, jnp.float32)
  if maps.shape[1:3] == tuple(size_hw):
    return maps
  return jax.image.resize(maps, (maps.shape[0], *size_hw), method="bilinear", antialias=False)


def normalize_per_image(maps, eps: float = 1e-12):
  """Min-max per image: [B, H, W] -> ``(maps in [0, 1], flat [B] bool)``; a flat (constant) map
  becomes 0 and is flagged (wsolevaluation's ``normalize_tensor`` divides by zero there)."""
  low = jnp.min(maps, axis=(1, 2), keepdims=True)
  span = jnp.max(maps, axis=(1, 2), keepdims=True) - low
  return (maps - low) / jnp.maximum(span, eps), span[:, 0, 0] <= eps


def guidance_labels(attention, high: float, low: float, min_foreground_pixels: int = 30,
                    fallback_ratio: float = 0.7):
  """Self-produced guidance of ``attention`` [B, H, W] (float) -> int32 [B, H, W]: 1 foreground
  (``> high``), 0 background (``< low``), :data:`IGNORED` otherwise (wsolevaluation ``get_mask``).

  An image with fewer than ``min_foreground_pixels`` foreground pixels takes ``attention >
  fallback_ratio * its max`` as foreground instead (``mask_fg``); background is marked after
  foreground, so a pixel that is both is background (``mask_bg`` runs second).
  """
  attention = jnp.asarray(attention, jnp.float32)
  foreground = attention > high
  too_few = jnp.sum(foreground, axis=(1, 2), keepdims=True) < min_foreground_pixels
  fallback = attention > fallback_ratio * jnp.max(attention, axis=(1, 2), keepdims=True)
  foreground = jnp.where(too_few, fallback, foreground)
  labels = jnp.where(foreground, 1, IGNORED)
  return jnp.where(attention < low, 0, labels).astype(jnp.int32)


def masked_bce(logits, guidance):
  """Binary cross-entropy with logits, averaged over the pixels of the whole batch whose
  ``guidance`` (int [B, H, W], from :func:`guidance_labels`) is not :data:`IGNORED` (PyTorch's
  ``BCEWithLogitsLoss`` on the selected pixels); 0 when every pixel is ignored (theirs: NaN).
  logits [B, H, W] float -> scalar."""
  valid = guidance != IGNORED
  per_pixel = optax.sigmoid_binary_cross_entropy(logits.astype(jnp.float32),
                                                 (guidance == 1).astype(jnp.float32))
  return jnp.sum(jnp.where(valid, per_pixel, 0.0)) / jnp.maximum(jnp.sum(valid), 1)


def attention_of(class_maps, labels, size_hw):
  """SPG-A's attention: the map of ``labels`` [B] from ``class_maps`` [B, h, w, C], upsampled to
  ``size_hw`` and min-max normalised per image, no gradient -> ``(attention [B, H, W], flat [B])``
  (wsolevaluation ``get_attention``; upsampling one channel equals taking it after upsampling)."""
  maps = network.take_class(jax.lax.stop_gradient(class_maps), labels)
  return normalize_per_image(upsample_bilinear(maps, size_hw))


def spg_loss(out: dict, labels, size_hw, thresholds, min_foreground_pixels: int = 30,
             fallback_ratio: float = 0.7):
  """The total loss (wsolevaluation ``get_loss``) and its terms.

  out: the network's dict (``logits`` [B, C], ``class_maps`` [B, h, w, C], ``logits_b1``,
    ``logits_b2``, ``logits_c`` [B, h_i, w_i]); labels [B] int; size_hw: the guidance's (H, W);
  thresholds: ``((h1, l1), (h2, l2), (h3, l3))``, the (high, low) pairs of the three guidances.
  -> ``(loss scalar, {'cls', 'b2_attention', 'b1_b2', 'c_fused'} scalars)``.
  """
  (h1, l1), (h2, l2), (h3, l3) = thresholds
  guide = lambda m, high, low: guidance_labels(m, high, low, min_foreground_pixels, fallback_ratio)
  b1, b2, c = (upsample_bilinear(out[k], size_hw) for k in ("logits_b1", "logits_b2", "logits_c"))
  prob_b1, prob_b2 = jax.nn.sigmoid(jax.lax.stop_gradient(b1)), jax.nn.sigmoid(
      jax.lax.stop_gradient(b2))

  attention, flat = attention_of(out["class_maps"], labels, size_hw)
  # A flat map guides nothing (theirs: NaN everywhere, so every pixel is ignored).
  guidance_a = jnp.where(flat[:, None, None], IGNORED, guide(attention, h1, l1))
  terms = {"cls": common.mean_cross_entropy(out["logits"], labels),
           "b2_attention": masked_bce(b2, guidance_a),
           "b1_b2": masked_bce(b1, guide(prob_b2, h2, l2)),
           "c_fused": masked_bce(c, guide((prob_b1 + prob_b2) / 2.0, h3, l3))}
  return sum(terms.values()), terms
