"""CAM (Zhou et al., CVPR 2016): train the localizer with cross-entropy; localise with its CAM.

Training: ``CE(localizer(I), y)``; the backbone learns at ``config.train.lr``, the CAM head (extra
conv + FC) at ``lr * lr_mults['head']`` (wsolevaluation: x10).
Figures (:mod:`.figures`): each image with its GT box (red) and the CAM box (green: the GT class's
CAM upsampled, thresholded at ``config.eval.cam_threshold``, largest component), beside the CAM heat
map.
Evaluation (one prediction group, ``'localizer'``): the class from the localizer's logits and the
raw CAM of the ground-truth class (GT-known, MaxBoxAcc, MaxBoxAccV2, and Top-1/5 LOC, where the CAM
of a correctly predicted class is the GT class's); :mod:`wsol_jax.training.evaluator` upsamples and
thresholds it per the protocol.
"""

from __future__ import annotations

import jax.numpy as jnp

from wsol_jax.localization import scoremaps as cam_lib
from wsol_jax.methods import common
from wsol_jax.methods.cam import config as cam_config
from wsol_jax.methods.cam import figures, losses
from wsol_jax.models import heads
from wsol_jax.training import method as base
from wsol_jax.training import train_state as ts


def localizer_cam_predictions(out: dict, labels) -> dict:
  """Localizer outputs -> the evaluator's keys: ``logits`` [B, C] and ``cam_gt`` [B, h, w], the raw
  CAM of the ground-truth class (Top-k LOC needs no other: a correct class's CAM is the GT's)."""
  return {"logits": out["logits"],
          "cam_gt": cam_lib.cams_for_classes(out["features"], out["cam_weights"], labels)}


@base.register_method("cam")
class CAM(base.Method):
  """The CAM baseline on the shared loop."""

  primary_eval_group = "localizer"

  def __init__(self, config, info: base.RunInfo):
    super().__init__(config, info)
    cam_config.check_config(config)
    self.tx = common.network_optimizer(config.train, common.LOCALIZER_GROUPS,
                                       info.steps_per_epoch, self.total_steps())

  def localizer(self, bn_axis_name: str | None = None) -> heads.Localizer:
    return common.build_localizer(self.config, self.info.num_classes, bn_axis_name)

  def init_state(self, rng, sample_batch):
    images = heads.model_input(sample_batch["image"][:1])
    variables = common.init_variables(self.config, self.localizer(), self.config.model.backbone,
                                      rng, images)
    return ts.create_state({"localizer": variables["params"]},
                           {"localizer": variables.get("batch_stats", {})}, self.tx)

  def train_step(self, state, batch, rng, *, stage, axis_name=None):
    del stage
    return common.cross_entropy_step(state, batch, rng, model=self.localizer(axis_name),
                                     network="localizer", tx=self.tx, axis_name=axis_name,
                                     loss_fn=losses.cam_loss)

  def predict(self, state, batch):
    out = self.localizer().apply(common.network_variables(state, "localizer"),
                                 heads.model_input(batch["image"]), train=False)
    return {"localizer": localizer_cam_predictions(out, batch["label"])}

  def infer(self, state, images):
    """The class from the localizer; the box is the CAM of the top-1 class at
    ``config.eval.cam_threshold``, thresholded on the host as the evaluator does (no ``boxes``)."""
    out = self.localizer().apply(common.network_variables(state, "localizer"),
                                 heads.model_input(images), train=False)
    preds = localizer_cam_predictions(out, jnp.argmax(out["logits"], axis=-1))
    return {"logits": preds["logits"], "scoremap": preds["cam_gt"],
            "threshold": jnp.full(out["logits"].shape[:1], self.config.eval.cam_threshold)}

  def figure_arrays(self, state, images_uint8, labels):
    """On device: ``scoremap``, the GT class's CAM upsampled to the image and min-max normalised
    [B, H, W], and ``cam_box``, its box (abs xyxy [B, 4]) at ``config.eval.cam_threshold``."""
    images = heads.model_input(images_uint8)
    out = self.localizer().apply(common.network_variables(state, "localizer"), images, train=False)
    cams = cam_lib.cams_for_classes(out["features"], out["cam_weights"], labels)
    maps = cam_lib.upsample_scoremaps(cams, images.shape[1:3])
    return {"scoremap": maps,
            "cam_box": cam_lib.largest_component_box_xyxy(maps, self.config.eval.cam_threshold)}

  def draw_figures(self, data, out_dir: str, tag: str) -> list[str]:
    """``out_dir/cam_<tag>.png`` (:func:`.figures.draw`)."""
    return figures.draw(data, out_dir, tag)
