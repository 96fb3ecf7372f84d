"""CAM's configuration: no section of its own (every field it reads is in the base config). It
trains ``config.model``'s localizer with ``config.train`` and localises with
``config.eval.cam_threshold``; this module checks what no other part checks."""

from __future__ import annotations

import ml_collections


def check_config(config: ml_collections.ConfigDict) -> None:
  """One-line errors for the fields CAM reads that no other part checks."""
  threshold = config.eval.cam_threshold
  if not 0.0 <= threshold <= 1.0:
    raise ValueError(f"config.eval.cam_threshold={threshold} must be in [0, 1] (a fraction of the "
                     "min-max normalised CAM)")
