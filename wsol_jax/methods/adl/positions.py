"""Where ADL sits: the block names a configured backbone calls its ``block_hook`` with, and the
paper's positions per backbone (:data:`PAPER_POSITIONS`), as wsolevaluation inserts ADL."""

from __future__ import annotations

import re
from typing import Any, Callable, Mapping, Sequence

import jax
import jax.numpy as jnp

from wsol_jax.methods.adl import layer
from wsol_jax.models import heads


def _small_vgg_positions(block_names: Sequence[str]) -> tuple[str, ...]:
  """small_vgg (tests, demos): the last conv of each of the last two stages (``conv{s}_{i}``), the
  rule the MobileNet entry follows."""
  last_of_stage: dict[int, str] = {}
  for name in block_names:
    match = re.fullmatch(r"conv(\d+)_\d+", name)
    if match:
      last_of_stage[int(match.group(1))] = name  # names come in order: the last one wins
  return tuple(last_of_stage[s] for s in sorted(last_of_stage)[-2:])


# The block names after which ADL sits, per backbone (a tuple, or a rule over the traced names).
PAPER_POSITIONS: Mapping[str, tuple[str, ...] | Callable[[Sequence[str]], tuple[str, ...]]] = {
    # wsol/vgg.py configs_dict['adl']: 'A' after pool3, after conv4_3 + ReLU and after conv5_3 +
    # ReLU (14x14 and 28x28 alike).
    "vgg16": ("features_16", "features_22", "features_29"),
    # wsol/resnet.py _ADL_POSITION = [[], [], [], [0], [0, 2]]: after block 0 of layer3 and after
    # blocks 0 and 2 (the last) of layer4.
    "resnet50": ("layer3_0", "layer4_0", "layer4_2"),
    # wsol/inception.py InceptionAdl: ADL_5d after Mixed_5d, ADL_6e after Mixed_6e. Its third,
    # ADL_A3_2b after the head's second 3x3 conv, has no place here: this localizer's CAM head has
    # one extra conv and no hook (docs/ALGORITHMS.md).
    "inception_v3": ("Mixed_5d", "Mixed_6e"),
    # Ours, no reference: the last block of each of the last two stages (conv_pw_11 ends the
    # 512-wide stage, conv_pw_13 the 1024-wide one and the feature map), as conv4_3 and conv5_3 in
    # VGG16 and Mixed_5d and Mixed_6e in InceptionV3.
    "mobilenet_v1": ("conv_pw_11", "conv_pw_13"),
    "mobilenet_v1_050": ("conv_pw_11", "conv_pw_13"),
    "mobilenet_v1_075": ("conv_pw_11", "conv_pw_13"),
    "mobilenet_v1_100": ("conv_pw_11", "conv_pw_13"),
    "small_vgg": _small_vgg_positions,
}


def traced_block_names(backbone: str, backbone_kwargs: Mapping[str, Any],
                       image_size: int) -> tuple[str, ...]:
  """The names, in order, that ``backbone`` with ``backbone_kwargs`` calls its ``block_hook`` with
  on a [1, image_size, image_size, 3] image (traced with :func:`jax.eval_shape`: no compute)."""
  recorder = layer.BlockRecorder()
  module = heads.make_backbone(backbone, dict(backbone_kwargs, block_hook=recorder))
  images = jax.ShapeDtypeStruct((1, image_size, image_size, 3), jnp.float32)
  jax.eval_shape(lambda x: module.init(jax.random.key(0), x, train=False), images)
  return tuple(recorder.seen)


def paper_positions(backbone: str, block_names: Sequence[str]) -> tuple[str, ...] | None:
  """:data:`PAPER_POSITIONS`' entry of ``backbone`` (resolved over its ``block_names``), or None."""
  entry = PAPER_POSITIONS.get(backbone)
  if entry is None:
    return None
  return tuple(entry(block_names)) if callable(entry) else tuple(entry)
