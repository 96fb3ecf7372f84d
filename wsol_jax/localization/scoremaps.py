"""Class activation maps (CAM) and score map -> box.

Read top-down as the pipeline runs:

1. :func:`class_activation_maps` / :func:`cams_for_classes` / :func:`topk_average_cam` -- CAMs
   from a feature map ``[B, h, w, D]`` and a linear classifier ``[D, C]`` (Zhou et al., CVPR 2016; top-K
   averaged CAM of SLT-Net, Eq. 9).
2. :func:`minmax_normalize` -- per map to [0, 1]; a constant (or NaN) map becomes zeros.
3. Upsampling to the evaluation size: :func:`upsample_scoremaps_reference` (OpenCV bicubic on the
   host, float64, then min-max: bit-for-bit wsolevaluation's ``inference.py``) or
   :func:`upsample_scoremaps` (on device: the same OpenCV kernel as matrix products in float32, or
   ``jax.image.resize``; see its docstring for how they differ).
4. Threshold -> box, two paths:

   * ``reference`` (host, OpenCV): :func:`boxes_from_scoremap_reference` follows wsolevaluation's
     ``compute_bboxes_from_scoremaps`` exactly: the uint8 map ``(scoremap * 255).astype(uint8)``,
     foreground ``> int(t * max)``, contours (``RETR_TREE``), the largest by ``cv2.contourArea`` or
     every contour, ``x1 = min(x + w, W - 1)``, no contour -> ``[0, 0, 0, 0]``.
   * ``fast`` (jnp, jit-able, batched): :func:`connected_components` (8-connected labelling by
     parallel union-find: min-label hooking and pointer jumping in ``lax.while_loop``s),
     :func:`largest_component_box_xyxy` (largest by pixel count) and
     :func:`component_boxes_xyxy`. The whole-dataset evaluator's fast backend
     (:mod:`wsol_jax.localization.scoremap_levels`) follows the same semantics on the host.

   Where the two paths differ is written down in docs/ALGORITHMS.md ("Evaluation protocol").

The host-side (reference) functions live in :mod:`wsol_jax.localization.scoremap_reference`, which does not
import JAX, and are re-exported here.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

# The host (reference) half of the pipeline lives in scoremap_reference, which does not import JAX;
# re-exported so that this module reads as the whole pipeline.
from wsol_jax.localization.scoremap_reference import boxes_from_scoremap_reference  # noqa: F401
from wsol_jax.localization.scoremap_reference import contour_boxes_at_level  # noqa: F401
from wsol_jax.localization.scoremap_reference import minmax_normalize
from wsol_jax.localization.scoremap_reference import opencv_cubic_matrix
from wsol_jax.localization.scoremap_reference import scoremap_to_uint8  # noqa: F401
from wsol_jax.localization.scoremap_reference import threshold_levels  # noqa: F401
from wsol_jax.localization.scoremap_reference import upsample_scoremaps_reference  # noqa: F401


# ----------------------------------------------------------------------------------------------
# 1. CAMs.


def class_activation_maps(features, weights, bias=None):
  """CAMs of every class: features [B, h, w, D] x weights [D, C] (+ bias [C]) -> [B, h, w, C].

  ``CAM_c = sum_d w_dc * f_d (+ b_c)``. wsolevaluation averages over ``d`` instead of summing (a
  factor 1/D) and drops the bias: both vanish under min-max normalisation.
  """
  cams = jnp.einsum("bhwd,dc->bhwc", features, weights)
  return cams if bias is None else cams + bias


def cams_for_classes(features, weights, classes, bias=None):
  """CAMs of chosen classes: classes [B] -> [B, h, w]; classes [B, K] -> [B, K, h, w]."""
  classes = jnp.asarray(classes)
  squeeze = classes.ndim == 1
  classes = classes[:, None] if squeeze else classes
  cams = jnp.einsum("bhwd,dbk->bkhw", features, weights[:, classes])
  if bias is not None:
    cams = cams + bias[classes][:, :, None, None]
  return cams[:, 0] if squeeze else cams


def topk_average_cam(features, weights, logits, k: int, bias=None):
  """Top-K averaged CAM (SLT-Net Eq. 9): mean of the CAMs of the K highest logits -> [B, h, w].

  A CAM is linear in the weights, so this is one CAM with the mean of the K weight columns.
  """
  _, top_classes = jax.lax.top_k(logits, k)  # [B, K]
  mean_weights = jnp.mean(weights[:, top_classes], axis=-1)  # [D, B]
  cams = jnp.einsum("bhwd,db->bhw", features, mean_weights)
  if bias is not None:
    cams = cams + jnp.mean(bias[top_classes], axis=-1)[:, None, None]
  return cams


# ----------------------------------------------------------------------------------------------
# 2-3. Normalisation (scoremap_reference.minmax_normalize) and upsampling, on device.


def upsample_scoremaps(cams, size_hw=(224, 224), method: str = "opencv"):
  """Device path: raw CAMs [..., h, w] -> score maps [..., H, W] in [0, 1], jit-able.

  ``method="opencv"`` (default): OpenCV's bicubic as two matrix products
  (:func:`opencv_cubic_matrix`), then min-max: the reference path in float32 (score maps agree to
  ~1e-6, so their uint8 quantisation differs by at most one level, rarely).
  ``method="jax"``: ``jax.image.resize(method="bicubic")`` then min-max; Keys a = -0.5 (OpenCV
  -0.75) with kernel weights renormalised at the border instead of a replicated edge: on 7x7 or
  14x14 CAMs upsampled to 224 the normalised maps differ from the reference by ~0.01 on average and
  up to ~0.07.
  """
  cams = jnp.asarray(cams, jnp.float32)
  height, width = cams.shape[-2:]
  if method == "opencv":
    rows = jnp.asarray(opencv_cubic_matrix(height, size_hw[0]), jnp.float32)
    cols = jnp.asarray(opencv_cubic_matrix(width, size_hw[1]), jnp.float32)
    out = jnp.einsum("Hh,...hw,Ww->...HW", rows, cams, cols,
                     precision=jax.lax.Precision.HIGHEST)
  elif method == "jax":
    out = jax.image.resize(cams, cams.shape[:-2] + tuple(size_hw), method="bicubic")
  else:
    raise ValueError(f"method must be 'opencv' or 'jax', got {method!r}")
  return minmax_normalize(out)


# ----------------------------------------------------------------------------------------------
# 4b. Threshold -> box, fast path (jnp, jit-able, batched). 4a (reference): scoremap_reference.


def binarize(maps, threshold, quantize: bool = False):
  """Foreground masks of maps [B, H, W] at ``threshold`` (scalar or [B]) -> bool [B, H, W].

  ``quantize=False``: ``maps > threshold`` (maps are expected min-max normalised).
  ``quantize=True``: the protocol's binarisation, ``q > floor(t * max(q))`` with
  ``q = floor(255 * maps)`` (float32 here, float64 in the reference; equal unless ``255 * map``
  lies within float32 rounding of an integer).
  """
  maps = jnp.asarray(maps, jnp.float32)
  t = jnp.asarray(threshold, jnp.float32).reshape((-1, 1, 1))
  if not quantize:
    return maps > t
  q = jnp.floor(maps * 255.0)
  level = jnp.floor(t * jnp.max(q, axis=(-2, -1), keepdims=True))
  return q > level


def connected_components(mask):
  """8-connected components of bool masks [B, H, W] -> int32 labels [B, H, W].

  A component's label is the smallest raster index (``y * W + x``) of its pixels; background is
  ``H * W``. Union-find in parallel rounds (``lax.while_loop``): every tree hooks its root onto the
  smallest label among its pixels' 3x3 neighbours (a scatter-min), then pointer jumping
  (``rep <- rep[rep]``) flattens the trees; rounds stop when nothing hooks. Typically 4-6 rounds
  and ~20 jumps on 224 x 224 maps, whatever the components' shapes.
  """
  mask = jnp.asarray(mask, bool)
  batch, height, width = mask.shape
  n = height * width
  sentinel = jnp.int32(n)
  rows = jnp.arange(batch)[:, None]
  # rep[b, i]: pixel i's parent (its root after compression); rep[b, n] is the background's.
  rep = jnp.concatenate([jnp.where(mask.reshape(batch, n), jnp.arange(n, dtype=jnp.int32),
                                   sentinel), jnp.full((batch, 1), sentinel)], axis=1)

  def compress(rep):
    def body(carry):
      r, _ = carry
      jumped = jnp.take_along_axis(r, r, axis=1)
      return jumped, jnp.any(jumped != r)
    return jax.lax.while_loop(lambda c: c[1], body, (rep, jnp.bool_(True)))[0]

  def hook_round(carry):
    rep, _ = carry
    roots = rep[:, :n]
    neighbour_min = jax.lax.reduce_window(roots.reshape(batch, height, width), sentinel,
                                          jax.lax.min, (1, 3, 3), (1, 1, 1), "SAME")
    neighbour_min = jnp.where(mask, neighbour_min, sentinel).reshape(batch, n)
    hooked = compress(rep.at[rows, roots].min(neighbour_min))
    return hooked, jnp.any(hooked != rep)

  rep = jax.lax.while_loop(lambda c: c[1], hook_round, (rep, jnp.bool_(True)))[0]
  return rep[:, :n].reshape(batch, height, width)


def _label_counts(labels, n):
  """Pixel count per label [B, n] (background dropped)."""
  return jax.vmap(lambda lab: jnp.bincount(lab.reshape(-1), length=n + 1)[:n])(labels)


def component_boxes_xyxy(maps, threshold, max_components: int = 8, quantize: bool = False):
  """Boxes of the ``max_components`` largest 8-connected components (by pixel count).

  maps [B, H, W] float, threshold scalar or [B] (see :func:`binarize`) ->
  ``(boxes [B, K, 4] float32 pixel-edge xyxy, pixel_counts [B, K] int32)``, largest first (ties:
  the component whose first pixel in raster order comes first); missing components have count 0
  and box ``[0, 0, 0, 0]``. Pixel-edge: a component spanning columns ``a..b`` gives
  ``x0 = a, x1 = b + 1`` (:func:`wsol_jax.localization.boxes.to_metric_pred_xyxy` makes protocol boxes).
  """
  mask = binarize(maps, threshold, quantize)
  batch, height, width = mask.shape
  n = height * width
  labels = connected_components(mask)
  counts = _label_counts(labels, n)
  k = min(max_components, n)
  top_counts, top_labels = jax.lax.top_k(counts, k)  # ties -> lower label first
  flat = labels.reshape(batch, 1, n)
  member = flat == top_labels[:, :, None]  # [B, K, n]
  xs = jnp.tile(jnp.arange(width, dtype=jnp.int32), height)
  ys = jnp.repeat(jnp.arange(height, dtype=jnp.int32), width)
  x0 = jnp.min(jnp.where(member, xs, width), axis=-1)
  y0 = jnp.min(jnp.where(member, ys, height), axis=-1)
  x1 = jnp.max(jnp.where(member, xs, -1), axis=-1) + 1
  y1 = jnp.max(jnp.where(member, ys, -1), axis=-1) + 1
  boxes = jnp.stack([x0, y0, x1, y1], axis=-1).astype(jnp.float32)
  found = top_counts > 0
  return jnp.where(found[..., None], boxes, 0.0), jnp.where(found, top_counts, 0).astype(jnp.int32)


def largest_component_box_xyxy(maps, threshold, quantize: bool = False):
  """Box of the largest 8-connected component of ``maps > threshold`` -> [B, 4] float32.

  maps [B, H, W] float (min-max normalised), threshold scalar or [B] (``quantize``, a Python
  bool, see :func:`binarize`). Pixel-edge xyxy in the map's pixels (columns ``a..b`` ->
  ``x0 = a, x1 = b + 1``); ``[0, 0, 0, 0]`` where nothing passes the threshold. Largest = most
  pixels; ties go to the component met first in raster order. jit-able: this is what a train step
  calls to turn a (top-K) CAM into a pseudo-box.
  """
  return component_boxes_xyxy(maps, threshold, 1, quantize)[0][:, 0]
