"""The exported model's file format: one self-contained safetensors file (``--mode=export --out
model.wsol``; :meth:`wsol_jax.inference.model.Model.export` writes it, :func:`~wsol_jax.inference.model.load`
reads it).

The
tensors are the inference parameters only (:meth:`Method.inference_state`: no optimizer state, no
EMA unless the method's inference reads it), float32 (or float16 with ``--export_dtype=float16``:
half the size, cast back to float32 when loaded), named by their path joined with '/', e.g.
``params/localizer/backbone/Conv_0/kernel``, ``batch_stats/regressor/...``. The safetensors header
metadata has one key, ``wsol``, a JSON object: ``format`` ('wsol_jax.inference/1'), ``method``,
``step``, ``config`` (the run's full config, as in the checkpoint meta), ``class_names``,
``preprocessing`` (``image_size``, ``resize_size``, ``eval_mode``), ``run_info``
(``num_classes``, ``steps_per_epoch``, ``train_size``), ``empty_nodes`` (paths of empty
sub-trees, e.g. ``batch_stats/localizer`` for a network without BatchNorm) and ``dtype``. Any
safetensors reader opens it; ``load`` rebuilds the method from the config and runs it.
"""

from __future__ import annotations

import json
import os
from typing import Any, Mapping, Sequence

import numpy as np

from wsol_jax import io_utils

FORMAT = "wsol_jax.inference/1"
EXPORT_SUFFIX = ".wsol"


def _flatten(tree, prefix: str, tensors: dict, empty: list) -> None:
  if isinstance(tree, dict) or hasattr(tree, "items"):
    items = dict(tree.items())
    if not items:
      empty.append(prefix)
    for key, value in items.items():
      key = str(key)
      if "/" in key:
        raise ValueError(f"parameter name {key!r} holds '/', which the export format reserves")
      _flatten(value, f"{prefix}/{key}" if prefix else key, tensors, empty)
  elif tree is None:
    empty.append(prefix)
  else:
    tensors[prefix] = np.ascontiguousarray(np.asarray(tree))


def _unflatten(tensors: dict, empty: Sequence[str]) -> dict:
  root: dict = {}

  def node_at(parts):
    node = root
    for p in parts:
      node = node.setdefault(p, {})
    return node

  for path in empty:
    node_at(path.split("/"))
  for path, value in tensors.items():
    *parents, leaf = path.split("/")
    node_at(parents)[leaf] = value
  return root


def write_export(path: str, variables: Mapping[str, Any], meta: Mapping[str, Any],
                 dtype: str = "float32") -> str:
  """Writes ``variables`` (``{'params': tree, 'batch_stats': tree}`` of host arrays) and the
  ``wsol`` JSON ``meta`` (every key of the format but ``format``, ``empty_nodes`` and ``dtype``,
  which this adds) as one safetensors file, atomically; returns the path.

  ``dtype``: 'float32' (the trained numbers: predictions equal the workdir's) or 'float16'
  (half the size; :func:`read_export` casts back to float32, so outputs differ in the last digits).
  """
  from safetensors.numpy import save  # pylint: disable=import-outside-toplevel
  if dtype not in ("float32", "float16"):
    raise ValueError(f"export dtype must be 'float32' or 'float16', got {dtype!r}")
  tensors: dict[str, np.ndarray] = {}
  empty: list[str] = []
  _flatten(dict(variables), "", tensors, empty)
  if dtype == "float16":
    tensors = {k: v.astype(np.float16) if v.dtype == np.float32 else v for k, v in tensors.items()}
  meta = {"format": FORMAT, **meta, "empty_nodes": empty, "dtype": dtype}
  path = os.fspath(path)
  blob = save(tensors, metadata={"wsol": json.dumps(meta)})
  io_utils.atomic_write(path, lambda f: f.write(blob), mode="wb")
  return path


def read_export_metadata(path: str) -> dict:
  """The ``wsol`` JSON of an exported file (no tensors read)."""
  from safetensors import safe_open  # pylint: disable=import-outside-toplevel
  try:
    with safe_open(path, framework="numpy") as f:
      meta = (f.metadata() or {}).get("wsol")
  except Exception as e:  # pylint: disable=broad-except
    raise ValueError(f"{path} is not an exported wsol_jax model ({type(e).__name__}: {e})") from None
  if meta is None:
    raise ValueError(f"{path} is a safetensors file without wsol_jax metadata")
  meta = json.loads(meta)
  if meta.get("format") != FORMAT:
    raise ValueError(f"{path}: unknown format {meta.get('format')!r} (this version reads {FORMAT})")
  return meta


def read_export(path: str) -> tuple[dict, dict]:
  """An exported file -> ``(variables, meta)``: the ``{'params', 'batch_stats'}`` tree (float32)
  and the ``wsol`` JSON (:func:`read_export_metadata`)."""
  from safetensors.numpy import load_file  # pylint: disable=import-outside-toplevel
  meta = read_export_metadata(path)
  tensors = {k: v.astype(np.float32) if v.dtype == np.float16 else v
             for k, v in load_file(path).items()}
  return _unflatten(tensors, meta["empty_nodes"]), meta
