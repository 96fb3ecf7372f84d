"""Process-wide JAX settings that every entry point (``wsol_jax.main`` and the scripts that train)
applies once, before any computation.

Call :func:`configure_jax` first thing in ``main``, before anything touches a device (``jax.devices()``,
an array op, a ``jit`` call): XLA reads ``XLA_FLAGS`` once, when its backend starts, so flags added
later change nothing (configure_jax then leaves ``XLA_FLAGS`` alone and logs a warning).

Command-line entry points first call :func:`restart_with_huge_page_malloc`, which re-runs the
command once with a glibc malloc setting that only takes effect at process start.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import logging
import os
import platform
import sys
from collections.abc import Mapping

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


def _version_tuple(version: str, parts: int = 2) -> tuple[int, ...]:
  """'0.10.2' -> (0, 10) (the first ``parts`` numbers); (0,) where it does not parse."""
  try:
    return tuple(int(x) for x in version.split(".")[:parts])
  except ValueError:
    return (0,)


def _jaxlib_version() -> tuple[int, ...]:
  try:
    return _version_tuple(importlib.metadata.version("jaxlib"))
  except importlib.metadata.PackageNotFoundError:
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


# XLA:CPU allocates a train step's temporaries afresh on every call (1.6 GB for the CAM MobileNet
# recipe, 6 GB for SLT-Net's joint step) and glibc serves blocks that large with mmap and returns them
# with munmap, so the kernel faults every 4 KiB page in again each step: a quarter of the step's CPU
# time, measured with scripts/benchmark_step.py. With this tunable glibc (>= 2.35) asks for
# transparent huge pages on those blocks: 512x fewer faults. glibc reads it only at process start.
HUGE_PAGE_TUNABLE = "glibc.malloc.hugetlb=1"
# Set to 1 to keep glibc's defaults (no restart).
KEEP_MALLOC_ENV = "WSOL_JAX_KEEP_MALLOC"
_THP_MODE_FILE = "/sys/kernel/mm/transparent_hugepage/enabled"


def huge_page_environment(environ: Mapping[str, str], thp_mode: str,
                          glibc_version: tuple[int, ...]) -> dict[str, str] | None:
  """``environ`` with :data:`HUGE_PAGE_TUNABLE` added to ``GLIBC_TUNABLES``, or None where that
  would change nothing or is not wanted: ``KEEP_MALLOC_ENV`` set, ``GLIBC_TUNABLES`` already naming
  ``glibc.malloc.hugetlb`` (the user's value wins), glibc older than 2.35, or the kernel's
  transparent huge pages (``thp_mode``, the bracketed word of :data:`_THP_MODE_FILE`) not in
  ``madvise`` mode (``always`` gives them without asking, ``never`` not at all)."""
  if environ.get(KEEP_MALLOC_ENV, "") not in ("", "0"):
    return None
  tunables = environ.get("GLIBC_TUNABLES", "")
  if thp_mode != "madvise" or glibc_version < (2, 35) or "glibc.malloc.hugetlb" in tunables:
    return None
  return {**environ, "GLIBC_TUNABLES": ":".join(filter(None, [tunables, HUGE_PAGE_TUNABLE]))}


def _thp_mode() -> str:
  try:
    with open(_THP_MODE_FILE, encoding="ascii") as f:
      text = f.read()
  except OSError:
    return ""
  return text[text.find("[") + 1:text.find("]")] if "[" in text else ""


def _glibc_version() -> tuple[int, ...]:
  library, version = platform.libc_ver()
  return _version_tuple(version) if library == "glibc" else (0,)


def restart_with_huge_page_malloc() -> None:
  """Replace this process by the same command with :data:`HUGE_PAGE_TUNABLE` in its environment
  (:func:`huge_page_environment` says when; otherwise return). Only for a command-line entry point,
  first thing in its ``__main__`` block: it ``exec``s, so a notebook or library caller would be
  replaced. Linux only; the restarted process sees the tunable set and goes on (so does this one,
  unchanged, if the exec fails)."""
  if sys.platform != "linux" or not sys.executable or not getattr(sys, "orig_argv", None):
    return
  environ = huge_page_environment(os.environ, _thp_mode(), _glibc_version())
  if environ is None:
    return
  sys.stdout.flush()
  sys.stderr.flush()
  try:
    os.execve(sys.executable, sys.orig_argv, environ)
  except OSError as e:  # e.g. a sandbox that forbids exec: go on with glibc's defaults
    logging.warning("could not restart with %s (%s); going on without", HUGE_PAGE_TUNABLE, e)


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
