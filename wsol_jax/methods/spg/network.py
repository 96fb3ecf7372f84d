"""SPG's network (Zhang et al., ECCV 2018) as wsolevaluation builds it (``wsol/{vgg,resnet,
inception}.py``: ``VggSpg``, ``ResNetSpg``, ``InceptionSpg``), on this package's backbones.

* SPG-A: the classification trunk; its last layer is a 1x1 conv to C class maps whose spatial mean
  is the logits, and whose map of a class is that class's attention (and the CAM scored).
* SPG-B: two branches on intermediate maps (``b1`` earlier, ``b2`` later), each a 3x3 conv + ReLU,
  then a shared 3x3 conv + ReLU + 1x1 conv to one foreground logit per cell.
* SPG-C: a 3x3 conv + ReLU + 1x1 conv to one logit per cell, on SPG-A's last feature map.

Where the branches read is a :class:`Layout` per backbone (:func:`layout_for`). The backbone's
maps are read by a recording ``block_hook`` (:class:`BlockRecorder`). Every new layer (and VggSpg's
conv4 / conv5, which wsolevaluation moves out of ``features``) is in the module ``head``; the
backbone is ``backbone``. New convs: Xavier-uniform kernels, zero biases (wsolevaluation's
``initialize_weights(..., 'xavier')`` for all three SPG networks).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import flax
import flax.linen as nn
import jax.numpy as jnp

from wsol_jax.models import blocks, heads, inception, mobilenet, resnet, vgg

# Pools as (window, stride, padding, ceil_mode), PyTorch's max_pool2d arguments.
VGG_POOL4 = (3, 2, 1, False)  # VggSpg: F.max_pool2d(3, 2, 1) after SPG_A_1 (not large_feature_map)
INCEPTION_POOL = (3, 2, 0, True)  # InceptionSpg: F.max_pool2d(3, 2, ceil_mode) after Mixed_5d
SMALL_VGG_POOL = (2, 2, 0, False)  # small_vgg's own pool between stages
# VggSpg's SPG_A_1 / SPG_A_2 are VGG16's conv4_1..4_3 / conv5_1..5_3, initialised from them
# (wsolevaluation vgg.py batch_replace_layer): head conv name -> backbone conv name.
VGG_MOVED_CONVS = {"a1_conv1": "features_17", "a1_conv2": "features_19", "a1_conv3": "features_21",
                   "a2_conv1": "features_24", "a2_conv2": "features_26", "a2_conv3": "features_28"}


@dataclasses.dataclass(frozen=True)
class Layout:
  """Where SPG's branches read and how wide they are, for one backbone.

  trunk_block: the backbone block whose output SPG-A continues from; '' = the backbone's output.
  b1_block / b2_block: backbone blocks read by SPG-B1 / SPG-B2; '' = the head's own conv4 / conv5
    stage (VggSpg, whose conv4 and conv5 live in the head).
  b1_pool: a max pool (window, stride, padding, ceil_mode) on B1's input, or None.
  vgg_stages: VggSpg's conv4 and conv5 stages in the head (3 convs of 512 each, ``VGG_POOL4``
    between them unless ``vgg_pool4`` is None).
  vgg_pool4: the pool between those stages, or None (``large_feature_map``).
  extra_convs: widths of SPG-A's 3x3 convs after the trunk (VggSpg SPG_A_3, InceptionSpg
    SPG_A3_1b / 2b); 0 = the trunk's channels.
  branch_channels: SPG-B's conv width; 0 = B2's input channels.
  c_channels: SPG-C's 3x3 conv width (512 in all three wsolevaluation networks).
  dropout_rate: dropout on the trunk and after each extra conv (InceptionSpg: 0.5), 0 = none.
  """
  trunk_block: str = ""
  b1_block: str = ""
  b2_block: str = ""
  b1_pool: tuple[int, int, int, bool] | None = None
  vgg_stages: bool = False
  vgg_pool4: tuple[int, int, int, bool] | None = None
  extra_convs: tuple[int, ...] = ()
  branch_channels: int = 0
  c_channels: int = 512
  dropout_rate: float = 0.0

  @property
  def tapped_blocks(self) -> tuple[str, ...]:
    """The backbone blocks the network reads, in a fixed order."""
    return tuple(b for b in (self.b1_block, self.b2_block, self.trunk_block) if b)


def _is_mobilenet(name: str) -> bool:
  return name == "mobilenet_v1" or name.startswith("mobilenet_v1_")


def layout_for(backbone: str, backbone_kwargs, *, b1_block: str = "", b2_block: str = "",
               branch_channels: int = 0, c_channels: int = 512) -> Layout:
  """The :class:`Layout` of ``backbone`` (with ``backbone_kwargs``): wsolevaluation's for vgg16,
  resnet50 and inception_v3; for mobilenet_v1* and small_vgg the same rule (B1 and B2 at the final
  map's stride, B1 an earlier block than B2; SPG-C and SPG-A's classifier on the final map).
  ``b1_block`` / ``b2_block`` ('' = the layout's) read other backbone blocks, as they are (no pool);
  ``branch_channels`` (0 = the layout's) and ``c_channels`` set the branch widths. A one-line
  ValueError for a backbone without a layout and no configured blocks."""
  kwargs = dict(backbone_kwargs or {})
  large = bool(kwargs.get("large_feature_map", False))
  if backbone == "vgg16":
    if b1_block or b2_block:
      raise ValueError("config.spg.b1_block / b2_block must be '' for vgg16: VggSpg's branches "
                       "read its own conv4 / conv5 stages, which live in the head")
    # SPG_A_1 (conv4) -> pool -> B1; SPG_A_2 (conv5) -> B2; SPG_A_3 (2 x 512); all 512 wide.
    layout = Layout(trunk_block="features_16", vgg_stages=True,
                    vgg_pool4=None if large else VGG_POOL4, extra_convs=(512, 512),
                    branch_channels=512)
  elif backbone == "resnet50":
    # SPG_A1 = layer3.0 -> B1, SPG_A2 = layer3.1-5 -> B2, layer4 -> SPG_A4 and SPG_C.
    layout = Layout(b1_block="layer3_0", b2_block="layer3_5", branch_channels=1024)
  elif backbone == "inception_v3":
    # B1 on Mixed_5d (pooled unless large_feature_map); B2 on Mixed_6d: InceptionSpg passes the
    # variable x, which holds Mixed_6d's output (Mixed_6e's is `feat`), to SPG_B_2a.
    layout = Layout(b1_block="Mixed_5d", b2_block="Mixed_6d",
                    b1_pool=None if large else INCEPTION_POOL, extra_convs=(1024, 1024),
                    branch_channels=512, dropout_rate=0.5)
  elif _is_mobilenet(backbone):
    # As ResNet's layer3 / layer4: blocks 6-11 are the last stage of width 512w (first and last
    # block -> B1, B2), blocks 12-13 widen to 1024w at the same stride (last_stride=1).
    layout = Layout(b1_block="conv_pw_6", b2_block="conv_pw_11")
  elif backbone == "small_vgg":
    # As VggSpg's branches: B1 reads the last stage's input (the previous stage's last conv,
    # pooled), B2 the last stage's output. As ResNetSpg's trunk: no extra convs (the tiny net's
    # convs stay in the backbone; two more at the head's x10 lr made the tiny test run diverge).
    stages, convs = len(kwargs.get("widths", (32, 64, 128))), kwargs.get("convs_per_stage", 2)
    if stages < 2 and not b1_block:
      raise ValueError("SPG on small_vgg needs 2 or more stages (config.model.backbone_kwargs."
                       "widths), or config.spg.b1_block set")
    layout = Layout(b1_block=f"conv{stages - 1}_{convs}", b2_block=f"conv{stages}_{convs}",
                    b1_pool=SMALL_VGG_POOL)
  elif b1_block and b2_block:
    layout = Layout()
  else:
    raise ValueError(f"SPG has no layout for backbone {backbone!r}: set config.spg.b1_block and "
                     "config.spg.b2_block to two of its block names")
  if b1_block:
    layout = dataclasses.replace(layout, b1_block=b1_block, b1_pool=None)
  if b2_block:
    layout = dataclasses.replace(layout, b2_block=b2_block)
  if branch_channels:
    layout = dataclasses.replace(layout, branch_channels=branch_channels)
  return dataclasses.replace(layout, c_channels=c_channels)


def block_names(backbone: str, backbone_kwargs) -> tuple[str, ...] | None:
  """The blocks ``block_hook`` sees in ``backbone``'s feature pass (None: not known here)."""
  if backbone == "vgg16":
    return vgg.BLOCK_NAMES[:-1]  # pool5 is not in the feature map
  if backbone == "resnet50":
    return resnet.BLOCK_NAMES
  if backbone == "inception_v3":
    return inception.BLOCK_NAMES[:inception.BLOCK_NAMES.index("Mixed_6e") + 1]
  if _is_mobilenet(backbone):
    return mobilenet.BLOCK_NAMES
  if backbone == "small_vgg":
    kwargs = dict(backbone_kwargs or {})
    stages, convs = len(kwargs.get("widths", (32, 64, 128))), kwargs.get("convs_per_stage", 2)
    return tuple(f"conv{s}_{i}" for s in range(1, stages + 1) for i in range(1, convs + 1))
  return None


class BlockRecorder:
  """A ``block_hook`` that keeps the outputs of the blocks ``names`` of one backbone call in
  ``maps`` (block name -> [B, h, w, K]) and passes every block's output on unchanged.

  Make one per forward pass and read ``maps`` right after the backbone call, in the same trace.
  Hashable by identity, as a module field must be.
  """

  def __init__(self, names):
    self.names = tuple(names)
    self.maps: dict[str, Any] = {}

  def __call__(self, name, x, train):
    del train
    if name in self.names:
      self.maps[name] = x
    return x

  def checked_maps(self, backbone: str) -> dict:
    """``maps``, or a one-line error naming a block the backbone never reached."""
    missing = [n for n in self.names if n not in self.maps]
    if missing:
      raise ValueError(f"config.spg: backbone {backbone!r} has no block {missing[0]!r} (block "
                       "names: the backbone module's BLOCK_NAMES)")
    return dict(self.maps)


def take_class(class_maps, classes):
  """class_maps [B, h, w, C], classes [B] int -> each image's class map [B, h, w]."""
  index = classes[:, None, None, None].astype(jnp.int32)
  return jnp.take_along_axis(class_maps, index, axis=-1)[..., 0]


def _max_pool(x, pool):
  return x if pool is None else blocks.max_pool_torch(x, *pool[:3], ceil_mode=pool[3])


class SPGHead(nn.Module):
  """SPG-A's head layers, SPG-B and SPG-C: ``(maps, train) -> dict`` (:class:`SPGNetwork`'s).

  ``maps``: ``trunk`` [B, h, w, K] (where SPG-A continues), and ``b1`` / ``b2`` [B, h', w', K']
  unless the layout builds VggSpg's stages (which make them).
  """
  num_classes: int
  layout: Layout
  dtype: Any = jnp.float32

  def conv(self, features: int, kernel: int, name: str) -> nn.Conv:
    return nn.Conv(features, (kernel, kernel), padding=kernel // 2, dtype=self.dtype,
                   param_dtype=jnp.float32, kernel_init=nn.initializers.xavier_uniform(),
                   bias_init=nn.initializers.zeros, name=name)

  @nn.compact
  def __call__(self, maps: dict, train: bool = False) -> dict:
    layout = self.layout
    x = maps["trunk"].astype(self.dtype)
    if layout.vgg_stages:
      for i in range(1, 4):
        x = nn.relu(self.conv(512, 3, f"a1_conv{i}")(x))
      x = b1 = _max_pool(x, layout.vgg_pool4)
      for i in range(1, 4):
        x = nn.relu(self.conv(512, 3, f"a2_conv{i}")(x))
      b2 = x
    else:
      b1 = _max_pool(maps["b1"].astype(self.dtype), layout.b1_pool)
      b2 = maps["b2"].astype(self.dtype)

    width = layout.branch_channels or b2.shape[-1]
    shared_conv, shared_out = self.conv(width, 3, "b_shared_conv"), self.conv(1, 1, "b_shared_out")
    branch = lambda y, name: shared_out(nn.relu(shared_conv(nn.relu(self.conv(width, 3, name)(y)))))
    logits_b1 = branch(b1, "b1_conv")
    logits_b2 = branch(b2, "b2_conv")

    drop = lambda y: (nn.Dropout(layout.dropout_rate, deterministic=not train)(y)
                      if layout.dropout_rate else y)
    x = drop(x)
    for i, channels in enumerate(layout.extra_convs, start=1):
      x = drop(nn.relu(self.conv(channels or x.shape[-1], 3, f"a3_conv{i}")(x)))
    class_maps = self.conv(self.num_classes, 1, "a4_classifier")(x).astype(jnp.float32)
    logits_c = self.conv(1, 1, "c_out")(nn.relu(self.conv(layout.c_channels, 3, "c_conv")(x)))
    return {"logits": jnp.mean(class_maps, axis=(1, 2)), "class_maps": class_maps,
            "logits_b1": logits_b1[..., 0].astype(jnp.float32),
            "logits_b2": logits_b2[..., 0].astype(jnp.float32),
            "logits_c": logits_c[..., 0].astype(jnp.float32)}


class SPGNetwork(nn.Module):
  """Backbone + :class:`SPGHead`: ``(images [B,H,W,3] float in [0,1], train) -> dict``:

  * ``logits`` [B, C]: the spatial mean of ``class_maps`` (SPG-A's GAP);
  * ``class_maps`` [B, h, w, C]: SPG-A's last layer, the attention and the CAM of each class;
  * ``logits_b1``, ``logits_b2``, ``logits_c`` [B, h_i, w_i]: the per-cell foreground logits of
    SPG-B1, SPG-B2 and SPG-C;
  * ``taps``: backbone block name -> the map read there [B, h, w, K] (``Layout.tapped_blocks``).

  No label is read: the guidance is made from these outputs in the loss (:mod:`..losses`).
  Parameters live under ``backbone`` and ``head`` (the lr groups).
  """
  backbone_name: str
  num_classes: int
  layout: Layout
  backbone_kwargs: Any = flax.core.FrozenDict()
  dtype: Any = jnp.float32
  bn_axis_name: str | None = None

  @nn.compact
  def __call__(self, images, train: bool = False) -> dict:
    recorder = BlockRecorder(self.layout.tapped_blocks)
    backbone = heads.make_backbone(self.backbone_name,
                                   dict(self.backbone_kwargs, block_hook=recorder),
                                   dtype=self.dtype, bn_axis_name=self.bn_axis_name,
                                   module_name="backbone")
    features = backbone(images, train=train)
    taps = recorder.checked_maps(self.backbone_name)
    maps = {"trunk": taps[self.layout.trunk_block] if self.layout.trunk_block else features}
    if not self.layout.vgg_stages:
      maps.update(b1=taps[self.layout.b1_block], b2=taps[self.layout.b2_block])
    out = SPGHead(self.num_classes, self.layout, self.dtype, name="head")(maps, train=train)
    return dict(out, taps=taps)
