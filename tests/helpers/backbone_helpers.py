"""Shared by the backbone tests: load a weights file into a backbone without a random init; run one
small batch compiled without XLA's costly optimisations (they cost more than they save here); write
random Keras MobileNet weights in the layout of the real HDF5 files; load a script as a module."""

from __future__ import annotations

import importlib.util
import sys

import h5py
import jax
import jax.numpy as jnp
import numpy as np

from repo_paths import REPO  # noqa: F401  (tests use backbone_helpers.REPO)
from wsol_jax.models import pretrained

FAST_COMPILE = {"xla_backend_optimization_level": 0, "xla_llvm_disable_expensive_passes": True}


def load_file(model, weights_path, images):
  """The backbone's variables, all taken from the file (structure from ``jax.eval_shape``)."""
  shapes = jax.eval_shape(lambda x: model.init(jax.random.PRNGKey(0), x, train=False),
                          jnp.asarray(images))
  variables, report = pretrained.load_into(shapes, str(weights_path), model, paths=[()])
  assert all(isinstance(a, jax.Array) for a in jax.tree.leaves(variables)), "not all loaded"
  return variables, report


def load_script(name: str):
  """The module scripts/<name>.py (scripts are not a package). scripts/ goes on ``sys.path``, as
  when a script runs, so that it imports ``script_lib`` and the scripts it builds on."""
  if str(REPO / "scripts") not in sys.path:
    sys.path.insert(0, str(REPO / "scripts"))
  spec = importlib.util.spec_from_file_location(name, REPO / "scripts" / f"{name}.py")
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module


def fast_apply(model, variables, images) -> np.ndarray:
  fn = jax.jit(lambda v, x: model.apply(v, x, train=False))
  return np.asarray(fn.lower(variables, images).compile(compiler_options=FAST_COMPILE)(
      variables, images))


# (pointwise filters at width 1, stride) of Keras MobileNet's 13 depthwise-separable blocks.
MOBILENET_BLOCKS = [(64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2), (512, 1), (512, 1),
                    (512, 1), (512, 1), (512, 1), (1024, 2), (1024, 1)]


def write_keras_mobilenet_h5(path, width, num_classes=1000, seed=0):
  """Random weights in the layout of keras.applications' mobilenet_*_224_tf.h5 (Keras 2)."""
  rng = np.random.default_rng(seed)
  layers, weights = ["input_1"], {}

  def bn(name, ch):
    weights[f"{name}_bn"] = [("gamma", rng.uniform(0.5, 1.5, ch)), ("beta", rng.normal(0, .1, ch)),
                             ("moving_mean", rng.normal(0, .1, ch)),
                             ("moving_variance", rng.uniform(0.5, 1.5, ch))]
    layers.extend([f"{name}_bn", f"{name}_relu"])

  ch = int(32 * width)
  layers.append("conv1")
  weights["conv1"] = [("kernel", rng.normal(0, np.sqrt(2 / 27), (3, 3, 3, ch)))]
  bn("conv1", ch)
  for i, (filters, _) in enumerate(MOBILENET_BLOCKS, start=1):
    layers.append(f"conv_dw_{i}")
    weights[f"conv_dw_{i}"] = [("depthwise_kernel", rng.normal(0, np.sqrt(2 / 9), (3, 3, ch, 1)))]
    bn(f"conv_dw_{i}", ch)
    out = int(filters * width)
    layers.append(f"conv_pw_{i}")
    weights[f"conv_pw_{i}"] = [("kernel", rng.normal(0, np.sqrt(2 / ch), (1, 1, ch, out)))]
    bn(f"conv_pw_{i}", out)
    ch = out
  layers += ["global_average_pooling2d_1", "reshape_1", "dropout", "conv_preds"]
  weights["conv_preds"] = [("kernel", rng.normal(0, np.sqrt(1 / ch), (1, 1, ch, num_classes))),
                           ("bias", rng.normal(0, .1, num_classes))]
  layers += ["act_softmax", "reshape_2"]
  with h5py.File(path, "w") as f:
    f.attrs["backend"] = b"tensorflow"
    f.attrs["keras_version"] = b"2.1.4"
    f.attrs["layer_names"] = np.array([n.encode() for n in layers])
    for layer in layers:
      group = f.create_group(layer)
      names = [f"{layer}/{w}:0".encode() for w, _ in weights.get(layer, [])]
      group.attrs["weight_names"] = np.array(names) if names else np.array([], np.float64)
      for (w, value), name in zip(weights.get(layer, []), names):
        group.create_dataset(name.decode(), data=np.asarray(value, np.float32))
  return {layer: {w: np.asarray(v, np.float32) for w, v in ws} for layer, ws in weights.items()}
