"""wsol_jax.runtime's default XLA:CPU flags (CPU_XLA_FLAGS), and process-level CPU settings, must not
change what is computed: the loss trajectory of 10 train steps of a tiny CAM (configs/synthetic_cam.py's small VGG: convolutions, pooling, SGD) run in a fresh
process under each setting (XLA_FLAGS and GLIBC_TUNABLES are read once, at process start or when the
backend starts) stays within 1e-5 (relative) of the default's."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from wsol_jax import runtime

# 10 CAM steps on one fixed random batch; prints the losses as JSON.
_TRAJECTORY = """
import json, os
import jax
import numpy as np
from wsol_jax import config_defaults, runtime
from wsol_jax.training import method as base, parallel
runtime.configure_jax()
config = config_defaults.load_config_file("configs/synthetic_cam.py")
config.train.batch_size = 4
info = base.RunInfo(num_classes=5, steps_per_epoch=10, train_size=40)
method = base.get_method("cam")(config, info)
rng = np.random.default_rng(0)
batch = {"image": rng.integers(0, 256, (4, 32, 32, 3), dtype=np.uint8),
         "label": rng.integers(0, 5, (4,), dtype=np.int32)}
runner = parallel.JitRunner()
state = runner.place_state(method.init_state(jax.random.key(0), batch))
step = runner.compile_step(lambda s, b, r, axis_name: method.train_step(
    s, b, r, stage=method.stages()[0].name, axis_name=axis_name))
losses = []
for _ in range(10):
  state, metrics = step(state, runner.shard_batch(batch), jax.random.key(1))
  losses.append(float(metrics["loss"]))
print(json.dumps(losses))
print(os.environ.get("XLA_FLAGS", ""))
"""

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


# XLA's own choice for the flag that runtime.CPU_XLA_FLAGS changes (YNNPACK convolutions on).
XLA_OWN = "--xla_cpu_experimental_ynn_fusion_type=+individual_convolution"


def _losses(**env) -> tuple[np.ndarray, str]:
  """(the 10 losses, the XLA_FLAGS it ran with) of _TRAJECTORY in a new process with ``env``."""
  full = {k: v for k, v in os.environ.items() if k not in ("XLA_FLAGS", "GLIBC_TUNABLES")}
  full.update(JAX_PLATFORMS="cpu", **env)
  out = subprocess.run([sys.executable, "-c", _TRAJECTORY], env=full, cwd=REPO, check=True,
                       capture_output=True, text=True).stdout.strip().splitlines()
  return np.asarray(json.loads(out[-2])), out[-1] if len(out) > 1 else ""


@pytest.fixture(scope="module")
def xla_own_losses():
  losses, flags = _losses(XLA_FLAGS=XLA_OWN)
  assert flags == XLA_OWN  # the user's setting of the flag is kept
  assert np.all(np.isfinite(losses)) and losses[-1] < losses[0]
  return losses


def test_default_cpu_flags_keep_the_loss_trajectory(xla_own_losses):
  losses, flags = _losses()
  assert all(flag in flags.split() for flag in runtime.CPU_XLA_FLAGS)
  np.testing.assert_allclose(losses, xla_own_losses, rtol=1e-5, atol=0)


def test_huge_pages_keep_the_loss_trajectory(xla_own_losses):
  """README's advice for CPU training: glibc's transparent huge pages for XLA's step buffers."""
  losses, _ = _losses(XLA_FLAGS=XLA_OWN, GLIBC_TUNABLES="glibc.malloc.hugetlb=1")
  np.testing.assert_allclose(losses, xla_own_losses, rtol=1e-5, atol=0)


def test_default_flags_are_added_only_where_the_user_did_not_name_them():
  ours = runtime.CPU_XLA_FLAGS[0]
  name = ours.split("=")[0]
  assert runtime.with_default_flags("") == " ".join(runtime.CPU_XLA_FLAGS)
  assert runtime.with_default_flags("--xla_foo=1") == " ".join(("--xla_foo=1",) +
                                                                runtime.CPU_XLA_FLAGS)
  assert runtime.with_default_flags(f"{name}=") == f"{name}="
  assert runtime.with_default_flags(f"--xla_foo {name}=dot") == f"--xla_foo {name}=dot"
