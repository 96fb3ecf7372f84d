"""ACoL (Zhang et al., CVPR 2018) as wsolevaluation builds it: two adversarial, complementary
classifier branches on one backbone.

Network (:mod:`.network`): the backbone of ``config.model`` (``backbone``), then the ``head``:
branch A (conv 3x3 + ReLU, conv 3x3 + ReLU, conv 1x1 to C class maps; width
``config.acol.channels``) on the backbone map; branch A's map of the label (training) or of its own
top-1 class (no label), min-max normalised per image, erases (zeroes) the backbone map's cells
``>= config.acol.erase_threshold``; branch B, the same layers, reads the erased map. Each branch's
logits are the spatial mean of its class maps. The head replaces the CAM head:
``config.model.head_channels`` is not read.
Training: ``CE(A) + CE(B)`` (:mod:`.losses`); the backbone learns at ``config.train.lr``, both
branches at ``lr * lr_mults['head']`` (wsolevaluation: x10 for everything outside the backbone).
Evaluation (one group, ``'localizer'``): the class from branch A's logits; the map of the GT class
is the max of both branches' per-image normalised maps, with branch B's input erased by the GT
class (wsolevaluation calls the model with the labels for its CAMs). Prediction without labels
erases by, and maps, the top-1 class. Figures: the fused map and its box, as CAM's.
"""

from __future__ import annotations

from wsol_jax.methods import common
from wsol_jax.methods.acol import config as acol_config
from wsol_jax.methods.acol import figures, losses, network
from wsol_jax.models import blocks, heads
from wsol_jax.training import method as base


@base.register_method("acol")
class ACoL(common.CAMLocalizerMethod):
  """ACoL on the shared CAM-localizer loop: its own network, the labels in the forward pass, a
  two-branch loss and the fused map."""

  def check_config(self, config):
    acol_config.check_config(config)

  def localizer(self, bn_axis_name: str | None = None):
    cfg, section = self.config, acol_config.section_of(self.config)
    return network.AcolNetwork(
        backbone_name=cfg.model.backbone, num_classes=self.info.num_classes,
        backbone_kwargs=dict(cfg.model.backbone_kwargs), channels=section.channels,
        erase_threshold=section.erase_threshold, branch_init=section.branch_init,
        pre_branch_pools=section.pre_branch_pools,
        dtype=blocks.canonical_dtype(cfg.model.dtype), bn_axis_name=bn_axis_name)

  def train_forward(self, model, variables, images, labels, rngs):
    """Branch B's input is erased by the ground-truth class (``labels`` [B])."""
    return model.apply(variables, images, train=True, labels=labels,
                       rngs={"dropout": rngs["dropout"]}, mutable=["batch_stats"])

  def train_loss(self, out, targets):
    return losses.acol_loss(out["logits"], out["logits_b"], targets)

  def class_map(self, out, classes):
    """The fused map [B, h, w] in [0, 1] of ``classes`` [B] (:func:`.network.fused_class_map`)."""
    return network.fused_class_map(out["class_maps_a"], out["class_maps_b"], classes)

  def eval_outputs(self, state, images_uint8, labels=None):
    """The network's eval dict; ``labels`` [B] (None: branch A's top-1) choose the erasing."""
    return self.localizer().apply(common.network_variables(state, "localizer"),
                                  heads.model_input(images_uint8), train=False, labels=labels)

  def draw_figures(self, data, out_dir: str, tag: str) -> list[str]:
    """``out_dir/acol_<tag>.png`` (:func:`.figures.draw`)."""
    return figures.draw(data, out_dir, tag)
