"""Running one pure step on many devices: a data-parallel ``Mesh`` under ``jax.jit`` or ``jax.pmap``.

A method writes its step once (``step(state, batch, rng, *, axis_name)``); a :class:`Runner` places
the state and batches and compiles the step:

* :class:`JitRunner` (``config.parallelism = 'jit'``, default): a 1-D mesh over every device of every
  process (axis ``'data'``); the state is replicated, the batch sharded on its leading axis and
  assembled from each process's local part with ``jax.make_array_from_process_local_data``. The step
  sees the GLOBAL batch, so means are global and ``axis_name`` is None.
* :class:`PmapRunner` (``'pmap'``): the state is stacked over local devices (``flax.jax_utils``), the
  local batch reshaped to ``[devices, B/devices, ...]`` and the step runs with ``axis_name='batch'``;
  the step averages gradients and metrics with :func:`mean_over_devices`.

Both donate the state's buffers to the step.
"""

from __future__ import annotations

import functools
from typing import Any, Callable, Mapping

import flax.jax_utils
import jax
import numpy as np
from jax.experimental import multihost_utils
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P

DATA_AXIS = "data"  # the mesh axis the batch is sharded on (jit)
PMAP_AXIS = "batch"  # the pmap axis name passed to steps as ``axis_name``


def mean_over_devices(tree, axis_name: str | None):
  """Average over devices under pmap (``lax.pmean``); identity under jit, where means are global."""
  if axis_name is None:
    return tree
  return jax.lax.pmean(tree, axis_name)


def sum_over_devices(tree, axis_name: str | None):
  """Sum over devices under pmap (``lax.psum``); identity under jit."""
  if axis_name is None:
    return tree
  return jax.lax.psum(tree, axis_name)


def numeric_batch(batch: Mapping[str, Any]) -> dict[str, np.ndarray]:
  """Drop the keys devices cannot hold (strings such as ``image_id``)."""
  return {k: v for k, v in batch.items() if np.asarray(v).dtype.kind in "biuf"}


def check_batch_size(global_batch: int, what: str = "config.train.batch_size") -> None:
  """The global batch must split evenly over processes and devices."""
  n_dev, n_proc = jax.device_count(), jax.process_count()
  if global_batch % n_dev:
    raise ValueError(f"{what}={global_batch} is not divisible by the {n_dev} devices")
  if global_batch % n_proc:
    raise ValueError(f"{what}={global_batch} is not divisible by the {n_proc} processes")


def host_value(x) -> np.ndarray:
  """A replicated (or fully addressable) array as NumPy on this host."""
  if isinstance(x, jax.Array) and not x.is_fully_addressable:
    return np.asarray(x.addressable_data(0))
  return np.asarray(x)


class Runner:
  """Places state/batches and compiles steps for one parallelism mode (see module doc)."""

  axis_name: str | None = None

  def place_state(self, state):
    """Host (or single-device) state -> the on-device layout the compiled step takes."""
    raise NotImplementedError

  def shard_batch(self, local_batch: Mapping[str, np.ndarray]):
    """This process's batch (NumPy, leading axis = local batch) -> device batch."""
    raise NotImplementedError

  def compile_step(self, step_fn: Callable) -> Callable:
    """``step_fn(state, batch, rng, axis_name=...) -> (state, metrics)`` -> compiled, donating."""
    raise NotImplementedError

  def compile_predict(self, predict_fn: Callable) -> Callable:
    """``predict_fn(state, batch) -> pytree`` -> ``f(state, batch) -> pytree of NumPy arrays`` with
    the GLOBAL batch on every process (rows in global order); ``f.lower(state, batch)`` lowers its
    device program (for its memory analysis before it runs)."""
    raise NotImplementedError

  def compile_state_fn(self, fn: Callable) -> Callable:
    """``fn(state) -> state`` (e.g. entering a stage) compiled on the placed state."""
    raise NotImplementedError

  def single_copy(self, state):
    """The placed state as one copy usable by plain ``jax.jit`` (hooks)."""
    raise NotImplementedError

  def checkpointable(self, state):
    """The placed state as orbax should save it."""
    raise NotImplementedError

  def abstract_state(self, abstract):
    """``jax.eval_shape`` output -> restore targets (ShapeDtypeStructs with shardings)."""
    raise NotImplementedError

  def placed_abstract(self, abstract):
    """``jax.eval_shape`` output -> the shapes of the placed state (what :meth:`place_state`
    returns), to lower a compiled step before the state exists."""
    raise NotImplementedError

  def metrics_to_host(self, metrics) -> dict[str, float]:
    raise NotImplementedError


