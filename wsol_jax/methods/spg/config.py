"""SPG's config section ``config.spg``, at wsolevaluation's values (clovaai/wsolevaluation,
``config.py`` and ``wsol/method/spg.py``), and its checks. SPG's head replaces the CAM head, so
``config.model.head_channels`` is not read."""

from __future__ import annotations

import ml_collections

from wsol_jax.methods import common

SECTION = "spg"
# The (high, low) threshold pairs of the three guidances, in get_loss's order.
THRESHOLD_PAIRS = (("threshold_1h", "threshold_1l"), ("threshold_2h", "threshold_2l"),
                   ("threshold_3h", "threshold_3l"))


def default_config() -> ml_collections.ConfigDict:
  """``config.spg`` at wsolevaluation's defaults."""
  c = ml_collections.ConfigDict()
  # Guidance of SPG-A's attention (normalised to [0, 1]) for SPG-B2: foreground > 1h, background
  # < 1l (wsolevaluation config.py --spg_threshold_1h 0.7, --spg_threshold_1l 0.01).
  c.threshold_1h = 0.7
  c.threshold_1l = 0.01
  # Guidance of sigmoid(SPG-B2) for SPG-B1 (--spg_threshold_2h 0.5, --spg_threshold_2l 0.05).
  c.threshold_2h = 0.5
  c.threshold_2l = 0.05
  # Guidance of (sigmoid(B1) + sigmoid(B2)) / 2 for SPG-C (--spg_threshold_3h 0.7,
  # --spg_threshold_3l 0.1).
  c.threshold_3h = 0.7
  c.threshold_3l = 0.1
  # An image with fewer foreground pixels than this (at the guidance's resolution, the training
  # images') takes map > fallback_ratio * its max as foreground (wsol/method/spg.py mask_fg: 30,
  # 0.7 at 224 x 224).
  c.min_foreground_pixels = 30
  c.fallback_ratio = 0.7
  # Backbone blocks read by SPG-B1 / SPG-B2 ('' = the backbone's layout: network.layout_for).
  c.b1_block = ""
  c.b2_block = ""
  # SPG-B's conv width (0 = the layout's: VGG16 512, ResNet50 1024, InceptionV3 512, others B2's
  # input channels) and SPG-C's (512 in wsolevaluation's three networks).
  c.branch_channels = 0
  c.c_channels = 512
  return c


def section_of(config: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
  """``config.spg``, or the defaults where the config has no such section."""
  return common.method_section(config, "spg", default_config)


def thresholds(section: ml_collections.ConfigDict) -> tuple[tuple[float, float], ...]:
  """``((1h, 1l), (2h, 2l), (3h, 3l))`` of ``config.spg`` (wsolevaluation ``spg_thresholds``)."""
  return tuple((float(section[h]), float(section[l])) for h, l in THRESHOLD_PAIRS)


def check_config(config: ml_collections.ConfigDict) -> None:
  """One-line errors for ``config.spg``'s fields."""
  section = section_of(config)
  for high, low in THRESHOLD_PAIRS:
    for name in (high, low):
      value = section[name]
      if not isinstance(value, (int, float)) or not 0.0 <= value <= 1.0:
        raise ValueError(f"config.spg.{name}={value!r} must be a number in [0, 1]")
    if section[low] >= section[high]:
      raise ValueError(f"config.spg.{low}={section[low]} must be below config.spg.{high}="
                       f"{section[high]} (background below, foreground above, ignored between)")
  pixels = section.min_foreground_pixels
  if not isinstance(pixels, int) or pixels < 0:
    raise ValueError(f"config.spg.min_foreground_pixels={pixels!r} must be an int >= 0")
  if not 0.0 < section.fallback_ratio <= 1.0:
    raise ValueError(f"config.spg.fallback_ratio={section.fallback_ratio!r} must be in (0, 1]")
  for name in ("b1_block", "b2_block"):
    if not isinstance(section[name], str):
      raise ValueError(f"config.spg.{name}={section[name]!r} must be a block name or ''")
  for name, least in (("branch_channels", 0), ("c_channels", 1)):
    if not isinstance(section[name], int) or section[name] < least:
      raise ValueError(f"config.spg.{name}={section[name]!r} must be an int >= {least}")
