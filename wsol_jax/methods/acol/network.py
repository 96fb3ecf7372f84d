"""ACoL's network (Zhang et al., CVPR 2018, as wsolevaluation's ``AcolBase`` builds it): a backbone
and two classifier branches. Branch A reads the backbone's map; its class map of one class per image
(the label in training, its own top-1 class without one), min-max normalised per image, erases the
backbone map's cells at or above a threshold; branch B reads the erased map. Each branch's logits
are the spatial mean of its class maps; the localisation map is the max of both branches'
normalised maps (:func:`fused_class_map`)."""

from __future__ import annotations

from typing import Any

import flax
import flax.linen as nn
import jax
import jax.numpy as jnp

from wsol_jax.models import blocks, heads

# Branch convolutions' initialisers: wsolevaluation's initialize_weights modes (biases 0).
BRANCH_INITS = {
    "xavier_uniform": nn.initializers.xavier_uniform(),  # VggAcol, InceptionAcol
    "he_normal": nn.initializers.variance_scaling(2.0, "fan_out", "normal"),  # ResNet
}


def normalize_per_image(maps, eps: float = 1e-12):
  """Min-max over the cells of each map: [B, h, w] -> [B, h, w] in [0, 1] (wsolevaluation's
  ``normalize_tensor``); a constant map becomes 0 (theirs divides by zero)."""
  low = jnp.min(maps, axis=(1, 2), keepdims=True)
  high = jnp.max(maps, axis=(1, 2), keepdims=True)
  return (maps - low) / jnp.maximum(high - low, eps)


def take_class(class_maps, classes):
  """class_maps [B, h, w, C], classes [B] int -> the map of each image's class [B, h, w]."""
  return jnp.take_along_axis(class_maps, classes[:, None, None, None].astype(jnp.int32),
                             axis=-1)[..., 0]


def erase_mask(class_maps_a, classes, threshold: float):
  """Which cells to erase [B, h, w] bool: branch A's map of ``classes`` [B], normalised per image,
  ``>= threshold`` (wsolevaluation ``_erase_attention``'s ``torch.ge``). No gradient flows through
  the mask (theirs reads a detached copy)."""
  attention = normalize_per_image(take_class(jax.lax.stop_gradient(class_maps_a), classes))
  return attention >= threshold


def fused_class_map(class_maps_a, class_maps_b, classes):
  """The localisation map of ``classes`` [B]: the elementwise max of both branches' maps, each
  min-max normalised per image first, as wsolevaluation's ``return_cam`` -> [B, h, w] in [0, 1]."""
  return jnp.maximum(normalize_per_image(take_class(class_maps_a, classes)),
                     normalize_per_image(take_class(class_maps_b, classes)))


class AcolBranch(nn.Module):
  """One classifier: conv 3x3 (``channels``) + ReLU, conv 3x3 (``channels``) + ReLU, conv 1x1 to
  ``num_classes`` (wsolevaluation ``classifier_A`` / ``classifier_B``): features [B, h, w, K] ->
  class maps [B, h, w, C] float32. ``channels`` 0: the 1x1 conv alone (a CAM head without its
  extra conv, as the CPU recipes build CAM's)."""
  num_classes: int
  channels: int = 1024
  branch_init: str = "xavier_uniform"  # a key of BRANCH_INITS
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x):
    conv = lambda n, k, name: nn.Conv(n, (k, k), padding=k // 2, dtype=self.dtype,
                                      param_dtype=jnp.float32, name=name,
                                      kernel_init=BRANCH_INITS[self.branch_init],
                                      bias_init=nn.initializers.zeros)
    if self.channels:
      x = nn.relu(conv(self.channels, 3, "conv1")(x))
      x = nn.relu(conv(self.channels, 3, "conv2")(x))
    return conv(self.num_classes, 1, "classifier")(x).astype(jnp.float32)


class AcolHead(nn.Module):
  """Both branches on a backbone map: ``(features [B,h,w,K], labels [B] int or None) -> dict``:

  * ``logits`` [B, C]: branch A's (what wsolevaluation classifies with); ``logits_b`` [B, C];
  * ``class_maps_a`` / ``class_maps_b`` [B, h, w, C] float32: each branch's class maps;
  * ``erased`` [B, h, w] bool: the cells zeroed in branch B's input.

  pre_branch_pools: wsolevaluation's VggAcol: a 3x3 stride-1 max pool (its 'M2' after conv5_3)
    then a 3x3 stride-1 average pool (zero padding counted) on the map, before both branches.
  """
  num_classes: int
  channels: int = 1024
  erase_threshold: float = 0.7
  branch_init: str = "xavier_uniform"  # a key of BRANCH_INITS
  pre_branch_pools: bool = False
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, features, labels=None, train: bool = False) -> dict:
    del train
    if self.pre_branch_pools:
      features = blocks.max_pool_torch(features, 3, 1, 1)
      features = blocks.avg_pool_torch(features, 3, 1, 1)
    branch = lambda name: AcolBranch(self.num_classes, self.channels, self.branch_init,
                                     self.dtype, name=name)
    class_maps_a = branch("branch_a")(features)
    logits_a = jnp.mean(class_maps_a, axis=(1, 2))
    classes = jnp.argmax(logits_a, axis=-1) if labels is None else jnp.asarray(labels)
    erased = erase_mask(class_maps_a, classes, self.erase_threshold)
    kept = jnp.logical_not(erased)[..., None].astype(features.dtype)
    class_maps_b = branch("branch_b")(features * kept)
    return {"logits": logits_a, "logits_b": jnp.mean(class_maps_b, axis=(1, 2)),
            "class_maps_a": class_maps_a, "class_maps_b": class_maps_b, "erased": erased}


class AcolNetwork(nn.Module):
  """Backbone + :class:`AcolHead`: ``(images [B,H,W,3] float in [0,1], train, labels [B] or None)
  -> the head's dict``. Parameters live under ``backbone`` and ``head`` (the lr groups)."""
  backbone_name: str
  num_classes: int
  backbone_kwargs: Any = flax.core.FrozenDict()
  channels: int = 1024
  erase_threshold: float = 0.7
  branch_init: str = "xavier_uniform"  # a key of BRANCH_INITS
  pre_branch_pools: bool = False
  dtype: Any = jnp.float32
  bn_axis_name: str | None = None

  @nn.compact
  def __call__(self, images, train: bool = False, labels=None) -> dict:
    backbone = heads.make_backbone(self.backbone_name, self.backbone_kwargs, dtype=self.dtype,
                                   bn_axis_name=self.bn_axis_name, module_name="backbone")
    head = AcolHead(self.num_classes, self.channels, self.erase_threshold, self.branch_init,
                    self.pre_branch_pools, self.dtype, name="head")
    return head(backbone(images, train=train), labels, train=train)
