"""CutMix (Yun et al., ICCV 2019): CAM trained on batches where a random box of each image is
replaced by the same box of a partner image, the label mixed by area.

Training (:mod:`.mixing`): with probability ``config.cutmix.prob`` a batch is mixed, lam ~
Beta(``config.cutmix.beta``, beta), a box of area ~(1 - lam) of the image is pasted from a permuted
partner, lam is reset to the kept area; loss ``lam * CE(y_a) + (1 - lam) * CE(y_b)``
(:mod:`.losses`). The network, optimizer groups, evaluation and prediction are CAM's
(:class:`wsol_jax.methods.common.CAMLocalizerMethod`): nothing is mixed at test. The step's
accuracy is against the images' own labels.
"""

from __future__ import annotations

from wsol_jax.methods import common
from wsol_jax.methods.cutmix import config as cutmix_config
from wsol_jax.methods.cutmix import figures, losses, mixing
from wsol_jax.models import heads
from wsol_jax.training import method as base


@base.register_method("cutmix")
class CutMix(common.CAMLocalizerMethod):
  """CutMix on the shared CAM loop; the 'augment' stream draws the mix."""

  rng_streams = ("dropout", "augment")

  def __init__(self, config, info: base.RunInfo):
    super().__init__(config, info)
    section = cutmix_config.section(config)
    self.beta = float(section.beta)
    self.prob = float(section.prob)

  def check_config(self, config):
    cutmix_config.check_config(config)

  def train_inputs(self, batch, rngs):
    """The mixed images float [B, H, W, 3] and the targets ``{labels_a, labels_b, lam}``."""
    mixed = mixing.cutmix(heads.model_input(batch["image"]), batch["label"], rngs["augment"],
                          beta=self.beta, prob=self.prob)
    return mixed.images, {"labels_a": mixed.labels_a, "labels_b": mixed.labels_b,
                          "lam": mixed.lam}

  def train_loss(self, out, targets):
    return losses.cutmix_loss(out["logits"], targets["labels_a"], targets["labels_b"],
                              targets["lam"])

  def draw_figures(self, data, out_dir: str, tag: str) -> list[str]:
    """``out_dir/cutmix_<tag>.png`` (:func:`.figures.draw`)."""
    return figures.draw(data, out_dir, tag)
