"""HaS's config section ``config.has`` at wsolevaluation's defaults, and its checks.

``grid_size`` keeps wsolevaluation's meaning (its ``--has_grid_size``): the SIDE of a square patch
in pixels of the training crop (wsol/method/has.py steps ``range(0, width, grid_size)``), as S in
the paper's "grid with a fixed patch size S x S" (Sec. 3.1); not the number of patches per side.
"""

from __future__ import annotations

import ml_collections

from wsol_jax.methods import common


def default_config() -> ml_collections.ConfigDict:
  """``config.has`` with wsolevaluation's defaults."""
  c = ml_collections.ConfigDict()
  # Patch side in px (config.py: --has_grid_size, default 4); 0 hides nothing (has.py returns the
  # image unchanged when grid_size == 0).
  c.grid_size = 4
  # Probability that a patch is hidden, each patch independently (config.py: --has_drop_rate,
  # default 0.5; the paper's p_hide = 0.5, Sec. 3.1).
  c.drop_rate = 0.5
  return c


def section(config: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
  """``config.has``, or the defaults where a config has no such section (e.g. CAM's recipe run
  with ``--config.method=has``)."""
  return common.method_section(config, "has", default_config)


def check_config(config: ml_collections.ConfigDict) -> None:
  """One-line errors for bad ``config.has`` fields."""
  has = section(config)
  grid_size = has.grid_size
  if isinstance(grid_size, bool) or not isinstance(grid_size, int) or grid_size < 0:
    raise ValueError(f"config.has.grid_size={grid_size!r} must be an integer >= 0 (the side of a "
                     "hidden patch in px; 0 hides nothing)")
  drop_rate = has.drop_rate
  if isinstance(drop_rate, bool) or not isinstance(drop_rate, (int, float)) or not (
      0.0 <= drop_rate <= 1.0):
    raise ValueError(f"config.has.drop_rate={drop_rate!r} must be in [0, 1] (the probability "
                     "that a patch is hidden)")
