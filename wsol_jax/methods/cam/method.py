"""CAM (Zhou et al., CVPR 2016): train the localizer with cross-entropy; localise with its CAM.

Training: ``CE(localizer(I), y)``; the backbone learns at ``config.train.lr``, the CAM head (extra
conv + FC) at ``lr * lr_mults['head']`` (wsolevaluation: x10).
Figures: each image with its GT box (red) and the CAM box (green: the GT class's CAM upsampled,
thresholded at ``config.eval.cam_threshold``, largest component), beside the CAM heat map.
Evaluation (one prediction group, ``'localizer'``): the class from the localizer's logits and the
raw CAM of the ground-truth class (GT-known, MaxBoxAcc, MaxBoxAccV2, and Top-1/5 LOC, where the CAM
of a correctly predicted class is the GT class's); :mod:`wsol_jax.training.evaluator` upsamples and
thresholds it per the protocol. The whole shape is :class:`wsol_jax.methods.common.CAMLocalizerMethod`.
"""

from __future__ import annotations

from wsol_jax.methods import common
from wsol_jax.methods.cam import config as cam_config
from wsol_jax.methods.cam import figures, losses
from wsol_jax.training import method as base


@base.register_method("cam")
class CAM(common.CAMLocalizerMethod):
  """The CAM baseline on the shared loop."""

  def check_config(self, config):
    cam_config.check_config(config)

  def train_loss(self, out, targets):
    return losses.cam_loss(out["logits"], targets)

  def draw_figures(self, data, out_dir: str, tag: str) -> list[str]:
    """``out_dir/cam_<tag>.png`` (:func:`.figures.draw`)."""
    return figures.draw(data, out_dir, tag)
