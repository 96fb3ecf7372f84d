"""The command line in a subprocess, as a user runs it: ``python -m wsol_jax.main`` (train, eval,
``--mode=dryrun``) and the checks on what it prints."""

import os
import pathlib
import subprocess
import sys

from repo_paths import REPO

# The dryrun's table header.
DRYRUN_HEADER = ("compile s", "s/unit", "input s/batch", "images/s", "program GiB",
                 "peak GiB (host RSS)")


def run_main(*args, timeout=600, env=None):
  """``python -m wsol_jax.main *args`` in a subprocess; ``env``: variables to set for it."""
  env = dict(os.environ, PYTHONPATH=str(REPO), **(env or {}))
  return subprocess.run([sys.executable, "-m", "wsol_jax.main", *args], cwd=REPO, env=env,
                        capture_output=True, text=True, timeout=timeout)


def assert_one_line_error(proc, *needles):
  """Failed, without a traceback, the last stderr line an ``error:`` line holding ``needles``."""
  assert proc.returncode != 0, proc.stdout + proc.stderr
  assert "Traceback" not in proc.stderr, proc.stderr
  last = [line for line in proc.stderr.splitlines() if line.strip()][-1]
  assert last.startswith("error: "), proc.stderr
  for needle in needles:
    assert needle in last, last


# What orbax logs on every read-only open of a checkpoint directory (nothing a user can act on).
ORBAX_READ_ONLY_NOTICES = ("CheckpointManagerOptions.read_only", "Given directory is read only")


def assert_no_orbax_read_only_notices(proc):
  """Succeeded without a line of orbax's read-only notices on stderr."""
  assert proc.returncode == 0, proc.stderr[-3000:]
  noisy = [line for line in proc.stderr.splitlines()
           if any(notice in line for notice in ORBAX_READ_ONLY_NOTICES)]
  assert not noisy, noisy


def assert_no_leaked_shared_memory(proc):
  """Succeeded without Python's resource tracker warning of leaked shared memory at shutdown."""
  assert proc.returncode == 0, proc.stderr[-3000:]
  assert "leaked shared_memory" not in proc.stderr, proc.stderr[-3000:]


def dryrun(config, workdir, data_dir, *args, timeout=900):
  """``python -m wsol_jax.main --mode=dryrun`` on one CPU device (as a user runs it)."""
  env_flags = " ".join(f for f in os.environ.get("XLA_FLAGS", "").split()
                       if not f.startswith("--xla_force_host_platform_device_count"))
  return run_main(f"--config={config}", f"--workdir={workdir}", "--mode=dryrun",
                  f"--config.data.data_dir={data_dir}", "--config.train.progress_bar=False", *args,
                  timeout=timeout, env={"XLA_FLAGS": env_flags})


def assert_dryrun_report(proc, workdir, stages):
  """Exit 0, the table with a row per stage / hooks / eval, the projection, and nothing in
  ``workdir`` but ``dryrun/``."""
  assert proc.returncode == 0, proc.stderr[-4000:]
  out = proc.stdout
  for label in DRYRUN_HEADER + ("projected wall time", "total", "eval", "checkpoint save",
                                "export", "predict ("):
    assert label in out, out
  for stage in stages:
    assert all(f"{part}[{stage}]" in out for part in ("train", "hooks", "refresh")), out
  assert sorted(os.listdir(workdir)) == ["dryrun"]
  dry = pathlib.Path(workdir) / "dryrun"
  assert (dry / "model.wsol").is_file()
  # 2 test images, or the split's only one (the Tiny-ImageNet miniature's).
  predicted = len((dry / "predict" / "predictions.jsonl").read_text().splitlines())
  assert f"predict ({predicted} image" in out and predicted in (1, 2), out
