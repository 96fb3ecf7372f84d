"""Recording the batch statistics a network's BatchNorm layers normalise with in a train-mode pass,
so that a second pass (e.g. SLT-Net's transformed image) can run in inference mode on exactly them."""

from __future__ import annotations

import flax.linen as nn
from flax.linen import normalization as flax_norm
import jax


def apply_recording_batch_stats(module, variables, *args, **kwargs):
  """``module.apply(variables, *args, **kwargs)`` that also returns, for every train-mode BatchNorm,
  the batch mean and variance it normalised with, as a ``batch_stats``-shaped tree (no gradient).

  A second pass in inference mode on this tree normalises with exactly the first pass's statistics,
  so BatchNorm cannot turn a changed input batch (a canvas fill, other images) into a difference of
  the outputs. Under ``pmap`` the statistics are the BatchNorm's own cross-device ones (its
  ``axis_name``).
  """
  records = {}

  def interceptor(next_fun, call_args, call_kwargs, context):
    mdl = context.module
    # (Only attributes here: calling a module method would be intercepted again.)
    if (context.method_name == "__call__" and isinstance(mdl, nn.BatchNorm)
        and not nn.merge_param("use_running_average", mdl.use_running_average,
                               call_kwargs.get("use_running_average"))):
      x = call_args[0]
      feature_axes = flax_norm._canonicalize_axes(x.ndim, mdl.axis)  # pylint: disable=protected-access
      reduction = tuple(i for i in range(x.ndim) if i not in feature_axes)
      mean, var = flax_norm._compute_stats(  # pylint: disable=protected-access
          x, reduction, dtype=mdl.dtype, axis_name=mdl.axis_name,
          axis_index_groups=mdl.axis_index_groups, use_fast_variance=mdl.use_fast_variance,
          mask=call_kwargs.get("mask"), force_float32_reductions=mdl.force_float32_reductions)
      records[tuple(mdl.scope.path)] = {"mean": mean, "var": var}
    return next_fun(*call_args, **call_kwargs)

  with nn.intercept_methods(interceptor):
    out = module.apply(variables, *args, **kwargs)
  tree = {}
  for path, stats in records.items():
    node = tree
    for name in path[:-1]:
      node = node.setdefault(name, {})
    node[path[-1]] = jax.tree.map(jax.lax.stop_gradient, stats)
  return out, tree
