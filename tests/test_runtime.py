"""wsol_jax.runtime.configure_jax: the persistent compilation cache, in fresh processes (it is
process-wide, so conftest keeps it off inside the pytest process)."""

import os
import subprocess
import sys

# Compiles a program, then prints its value and how many programs came from the persistent cache.
_COMPILE = """
import sys
import jax, jax.numpy as jnp
hits = []
jax.monitoring.register_event_listener(
    lambda name, **kw: hits.append(name) if name == "/jax/compilation_cache/cache_hits" else None)
from wsol_jax import runtime
runtime.configure_jax(compilation_cache_dir=sys.argv[1])
print(float(jax.jit(lambda x: jnp.tanh(x @ x.T).sum())(jnp.ones((8, 8)))), len(hits))
"""


def _compile(cache_dir: str, **extra_env) -> tuple[float, int]:
  """(the program's value, persistent-cache hits) of _COMPILE run in a new process."""
  env = {k: v for k, v in os.environ.items() if k != "JAX_COMPILATION_CACHE_DIR"}
  env.update(JAX_PLATFORMS="cpu", JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS="0", **extra_env)
  out = subprocess.run([sys.executable, "-c", _COMPILE, cache_dir], env=env, check=True,
                       capture_output=True, text=True).stdout.split()
  return float(out[0]), int(out[1])


def test_the_second_process_reuses_the_first_ones_compiled_program(tmp_path):
  cache = str(tmp_path / "cache")
  value, hits = _compile(cache)
  assert hits == 0 and os.listdir(cache)
  again, hits = _compile(cache)
  assert again == value and hits > 0


def test_a_cache_chosen_in_the_environment_is_kept(tmp_path):
  chosen = tmp_path / "chosen"
  _compile(str(tmp_path / "asked"), JAX_COMPILATION_CACHE_DIR=str(chosen))
  assert os.listdir(chosen) and not (tmp_path / "asked").exists()
