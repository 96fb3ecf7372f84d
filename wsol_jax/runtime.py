"""Process-wide JAX settings that every entry point (``wsol_jax.main`` and the scripts that train)
applies once, before any computation.

Call :func:`configure_jax` first thing in ``main``, before anything touches a device (``jax.devices()``,
an array op, a ``jit`` call): XLA reads ``XLA_FLAGS`` once, when its backend starts, so flags added
later change nothing (configure_jax then leaves ``XLA_FLAGS`` alone and logs a warning).
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import logging
import os

# XLA:CPU flags added by default (only where the user's XLA_FLAGS does not name the flag). Measured
# with scripts/benchmark_step.py (README, "Benchmark a train step"; jax/jaxlib 0.10.2, 2-core Xeon):
# YNNPACK's convolutions were 1.7x slower than XLA's own on VGG16 and MobileNet's pointwise convs
# (train-step CPU time -40 % on cam_vgg16, -35 % on cam_cub_mobilenet without them), while its dot,
# reduce and elementwise fusions stay on (all of YNNPACK off doubled MobileNet's CPU time). An
# ``xla_cpu_*`` flag acts on XLA:CPU compilations only, so a GPU/TPU backend is unaffected. Keep XLA's
# own choice with e.g. ``XLA_FLAGS=--xla_cpu_experimental_ynn_fusion_type=+individual_convolution``.
CPU_XLA_FLAGS = ("--xla_cpu_experimental_ynn_fusion_type=-individual_convolution",)
# The jaxlib releases whose XLA knows (and was measured with) CPU_XLA_FLAGS: an unknown flag in
# XLA_FLAGS aborts the process, so older jaxlibs get none.
CPU_XLA_FLAGS_MIN_JAXLIB = (0, 10)


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


def with_default_flags(xla_flags: str, defaults=CPU_XLA_FLAGS) -> str:
  """``xla_flags`` (an ``XLA_FLAGS`` value) plus each of ``defaults`` whose flag name it does not
  already mention (the user's setting wins, whatever its value)."""
  named = {flag.split("=", 1)[0] for flag in xla_flags.split()}
  added = [flag for flag in defaults if flag.split("=", 1)[0] not in named]
  return " ".join([xla_flags.strip()] + added).strip()


def _jaxlib_version() -> tuple[int, ...]:
  try:
    return tuple(int(x) for x in importlib.metadata.version("jaxlib").split(".")[:2])
  except (importlib.metadata.PackageNotFoundError, ValueError):
    return (0,)


def add_default_xla_flags() -> None:
  """:data:`CPU_XLA_FLAGS` into ``os.environ['XLA_FLAGS']`` (see :func:`with_default_flags`),
  unless the backend has already started (then a warning) or jaxlib predates the flags."""
  if _jaxlib_version() < CPU_XLA_FLAGS_MIN_JAXLIB:
    return
  current = os.environ.get("XLA_FLAGS", "")
  wanted = with_default_flags(current)
  if wanted == current.strip():
    return
  from jax._src import xla_bridge  # pylint: disable=import-outside-toplevel
  if xla_bridge.backends_are_initialized():
    logging.warning("wsol_jax.runtime.configure_jax ran after JAX's backend started: XLA_FLAGS "
                    "is read at start-up, so the CPU defaults %s are not applied (call "
                    "configure_jax before any JAX computation)", CPU_XLA_FLAGS)
    return
  os.environ["XLA_FLAGS"] = wanted


def configure_jax(compilation_cache_dir: str = "") -> None:
  """TensorFlow off the accelerators; :data:`CPU_XLA_FLAGS` added to ``XLA_FLAGS`` (call this
  before JAX's backend starts; see the module docstring); and the non-partitionable threefry: the
  same random numbers' algorithm, far faster to compile on CPU (parameters are replicated, so random
  numbers never need generating shard by shard).

  ``compilation_cache_dir``: JAX's persistent compilation cache there, so that runs of the same
  shapes (the seeds of a script) reuse each other's compiled steps instead of compiling them again.
  A cache already chosen (``JAX_COMPILATION_CACHE_DIR``, or an earlier call) is kept."""
  hide_gpus_from_tensorflow()
  add_default_xla_flags()
  import jax  # pylint: disable=import-outside-toplevel
  jax.config.update("jax_threefry_partitionable", False)
  if compilation_cache_dir and not jax.config.jax_compilation_cache_dir:
    jax.config.update("jax_compilation_cache_dir", compilation_cache_dir)
