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


def configure_jax(compilation_cache_dir: str = "") -> None:
  """TensorFlow off the accelerators, and the non-partitionable threefry: the same random
  numbers' algorithm, far faster to compile on CPU (parameters are replicated, so random numbers
  never need generating shard by shard).

  ``compilation_cache_dir``: JAX's persistent compilation cache there, so that runs of the same
  shapes (the seeds of a script) reuse each other's compiled steps instead of compiling them again.
  A cache already chosen (``JAX_COMPILATION_CACHE_DIR``, or an earlier call) is kept."""
  hide_gpus_from_tensorflow()
  import jax  # pylint: disable=import-outside-toplevel
  jax.config.update("jax_threefry_partitionable", False)
  if compilation_cache_dir and not jax.config.jax_compilation_cache_dir:
    jax.config.update("jax_compilation_cache_dir", compilation_cache_dir)
