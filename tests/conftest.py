"""Test setup: 8 fake CPU devices (for jit-with-mesh and pmap tests) before JAX is imported."""

import os

os.environ.setdefault("JAX_PLATFORMS", "cpu")
_flag = "--xla_force_host_platform_device_count=8"
if _flag not in os.environ.get("XLA_FLAGS", ""):
  os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + " " + _flag).strip()
# As wsol_jax.main does: the same threefry algorithm, ~8x faster to compile on CPU.
os.environ.setdefault("JAX_THREEFRY_PARTITIONABLE", "0")
# TFDS must never try TensorFlow or the network in tests.
os.environ.setdefault("TFDS_DATA_DIR", "/nonexistent-tfds-data-dir")
os.environ.setdefault("NO_GCE_CHECK", "true")

import pathlib
import sys

import pytest

# The shared test helpers (tests/helpers/) import as plain modules: ``import loop_testlib``.
HELPERS = pathlib.Path(__file__).resolve().parent / "helpers"
if str(HELPERS) not in sys.path:
  sys.path.insert(0, str(HELPERS))
# Their asserts report like a test's own.
pytest.register_assert_rewrite(*sorted(p.stem for p in HELPERS.glob("*.py")))

from repo_paths import SHARED_DIR as SHARED  # noqa: E402  (after the helpers are on sys.path)


@pytest.fixture(scope="session")
def shared_dir():
  """../shared (the project's read-only real data and weights); skip where a clone lacks it."""
  if not SHARED.is_dir():
    pytest.skip(f"{SHARED} is absent (it holds the real data and weights; present in the dev setup)")
  return SHARED


@pytest.fixture(scope="session")
def shared_weights(shared_dir):
  """``shared_weights(name)`` -> the path of ../shared/weights/<name>; skips where it is absent."""
  def path_of(name: str):
    path = shared_dir / "weights" / name
    if not path.is_file():
      pytest.skip(f"{path} is absent (the real ImageNet weights of the dev setup)")
    return path
  return path_of


@pytest.fixture(autouse=True)
def _persistent_compilation_cache_off(monkeypatch):
  """Scripts switch JAX's persistent compilation cache on for the rest of their process; in the one
  pytest process that would send every later test's programs to an earlier test's folder. So here
  ``runtime.configure_jax`` ignores the folder (test_runtime.py checks the cache in subprocesses)."""
  from wsol_jax import runtime  # pylint: disable=import-outside-toplevel
  configure = runtime.configure_jax
  monkeypatch.setattr(runtime, "configure_jax",
                      lambda compilation_cache_dir="": configure())
