"""A checkpoint save that dies half-way never restores to garbage: a process killed (SIGKILL) while
saving leaves only complete steps behind, and a left-over temporary directory is ignored, then
cleaned up when the next run saves."""

import os
import pathlib
import shutil
import signal
import subprocess
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np
import optax

from wsol_jax.training import checkpoints as ckpt_lib
from wsol_jax.training import train_state as ts

_SIZE = 1 << 20  # floats per array: the saves take long enough to be killed in the middle

_SAVER = """
import sys
import jax.numpy as jnp
import optax
from wsol_jax.training import checkpoints as ckpt_lib
from wsol_jax.training import train_state as ts

ckpts = ckpt_lib.Checkpoints(sys.argv[1], keep=100)
for step in range(1, 1000):
  params = {{"a": jnp.full(({size},), float(step)), "b": jnp.full(({size},), -float(step))}}
  state = ts.create_state(params, {{}}, optax.sgd(0.1, 0.9)).replace(step=jnp.int32(step))
  ckpts.save(step, state, {{"fingerprint": "f", "step": step}})
  print(step, flush=True)
"""


def _state(step):
  params = {"a": jnp.full((_SIZE,), float(step)), "b": jnp.full((_SIZE,), -float(step))}
  return ts.create_state(params, {}, optax.sgd(0.1, 0.9)).replace(step=jnp.int32(step))


def _check_restores(directory):
  ckpts = ckpt_lib.Checkpoints(directory, read_only=True)
  steps = ckpts.all_steps()
  target = jax.eval_shape(lambda: _state(0))
  for step in steps:
    state, meta = ckpts.restore(step, target)
    assert meta["step"] == step
    assert int(state.step) == step
    np.testing.assert_array_equal(np.asarray(state.params["a"]), float(step))
    np.testing.assert_array_equal(np.asarray(state.params["b"]), -float(step))
  ckpts.close()
  return steps


def _kill_while_saving(directory):
  """Runs the saver, SIGKILLs it after a few saves; returns the unfinished step directories."""
  env = dict(os.environ, JAX_PLATFORMS="cpu")
  proc = subprocess.Popen([sys.executable, "-c", _SAVER.format(size=_SIZE), directory],
                          stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env)
  try:
    for line in proc.stdout:  # each save waits for the previous one: it is always mid-save
      if int(line) >= 3:
        break
    # Kill as soon as a save's temporary directory is there (a fixed sleep missed every save
    # three times in a row on a loaded 2-core machine).
    deadline = time.monotonic() + 10.0
    while time.monotonic() < deadline and all(p.isdigit() for p in os.listdir(directory)):
      time.sleep(0.001)
  finally:
    proc.send_signal(signal.SIGKILL)
    proc.wait()
  return [p for p in os.listdir(directory) if not p.isdigit()]


def test_process_killed_while_saving_leaves_only_complete_checkpoints(tmp_path):
  directory = str(tmp_path / "ckpts")
  for _ in range(3):  # the kill almost always lands inside a save; make sure it did
    leftovers = _kill_while_saving(directory)
    if leftovers:
      break
  assert leftovers, "the kill never interrupted a save"
  steps = _check_restores(directory)
  assert steps, "no checkpoint completed before the kill"
  # The next writer removes unfinished temporary directories and keeps the complete steps.
  ckpts = ckpt_lib.Checkpoints(directory, keep=100)
  assert ckpts.all_steps() == steps
  ckpts.save(max(steps) + 1, _state(max(steps) + 1), {"fingerprint": "f", "step": max(steps) + 1})
  ckpts.close()
  assert not [p for p in os.listdir(directory) if "tmp" in p]
  assert _check_restores(directory) == steps + [max(steps) + 1]


def test_left_over_temporary_directory_is_never_restored(tmp_path):
  directory = tmp_path / "ckpts"
  ckpts = ckpt_lib.Checkpoints(str(directory), keep=5)
  ckpts.save(1, _state(1), {"fingerprint": "f", "step": 1})
  ckpts.close()
  # A save of step 2 that died after writing part of its files: a truncated copy of step 1 under
  # the temporary name orbax writes to before its final rename.
  tmp = directory / "2.orbax-checkpoint-tmp"
  shutil.copytree(directory / "1", tmp)
  for path in pathlib.Path(tmp).rglob("*"):
    if path.is_file():
      path.write_bytes(path.read_bytes()[: len(path.read_bytes()) // 2])
  (tmp / "commit_success.txt").unlink(missing_ok=True)
  assert ckpt_lib.Checkpoints(str(directory), read_only=True).latest_step() == 1
  assert _check_restores(str(directory)) == [1]
  # A resumed run saves step 2 again: the dead temporary directory is cleaned up first.
  ckpts = ckpt_lib.Checkpoints(str(directory), keep=5)
  ckpts.save(2, _state(2), {"fingerprint": "f", "step": 2})
  ckpts.close()
  assert not tmp.exists()
  assert _check_restores(str(directory)) == [1, 2]


def test_state_of_another_version_is_a_one_line_error(tmp_path):
  """A checkpoint whose state lacks a field this version has (e.g. LCHP's extras['delta'], added
  later) stops with one line naming the directory, the step and the key, and deletes nothing."""
  ckpts = ckpt_lib.Checkpoints(str(tmp_path), keep=3)
  old = {"params": {"w": jnp.ones(3)}, "extras": {"a": jnp.zeros(())}}
  ckpts.save(5, old, {"fingerprint": "f"})
  ckpts.close()
  newer = {"params": {"w": jnp.ones(3)}, "extras": {"a": jnp.zeros(()), "delta": jnp.zeros(())}}
  reader = ckpt_lib.Checkpoints(str(tmp_path), read_only=True)
  try:
    reader.restore(5, jax.eval_shape(lambda: newer))
  except ValueError as e:
    message = str(e)
  else:
    raise AssertionError("restoring into another structure did not fail")
  assert "\n" not in message
  assert str(tmp_path) in message and "step 5" in message and "delta" in message
  restored, _ = reader.restore(5, jax.eval_shape(lambda: old))
  np.testing.assert_array_equal(restored["params"]["w"], np.ones(3))
