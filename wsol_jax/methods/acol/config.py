"""ACoL's config section ``config.acol``, with wsolevaluation's values (clovaai/wsolevaluation,
``config.py`` and ``wsol/{vgg,resnet,inception}.py``), and its checks. ACoL's two branches replace
the CAM head, so ``config.model.head_channels`` is not read; the branch width is ``channels``."""

from __future__ import annotations

import ml_collections

from wsol_jax.methods import common
from wsol_jax.methods.acol import network

SECTION = "acol"


def default_config() -> ml_collections.ConfigDict:
  """``config.acol`` at wsolevaluation's defaults."""
  c = ml_collections.ConfigDict()
  # delta: branch B's input is erased where branch A's normalised map of the class is >= this
  # (wsolevaluation config.py --acol_threshold, default 0.7).
  c.erase_threshold = 0.7
  # Width of both 3x3 convs of each branch (wsolevaluation's classifier_A/B and the paper: 1024);
  # 0: no 3x3 convs, each branch is its 1x1 classifier alone.
  c.channels = 1024
  # Branch conv initialiser: 'xavier_uniform' (wsolevaluation VggAcol, InceptionAcol) or
  # 'he_normal' (ResNetAcol: kaiming normal, fan_out); biases 0 in both.
  c.branch_init = "xavier_uniform"
  # VggAcol only: 3x3 stride-1 max pool then 3x3 stride-1 average pool on the backbone map before
  # the branches (wsolevaluation vgg.py 'M2' and F.avg_pool2d); ResNet/Inception ACoL have none.
  c.pre_branch_pools = False
  return c


def section_of(config: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
  """``config.acol``, or the defaults where the config has no such section."""
  return common.method_section(config, "acol", default_config)


def check_config(config: ml_collections.ConfigDict) -> None:
  """One-line errors for ``config.acol``'s fields."""
  section = section_of(config)
  threshold = section.erase_threshold
  if not 0.0 < threshold <= 1.0:
    raise ValueError(f"config.acol.erase_threshold={threshold} must be in (0, 1] (a fraction of "
                     "branch A's min-max normalised class map)")
  if not isinstance(section.channels, int) or section.channels < 0:
    raise ValueError(f"config.acol.channels={section.channels!r} must be an int >= 0 (the "
                     "branches' conv width; 0: no 3x3 convs)")
  common.check_choice(SECTION, "branch_init", section.branch_init, tuple(network.BRANCH_INITS))
  if not isinstance(section.pre_branch_pools, bool):
    raise ValueError(f"config.acol.pre_branch_pools={section.pre_branch_pools!r} must be a bool")
