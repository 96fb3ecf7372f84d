"""ADL's config section ``config.adl`` (wsolevaluation's defaults) and its checks."""

from __future__ import annotations

import ml_collections

from wsol_jax.methods.adl import positions as positions_lib


def default_config() -> ml_collections.ConfigDict:
  """``config.adl`` with wsolevaluation's defaults (config.py)."""
  c = ml_collections.ConfigDict()
  # Probability that a layer applies the drop mask rather than the importance map: wsolevaluation
  # config.py --adl_drop_rate 0.75 (also the ADL module's own default).
  c.drop_rate = 0.75
  # gamma: the drop mask hides cells whose attention is >= threshold x the image's maximum:
  # wsolevaluation config.py --adl_threshold 0.9 (main.py passes it as adl_drop_threshold; the
  # module's unused default is 0.8).
  c.threshold = 0.9
  # Block names of config.model.backbone after which ADL sits; () = positions.PAPER_POSITIONS'
  # entry for the backbone (wsolevaluation's placement for vgg16, resnet50, inception_v3).
  c.positions = ()
  return c


def _as_names(value) -> tuple[str, ...]:
  """``config.adl.positions`` as a tuple of names (``--config.adl.positions=a,b`` arrives as
  ``('a,b',)``)."""
  items = (value,) if isinstance(value, str) else tuple(value or ())
  return tuple(name.strip() for item in items for name in str(item).split(",") if name.strip())


def check_config(config: ml_collections.ConfigDict) -> tuple[str, ...]:
  """One-line errors for ``config.adl``; -> the block names after which ADL sits (its
  ``positions``, or the paper's for ``config.model.backbone``), each checked against the names
  that backbone calls its hook with."""
  adl = config.adl
  for field in ("drop_rate", "threshold"):
    value = adl[field]
    if not 0.0 <= value <= 1.0:
      raise ValueError(f"config.adl.{field}={value} must be in [0, 1]")
  backbone = config.model.backbone
  block_names = positions_lib.traced_block_names(backbone, config.model.backbone_kwargs,
                                                 config.data.image_size)
  if not block_names:
    raise ValueError(f"config.adl.positions: backbone {backbone!r} (config.model.backbone) has no "
                     "named blocks to put ADL after")
  chosen = _as_names(adl.positions)
  if not chosen:
    chosen = positions_lib.paper_positions(backbone, block_names)
    if not chosen:
      raise ValueError(f"config.adl.positions is empty and backbone {backbone!r} has no default "
                       f"positions: name some of {block_names}")
  for name in chosen:
    if name not in block_names:
      raise ValueError(f"config.adl.positions: {name!r} is not a block of {backbone!r} with "
                       f"config.model.backbone_kwargs; its blocks: {block_names}")
  if len(set(chosen)) != len(chosen):
    raise ValueError(f"config.adl.positions={chosen} names a block twice")
  return chosen
