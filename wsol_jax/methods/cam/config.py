"""CAM's configuration: no section of its own (every field it reads is in the base config). It
trains ``config.model``'s localizer with ``config.train`` and localises with
``config.eval.cam_threshold`` (checked by :func:`wsol_jax.methods.common.check_cam_threshold`)."""

from __future__ import annotations

import ml_collections


def default_config() -> ml_collections.ConfigDict:
  """CAM's section: empty (the shape every method's config module has)."""
  return ml_collections.ConfigDict()


def check_config(config: ml_collections.ConfigDict) -> None:
  """CAM reads no field beyond those the shared method shape checks."""
  del config
