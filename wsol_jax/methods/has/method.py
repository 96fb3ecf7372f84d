"""Hide-and-Seek (Singh & Lee, ICCV 2017): CAM trained on images with random patches hidden.

Training: each image of the batch is cut into ``config.has.grid_size`` px square patches, each
hidden with probability ``config.has.drop_rate`` (:mod:`.hiding`: filled with the colour the
backbone reads as zero, wsolevaluation's "0 after normalisation"), then ``CE(localizer(I'), y)``.
The network, optimizer groups, evaluation and prediction are CAM's
(:class:`wsol_jax.methods.common.CAMLocalizerMethod`): nothing is hidden at test (Sec. 3.2).
"""

from __future__ import annotations

import numpy as np

from wsol_jax.methods import common
from wsol_jax.methods.has import config as has_config
from wsol_jax.methods.has import figures, hiding, losses
from wsol_jax.models import heads
from wsol_jax.training import method as base


@base.register_method("has")
class HideAndSeek(common.CAMLocalizerMethod):
  """HaS on the shared CAM loop; the 'augment' stream draws the hidden patches."""

  rng_streams = ("dropout", "augment")

  def __init__(self, config, info: base.RunInfo):
    super().__init__(config, info)
    section = has_config.section(config)
    self.patch_px = int(section.grid_size)
    self.drop_rate = float(section.drop_rate)
    # Host NumPy: a constant of the compiled step, on whichever devices run it.
    self.fill_rgb = np.asarray(common.zero_rgb(config.model.backbone,
                                               config.model.backbone_kwargs))

  def check_config(self, config):
    has_config.check_config(config)

  def train_inputs(self, batch, rngs):
    """Images float [B, H, W, 3] with random patches hidden, and the labels [B]."""
    images = hiding.hide_patches(heads.model_input(batch["image"]), rngs["augment"],
                                 patch_px=self.patch_px, drop_rate=self.drop_rate,
                                 fill_rgb=self.fill_rgb)
    return images, batch["label"]

  def train_loss(self, out, targets):
    return losses.has_loss(out["logits"], targets)

  def draw_figures(self, data, out_dir: str, tag: str) -> list[str]:
    """``out_dir/has_<tag>.png`` (:func:`.figures.draw`)."""
    return figures.draw(data, out_dir, tag)