class JitRunner(Runner):
  """``jax.jit`` over a 1-D data-parallel mesh of all devices (all processes)."""

  axis_name = None

  def __init__(self, devices=None):
    devices = np.asarray(devices if devices is not None else jax.devices())
    self.mesh = Mesh(devices, (DATA_AXIS,))
    self.replicated = NamedSharding(self.mesh, P())
    self.data_sharding = NamedSharding(self.mesh, P(DATA_AXIS))

  def place_state(self, state):
    def put(x):
      x = np.asarray(x) if not isinstance(x, jax.Array) else x
      if isinstance(x, jax.Array) and x.sharding == self.replicated:
        return x
      host = np.asarray(jax.device_get(x)) if isinstance(x, jax.Array) else x
      return jax.make_array_from_callback(host.shape, self.replicated, lambda idx: host[idx])
    return jax.tree.map(put, state)

  def shard_batch(self, local_batch):
    return {k: jax.make_array_from_process_local_data(self.data_sharding, np.asarray(v))
            for k, v in numeric_batch(local_batch).items()}

  def compile_step(self, step_fn):
    fn = functools.partial(step_fn, axis_name=None)
    return jax.jit(fn, in_shardings=(self.replicated, self.data_sharding, self.replicated),
                   out_shardings=(self.replicated, self.replicated), donate_argnums=(0,))

  def compile_predict(self, predict_fn):
    # keep_unused: the whole state stays resident while predict runs, so its memory analysis
    # counts the state's unread parts (the optimizer's) too.
    jitted = jax.jit(predict_fn, in_shardings=(self.replicated, self.data_sharding),
                     out_shardings=self.data_sharding, keep_unused=True)

    def run(state, batch):
      out = jitted(state, batch)
      if jax.process_count() == 1:
        return jax.tree.map(np.asarray, out)
      return multihost_utils.process_allgather(out, tiled=True)
    run.lower = jitted.lower
    return run

  def compile_state_fn(self, fn):
    return jax.jit(fn, in_shardings=(self.replicated,), out_shardings=self.replicated)

  def single_copy(self, state):
    return state

  def checkpointable(self, state):
    return state

  def abstract_state(self, abstract):
    return jax.tree.map(lambda s: jax.ShapeDtypeStruct(s.shape, s.dtype, sharding=self.replicated),
                        abstract)

  def placed_abstract(self, abstract):
    return self.abstract_state(abstract)  # placed = replicated: a step lowered on it is reused

  def metrics_to_host(self, metrics):
    return {k: float(host_value(v)) for k, v in metrics.items()}


class PmapRunner(Runner):
  """``jax.pmap`` over this process's devices, ``lax.pmean`` over ``'batch'`` in the step."""

  axis_name = PMAP_AXIS

  def __init__(self):
    self.local_devices = jax.local_devices()
    self.n = len(self.local_devices)

  def place_state(self, state):
    return flax.jax_utils.replicate(jax.device_get(state), self.local_devices)

  def shard_batch(self, local_batch):
    def split(x):
      x = np.asarray(x)
      if x.shape[0] % self.n:
        raise ValueError(f"local batch of {x.shape[0]} does not split over {self.n} devices")
      return x.reshape((self.n, x.shape[0] // self.n) + x.shape[1:])
    return {k: split(v) for k, v in numeric_batch(local_batch).items()}

  def compile_step(self, step_fn):
    fn = functools.partial(step_fn, axis_name=PMAP_AXIS)
    return jax.pmap(fn, axis_name=PMAP_AXIS, in_axes=(0, 0, None), donate_argnums=(0,))

  def compile_predict(self, predict_fn):
    pmapped = jax.pmap(predict_fn, axis_name=PMAP_AXIS)

    def run(state, batch):
      out = jax.tree.map(lambda x: np.asarray(x).reshape((-1,) + x.shape[2:]),
                         pmapped(state, batch))
      if jax.process_count() == 1:
        return out
      return multihost_utils.process_allgather(out, tiled=True)
    run.lower = pmapped.lower
    return run

  def compile_state_fn(self, fn):
    return jax.pmap(fn, axis_name=PMAP_AXIS)

  def single_copy(self, state):
    return flax.jax_utils.unreplicate(state)

  def checkpointable(self, state):
    # Host copies: each process would otherwise offer its own single-device arrays to orbax.
    return jax.device_get(flax.jax_utils.unreplicate(state))

  def abstract_state(self, abstract):
    device = jax.sharding.SingleDeviceSharding(self.local_devices[0])
    return jax.tree.map(lambda s: jax.ShapeDtypeStruct(s.shape, s.dtype, sharding=device), abstract)

  def placed_abstract(self, abstract):
    # Stacked over the local devices; pmap compiles again for the placed arrays (time, not memory).
    return jax.tree.map(lambda s: jax.ShapeDtypeStruct((self.n,) + s.shape, s.dtype), abstract)

  def metrics_to_host(self, metrics):
    return {k: float(np.asarray(v)[0]) for k, v in metrics.items()}


def make_runner(parallelism: str) -> Runner:
  if parallelism == "jit":
    return JitRunner()
  if parallelism == "pmap":
    return PmapRunner()
  raise ValueError(f"unknown config.parallelism {parallelism!r}; known: jit, pmap")

