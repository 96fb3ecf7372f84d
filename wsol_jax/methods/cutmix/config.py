"""CutMix's config section ``config.cutmix`` at wsolevaluation's defaults, and its checks."""

from __future__ import annotations

import ml_collections

from wsol_jax.methods import common


def default_config() -> ml_collections.ConfigDict:
  """``config.cutmix`` with wsolevaluation's defaults."""
  c = ml_collections.ConfigDict()
  # alpha = beta of lam ~ Beta(beta, beta) (config.py: --cutmix_beta, default 1.0: lam ~ U(0, 1),
  # the paper's alpha = 1, Sec. 3.1).
  c.beta = 1.0
  # Probability that a step's batch is mixed (config.py: --cutmix_prob, default 1.0; main.py
  # mixes the whole batch when cutmix_prob > np.random.rand(1)).
  c.prob = 1.0
  return c


def section(config: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
  """``config.cutmix``, or the defaults where a config has no such section (e.g. CAM's recipe run
  with ``--config.method=cutmix``)."""
  return common.method_section(config, "cutmix", default_config)


def _is_number(value) -> bool:
  return isinstance(value, (int, float)) and not isinstance(value, bool)


def check_config(config: ml_collections.ConfigDict) -> None:
  """One-line errors for bad ``config.cutmix`` fields."""
  cutmix = section(config)
  if not _is_number(cutmix.beta) or not cutmix.beta > 0:
    raise ValueError(f"config.cutmix.beta={cutmix.beta!r} must be > 0 (lam ~ Beta(beta, beta); "
                     "config.cutmix.prob=0 turns CutMix off)")
  if not _is_number(cutmix.prob) or not 0.0 <= cutmix.prob <= 1.0:
    raise ValueError(f"config.cutmix.prob={cutmix.prob!r} must be in [0, 1] (the probability "
                     "that a batch is mixed)")
