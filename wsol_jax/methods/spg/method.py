"""SPG (Self-produced Guidance, Zhang et al., ECCV 2018) as wsolevaluation builds it.

Network (:mod:`.network`): the backbone of ``config.model`` (``backbone``) and the ``head``: SPG-A
(the trunk's last convs and a 1x1 conv to C class maps, GAP -> logits), SPG-B1 / SPG-B2 (branches on
two intermediate maps that the backbone's ``block_hook`` records, with a shared tail to one logit
per cell) and SPG-C (on SPG-A's last map). On VGG16 the head also holds conv4 and conv5, initialised
from the backbone's (wsolevaluation moves them out of ``features``); the backbone's own conv4 /
conv5 are then never read. SPG's head replaces the CAM head: ``config.model.head_channels`` is not
read.
Training (:mod:`.losses`): ``CE + BCE(B2 | attention) + BCE(B1 | sigmoid B2) + BCE(C | fused)``,
each BCE over the pixels its guidance marks foreground (1) or background (0), thresholds in
``config.spg``; the guidances come from the labels' class maps, so the network reads no label. The
backbone learns at ``config.train.lr``, the head at ``lr * lr_mults['head']`` (on ResNet50 also
layer4, as CAM's; wsolevaluation's ResNetSpg leaves its new layers at x1: docs/ALGORITHMS.md).
Evaluation (one group, ``'localizer'``): the class from SPG-A's logits and, as the CAM, SPG-A's raw
class map of the GT class (wsolevaluation ``return_cam``); no label enters the network.
"""

from __future__ import annotations

import flax

from wsol_jax.methods import common
from wsol_jax.methods.spg import config as spg_config
from wsol_jax.methods.spg import figures, losses, network
from wsol_jax.models import blocks, heads
from wsol_jax.training import method as base
from wsol_jax.training import train_state as ts


@base.register_method("spg")
class SPG(common.CAMLocalizerMethod):
  """SPG on the shared CAM-localizer loop: its own network, a four-term loss, SPG-A's class map."""

  def check_config(self, config):
    spg_config.check_config(config)
    layout = self._layout(config)
    known = network.block_names(config.model.backbone, config.model.backbone_kwargs)
    for field, block in (("b1_block", layout.b1_block), ("b2_block", layout.b2_block)):
      if known is not None and block and block not in known:
        raise ValueError(f"config.spg.{field}={block!r} is not a block of "
                         f"{config.model.backbone} (one of {', '.join(known)})")

  @property
  def layout(self) -> network.Layout:
    """Where the branches read and how wide they are (:func:`.network.layout_for`)."""
    return self._layout(self.config)

  @staticmethod
  def _layout(config) -> network.Layout:
    section = spg_config.section_of(config)
    return network.layout_for(config.model.backbone, config.model.backbone_kwargs,
                              b1_block=section.b1_block, b2_block=section.b2_block,
                              branch_channels=section.branch_channels,
                              c_channels=section.c_channels)

  def localizer(self, bn_axis_name: str | None = None):
    cfg = self.config
    return network.SPGNetwork(
        backbone_name=cfg.model.backbone, num_classes=self.info.num_classes, layout=self.layout,
        backbone_kwargs=dict(cfg.model.backbone_kwargs),
        dtype=blocks.canonical_dtype(cfg.model.dtype), bn_axis_name=bn_axis_name)

  def init_state(self, rng, sample_batch):
    """As CAM's; on VGG16 the head's conv4 / conv5 start as the backbone's (pretrained) ones
    (wsolevaluation vgg.py ``batch_replace_layer``)."""
    images = heads.model_input(sample_batch["image"][:1])
    variables = common.init_variables(self.config, self.localizer(), self.config.model.backbone,
                                      rng, images)
    params = flax.core.unfreeze(variables["params"])
    if self.layout.vgg_stages:
      for head_conv, backbone_conv in network.VGG_MOVED_CONVS.items():
        params["head"][head_conv] = dict(params["backbone"][backbone_conv])
    return ts.create_state({"localizer": params},
                           {"localizer": variables.get("batch_stats", {})}, self.tx)

  def train_forward(self, model, variables, images, labels, rngs):
    """The network's training dict (it reads no label), with ``guidance_hw``: the training
    images' (H, W), the guidances' size."""
    out, updates = super().train_forward(model, variables, images, labels, rngs)
    return dict(out, guidance_hw=tuple(images.shape[1:3])), updates

  def train_loss(self, out, targets):
    section = spg_config.section_of(self.config)
    loss, _ = losses.spg_loss(out, targets, out["guidance_hw"], spg_config.thresholds(section),
                              section.min_foreground_pixels, section.fallback_ratio)
    return loss

  def class_map(self, out, classes):
    """SPG-A's raw class map [B, h, w] of ``classes`` [B] (wsolevaluation's CAM for SPG)."""
    return network.take_class(out["class_maps"], classes)

  def draw_figures(self, data, out_dir: str, tag: str) -> list[str]:
    """``out_dir/spg_<tag>.png`` (:func:`.figures.draw`)."""
    return figures.draw(data, out_dir, tag)
