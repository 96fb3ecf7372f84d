"""The training state pytree, durations in steps, per-step random keys and the gradient update.

Every method keeps its whole mutable state in one :class:`TrainState`; the loop replicates it over
devices, checkpoints it with orbax and restores it by structure, so it holds arrays only (optimizers,
modules and configs live on the method object).
"""

from __future__ import annotations

from typing import Any, Sequence

import flax
import jax
import jax.numpy as jnp
import ml_collections
import optax


@flax.struct.dataclass
class TrainState:
  """All arrays a run updates; a pytree.

  step: int32 scalar, the global optimizer step over all stages.
  params: ``{network_name: flax params}``, e.g. ``{'localizer': ...}`` or
    ``{'localizer': ..., 'regressor': ..., 'classifier': ...}``.
  batch_stats: ``{network_name: BatchNorm statistics}`` for the networks that have them (else {}).
  opt_state: optax state of the current stage's optimizer over ``params``.
  ema_params: an exponential moving average of ``params`` (or of a part), or None.
  extras: anything method-specific (a dict of arrays), e.g. running pseudo-label counters.
  """
  step: jax.Array
  params: Any
  batch_stats: Any
  opt_state: Any
  ema_params: Any = None
  extras: Any = flax.struct.field(default_factory=dict)


def create_state(params, batch_stats, tx: optax.GradientTransformation, **kw) -> TrainState:
  """A step-0 state with ``tx``'s optimizer state for ``params``."""
  return TrainState(step=jnp.zeros((), jnp.int32), params=params, batch_stats=batch_stats,
                    opt_state=tx.init(params), **kw)


def apply_gradients(state: TrainState, grads, tx: optax.GradientTransformation, *,
                    batch_stats=None) -> tuple[TrainState, jax.Array]:
  """One optax update of ``state.params``; returns the new state and the global gradient norm.

  ``grads`` has the structure of ``state.params`` (already averaged over devices under pmap).
  ``batch_stats`` replaces ``state.batch_stats`` when given. ``step`` advances by one.
  """
  updates, opt_state = tx.update(grads, state.opt_state, state.params)
  params = optax.apply_updates(state.params, updates)
  new = state.replace(step=state.step + 1, params=params, opt_state=opt_state,
                      batch_stats=state.batch_stats if batch_stats is None else batch_stats)
  return new, optax.tree.norm(grads)


def ema_update(ema_tree, tree, decay: float):
  """``decay * ema + (1 - decay) * tree`` leaf by leaf (pure)."""
  return jax.tree.map(lambda e, x: decay * e + (1.0 - decay) * x, ema_tree, tree)


def all_finite(tree) -> jax.Array:
  """True when every float leaf of ``tree`` is finite (a scalar bool array)."""
  leaves = [jnp.all(jnp.isfinite(x)) for x in jax.tree.leaves(tree)
            if jnp.issubdtype(jnp.asarray(x).dtype, jnp.inexact)]
  return jnp.all(jnp.stack(leaves)) if leaves else jnp.array(True)


# ----------------------------------------------------------------------------------------------
# Durations: the one place epochs become steps.


def epochs_to_steps(epochs: float, steps_per_epoch: int) -> int:
  """``epochs`` (may be fractional) -> whole optimizer steps (rounded, never negative)."""
  return max(0, int(round(float(epochs) * steps_per_epoch)))


def duration_steps(section: ml_collections.ConfigDict, name: str, steps_per_epoch: int) -> int:
  """Read ``section.<name>_steps`` if > 0, else ``section.<name>_epochs`` in steps.

  E.g. ``duration_steps(config.train, 'num', spe)`` reads ``num_steps`` / ``num_epochs``;
  ``'eval_every'`` reads ``eval_every_steps`` / ``eval_every_epochs``. A missing pair is an error.
  """
  steps_key, epochs_key = f"{name}_steps", f"{name}_epochs"
  if steps_key not in section and epochs_key not in section:
    raise ValueError(f"config has neither {steps_key!r} nor {epochs_key!r}")
  steps = section.get(steps_key, -1)
  if steps is not None and steps > 0:
    return int(steps)
  epochs = section.get(epochs_key, 0.0)
  return epochs_to_steps(epochs or 0.0, steps_per_epoch)


def steps_per_epoch(train_size: int, global_batch_size: int) -> int:
  """Full batches per epoch (the train loader drops the remainder); at least 1."""
  if global_batch_size <= 0:
    raise ValueError(f"config.train.batch_size must be > 0, got {global_batch_size}")
  return max(1, train_size // global_batch_size)


# ----------------------------------------------------------------------------------------------
# Random keys.


def step_rngs(rng: jax.Array, step, names: Sequence[str], axis_name: str | None = None
              ) -> dict[str, jax.Array]:
  """Independent keys for ``names`` (e.g. 'dropout', 'augment', 'vst') at ``step``.

  ``fold_in(rng, step)`` then one fold per stream name, so adding a stream never changes the others.
  Under pmap (``axis_name`` given) the device index is folded in too: each device's shard of the
  batch gets its own randomness (a jit run draws one key for the whole global batch instead).
  """
  key = jax.random.fold_in(rng, step)
  if axis_name is not None:
    key = jax.random.fold_in(key, jax.lax.axis_index(axis_name))
  return {name: jax.random.fold_in(key, _stable_hash(name)) for name in names}


def _stable_hash(name: str) -> int:
  """A process-independent 31-bit integer for a stream name (Python's hash() is salted)."""
  value = 0
  for ch in name.encode():
    value = (value * 131 + ch) % (2**31 - 1)
  return value

