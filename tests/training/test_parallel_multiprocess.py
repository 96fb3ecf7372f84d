"""Two ``jax.distributed`` processes on localhost (2 CPU devices each, gloo collectives) train in
step: a CAM step on a global batch assembled from each process's half equals the same step on one
device, and the whole loop (sharded data, orbax checkpoints, evaluation) gives both processes the
same results, with one iterator state per process in the checkpoint."""

import json
import os
import socket
import subprocess
import sys

import loop_testlib
from repo_paths import HELPERS_DIR
from wsol_jax.data import pipeline

_WORKER = """
import json, sys
pid, port, data_dir, workdir, helpers_dir = sys.argv[1:]
import jax
jax.config.update("jax_threefry_partitionable", False)
jax.distributed.initialize(coordinator_address=f"localhost:{port}", num_processes=2,
                           process_id=int(pid))
import numpy as np
sys.path.insert(0, helpers_dir)
import loop_testlib
from wsol_jax.training import loop as train, parallel
from wsol_jax.training import method as base
from wsol_jax.methods.cam import CAM

config = loop_testlib.tiny_config(data_dir)
method = CAM(config, base.RunInfo(num_classes=4, steps_per_epoch=4, train_size=64))
rng = np.random.default_rng(0)
batches = [{"image": rng.integers(0, 256, (16, 32, 32, 3), dtype=np.uint8),
            "label": rng.integers(0, 4, (16,), dtype=np.int32)} for _ in range(3)]

def run(runner, part):
  state = runner.place_state(method.init_state(jax.random.key(0), batches[0]))
  step = runner.compile_step(lambda s, b, r, axis_name: method.train_step(
      s, b, r, stage="train", axis_name=axis_name))
  for batch in batches:
    state, _ = step(state, runner.shard_batch({k: v[part] for k, v in batch.items()}),
                    jax.random.key(1))
  return [parallel.host_value(x) for x in jax.tree.leaves(state.params)]

half = slice(8 * int(pid), 8 * int(pid) + 8)
together = run(parallel.JitRunner(), half)  # 4 devices over 2 processes
alone = run(parallel.JitRunner(devices=jax.local_devices()[:1]), slice(None))
diff = max(float(np.max(np.abs(a - b))) for a, b in zip(together, alone))
results = train.train_and_evaluate(config, workdir)
print("REPORT " + json.dumps({"devices": jax.device_count(), "step_diff": diff,
                              "results": results}), flush=True)
"""


def _free_port():
  with socket.socket() as s:
    s.bind(("localhost", 0))
    return s.getsockname()[1]


def test_two_processes_train_in_step(tmp_path):
  data_dir = tmp_path / "tfds"
  pipeline.ensure_prepared(loop_testlib.tiny_config(data_dir).data)  # once, before both read it
  workdir = tmp_path / "run"
  env = dict(os.environ, JAX_PLATFORMS="cpu",
             XLA_FLAGS="--xla_force_host_platform_device_count=2")
  port = str(_free_port())
  procs = [subprocess.Popen([sys.executable, "-c", _WORKER, str(pid), port, str(data_dir),
                             str(workdir), str(HELPERS_DIR)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
           for pid in (0, 1)]
  reports = []
  for proc in procs:
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err[-3000:]
    line = [l for l in out.splitlines() if l.startswith("REPORT ")][-1]
    reports.append(json.loads(line[len("REPORT "):]))
  for report in reports:
    assert report["devices"] == 4
    assert report["step_diff"] < 2e-5
  assert reports[0]["results"] == reports[1]["results"]
  assert reports[0]["results"]["step"] == 6
  assert reports[0]["results"]["num_images"] == 24  # every test image once, none twice
  data_iter = workdir / "checkpoints" / "6" / "data_iter"
  assert {p.name for p in data_iter.glob("process_*.json")} == {"process_0-of-2.json",
                                                                 "process_1-of-2.json"}
  assert json.loads((workdir / "results.json").read_text()) == reports[0]["results"]
