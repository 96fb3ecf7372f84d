"""Optimizers with per-parameter-group learning rates, weight decay and schedules (optax).

A method labels its parameters with :func:`path_labels` (e.g. ``'localizer/backbone' -> 'backbone'``,
``'localizer/head' -> 'head'``) and calls :func:`make_optimizer`; each group gets
``config.train.lr * config.train.lr_mults[group]`` and the schedule ``config.train.schedule`` (or
``config.train.schedule_overrides[group]`` when a config sets it, e.g. LCHP's constant regressor lr).

Weight decay ``'l2'`` adds ``wd * param`` to the gradient before momentum, as PyTorch's
``SGD(weight_decay=...)`` does (what wsolevaluation, SLT-Net and LCHP used); ``'decoupled'`` subtracts
``lr * wd * param`` outside the momentum (SGDW / AdamW).
"""

from __future__ import annotations

from typing import Any, Mapping

import jax
import ml_collections
import optax

from wsol_jax.training import train_state as ts


def make_schedule(train: ml_collections.ConfigDict, base_lr: float, steps_per_epoch: int,
                  total_steps: int, kind: str | None = None) -> optax.Schedule:
  """The lr schedule ``kind`` (default ``train.schedule``) over a stage of ``total_steps`` steps.

  'constant'; 'step': x ``decay_factor`` after each of ``decay_boundaries_epochs``; 'exponential':
  x ``decay_factor`` every ``decay_every_epochs`` (staircase); 'cosine': to 0 at ``total_steps``.
  A linear warmup from 0 (``warmup_{epochs,steps}``) precedes any of them.
  """
  kind = kind or train.schedule
  warmup = ts.duration_steps(train, "warmup", steps_per_epoch)
  if kind == "constant":
    main = optax.constant_schedule(base_lr)
  elif kind == "step":
    bounds = {ts.epochs_to_steps(b, steps_per_epoch): train.decay_factor
              for b in train.decay_boundaries_epochs}
    main = optax.piecewise_constant_schedule(base_lr, bounds)
  elif kind == "exponential":
    every = max(1, ts.epochs_to_steps(train.decay_every_epochs, steps_per_epoch))
    main = optax.exponential_decay(base_lr, transition_steps=every, decay_rate=train.decay_factor,
                                   staircase=True)
  elif kind == "cosine":
    main = optax.cosine_decay_schedule(base_lr, decay_steps=max(1, total_steps - warmup))
  else:
    raise ValueError(f"unknown config.train.schedule {kind!r}; "
                     "known: constant, step, exponential, cosine")
  if warmup <= 0:
    return main
  return optax.join_schedules([optax.linear_schedule(0.0, base_lr, warmup), main], [warmup])


def _base_optimizer(train: ml_collections.ConfigDict, schedule: optax.Schedule
                    ) -> optax.GradientTransformation:
  wd, mode = float(train.weight_decay), train.weight_decay_mode
  if mode not in ("l2", "decoupled"):
    raise ValueError(f"unknown config.train.weight_decay_mode {mode!r}; known: l2, decoupled")
  if train.optimizer == "sgd":
    direction = [optax.trace(decay=train.momentum, nesterov=train.nesterov)] if train.momentum else []
  elif train.optimizer == "adam":
    direction = [optax.scale_by_adam()]
  else:
    raise ValueError(f"unknown config.train.optimizer {train.optimizer!r}; known: sgd, adam")
  l2 = [optax.add_decayed_weights(wd)] if wd and mode == "l2" else []
  decoupled = [optax.add_decayed_weights(wd)] if wd and mode == "decoupled" else []
  return optax.chain(*l2, *direction, *decoupled, optax.scale_by_learning_rate(schedule))


def make_optimizer(train: ml_collections.ConfigDict, labels: Any, steps_per_epoch: int,
                   total_steps: int) -> optax.GradientTransformation:
  """SGD/Adam over groups: ``labels`` is a pytree of group names shaped like the params (or a
  function params -> such a pytree). Every group needs an entry in ``train.lr_mults``.

  Gradient clipping (``train.grad_clip_norm`` > 0) acts on the global norm over all groups.
  """
  groups = sorted(set(jax.tree.leaves(labels))) if not callable(labels) else sorted(train.lr_mults)
  overrides = dict(train.get("schedule_overrides", None) or {})
  txs = {}
  for group in groups:
    if group not in train.lr_mults:
      raise ValueError(f"parameter group {group!r} has no config.train.lr_mults entry; "
                       f"have: {sorted(train.lr_mults)}")
    lr = float(train.lr) * float(train.lr_mults[group])
    schedule = make_schedule(train, lr, steps_per_epoch, total_steps, overrides.get(group))
    txs[group] = _base_optimizer(train, schedule)
  clip = [optax.clip_by_global_norm(train.grad_clip_norm)] if train.grad_clip_norm > 0 else []
  return optax.chain(*clip, optax.multi_transform(txs, labels))


def path_labels(params: Any, rules: Mapping[str, str]) -> Any:
  """Group names for ``params`` by '/'-joined path prefix, e.g. ``{'localizer/head': 'head'}``.

  The longest matching prefix wins; a parameter no rule covers is an error naming its path.
  """
  ordered = sorted(rules.items(), key=lambda kv: -len(kv[0]))

  def label(path, _):
    name = "/".join(str(getattr(k, "key", k)) for k in path)
    for prefix, group in ordered:
      if name == prefix or name.startswith(prefix.rstrip("/") + "/"):
        return group
    raise ValueError(f"parameter {name!r} matches no group rule {sorted(rules)}")

  return jax.tree_util.tree_map_with_path(label, params)

