"""Process-wide JAX settings that every entry point (``wsol_jax.main`` and the scripts that train)
applies once, before any computation."""

from __future__ import annotations

import importlib.util


def hide_gpus_from_tensorflow() -> None:
  """If TensorFlow is installed (TFDS may import it), keep it off the accelerators JAX uses."""
  if importlib.util.find_spec("tensorflow") is None:
    return
  try:
    import tensorflow as tf  # pylint: disable=import-outside-toplevel
    tf.config.set_visible_devices([], "GPU")
    tf.config.set_visible_devices([], "TPU")
  except (ImportError, RuntimeError, ValueError):
    pass


def configure_jax() -> None:
  """TensorFlow off the accelerators, and the non-partitionable threefry: the same random
  numbers' algorithm, far faster to compile on CPU (parameters are replicated, so random numbers
  never need generating shard by shard)."""
  hide_gpus_from_tensorflow()
  import jax  # pylint: disable=import-outside-toplevel
  jax.config.update("jax_threefry_partitionable", False)
