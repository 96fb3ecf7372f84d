"""ADL (Choe & Shim, CVPR 2019), as wsolevaluation trains it: CAM with an Attention-based Dropout
Layer after some blocks of the backbone.

Training: ``CE(localizer(I), y)`` where the backbone runs :class:`.layer.ADLayer` after each block
of ``config.adl.positions`` (the paper's positions for the backbone when empty: .positions); each
ADL multiplies the map by its drop mask (probability ``config.adl.drop_rate``) or its importance
map, drawn from the 'dropout' stream. ADL has no parameters, so the localizer's parameters (and the
pretrained weights' layout) are CAM's.
Evaluation, prediction and figures: ADL is the identity, so everything is CAM's on this localizer
(:class:`wsol_jax.methods.common.CAMLocalizerMethod`).
"""

from __future__ import annotations

from wsol_jax.methods import common
from wsol_jax.methods.adl import config as adl_config
from wsol_jax.methods.adl import figures, layer, losses
from wsol_jax.models import blocks, heads
from wsol_jax.training import method as base


@base.register_method("adl")
class ADL(common.CAMLocalizerMethod):
  """The ADL baseline on the shared loop."""

  positions: tuple[str, ...] = ()

  def check_config(self, config):
    self.positions = adl_config.check_config(config)

  def localizer(self, bn_axis_name: str | None = None):
    """The CAM localizer of ``config.model`` with ADL after the blocks of :attr:`positions`."""
    config = self.config
    hook = layer.ADLHook(positions=self.positions, drop_rate=float(config.adl.drop_rate),
                         threshold=float(config.adl.threshold))
    return heads.Localizer(
        backbone_name=config.model.backbone, num_classes=self.info.num_classes,
        backbone_kwargs=dict(config.model.backbone_kwargs, block_hook=hook),
        head_channels=config.model.head_channels,
        dtype=blocks.canonical_dtype(config.model.dtype), bn_axis_name=bn_axis_name)

  def train_loss(self, out, targets):
    return losses.adl_loss(out["logits"], targets)

  def draw_figures(self, data, out_dir: str, tag: str) -> list[str]:
    """``out_dir/adl_<tag>.png`` (:func:`.figures.draw`)."""
    return figures.draw(data, out_dir, tag)
